"""The teacher's optimiser: Adam, its lr decayed along a cosine to a tenth over the run (as in the
GTN paper), and a step on the clipped meta-gradient that refuses to apply a diverged one."""

from __future__ import annotations

import math

import torch
from torch.optim.lr_scheduler import LambdaLR

from ..core.errors import ConfigError


def cosine_to_tenth(horizon: int):
    """The lr factor at meta-step s: 1 at the start, 0.1 at `horizon` and after."""
    horizon = max(horizon, 1)
    return lambda s: 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(s, horizon) / horizon))


def meta_optimizer(params, meta_lr: float, meta_steps: int) -> tuple[torch.optim.Adam, LambdaLR]:
    opt = torch.optim.Adam(params, lr=meta_lr, betas=(0.9, 0.999))
    return opt, LambdaLR(opt, cosine_to_tenth(meta_steps))


def optimised(opt: torch.optim.Optimizer) -> list[torch.Tensor]:
    return [p for g in opt.param_groups for p in g["params"]]


def clipped_step(opt: torch.optim.Optimizer, max_norm: float, step: int) -> float:
    """Clip and apply the accumulated teacher gradient; its norm before clipping."""
    norm = torch.nn.utils.clip_grad_norm_(optimised(opt), max_norm)
    if not torch.isfinite(norm):
        raise ConfigError(f"meta-step {step}: the meta-gradient diverged; lower --meta-lr")
    opt.step()
    opt.zero_grad(set_to_none=True)
    return float(norm)


def resume_schedule(opt: torch.optim.Optimizer, sched, meta_lr: float, step: int) -> None:
    """Put a restored optimiser's lr where the schedule had it after `step` meta-steps."""
    sched.last_epoch = step
    for g in opt.param_groups:
        g["lr"] = meta_lr * sched.lr_lambdas[0](step)
