"""Pure linear-algebra solvers on tuples of tensors; they know nothing about networks."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

Vec = tuple[torch.Tensor, ...]


def neumann_inverse(matvec: Callable[[Vec], Vec], v: Sequence[torch.Tensor], terms: int, alpha: float) -> Vec:
    """Approximate A⁻¹v ≈ α Σ_{k=0..K} (I − αA)^k v (Neumann series; Lorraine et al. 2019).

    Converges when the eigenvalues of αA lie in (0, 2); K = `terms`, and K = 0 gives αv
    (the identity approximation, up to scale).

    Args:
        matvec: v ↦ Av (for IFT, a Hessian-vector product).
        v: the right-hand side, as a tuple of tensors.
        terms: number of Neumann terms K beyond the first.
        alpha: step size α.
    Returns:
        α·p with p = Σ_k (I − αA)^k v, as a tuple of tensors shaped like v.
    """
    cur = tuple(x.detach() for x in v)
    total = cur
    for _ in range(terms):
        av = matvec(cur)
        cur = tuple(c - alpha * a for c, a in zip(cur, av))
        total = tuple(p + c for p, c in zip(total, cur))
    return tuple(alpha * p for p in total)


def dot(a: Sequence[torch.Tensor], b: Sequence[torch.Tensor]) -> torch.Tensor:
    return sum((x * y).sum() for x, y in zip(a, b))


def conjugate_gradient(matvec: Callable[[Vec], Vec], v: Sequence[torch.Tensor], iters: int) -> Vec:
    """Approximate A⁻¹v by `iters` conjugate-gradient iterations from x₀ = 0 (A symmetric).

    Exact after n iterations for an n×n symmetric positive-definite A; on an indefinite A (a
    network's Hessian away from a minimum) it still minimises nothing in particular, so callers
    damp A (A + δI) to keep it positive-definite. Stops early when the residual vanishes.
    """
    x = tuple(torch.zeros_like(t) for t in v)
    r = tuple(t.detach().clone() for t in v)
    p, rr = r, dot(r, r)
    for _ in range(iters):
        if rr <= 1e-30:
            break
        ap = matvec(p)
        step = rr / dot(p, ap)
        x = tuple(xi + step * pi for xi, pi in zip(x, p))
        r = tuple(ri - step * ai for ri, ai in zip(r, ap))
        rr_new = dot(r, r)
        p, rr = tuple(ri + (rr_new / rr) * pi for ri, pi in zip(r, p)), rr_new
    return x
