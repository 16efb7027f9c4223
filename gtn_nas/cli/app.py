"""The Typer app and the options several commands share (imported by every CLI module).

The CLI imports nothing of the package but `gtn_nas.api` (and the error types), and only inside a
command, so that `--help` does not load torch. Options whose default is the API's are `None` here
and left out of the call when not given: each default lives once, in the API (a test checks that
the help texts quote those values).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    add_completion=False,
    pretty_exceptions_enable=False,
    no_args_is_help=True,
    help="Neural architecture search on learned synthetic MNIST data.",
)

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Folder with the four MNIST IDX files "
        "(default: $GTN_NAS_DATA, else a cache folder; downloaded when missing).",
    ),
]
Device = Annotated[str, typer.Option("--device", help="auto (CUDA when present), cpu or cuda.")]
# The commands that only read CSVs compute no tensors; they take --device too, so that one command line
# can pass it to every command, and check it like the others.
CheckedDevice = Annotated[
    str, typer.Option("--device", help="auto, cpu or cuda: checked, unused (this command computes no tensors).")
]
Storage = Annotated[
    str | None,
    typer.Option(
        "--storage",
        help="Optuna storage URL (sqlite:///..., postgresql://..., journal://FILE) or a SQLite file path "
        "(default: a SQLite file beside --out).",
    ),
]
StudyName = Annotated[str | None, typer.Option("--study-name", help="Default: derived from the settings.")]
StaleAfter = Annotated[
    float | None,
    typer.Option(
        "--stale-after",
        help="Seconds without heartbeat before a dead worker's claim is redone, >= 2 (default: 120.0).",
    ),
]
Wait = Annotated[
    bool,
    typer.Option("--wait", help="If other workers still hold work at the end, wait for it and redo what dies."),
]
MaxArchs = Annotated[
    int | None, typer.Option("--max-archs", min=1, help="Stop after this many architectures (this worker).")
]
ArchsFrom = Annotated[Path | None, typer.Option("--archs-from", help="The architectures of this CSV (no drawing).")]
Quiet = Annotated[bool, typer.Option("--quiet", help="No progress bar.")]
Seed = Annotated[int, typer.Option("--seed", help="Seed of every random choice (same seed, same result).")]


@app.callback()
def _root() -> None:
    """Neural architecture search on learned synthetic MNIST data."""


def given(**options) -> dict:
    """The options the user gave (not None): the rest keep the API's defaults."""
    return {k: v for k, v in options.items() if v is not None}


def echo_unfinished(pending, noun: str = "architectures") -> None:
    """Exit status 3 (and why, on stderr) unless the queue or study is complete: 0 means all done."""
    if not pending.done:
        typer.echo(f"unfinished: {pending.describe(noun)}", err=True)
        raise typer.Exit(3)
