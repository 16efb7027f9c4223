"""Teacher quality: how well students of given architectures learn from a teacher's data.

One function trains a student on a teacher's data (`train_student`, the export recipe); the
scores are test (or any split) accuracies, and `retained` divides them by the architecture's
full-training accuracy.
"""

from __future__ import annotations

import torch

from .calibrate import train_on_batches
from .data import Split
from .spaces import arch_id
from .students import Functional, accuracy, build_student


def teacher_batches(teacher, noise_seed: int = 0):
    """The teacher's recipe: [(x_t, y_t)], lrs, momenta (plain floats)."""
    d = teacher.dataset(noise_seed)
    B, T = teacher.cfg.batch_size, teacher.cfg.inner_steps
    batches = [(d["images"][t * B:(t + 1) * B], d["labels"][t * B:(t + 1) * B]) for t in range(T)]
    return batches, d["lr"].tolist(), d["momentum"].tolist()


def train_student(spec: dict, seed: int, batches, lrs, momenta, device="cpu"):
    """A student of `spec` (init from `seed`) trained on the recipe; returns (f, params)."""
    f = Functional(build_student(spec, seed, device))
    return f, train_on_batches(f, f.init_params(), batches, lrs, momenta)


@torch.no_grad()
def score_teacher(teacher, specs, split: Split, seeds, device="cpu") -> list[dict]:
    """One row per (architecture, seed): accuracy on `split` after training on the teacher's data."""
    batches, lrs, moms = teacher_batches(teacher)
    rows = []
    for spec in specs:
        for seed in seeds:
            f, params = train_student(spec, seed, batches, lrs, moms, device)
            rows.append({"arch_id": arch_id(spec), "seed": seed, "acc": accuracy(f, params, split.x, split.y)})
    return rows
