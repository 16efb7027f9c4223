"""The students of a meta-step. Every random choice of meta-step s, student k, is drawn from
generators seeded by (seed, s, k), so a resumed run continues exactly as an uninterrupted one would."""

from __future__ import annotations

import random

import torch

from ..core.students import Functional, build_student
from .methods import MetaContext


def step_seed(seed: int, step: int) -> int:
    return seed * 1_000_003 + step


def student_seed(seed: int, step: int, k: int) -> int:
    return step_seed(seed, step) + 7_919 * k * 1_000_003_000  # k = 0: the one-student stream


def meta_context(d, step: int, k: int = 0, spec: dict | None = None) -> MetaContext:
    """Student k of meta-step `step` of distiller `d`: a draw from its space unless `spec` is given;
    a fresh initialisation, the real meta-batch and the teacher's noise, all from that student's seed."""
    s = student_seed(d.cfg.seed, step, k)
    gen = torch.Generator().manual_seed(s)
    spec = random.Random(s).choice(d.space.archs) if spec is None else spec
    f = Functional(build_student(spec, s, d.device))
    train = d.data.train
    idx = torch.randint(len(train), (d.cfg.meta_batch,), generator=gen).to(d.device)
    noise = d.teacher.sample_noise(gen) if d.teacher.needs_noise else None
    return MetaContext(
        d.teacher, f, f.init_params(), noise, train.x[idx], train.y[idx], train, d.class_index, gen,
        update=d._apply_update, student=k, spec=spec, seed=s,
    )  # fmt: skip
