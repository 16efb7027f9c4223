"""Zero-cost proxies against hand computations on tiny networks."""

import numpy as np
import pytest
import torch

from gtn_nas.core.students import build_student
from gtn_nas.nas.zero_cost import activation_codes, naswot, synflow

MLP = {"family": "mlp", "depth": 1, "width": 3, "activation": "relu", "norm": "none"}


def _weights(spec, seed):
    net = build_student(spec, seed).double()
    lin = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
    return [(m.weight.detach().numpy(), m.bias.detach().numpy()) for m in lin]


def test_synflow_equals_the_hand_computation_on_a_two_layer_mlp():
    (w1, b1), (w2, b2) = _weights(MLP, 3)
    w1, b1, w2 = np.abs(w1), np.abs(b1), np.abs(w2)
    a = w1.sum(1) + b1  # hidden pre-activations for an all-ones input: all > 0, so ReLU passes them
    expected = (w2 * a[None, :]).sum() + (w1 * w2.sum(0)[:, None]).sum()
    assert synflow(MLP, 3) == pytest.approx(expected, rel=1e-12)


def test_synflow_ignores_normalisation_layers_and_grows_with_width():
    with_bn = {**MLP, "norm": "batch"}
    assert synflow(with_bn, 3) == pytest.approx(synflow(MLP, 3), rel=1e-12)
    conv = {"family": "conv", "depth": 1, "width": 4, "activation": "tanh", "norm": "layer", "pooling": "max"}
    assert synflow(conv, 0) > 0
    assert synflow({**MLP, "width": 64}, 0) > synflow(MLP, 0)


def test_naswot_equals_the_hand_computation_on_a_two_layer_mlp():
    x = torch.randn(6, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    (w1, b1), _ = _weights(MLP, 5)
    codes = ((x.double().flatten(1).numpy() @ w1.T + b1) > 0).astype(float)  # (6, 3)
    hamming = (codes[:, None, :] != codes[None, :, :]).sum(-1)
    k = codes.shape[1] - hamming
    sign, logdet = np.linalg.slogdet(k)
    got = naswot(MLP, 5, x)
    assert np.isfinite(got) == (sign != 0)
    if sign != 0:
        assert got == pytest.approx(logdet, rel=1e-6)
    torch.testing.assert_close(
        activation_codes(build_student(MLP, 5), x).double(), torch.from_numpy(codes), check_dtype=False
    )


def test_naswot_is_higher_when_images_get_distinct_codes():
    wide = {**MLP, "width": 64}
    x = torch.randn(16, 1, 28, 28, generator=torch.Generator().manual_seed(2))
    same = x[:1].repeat(16, 1, 1, 1) + 1e-4 * x  # near-identical images share codes: K near-singular
    assert naswot(wide, 0, x) > naswot(wide, 0, same)
