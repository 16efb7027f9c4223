"""The Typer app and the options several commands share (imported by every CLI module)."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(
    add_completion=False,
    pretty_exceptions_enable=False,
    no_args_is_help=True,
    help="Neural architecture search on learned synthetic MNIST data.",
)

DataDir = typer.Option(
    None,
    "--data-dir",
    help="Folder with the four MNIST IDX files (default: $GTN_NAS_DATA, else a cache folder; downloaded when missing).",
)
Device = typer.Option("auto", "--device", help="auto, cpu or cuda.")
Storage = typer.Option(
    None,
    "--storage",
    help="Optuna storage URL (sqlite:///..., postgresql://..., journal://FILE) or a SQLite file path.",
)


@app.callback()
def _root() -> None:
    """Neural architecture search on learned synthetic MNIST data."""


def threads_from_env() -> None:
    """GTN_NAS_THREADS caps torch's intra-op threads (benchmarks pin it)."""
    import os

    import torch

    from ..core.errors import ConfigError

    value = os.environ.get("GTN_NAS_THREADS")
    if value is None:
        return
    if not value.isdigit() or int(value) < 1:
        raise ConfigError(f"GTN_NAS_THREADS must be a positive integer; got {value!r}")
    torch.set_num_threads(int(value))


def check_output_file(path: Path, option: str = "--out") -> None:
    """Refuse, before any work, a file output that cannot be written: an existing folder, or a path
    under a file or an unwritable folder. Missing folders are fine: the atomic write creates them."""
    from ..core.errors import ConfigError

    if path.is_dir():
        raise ConfigError(f"{option} {path} is a folder; give a file path")
    _check_creatable(path.parent, option, path)


def check_output_dir(path: Path, option: str = "--out") -> None:
    """As `check_output_file`, for an output folder: an existing file there is refused."""
    from ..core.errors import ConfigError

    if path.exists() and not path.is_dir():
        raise ConfigError(f"{option} {path} is a file; give a folder")
    _check_creatable(path, option, path)


def _check_creatable(folder: Path, option: str, path: Path) -> None:
    """`folder` exists and is writable, or its nearest existing ancestor is a writable folder."""
    import os

    from ..core.errors import ConfigError

    existing = folder.absolute()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(f"{option} {path}: {existing} is not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"{option} {path}: cannot write in {existing}")


def check_storage_file(storage: str | None, out: Path) -> None:
    """The SQLite file a study lives in when --storage is a plain path or absent (beside --out)."""
    if storage is None or "://" not in storage:
        check_output_file(Path(storage) if storage else out.with_suffix(".db"), "--storage" if storage else "--out")
