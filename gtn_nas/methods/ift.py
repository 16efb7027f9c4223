"""IFT: implicit-function-theorem meta-gradient with a Neumann-series inverse Hessian.

The student is trained T steps on the teacher's data without building any graph; its final
weights w are then treated as a minimiser of the *IFT inner objective*

    L_syn(w, λ) = mean over J synthetic batches j (drawn at random among the T steps) of
                  CE(student(w, x_j(λ)), y_j),

and the meta-gradient of L_real(w) (cross-entropy on a real training batch) is

    dL_real/dλ = − (∂²L_syn/∂λ∂w) · H⁻¹ ∂L_real/∂w,   H = ∂²L_syn/∂w²,

with H⁻¹v from `linalg.neumann_inverse` (K terms, step α; Lorraine et al. 2019). Hessian-vector
products are double-backward on L_syn with the images held fixed. Memory is that of J batches,
whatever T is; the inner learning rate and momentum get no meta-gradient (w does not depend on them
under the IFT assumption), so they stay at their initial values.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..inner import InnerState, loss, train_steps
from ..linalg import dot, neumann_inverse
from .base import MetaContext, MetaResult


def ift_backward(train_loss, hvp_loss, w: list[torch.Tensor], v, terms: int, alpha: float) -> None:
    """Accumulate the implicit meta-gradient −(∂²L/∂λ∂w)·H⁻¹v into the hyper-parameters λ.

    Args:
        train_loss: w ↦ L(w, λ), differentiable w.r.t. the λ tensors it closes over (their .grad
            receives the result).
        hvp_loss: w ↦ L(w, λ) with λ held constant (used for Hessian-vector products).
        w: the inner solution, leaf tensors with requires_grad.
        v: ∂L_outer/∂w at w.
        terms, alpha: Neumann series for H⁻¹v (`linalg.neumann_inverse`).
    """

    def hvp(u):
        with torch.enable_grad():
            g = torch.autograd.grad(hvp_loss(w), w, create_graph=True)
            return torch.autograd.grad(dot(g, u), w)

    p = neumann_inverse(hvp, v, terms, alpha)
    with torch.enable_grad():
        g = torch.autograd.grad(train_loss(w), w, create_graph=True)
        (-dot(g, p)).backward()


@dataclass(frozen=True)
class IftConfig:
    neumann_terms: int = 5
    neumann_alpha: float = 0.01  # small: Hessians of conv students reach eigenvalues > 40 (α=0.05 diverged)
    batches: int = 2  # J: synthetic batches in the IFT inner objective


class Ift:
    name = "ift"
    learns_hyper = False

    def __init__(self, cfg: IftConfig = IftConfig()):
        self.cfg = cfg

    @torch.enable_grad()
    def __call__(self, ctx: MetaContext) -> MetaResult:
        T = ctx.teacher.cfg.inner_steps
        state = train_steps(ctx.f, InnerState.start(ctx.params0), ctx.teacher, ctx.noise, range(T), create_graph=False)
        w = {k: v.detach().requires_grad_() for k, v in state.params.items()}
        keys = list(w)
        with torch.enable_grad():
            meta = loss(ctx.f, w, ctx.meta_x, ctx.meta_y)
            v = torch.autograd.grad(meta, list(w.values()))
        chosen = torch.randperm(T, generator=ctx.gen)[: min(self.cfg.batches, T)].tolist()
        with torch.no_grad():
            fixed = [ctx.teacher.batch(t, ctx.noise) for t in chosen]

        def as_dict(ws):
            return dict(zip(keys, ws))

        def hvp_loss(ws):
            return sum(loss(ctx.f, as_dict(ws), x, y) for x, y in fixed) / len(fixed)

        def train_loss(ws):
            # Rebuilt batch by batch inside one graph; J is small, so memory stays that of J batches.
            return sum(loss(ctx.f, as_dict(ws), *ctx.teacher.batch(t, ctx.noise)) for t in chosen) / len(chosen)

        ift_backward(train_loss, hvp_loss, list(w.values()), v, self.cfg.neumann_terms, self.cfg.neumann_alpha)
        return MetaResult(meta.item(), {k: x.detach() for k, x in w.items()})
