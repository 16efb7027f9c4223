"""Ordinary (non-meta) training of students on real or synthetic data."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .data import Split
from .errors import ConfigError
from .students import build_student

SCHEDULES = ("constant", "cosine")


@dataclass(frozen=True)
class FullTraining:
    """The ground-truth recipe: Adam on the 50k training split, at a constant lr or annealed to 0
    along a cosine over all steps (the longer yardstick)."""

    epochs: int = 1
    batch_size: int = 128
    lr: float = 1e-3
    schedule: str = "constant"

    def __post_init__(self):
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"--schedule must be one of {', '.join(SCHEDULES)}; got {self.schedule!r}")
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be >= 1; got {getattr(self, name)}")
        if not (math.isfinite(self.lr) and self.lr > 0):  # Adam accepts NaN and trains to chance
            raise ConfigError(f"the full-training lr must be a finite number > 0; got {self.lr}")


def train_full(net: nn.Module, train: Split, cfg: FullTraining, seed: int, progress=None) -> None:
    """Train `net` in place for cfg.epochs passes over `train`, shuffled by `seed`."""
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    total = cfg.epochs * math.ceil(len(train) / cfg.batch_size)
    g = torch.Generator().manual_seed(seed)
    net.train()
    step = 0
    for _ in range(cfg.epochs):
        order = torch.randperm(len(train), generator=g).to(train.y.device)
        for i in range(0, len(order), cfg.batch_size):
            if cfg.schedule == "cosine":
                opt.param_groups[0]["lr"] = cfg.lr * 0.5 * (1 + math.cos(math.pi * step / total))
            idx = order[i : i + cfg.batch_size]
            loss = F.cross_entropy(net(train.x[idx]), train.y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            if progress is not None:
                progress()


def sgd_steps(
    net: nn.Module,
    steps: Iterable[tuple[torch.Tensor, torch.Tensor, float, float]],
    after: Callable[[int], None] | None = None,
    max_grad_norm: float | None = None,
) -> None:
    """The export recipe: one plain SGD step (no Nesterov, no weight decay) per (x, y, lr, momentum).

    Momentum buffers persist across steps, as in torch.optim.SGD with per-step lr and momentum.
    (torch.optim.SGD creates no buffer on a step whose momentum is exactly 0; teachers' momenta
    are sigmoids, never 0, so exported recipes are unaffected.) `after(t)` runs after step t
    (1-based), e.g. to score the student at several budgets along one trajectory; it may switch
    the net to eval mode, and training resumes in train mode. `max_grad_norm` (a recipe may carry
    one) rescales each step's gradient to at most that global L2 norm before the update, as
    torch.nn.utils.clip_grad_norm_ does: it keeps nets with a huge fan-in head (no pooling) or no
    normalisation from diverging at a learning rate the others need.
    """
    opt = torch.optim.SGD(net.parameters(), lr=0.0, momentum=0.0)
    net.train()
    for t, (x, y, lr, momentum) in enumerate(steps, start=1):
        for group in opt.param_groups:
            group["lr"], group["momentum"] = float(lr), float(momentum)
        with torch.enable_grad():
            loss = F.cross_entropy(net(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
        if max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(net.parameters(), max_grad_norm)
        opt.step()
        if after is not None:
            after(t)
            net.train()


def train_student(
    spec: dict,
    seed: int,
    steps: Iterable[tuple[torch.Tensor, torch.Tensor, float, float]],
    device="cpu",
    max_grad_norm: float | None = None,
) -> nn.Module:
    """The one way a student learns from a recipe (a teacher's data or real batches): a fresh
    `spec`, initialised from `seed`, trained by `sgd_steps`, returned in eval mode (students keep
    no running statistics, so eval uses the statistics of the batch it scores)."""
    net = build_student(spec, seed, device)
    sgd_steps(net, steps, max_grad_norm=max_grad_norm)
    return net.eval()


def real_batches(train: Split, steps: int, batch_size: int, lr: float, momentum: float, seed: int):
    """`steps` random real batches (drawn by seed), with a constant lr and momentum."""
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        idx = torch.randint(len(train), (batch_size,), generator=g).to(train.y.device)
        yield train.x[idx], train.y[idx], lr, momentum
