"""Tiny float64 meta-learning problems for checking meta-gradients."""

from __future__ import annotations

import torch

from gtn_nas.core.data import Split
from gtn_nas.core.students import Functional, build_student
from gtn_nas.teachers.config import DistillConfig
from gtn_nas.teachers.generator import Teacher, TeacherConfig
from gtn_nas.teachers.methods import MetaContext

SMOOTH_MLP = {"family": "mlp", "depth": 1, "width": 8, "activation": "tanh", "norm": "none"}


def tiny_context(kind="pixels", steps=3, batch=10, seed=0, spec=SMOOTH_MLP, curriculum=True) -> MetaContext:
    g = torch.Generator().manual_seed(seed)
    teacher = Teacher(
        TeacherConfig(
            kind=kind, inner_steps=steps, batch_size=batch, inner_lr=0.1, curriculum=curriculum, noise_dim=4, hidden=8
        ),
        seed=seed,
    ).double()
    f = Functional(build_student(spec, seed).double())
    real = Split(torch.randn(200, 1, 28, 28, generator=g, dtype=torch.float64), torch.arange(200) % 10)
    noise = teacher.sample_noise(torch.Generator().manual_seed(seed)).double() if teacher.needs_noise else None
    return MetaContext(
        teacher,
        f,
        f.init_params(),
        noise,
        real.x[:40],
        real.y[:40],
        real,
        [torch.nonzero(real.y == c).squeeze(1) for c in range(10)],
        torch.Generator().manual_seed(seed),
        spec=spec,
        seed=seed,
    )


def fresh_gen(ctx: MetaContext, seed=0) -> MetaContext:
    ctx.gen = torch.Generator().manual_seed(seed)
    return ctx


def tiny_distill_cfg(method: str, space: str, teacher: TeacherConfig | None = None, **kw) -> DistillConfig:
    """Two meta-steps of a 3-step, 20-image teacher from noise on `space`, evaluated and
    checkpointed cheaply, no calibration: the objective tests' run (`kw` sets the rest)."""
    return DistillConfig(
        method=method,
        teacher=teacher or TeacherConfig(inner_steps=3, batch_size=20, init="noise"),
        meta_steps=2,
        space=space,
        eval_every=2,
        eval_students=1,
        eval_examples=200,
        checkpoint_every=1,
        calibrate=False,
        **kw,
    )


def directional_derivatives(ctx, method, name, eps=1e-5, direction_seed=3, seed_gen=True, steps=None):
    """(analytic, central-difference) derivative of the method's meta-loss along a random direction of
    teacher parameter `name` (restricted to inner steps `steps` of its first axis when given)."""

    def meta():
        ctx.teacher.zero_grad(set_to_none=True)
        return method(fresh_gen(ctx) if seed_gen else ctx).meta_loss

    meta()
    param = getattr(ctx.teacher, name)
    direction = torch.randn(param.shape, generator=torch.Generator().manual_seed(direction_seed), dtype=param.dtype)
    if steps is not None:
        mask = torch.zeros(param.shape[0], dtype=param.dtype)
        mask[list(steps)] = 1
        direction *= mask.view(-1, *[1] * (param.ndim - 1))
    analytic = (param.grad * direction).sum().item()
    with torch.no_grad():
        param += eps * direction
        up = meta()
        param -= 2 * eps * direction
        down = meta()
        param += eps * direction
    return analytic, (up - down) / (2 * eps)
