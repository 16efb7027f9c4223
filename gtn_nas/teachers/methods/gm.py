"""GM: gradient matching (Zhao, Mopuri, Bilen 2020).

At every inner step t the student's parameter gradients on the teacher's batch and on a real batch
of the same classes are compared, class by class, and the teacher is moved to make them agree; the
student then takes its SGD step on the (detached) synthetic batch. Memory is that of one step; the
inner learning rate and momentum get no meta-gradient (see `calibrate`). With `update_per_match`
the teacher takes an optimiser step after every match, as Zhao et al. update their synthetic set
(k updates per meta-step instead of one); the inner step after a match then uses the updated teacher.

Distance (per class, summed over layers): a weight gradient is reshaped to (out, rest) — conv
(out, in·h·w), linear (out, in) — and contributes Σ_rows (1 − cos(g_syn_row, g_real_row))
(`layer_reduce="sum"`, Zhao et al.'s definition) or the mean over rows (`"mean"`: every layer
weighs the same, so a 256-row MLP layer does not outweigh the 10-row classifier); 1-D gradients
(biases, norm scales) are ignored. The real gradient is a constant.

The ten per-class gradients are computed together (`batched`, torch.func.vmap over classes; each
class keeps its own forward pass, so batch norm sees per-class statistics exactly as in the loop);
`batched=False` keeps the loop, which the tests use as the reference.

With `augment` (DSA, Zhao & Bilen 2021; `augment.py`) each match draws one transformation per class
and applies it to that class's synthetic and real images alike before their gradients are taken.
The student's own SGD step still trains on the untransformed batch, as students do after export.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.func import grad, vmap

from ...core import augment as dsa
from ...core.errors import ConfigError
from ...core.inner import InnerState, grads, loss, sgd_step
from .base import MetaContext, MetaResult

REDUCE = ("sum", "mean")


def layer_distance(g_syn: torch.Tensor, g_real: torch.Tensor, reduce: str = "sum") -> torch.Tensor:
    """Distance of one layer's gradients; leading dims beyond (out, ...) are not allowed here."""
    if g_syn.ndim == 1:
        return g_syn.new_zeros(())
    a, b = g_syn.reshape(g_syn.shape[0], -1), g_real.reshape(g_real.shape[0], -1)
    d = 1 - F.cosine_similarity(a, b, dim=1, eps=1e-8)
    return d.sum() if reduce == "sum" else d.mean()


def match_distance(g_syn: dict, g_real: dict, reduce: str = "sum") -> torch.Tensor:
    return sum(layer_distance(g_syn[k], g_real[k].detach(), reduce) for k in g_syn)


def batched_distance(g_syn: dict, g_real: dict, reduce: str = "sum") -> torch.Tensor:
    """Σ over a leading class dimension of `match_distance` (gradients shaped (C, out, ...))."""
    total = 0.0
    for k, gs in g_syn.items():
        if gs.ndim == 2:  # (C, n): a 1-D parameter per class
            continue
        a, b = gs.flatten(2), g_real[k].detach().flatten(2)
        d = 1 - F.cosine_similarity(a, b, dim=2, eps=1e-8)  # (C, out)
        total = total + (d.sum() if reduce == "sum" else d.mean(1).sum())
    return total


@dataclass(frozen=True)
class GmConfig:
    real_per_class: int = 32
    layer_reduce: str = "sum"
    batched: bool = True
    match_steps: int = 8  # match at this many inner steps drawn at random (0: every step; 8 measured better per second)
    # Zhao et al. update the synthetic set after every match; off: one teacher update per meta-step
    # from the matches' mean distance.
    update_per_match: bool = False
    # DSA: the same random transformation on a class's synthetic and real images (on: better held-out
    # accuracy at the same meta-steps and cost on both distillation seeds; ablation.md).
    augment: bool = True

    def __post_init__(self):
        if self.match_steps < 0:
            raise ConfigError(f"gm match-steps must be >= 0 (0: every step); got {self.match_steps}")
        if self.real_per_class < 1:
            raise ConfigError(f"gm real-per-class must be >= 1; got {self.real_per_class}")
        if self.layer_reduce not in REDUCE:
            raise ConfigError(f"gm layer-reduce must be one of {', '.join(REDUCE)}; got {self.layer_reduce!r}")


