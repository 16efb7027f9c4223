"""Teacher checkpoints: written atomically, read with `weights_only=True`, validated on load.

A checkpoint is a dict of tensors and plain Python values only:
    format ("gtn-nas-teacher"), format_version, method, config (the DistillConfig as a dict),
    teacher (state dict), optimizer (Adam state, for resume), meta_step, elapsed, metrics (list of
    dicts), complete (bool), calibration, method_state (students a method keeps across meta-steps,
    ift's warm start: so that --resume continues them), versions (gtn_nas, torch, python).
"""

from __future__ import annotations

import pickle
import platform
from pathlib import Path

import torch

from .. import __version__
from .atomic import atomic_write
from .errors import CheckpointError

FORMAT, FORMAT_VERSION = "gtn-nas-teacher", 1
REQUIRED = ("method", "config", "teacher", "meta_step", "metrics")


def versions() -> dict[str, str]:
    return {"gtn_nas": __version__, "torch": str(torch.__version__), "python": platform.python_version()}


def save_checkpoint(path: str | Path, payload: dict) -> None:
    data = {"format": FORMAT, "format_version": FORMAT_VERSION, "versions": versions(), **payload}
    atomic_write(path, lambda tmp: torch.save(data, tmp))


def load_checkpoint(path: str | Path, map_location="cpu") -> dict:
    """Load and validate a teacher checkpoint; anything else raises a one-line CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such teacher checkpoint")
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        text = str(exc)
        if "Weights only load failed" not in text:  # not even a pickle torch understands
            raise CheckpointError(
                f"{path}: not a gtn-nas teacher checkpoint ({text.strip()[:120] or 'unreadable'})"
            ) from None
        detail = [ln.strip() for ln in text.splitlines() if "WeightsUnpickler error" in ln or "Unsupported" in ln]
        why = detail[0].split(". Please")[0].removeprefix("WeightsUnpickler error: ") if detail else "code objects"
        raise CheckpointError(
            f"{path}: refused to load: it holds more than plain tensors and values ({why[:160]})"
        ) from None
    except Exception as exc:  # any parse failure means: not a checkpoint we can read
        why = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise CheckpointError(f"{path}: not a gtn-nas teacher checkpoint ({why})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a gtn-nas teacher checkpoint (missing format marker)")
    if data.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: teacher format version {data.get('format_version')} is not supported (expected {FORMAT_VERSION})"
        )
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise CheckpointError(f"{path}: incomplete teacher checkpoint (missing {', '.join(missing)})")
    return data
