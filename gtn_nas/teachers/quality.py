"""Teacher quality: how well students of given architectures learn from a teacher's data.

Students learn from a teacher's data by `training.train_student` (the export recipe); the scores
are test (or any split) accuracies, and `retained` divides them by the architecture's
full-training accuracy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core.data import Split
from ..core.spaces import arch_id
from ..core.students import accuracy
from ..core.training import train_student
from .calibration import score_recipe

if TYPE_CHECKING:
    from .generator import Teacher


def teacher_batches(teacher, noise_seed: int = 0):
    """The teacher's recipe: [(x_t, y_t)], lrs, momenta (plain floats)."""
    d = teacher.dataset(noise_seed)
    B, T = teacher.cfg.batch_size, teacher.cfg.inner_steps
    batches = [(d["images"][t * B : (t + 1) * B], d["labels"][t * B : (t + 1) * B]) for t in range(T)]
    return batches, d["lr"].tolist(), d["momentum"].tolist()


def score_teacher(teacher, specs, split: Split, seeds, device="cpu") -> list[dict]:
    """One row per (architecture, seed): accuracy on `split` after training on the teacher's data."""
    batches, lrs, moms = teacher_batches(teacher)
    rows = []
    for spec in specs:
        for seed in seeds:
            net = train_student(
                spec, seed, [(x, y, lr, m) for (x, y), lr, m in zip(batches, lrs, moms)], device, teacher.max_grad_norm
            )
            rows.append({"arch_id": arch_id(spec), "seed": seed, "acc": accuracy(net, None, split.x, split.y)})
    return rows


def evaluate_teacher(teacher: Teacher, specs: list[dict], val: Split, seed: int, device) -> float:
    """Mean validation accuracy of students (init seeds seed, seed+1, ...) trained on the teacher's data."""
    batches, lrs, moms = teacher_batches(teacher, noise_seed=seed)
    return score_recipe(specs, batches, lrs, moms, val, seed, device, teacher.max_grad_norm)


def fresh_students(teacher, specs: list[dict], val, seed: int, device) -> dict:
    """Validation accuracy of one freshly trained student per architecture (seeds seed+1, seed+2, ...)."""
    accs = [evaluate_teacher(teacher, [spec], val, seed + 1 + i, device) for i, spec in enumerate(specs)]
    return {"mean": sum(accs) / len(accs), "min": min(accs), "max": max(accs), "n": len(accs)}
