"""The Typer app and the options several commands share (imported by every CLI module)."""

from __future__ import annotations

import typer

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, no_args_is_help=True,
                  help="Neural architecture search on learned synthetic MNIST data.")

DataDir = typer.Option(None, "--data-dir", help="Folder with the four MNIST IDX files (default: $GTN_NAS_DATA, else a cache folder; downloaded when missing).")
Device = typer.Option("auto", "--device", help="auto, cpu or cuda.")
Storage = typer.Option(None, "--storage", help="Optuna storage URL (sqlite:///..., postgresql://..., journal://FILE) or a SQLite file path.")


@app.callback()
def _root() -> None:
    """Neural architecture search on learned synthetic MNIST data."""


def threads_from_env() -> None:
    """GTN_NAS_THREADS caps torch's intra-op threads (benchmarks pin it)."""
    import os

    import torch

    from .errors import ConfigError

    value = os.environ.get("GTN_NAS_THREADS")
    if value is None:
        return
    if not value.isdigit() or int(value) < 1:
        raise ConfigError(f"GTN_NAS_THREADS must be a positive integer; got {value!r}")
    torch.set_num_threads(int(value))
