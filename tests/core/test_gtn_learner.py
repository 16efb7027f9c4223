"""The GTN paper's learner: weight-normalised layers, mean-only batch norm, the `gtn` family and the
`weight` norm option, with float64 finite-difference checks through every meta-gradient method."""

import pytest
import torch
import torch.nn.functional as F
from helpers import directional_derivatives, fresh_gen, tiny_context

from gtn_nas.core.inner import grads, loss
from gtn_nas.core.layers import MeanOnlyBatchNorm, WeightNormConv2d, WeightNormLinear
from gtn_nas.core.spaces import arch_id, validate_spec
from gtn_nas.core.students import build_student
from gtn_nas.teachers.methods import Bptt, BpttConfig, Gm, GmConfig

DT = torch.float64
# Tiny weight-normalised students of each family: the paper's design and the `weight` norm option
WN_SPECS = [
    {"family": "gtn", "conv1": 2, "conv2": 3, "fc": 4},
    {"family": "conv", "depth": 1, "width": 3, "activation": "tanh", "norm": "weight", "pooling": "avg"},
    {"family": "mlp", "depth": 2, "width": 5, "activation": "elu", "norm": "weight"},
]
IDS = [s["family"] for s in WN_SPECS]


def test_weight_norm_layers_compute_g_times_the_unit_direction():
    torch.manual_seed(0)
    lin, conv = WeightNormLinear(6, 4).double(), WeightNormConv2d(2, 3, 3, padding=1).double()
    x, xc = torch.randn(5, 6, dtype=DT), torch.randn(5, 2, 7, 7, dtype=DT)
    # at initialisation g = ‖v‖: the plain layer with weight v
    torch.testing.assert_close(lin(x), F.linear(x, lin.weight, lin.bias))
    torch.testing.assert_close(conv(xc), F.conv2d(xc, conv.weight, conv.bias, padding=1))
    with torch.no_grad():
        lin.weight_g.copy_(torch.arange(1.0, 5.0))
        conv.weight_g.copy_(torch.tensor([0.5, 2.0, 3.0]))
        before, before_c = lin(x), conv(xc)
        lin.weight.mul_(torch.tensor([[3.0], [0.1], [7.0], [1.0]], dtype=DT))  # v's scale per row is irrelevant
        conv.weight.mul_(11.0)
    torch.testing.assert_close(lin(x), before)
    torch.testing.assert_close(conv(xc), before_c)
    w = lin.weight / lin.weight.norm(dim=1, keepdim=True) * lin.weight_g[:, None]
    torch.testing.assert_close(lin(x), x @ w.T + lin.bias)


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_mean_only_batch_norm_subtracts_the_batch_mean_and_adds_its_bias(mode):
    bn = MeanOnlyBatchNorm(3).double()
    getattr(bn, mode)()
    with torch.no_grad():
        bn.bias.copy_(torch.tensor([1.0, -2.0, 0.5]))
    x = torch.randn(8, 3, 5, 5, dtype=DT) * 4 + 3
    y = bn(x)
    torch.testing.assert_close(y.mean(dim=(0, 2, 3)), bn.bias.detach())
    torch.testing.assert_close(y.std(dim=(0, 2, 3)), x.std(dim=(0, 2, 3)))  # no division by the deviation
    x2 = torch.randn(8, 3, dtype=DT) + 5
    torch.testing.assert_close(bn(x2).mean(0), bn.bias.detach())
    assert len(list(bn.buffers())) == 0  # evaluation uses the batch's own mean too


def test_the_gtn_family_is_base_fc():
    spec = validate_spec({"family": "gtn", "conv1": 64, "conv2": 128, "fc": 256})
    assert arch_id(spec) == "gtn-c64-c128-f256"
    net = build_student(spec, seed=0)
    shapes = {k: tuple(v.shape) for k, v in net.named_parameters()}
    assert shapes["0.weight"] == (64, 1, 3, 3) and shapes["0.weight_g"] == (64,)
    assert shapes["4.weight"] == (128, 64, 3, 3)
    assert shapes["9.weight"] == (256, 128 * 7 * 7) and shapes["12.weight"] == (10, 256)
    assert "0.bias" not in shapes and "4.bias" not in shapes  # the mean-only batch norms carry the biases
    assert net(torch.randn(3, 1, 28, 28)).shape == (3, 10)


@pytest.mark.parametrize("spec", WN_SPECS, ids=IDS)
def test_weight_norm_students_build_deterministically(spec):
    a, b = build_student(spec, 3), build_student(spec, 3)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert any(n.endswith("weight_g") for n, _ in a.named_parameters())


def _fd(ctx, method, name, eps=1e-7):
    """(analytic, central-difference) derivative of the method's meta-loss along a random direction
    of teacher parameter `name`.

    The paper's learner is only piecewise smooth (LeakyReLU, max-pooling), and an inner SGD step
    carries the jump of its gradient at a kink into the weights: the meta-loss has small jumps, and
    a difference of ±1e-5 straddled one here (13.7 against 0.015). ±1e-7 in float64 stays inside
    one smooth piece and is still accurate to ~1e-7 relative."""

    return directional_derivatives(ctx, method, name, eps=eps, direction_seed=1)


