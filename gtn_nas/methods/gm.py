"""GM: gradient matching (Zhao, Mopuri, Bilen 2020).

At every inner step t the student's parameter gradients on the teacher's batch and on a real batch
of the same classes are compared, class by class, and the teacher is moved to make them agree; the
student then takes its SGD step on the (detached) synthetic batch. Memory is that of one step; the
inner learning rate and momentum get no meta-gradient.

Distance (per class, summed over layers): a weight gradient is reshaped to (out, rest) — conv
(out, in·h·w), linear (out, in) — and contributes Σ_rows (1 − cos(g_syn_row, g_real_row)); 1-D
gradients (biases, norm scales) are ignored. The real gradient is a constant.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..inner import InnerState, grads, sgd_step
from .base import MetaContext, MetaResult


def layer_distance(g_syn: torch.Tensor, g_real: torch.Tensor) -> torch.Tensor:
    if g_syn.ndim == 1:
        return g_syn.new_zeros(())
    a, b = g_syn.reshape(g_syn.shape[0], -1), g_real.reshape(g_real.shape[0], -1)
    return (1 - F.cosine_similarity(a, b, dim=1, eps=1e-8)).sum()


def match_distance(g_syn: dict, g_real: dict) -> torch.Tensor:
    return sum(layer_distance(g_syn[k], g_real[k].detach()) for k in g_syn)


@dataclass(frozen=True)
class GmConfig:
    real_per_class: int = 32


class Gm:
    name = "gm"
    learns_hyper = False

    def __init__(self, cfg: GmConfig = GmConfig()):
        self.cfg = cfg

    @torch.enable_grad()
    def __call__(self, ctx: MetaContext) -> MetaResult:
        T = ctx.teacher.cfg.inner_steps
        lr, mom = ctx.teacher.lr().detach(), ctx.teacher.momentum().detach()
        state, total = InnerState.start(ctx.params0), 0.0
        for t in range(T):
            x, y = ctx.teacher.batch(t, ctx.noise)
            dist = self._distance(ctx, state.params, x, y)
            (dist / T).backward()
            total += dist.item()
            step_grads = grads(ctx.f, state.params, x.detach(), y)
            state = sgd_step(state, step_grads, lr[t], mom[t]).detached()
        return MetaResult(total / T, state.params)

    def _distance(self, ctx: MetaContext, params, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        dist = x.new_zeros(())
        for c in range(10):
            pool = ctx.class_index[c]
            idx = pool[torch.randint(len(pool), (self.cfg.real_per_class,), generator=ctx.gen).to(pool.device)]
            g_real = grads(ctx.f, params, ctx.real.x[idx], ctx.real.y[idx])
            mask = y == c
            g_syn = grads(ctx.f, params, x[mask], y[mask], create_graph=True)
            dist = dist + match_distance(g_syn, g_real)
        return dist
