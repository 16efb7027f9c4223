"""BPTT: backpropagation through the whole unrolled inner training (the original GTN).

Exact meta-gradient of the students' real-data loss w.r.t. the teacher, including the inner
learning rates and momenta. Memory grows linearly with the number of differentiated steps. Options:

- `meta_losses` n: GTN's intermediate losses. The meta-loss is the mean real-data loss at n
  evenly spaced points of the differentiated steps (the last point is the final step), so early
  batches are trained to help at once, not only through the final weights.
- `window` k: differentiate k consecutive steps placed at random (from the meta-step's stream):
  the steps before the window run without a graph, the meta-loss is taken at the window's end and
  the steps after it are skipped. Memory and compute ~ k, and every step of the curriculum is
  reached over meta-steps, unlike `truncate`, which only ever reaches the last k.
- `checkpoint_every` k: recompute the unroll in blocks of k steps during the backward pass
  (memory ~ T/k states + k steps of graph, compute ~ +1 forward); exact.
- `truncate` k: differentiate only the last k steps (biased, memory ~ k).
- `augment`: during distillation every synthetic image of every inner step is transformed before
  the student sees it (`augment.py`: one family per step, e.g. shifts or small rotations, its
  values drawn per image), so the teacher learns images that teach under such changes, not only
  one exact set of pixels fitted to the distillation students' trajectories. Exported data is
  untransformed.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.utils.checkpoint import checkpoint

from ...core import augment as dsa
from ...core.errors import ConfigError
from ...core.inner import InnerState, loss, train_steps
from .base import MetaContext, MetaResult, Pending


@dataclass(frozen=True)
class BpttConfig:
    checkpoint_every: int = 0  # 0: keep the whole graph
    truncate: int = 0  # 0: differentiate all steps
    meta_losses: int = 1  # real-data loss points (1: the final weights only)
    # 0: no random window; None: 8 (~3x more meta-steps per second, better teachers; ablation.md),
    # or 0 when `truncate` is set (a truncation replaces the window)
    window: int | None = None
    augment: bool = False  # measured worse on 2 distillation seeds (ablation.md)

    def __post_init__(self):
        if self.window is None:
            object.__setattr__(self, "window", 0 if self.truncate else 8)
        for name in ("checkpoint_every", "truncate", "window"):
            if getattr(self, name) < 0:
                raise ConfigError(
                    f"bptt {name.replace('_', '-')} must be >= 0 (0 turns it off); got {getattr(self, name)}"
                )
        if self.meta_losses < 1:
            raise ConfigError(f"bptt meta-losses must be >= 1; got {self.meta_losses}")
        if self.checkpoint_every and self.meta_losses > 1:
            raise ConfigError("bptt: checkpointing takes a single meta-loss (meta-losses 1)")
        if self.window and self.truncate:
            raise ConfigError("bptt: choose a random window or a truncation, not both")


def loss_points(first: int, stop: int, n: int) -> list[int]:
    """The inner-step counts (after how many steps) at which the real-data loss is taken."""
    span = stop - first
    n = min(n, span)
    return sorted({first + round(span * (i + 1) / n) for i in range(n)})


class Bptt:
    name = "bptt"
    learns_hyper = True

    def __init__(self, cfg: BpttConfig = BpttConfig()):
        self.cfg = cfg

    def span(self, T: int, gen: torch.Generator) -> tuple[int, int]:
        """[first, stop): the inner steps to differentiate."""
        if self.cfg.window and self.cfg.window < T:
            first = int(torch.randint(T - self.cfg.window + 1, (1,), generator=gen))
            return first, first + self.cfg.window
        return (T - min(self.cfg.truncate, T) if self.cfg.truncate else 0), T

    def __call__(self, ctx: MetaContext) -> MetaResult:
        pending = self.forward(ctx)
        pending.backward(1.0)
        return pending.result()

    @torch.enable_grad()
    def forward(self, ctx: MetaContext) -> Pending:
        """The unrolled student and its meta-loss, the graph kept for `Pending.backward`."""
        T = ctx.teacher.cfg.inner_steps
        first, stop = self.span(T, ctx.gen)
        transform = self._transform(T, ctx) if self.cfg.augment else None
        state = train_steps(
            ctx.f,
            InnerState.start(ctx.params0),
            ctx.teacher,
            ctx.noise,
            range(first),
            create_graph=False,
            transform=transform,
        )
        if self.cfg.checkpoint_every:
            state = self._checkpointed(ctx, state, first, stop, transform)
            meta = loss(ctx.f, state.params, ctx.meta_x, ctx.meta_y)
        else:
            meta, at = 0.0, first
            points = loss_points(first, stop, self.cfg.meta_losses)
            for p in points:  # unroll up to each loss point, keeping one graph
                state = train_steps(
                    ctx.f, state, ctx.teacher, ctx.noise, range(at, p), create_graph=True, transform=transform
                )
                meta, at = meta + loss(ctx.f, state.params, ctx.meta_x, ctx.meta_y) / len(points), p

        def backward(c: float) -> None:
            with torch.enable_grad():
                (c * meta).backward()

        return Pending(meta.item(), {k: v.detach() for k, v in state.params.items()}, backward)

    @staticmethod
    def _transform(T: int, ctx: MetaContext):
        """(t, x) -> x: step t's images transformed by step t's draw, one family and per-image values
        (all drawn up front, so that a checkpointed block's recomputation sees the same ones)."""
        draws = [dsa.draw(ctx.teacher.cfg.batch_size, ctx.gen) for _ in range(T)]
        return lambda t, x: dsa.apply(x.unsqueeze(1), draws[t]).squeeze(1)

    def _checkpointed(self, ctx: MetaContext, state: InnerState, first: int, T: int, transform=None) -> InnerState:
        keys = list(state.params)

        def block(start: int, stop: int):
            def run(*flat):
                s = InnerState(dict(zip(keys, flat[: len(keys)])), dict(zip(keys, flat[len(keys) :])))
                s = train_steps(
                    ctx.f, s, ctx.teacher, ctx.noise, range(start, stop), create_graph=True, transform=transform
                )
                return (*s.params.values(), *s.bufs.values())

            return run

        k = self.cfg.checkpoint_every
        for start in range(first, T, k):
            flat = checkpoint(
                block(start, min(start + k, T)), *state.params.values(), *state.bufs.values(), use_reentrant=False
            )
            state = InnerState(dict(zip(keys, flat[: len(keys)])), dict(zip(keys, flat[len(keys) :])))
        return state
