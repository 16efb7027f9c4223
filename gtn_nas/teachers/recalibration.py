"""Calibrating a trained teacher's checkpoint afresh (`gtn-nas calibrate`): undo its calibration,
run a (new) grid, save the result. Sits above distillation, which `calibration` must not import."""

from __future__ import annotations

import math

import torch

from ..core.checkpoint import load_checkpoint, save_checkpoint
from ..core.errors import ConfigError
from ..core.spaces import load_space
from .calibration import LEARNS_MOMENTUM, CalibrationConfig, calibrate_distilled, inv_softplus
from .checkpoints import load_teacher
from .config import DistillConfig


@torch.no_grad()
def recalibrate(path, out, data, cfg: CalibrationConfig | None = None, device="cpu") -> dict:
    """Calibrate a trained teacher afresh (e.g. with a grid that has gradient clips) and save it to `out`.

    Calibration never feeds back into distillation, so undoing the checkpoint's calibration and
    running `cfg`'s grid gives the teacher a fresh run with that grid would have given (the same
    students, seed and holdout: `calibrate_distilled`). The previous choice is kept under
    `calibration["previous"]`.
    """
    ckpt, (teacher, _) = load_checkpoint(path), load_teacher(path, device)
    dcfg = DistillConfig.from_dict(ckpt["config"])
    if ckpt.get("start_calibration"):
        raise ConfigError(
            f"{path}: its start was calibrated and meta-trained under that recipe, which a new grid cannot undo; "
            "distill again with the grid in the config's [calibration]"
        )
    old = {k: v for k, v in (ckpt.get("calibration") or {}).items() if k != "table"}
    if old:
        if old["momentum"] != "teacher" and dcfg.method in LEARNS_MOMENTUM:
            raise ConfigError(
                f"{path}: its calibration replaced the learned momentum; recalibrate the uncalibrated teacher"
            )
        teacher.raw_lr.copy_(inv_softplus(teacher.lr() / old["lr_scale"]))
        if old["momentum"] != "teacher":
            teacher.raw_momentum.fill_(math.log(dcfg.teacher.inner_momentum / (1 - dcfg.teacher.inner_momentum)))
        teacher.max_grad_norm = None
    result = calibrate_distilled(teacher, dcfg.seed, load_space(dcfg.space), data.train, cfg, device)
    if old:
        result["previous"] = old
    # The teacher's cost counts the calibration it ships with, not the one it replaced.
    elapsed = ckpt["elapsed"] - old.get("seconds", 0.0) + result["seconds"]
    save_checkpoint(
        out,
        {
            **{k: v for k, v in ckpt.items() if k not in ("format", "format_version", "versions")},
            "teacher": teacher.state_dict(),
            "calibration": result,
            "elapsed": elapsed,
        },
    )
    return result
