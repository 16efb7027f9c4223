"""The twin objective: each student should learn from the teacher's T steps what it learns from
more steps of real data, no more and no less.

Every student k of a meta-step has a *twin*: the same architecture from the same initialisation,
trained for `twin_steps` SGD steps on random real batches (the recipe real data ranks best with at
a few hundred steps: lr 0.03, momentum 0.5, batch 128; `results/nas_frontier.md`, 0.84 on the 60
ConvNets at 128 steps). On the student's meta batch the twin's real-data loss is L*_k (a constant),
and the objective is

    mean_k (L_k − L*_k)²,   dℓ/dλ = Σ_k c_k · dL_k/dλ,   c_k = 2 (L_k − L*_k) / K,

so each method supplies its per-student dL_k/dλ (`methods.base.Pending`), as for the rank
objective. Why: the accuracy objective pushes every student's loss down, which a NAS proxy does not
need; this one pushes each student towards the level its own architecture reaches on real data, so
nets that learn slowly in 32 steps but well with more data (unpooled, deep: where every 32-step
proxy errs, `results/teachers/rank_ablation/families.md`) get the largest pull, and a student that
the teacher makes better than its twin is pulled back. Unlike `rank`, it needs no ground truth: any
architecture of the distillation space gives a target.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ...core.data import Split
from ...core.training import real_batches, train_student
from .base import MetaStep, composed_gradient

TWIN_LR, TWIN_MOMENTUM, TWIN_BATCH = 0.03, 0.5, 128


@torch.no_grad()
def twin_loss(spec: dict, seed: int, train: Split, x: torch.Tensor, y: torch.Tensor, steps: int, device="cpu") -> float:
    """L*: the real-data loss on (x, y) of `spec` initialised from `seed` (the student's own init)
    after `steps` SGD steps on real batches drawn by `seed`."""
    batches = real_batches(train, steps, TWIN_BATCH, TWIN_LR, TWIN_MOMENTUM, seed)
    net = train_student(spec, seed, batches, device)
    return float(F.cross_entropy(net(x), y))


def twin_weights(losses: list[float], targets: list[float]) -> tuple[float, list[float]]:
    """The objective's value mean_k (L_k − L*_k)² and c_k = ∂value/∂L_k."""
    K = len(losses)
    gaps = [L - t for L, t in zip(losses, targets)]
    return sum(g * g for g in gaps) / K, [2.0 * g / K for g in gaps]


class Twin:
    """`--objective twin`: each of K students of the distillation space pulled to its real-data
    twin's loss, by the chain rule through each student's `Pending` meta-gradient. Every process
    trains its own students' twins; the targets are then gathered."""

    name = "twin"

    def __init__(self, train: Split, steps: int):
        self.train, self.steps = train, steps

    def meta_gradient(self, step: MetaStep) -> float:
        contexts = {k: step.context(k) for k in step.world.students(step.students)}
        pending = {k: step.method.forward(c) for k, c in contexts.items()}
        twins = {
            k: twin_loss(c.spec, c.seed, self.train, c.meta_x, c.meta_y, self.steps, step.device)
            for k, c in contexts.items()
        }
        targets = step.world.gather(step.students, twins, step.device)
        return composed_gradient(step, pending, lambda L: twin_weights(L, targets))

    def monitor(self, teacher, val, seed: int, device) -> dict:
        return {}
