"""Functional inner training: the student as pure tensors, stepped by SGD with momentum.

`sgd_step` matches torch.optim.SGD exactly (buf = m*buf + g, starting from buf = g; w -= lr*buf;
no dampening, no Nesterov), so a student trained here and one trained by `training.sgd_steps` on
the exported dataset follow the same trajectory.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

Params = dict[str, torch.Tensor]


@dataclass
class InnerState:
    params: Params
    bufs: Params

    @staticmethod
    def start(params: Params) -> InnerState:
        return InnerState(dict(params), {k: torch.zeros_like(v) for k, v in params.items()})

    def detached(self) -> InnerState:
        return InnerState(
            {k: v.detach() for k, v in self.params.items()}, {k: v.detach() for k, v in self.bufs.items()}
        )


def loss(f, params: Params, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(f(params, x), y)


def grads(f, params: Params, x: torch.Tensor, y: torch.Tensor, create_graph: bool = False) -> Params:
    """d loss / d params. With create_graph the result stays differentiable (w.r.t. params and x)."""
    leaves = {k: v if v.requires_grad else v.detach().requires_grad_() for k, v in params.items()}
    with torch.enable_grad():
        g = torch.autograd.grad(loss(f, leaves, x, y), list(leaves.values()), create_graph=create_graph)
    return dict(zip(leaves, g))


def clip(g: Params, max_grad_norm: float | None) -> Params:
    """g rescaled to at most `max_grad_norm` in global L2 norm, as torch.nn.utils.clip_grad_norm_
    does (coefficient c / (|g| + 1e-6), capped at 1); differentiable, so bptt sees the clip."""
    if max_grad_norm is None:
        return g
    norm = torch.sqrt(sum((v**2).sum() for v in g.values()))
    scale = torch.clamp(max_grad_norm / (norm + 1e-6), max=1.0)
    return {k: v * scale for k, v in g.items()}


def sgd_step(state: InnerState, g: Params, lr, momentum, max_grad_norm: float | None = None) -> InnerState:
    """One step of `training.sgd_steps`'s recipe (its clip included) on functional parameters."""
    g = clip(g, max_grad_norm)
    bufs = {k: momentum * state.bufs[k] + g[k] for k in g}
    return InnerState({k: state.params[k] - lr * bufs[k] for k in g}, bufs)


def train_steps(f, state: InnerState, teacher, noise, steps: range, create_graph: bool, transform=None) -> InnerState:
    """Run inner steps `steps` on the teacher's batches.

    create_graph=True keeps the whole computation differentiable w.r.t. the teacher (BPTT);
    otherwise the teacher's batches and hyper-parameters are treated as constants. `transform`
    (t, x) -> x, if given, changes step t's images before the student sees them (bptt's augment).
    The teacher's gradient clip (`max_grad_norm`, set by calibration) is part of its recipe: the
    students of meta-training train as the students that score the teacher do.
    """
    lr, mom = teacher.lr(), teacher.momentum()
    for t in steps:
        if create_graph:
            (x, y), lr_t, mom_t = teacher.batch(t, noise), lr[t], mom[t]
        else:
            with torch.no_grad():
                x, y = teacher.batch(t, noise)
            lr_t, mom_t, state = lr[t].detach(), mom[t].detach(), state.detached()
        if transform is not None:
            x = transform(t, x)
        state = sgd_step(state, grads(f, state.params, x, y, create_graph), lr_t, mom_t, teacher.max_grad_norm)
    return state.detached() if not create_graph else state