class Gm:
    name = "gm"
    learns_hyper = False

    def __init__(self, cfg: GmConfig = GmConfig()):
        self.cfg = cfg

    @torch.enable_grad()
    def __call__(self, ctx: MetaContext) -> MetaResult:
        T = ctx.teacher.cfg.inner_steps
        lr, mom = ctx.teacher.lr().detach(), ctx.teacher.momentum().detach()
        k = self.cfg.match_steps if 0 < self.cfg.match_steps < T else T
        matched = set(torch.randperm(T, generator=ctx.gen)[:k].tolist()) if k < T else set(range(T))
        state, total = InnerState.start(ctx.params0), 0.0
        for t in range(T):
            if t in matched:
                x, y = ctx.teacher.batch(t, ctx.noise)
                real = self._real_batches(ctx)
                aug = dsa.draw(10, ctx.gen) if self.cfg.augment else None
                dist = (self._batched if self.cfg.batched else self._looped)(ctx, state.params, x, y, real, aug)
                total += dist.item()
                if self.cfg.update_per_match and ctx.update is not None:
                    dist.backward()
                    ctx.update()
                    with torch.no_grad():  # the student trains on the updated teacher's batch
                        x, y = ctx.teacher.batch(t, ctx.noise)
                else:
                    (dist / k).backward()
                    x = x.detach()
            else:
                with torch.no_grad():
                    x, y = ctx.teacher.batch(t, ctx.noise)
            state = sgd_step(
                state, grads(ctx.f, state.params, x, y), lr[t], mom[t], ctx.teacher.max_grad_norm
            ).detached()
        return MetaResult(total / k, state.params)

    def _real_batches(self, ctx: MetaContext) -> tuple[torch.Tensor, torch.Tensor]:
        """(10, n, 1, 28, 28) real images and (10, n) labels, n = real_per_class, class by class."""
        idx = []
        for c in range(10):
            pool = ctx.class_index[c]
            idx.append(pool[torch.randint(len(pool), (self.cfg.real_per_class,), generator=ctx.gen).to(pool.device)])
        idx = torch.stack(idx)
        return ctx.real.x[idx], ctx.real.y[idx]

    def _looped(self, ctx, params, x, y, real, aug=None) -> torch.Tensor:
        dist = x.new_zeros(())
        for c in range(10):
            xr, mask = real[0][c], y == c
            xs = x[mask]
            if aug is not None:
                xr, xs = dsa.apply(xr[None], aug[c : c + 1])[0], dsa.apply(xs[None], aug[c : c + 1])[0]
            g_real = grads(ctx.f, params, xr, real[1][c])
            g_syn = grads(ctx.f, params, xs, y[mask], create_graph=True)
            dist = dist + match_distance(g_syn, g_real, self.cfg.layer_reduce)
        return dist

    def _batched(self, ctx, params, x, y, real, aug=None) -> torch.Tensor:
        params = {k: v.detach() for k, v in params.items()}
        per_class = vmap(grad(lambda p, xb, yb: loss(ctx.f, p, xb, yb)), in_dims=(None, 0, 0))
        with torch.no_grad():
            g_real = per_class(params, dsa.apply(real[0], aug) if aug is not None else real[0], real[1])
        groups = defaultdict(list)  # classes with equally many synthetic images share one vmap call
        for c in range(10):
            groups[int((y == c).sum())].append(c)
        dist = x.new_zeros(())
        for n, classes in groups.items():
            if n == 0:
                continue
            rows = torch.stack([torch.nonzero(y == c).squeeze(1) for c in classes])  # (C, n)
            sel = torch.tensor(classes, device=x.device)
            xs = dsa.apply(x[rows], aug[classes]) if aug is not None else x[rows]
            g_syn = per_class(params, xs, y[rows])
            dist = dist + batched_distance(g_syn, {k: v[sel] for k, v in g_real.items()}, self.cfg.layer_reduce)
        return dist
