"""BPTT: backpropagation through the whole unrolled inner training (the original GTN).

Exact meta-gradient of the final student's real-data loss w.r.t. the teacher, including the inner
learning rates and momenta. Memory grows linearly with the number of differentiated steps; two
options trade that away: `checkpoint_every` k recomputes the unroll in blocks of k steps during the
backward pass (memory ~ T/k states + k steps of graph, compute ~ +1 forward), and `truncate` k
differentiates only the last k steps (biased, memory ~ k).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.utils.checkpoint import checkpoint

from ..inner import InnerState, loss, train_steps
from .base import MetaContext, MetaResult


@dataclass(frozen=True)
class BpttConfig:
    checkpoint_every: int = 0  # 0: keep the whole graph
    truncate: int = 0  # 0: differentiate all steps


class Bptt:
    name = "bptt"
    learns_hyper = True

    def __init__(self, cfg: BpttConfig = BpttConfig()):
        self.cfg = cfg

    @torch.enable_grad()
    def __call__(self, ctx: MetaContext) -> MetaResult:
        T = ctx.teacher.cfg.inner_steps
        first = T - min(self.cfg.truncate, T) if self.cfg.truncate else 0
        state = train_steps(ctx.f, InnerState.start(ctx.params0), ctx.teacher, ctx.noise, range(first), create_graph=False)
        if self.cfg.checkpoint_every:
            state = self._checkpointed(ctx, state, first, T)
        else:
            state = train_steps(ctx.f, state, ctx.teacher, ctx.noise, range(first, T), create_graph=True)
        meta = loss(ctx.f, state.params, ctx.meta_x, ctx.meta_y)
        meta.backward()
        return MetaResult(meta.item(), {k: v.detach() for k, v in state.params.items()})

    def _checkpointed(self, ctx: MetaContext, state: InnerState, first: int, T: int) -> InnerState:
        keys = list(state.params)

        def block(start: int, stop: int):
            def run(*flat):
                s = InnerState(dict(zip(keys, flat[: len(keys)])), dict(zip(keys, flat[len(keys):])))
                s = train_steps(ctx.f, s, ctx.teacher, ctx.noise, range(start, stop), create_graph=True)
                return (*s.params.values(), *s.bufs.values())
            return run

        k = self.cfg.checkpoint_every
        for start in range(first, T, k):
            flat = checkpoint(block(start, min(start + k, T)), *state.params.values(), *state.bufs.values(), use_reentrant=False)
            state = InnerState(dict(zip(keys, flat[: len(keys)])), dict(zip(keys, flat[len(keys):])))
        return state