@pytest.mark.parametrize("spec", WN_SPECS, ids=IDS)
@pytest.mark.parametrize("name", ["pixels", "raw_lr", "raw_momentum"])
def test_bptt_through_weight_normalised_students_matches_finite_differences(spec, name):
    ctx = tiny_context(steps=3, batch=20, spec=spec)
    analytic, numeric = _fd(ctx, Bptt(BpttConfig(window=0, meta_losses=3)), name)
    assert analytic == pytest.approx(numeric, rel=1e-5, abs=1e-9)


@pytest.mark.parametrize("spec", WN_SPECS, ids=IDS)
def test_gm_through_weight_normalised_students_matches_finite_differences(spec):
    """One inner step: the match is taken at the student's initialisation, so the distance is a
    function of the teacher's images alone and its gradient is exact."""
    ctx = tiny_context(steps=1, batch=20, spec=spec)
    analytic, numeric = _fd(ctx, Gm(GmConfig(real_per_class=4, match_steps=0, augment=False)), "pixels")
    assert analytic != 0 and analytic == pytest.approx(numeric, rel=1e-5, abs=1e-9)


@pytest.mark.parametrize("spec", WN_SPECS, ids=IDS)
def test_ift_derivatives_through_weight_normalised_students_match_finite_differences(spec):
    """ift's two second-order pieces, through the weight-normalised layers: the Hessian-vector
    product H·u = ∂/∂w (∇_w L · u) and the mixed product ∂/∂λ (∇_w L · p), each against central
    differences of the first derivative."""
    ctx = tiny_context(steps=1, batch=20, spec=spec)
    f, x_lam = ctx.f, ctx.teacher.pixels
    y = ctx.teacher.labels
    w = {k: v.clone().requires_grad_() for k, v in ctx.params0.items()}
    gen = torch.Generator().manual_seed(2)
    u = {k: torch.randn(v.shape, generator=gen, dtype=DT) for k, v in w.items()}
    eps = 1e-7

    g = grads(f, w, x_lam[0].detach(), y, create_graph=True)
    hu = torch.autograd.grad(list(g.values()), list(w.values()), grad_outputs=list(u.values()))
    shifted = [grads(f, {k: v.detach() + s * eps * u[k] for k, v in w.items()}, x_lam[0].detach(), y) for s in (1, -1)]
    for k, h in zip(w, hu):
        torch.testing.assert_close(h, (shifted[0][k] - shifted[1][k]) / (2 * eps), rtol=1e-5, atol=1e-8)

    lam = x_lam[0].detach().clone().requires_grad_()
    dot = sum((gv * u[k]).sum() for k, gv in grads(f, w, lam, y, create_graph=True).items())
    (mixed,) = torch.autograd.grad(dot, lam)
    d = torch.randn(lam.shape, generator=gen, dtype=DT)

    def g_dot_u(x):
        return sum((gv * u[k]).sum() for k, gv in grads(f, {k: v.detach() for k, v in w.items()}, x, y).items()).item()

    numeric = (g_dot_u(lam.detach() + eps * d) - g_dot_u(lam.detach() - eps * d)) / (2 * eps)
    assert (mixed * d).sum().item() == pytest.approx(numeric, rel=1e-5, abs=1e-9)


def test_intermediate_losses_equal_a_direct_mean_over_every_step():
    """meta_losses = T (the paper's use_intermediate_losses = 1): the meta-loss and its gradient are
    those of the mean real-data loss after each of the T steps, unrolled here by hand."""
    ctx = tiny_context(steps=3, batch=20, spec=WN_SPECS[0])
    ctx.teacher.zero_grad(set_to_none=True)
    got = Bptt(BpttConfig(window=0, meta_losses=3))(fresh_gen(ctx)).meta_loss
    got_grad = ctx.teacher.pixels.grad.clone()

    ctx.teacher.zero_grad(set_to_none=True)
    params = {k: v.clone().requires_grad_() for k, v in ctx.params0.items()}
    bufs = {k: torch.zeros_like(v) for k, v in params.items()}
    total = 0.0
    for t in range(3):
        x, y = ctx.teacher.batch(t)
        g = torch.autograd.grad(loss(ctx.f, params, x, y), list(params.values()), create_graph=True)
        lr, mom = ctx.teacher.lr()[t], ctx.teacher.momentum()[t]
        bufs = {k: mom * bufs[k] + gk for k, gk in zip(params, g)}
        params = {k: params[k] - lr * bufs[k] for k in params}
        total = total + loss(ctx.f, params, ctx.meta_x, ctx.meta_y)
    (total / 3).backward()
    assert got == pytest.approx((total / 3).item(), rel=1e-12)
    torch.testing.assert_close(got_grad, ctx.teacher.pixels.grad, rtol=1e-10, atol=1e-12)
