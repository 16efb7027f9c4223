"""Inputs and checks shared by the objectives' tests: ranking pools, student contexts, unrolled losses."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import torch
from helpers import tiny_context

from gtn_nas.core.inner import InnerState, loss, train_steps
from gtn_nas.core.spaces import arch_id
from gtn_nas.core.students import Functional, build_student
from gtn_nas.teachers.methods import MetaContext


def pool_csv(path: Path, n: int = 20) -> Path:
    """A ranking-pool CSV of small MLPs (test input: accuracies made up, ordered by width)."""
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["arch_id", "spec", "val_acc"])
        for i in range(n):
            spec = {
                "family": "mlp",
                "depth": 1,
                "width": 4 + i,
                "activation": "relu" if i % 2 else "tanh",
                "norm": "none",
            }
            w.writerow([arch_id(spec), json.dumps(spec, sort_keys=True), 0.5 + i / 100])
    return path


SPECS = [{"family": "mlp", "depth": 1, "width": w, "activation": "tanh", "norm": "none"} for w in (6, 8, 10)]


def contexts(steps=3):
    """Three students of different widths on one tiny float64 teacher (one shared real batch)."""
    base = tiny_context(kind="generator", steps=steps)
    out = []
    for i, spec in enumerate(SPECS):
        f = Functional(build_student(spec, 10 + i).double())
        out.append(
            MetaContext(
                base.teacher,
                f,
                f.init_params(),
                base.noise,
                base.meta_x,
                base.meta_y,
                base.real,
                base.class_index,
                torch.Generator().manual_seed(i),
                spec=spec,
                seed=10 + i,
            )
        )
    return base.teacher, out


def unrolled_losses(teacher, ctxs, steps=3) -> torch.Tensor:
    """Each student's real-data loss after `steps` inner steps, differentiable w.r.t. the teacher."""
    direct = []
    for ctx in ctxs:
        state = train_steps(ctx.f, InnerState.start(ctx.params0), teacher, ctx.noise, range(steps), create_graph=True)
        direct.append(loss(ctx.f, state.params, ctx.meta_x, ctx.meta_y))
    return torch.stack(direct)


def assert_grads_equal(params, expected) -> None:
    """The teacher's accumulated .grad equals `expected` (autograd.grad's tuple, None where unused)."""
    checked = 0
    for e, g in zip(expected, [p.grad for p in params]):
        if e is None:
            assert g is None or torch.count_nonzero(g) == 0
            continue
        torch.testing.assert_close(g, e, rtol=1e-9, atol=1e-12)
        checked += 1
    assert checked > 0
