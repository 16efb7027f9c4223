"""Calibrating a teacher's inner learning rate and momentum after distillation.

`ift` and `gm` cannot learn the inner lr/momentum (their meta-gradients do not reach them), so a
teacher they train keeps its initial values. Calibration tries a small grid — a global scale of
the teacher's per-step learning rates times a momentum (the teacher's own, or a constant) times a
gradient-norm clip (none, or a maximum global norm per step; see `training.sgd_steps`) — trains
distillation-space students on the teacher's data with each setting, scores them on a holdout of
the *training* split (never validation or test), and writes the best setting into the teacher.
The same grid and scoring tune the real-data baselines (`real_grid`), so both get an equal budget.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass

import torch

from ..core.data import Split
from ..core.errors import ConfigError
from ..core.students import accuracy
from ..core.training import train_student


@dataclass(frozen=True)
class CalibrationConfig:
    lr_scales: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
    momenta: tuple[float | None, ...] = (None, 0.0, 0.9)  # None: the teacher's own per-step momenta
    # None: no clipping. Clip 1 lets gm's students take 4x larger steps without the deep or
    # unpooled nets diverging: the 60-ConvNet ranking rho 0.46 -> 0.69 (results/teachers/clip_ablation.md)
    max_grad_norms: tuple[float | None, ...] = (None, 1.0)
    students: int = 4  # distillation-space students per setting
    holdout: int = 2000  # training-split images scored (a fixed subset, seed 0)
    seed: int = 777

    def __post_init__(self):
        if not self.lr_scales or any(not s > 0 for s in self.lr_scales):
            raise ConfigError("calibration lr scales must be > 0")
        if not self.momenta or any(m is not None and not 0 <= m < 1 for m in self.momenta):
            raise ConfigError("calibration momenta must be in [0, 1)")
        if not self.max_grad_norms or any(c is not None and not c > 0 for c in self.max_grad_norms):
            raise ConfigError("calibration gradient-norm clips must be > 0 (or None: no clipping)")
        if self.students < 1 or self.holdout < 10:
            raise ConfigError("calibration needs >= 1 student and >= 10 holdout images")


def score_recipe(
    specs, batches, lrs, momenta, holdout: Split, seed: int, device, max_grad_norm: float | None = None
) -> float:
    """Mean holdout accuracy of `specs` (init seeds seed, seed+1, ...) trained on `batches` with
    per-step lrs and momenta (and gradients clipped to `max_grad_norm`)."""
    steps = [(x, y, lr, m) for (x, y), lr, m in zip(batches, lrs, momenta)]
    accs = [
        accuracy(train_student(spec, seed + i, steps, device, max_grad_norm), None, holdout.x, holdout.y)
        for i, spec in enumerate(specs)
    ]
    return sum(accs) / len(accs)


def grid_search(
    specs, batches, base_lr: torch.Tensor, base_momentum: torch.Tensor, holdout: Split, cfg: CalibrationConfig, device
) -> tuple[dict, list[dict]]:
    """Best (lr_scale, momentum, max_grad_norm) for a recipe and the whole table (ties: the earlier
    setting, so no clipping wins a tie when the grid lists None first)."""
    table = []
    for clip in cfg.max_grad_norms:
        for scale in cfg.lr_scales:
            for m in cfg.momenta:
                moms = base_momentum if m is None else torch.full_like(base_momentum, m)
                acc = score_recipe(
                    specs, batches, (base_lr * scale).tolist(), moms.tolist(), holdout, cfg.seed, device, clip
                )
                table.append(
                    {
                        "lr_scale": scale,
                        "momentum": "teacher" if m is None else m,
                        "max_grad_norm": clip,
                        "holdout_acc": acc,
                    }
                )
    best = max(table, key=lambda r: r["holdout_acc"])
    return best, table


def inv_softplus(x: torch.Tensor) -> torch.Tensor:
    return x + torch.log(-torch.expm1(-x))


@torch.no_grad()
def calibrate_teacher(teacher, specs, holdout: Split, cfg: CalibrationConfig, device) -> dict:
    """Grid-search the teacher's lr scale, momentum and gradient clip; write the best into the teacher."""
    data = teacher.dataset()
    B, T = teacher.cfg.batch_size, teacher.cfg.inner_steps
    batches = [(data["images"][t * B : (t + 1) * B], data["labels"][t * B : (t + 1) * B]) for t in range(T)]
    best, table = grid_search(specs, batches, data["lr"], data["momentum"], holdout, cfg, device)
    teacher.raw_lr.copy_(inv_softplus(data["lr"] * best["lr_scale"]))
    if best["momentum"] != "teacher":
        p = min(max(float(best["momentum"]), 1e-4), 1 - 1e-4)
        teacher.raw_momentum.fill_(math.log(p / (1 - p)))
    teacher.max_grad_norm = best["max_grad_norm"]
    return {
        "lr_scale": best["lr_scale"],
        "momentum": best["momentum"],
        "max_grad_norm": best["max_grad_norm"],
        "holdout_acc": best["holdout_acc"],
        "table": table,
    }


# Methods whose meta-gradient reaches the inner momentum: a calibrated constant replaced what they
# learned, so it cannot be undone.
LEARNS_MOMENTUM = ("bptt",)


def calibrate_distilled(
    teacher, seed: int, space, train: Split, cfg: CalibrationConfig | None = None, device="cpu"
) -> dict:
    """Calibrate a teacher distilled with `seed` as distillation does: the grid of `cfg` (default:
    the default grid), its students drawn from the distillation `space` and its holdout from the
    training split by seed + 777 (whatever seed `cfg` holds); the result records the seconds."""
    cfg = dataclasses.replace(cfg or CalibrationConfig(), seed=seed + 777)
    specs = space.sample(cfg.students, seed=cfg.seed)
    start = time.perf_counter()
    result = calibrate_teacher(teacher, specs, train.subset(cfg.holdout, seed=0), cfg, device)
    result["seconds"] = time.perf_counter() - start
    return result
