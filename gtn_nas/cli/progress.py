"""Rich progress bars (to stderr, so that stdout stays parseable)."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


class LazyProgress(Progress):
    """A Progress that draws nothing until the first update: a command that fails while still
    setting up (bad option, unreadable file) prints its one error line and no empty bar."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.live.is_started:
            self.stop()

    def update(self, *args, **kwargs):
        if not self.live.is_started:
            self.start()
        super().update(*args, **kwargs)


def progress_bar(disable: bool = False) -> Progress:
    return LazyProgress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"),
        console=Console(stderr=True),
        disable=disable,
    )
