"""Zero-cost proxies: scores of an untrained network, the baselines NAS papers compare against.

- `synflow` (Tanaka et al. 2020, as a NAS proxy: Abdelfattah et al. 2021): every parameter
  replaced by its absolute value, an all-ones input, R = Σ outputs; the score is
  Σ over conv/linear weights of |θ ⊙ ∂R/∂θ|. Computed in float64 on the architecture with its
  normalisation layers removed (Abdelfattah et al. drop batch norm: with one constant input a
  normalised activation is 0 and the gradient vanishes).
- `naswot` (Mellor et al. 2021, "NAS without training"): one batch of real images; each image's
  binary code is the sign pattern (> 0) of the input of every activation layer; the kernel
  K[i, j] = N_A − Hamming(c_i, c_j) = c_i·c_j + (1 − c_i)·(1 − c_j); the score is log|det K|.
  Mellor et al. read ReLU inputs; here every activation's input is read, whatever its kind.

Both build the student from the proxy's seed, as the training proxies do.
"""

from __future__ import annotations

import torch
from torch import nn

from ..core.students import ACT, build_student

ACTIVATION_TYPES = tuple(type(make()) for make in ACT.values())


def synflow(spec: dict, seed: int) -> float:
    """SynFlow score of `spec` initialised from `seed` (normalisation removed)."""
    net = build_student({**spec, "norm": "none"}, seed, "cpu").double()
    with torch.no_grad():
        for p in net.parameters():
            p.abs_()
    net.zero_grad(set_to_none=True)
    net(torch.ones(1, 1, 28, 28, dtype=torch.float64)).sum().backward()
    with torch.no_grad():
        return float(
            sum((m.weight * m.weight.grad).abs().sum() for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))
        )


def activation_codes(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """(N, N_A) binary codes: 1 where the input of an activation layer is > 0."""
    codes = []
    hooks = [
        m.register_forward_hook(lambda _m, inp, _out: codes.append((inp[0] > 0).flatten(1).double()))
        for m in net.modules()
        if isinstance(m, ACTIVATION_TYPES)
    ]
    try:
        with torch.no_grad():
            net(x)
    finally:
        for h in hooks:
            h.remove()
    return torch.cat(codes, dim=1) if codes else x.new_zeros(len(x), 0, dtype=torch.float64)


def naswot(spec: dict, seed: int, x: torch.Tensor) -> float:
    """log|det K| of the activation-code kernel of `spec` (init from `seed`) on the batch `x`."""
    c = activation_codes(build_student(spec, seed, x.device), x)
    k = c @ c.T + (1 - c) @ (1 - c).T
    return float(torch.linalg.slogdet(k).logabsdet)
