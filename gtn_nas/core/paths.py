"""Checks on output paths, made before any work so that a run never fails after hours on a path
it could have refused at once (and never leaves a half-written file)."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import ConfigError


def check_output_file(path: str | Path, option: str = "--out") -> None:
    """Refuse a file output that cannot be written: an existing folder, or a path under a file or an
    unwritable folder. Missing folders are fine: the atomic write creates them."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{option} {path} is a folder; give a file path")
    _check_creatable(path.parent, option, path)


def check_output_dir(path: str | Path, option: str = "--out") -> None:
    """As `check_output_file`, for an output folder: an existing file there is refused."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{option} {path} is a file; give a folder")
    _check_creatable(path, option, path)


def check_storage_file(storage: str | None, out: str | Path) -> None:
    """The SQLite file a study lives in when `storage` is a plain path or absent (beside `out`)."""
    if storage is None or "://" not in storage:
        path, option = (Path(storage), "--storage") if storage else (Path(out).with_suffix(".db"), "--out")
        check_output_file(path, option)


def _check_creatable(folder: Path, option: str, path: Path) -> None:
    """`folder` exists and is writable, or its nearest existing ancestor is a writable folder."""
    existing = folder.absolute()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(f"{option} {path}: {existing} is not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"{option} {path}: cannot write in {existing}")
