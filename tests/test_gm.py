"""Gradient matching: the distance's definition and properties, and that the method descends it."""

import pytest
import torch

from gtn_nas.methods import Gm, GmConfig
from gtn_nas.methods.gm import layer_distance, match_distance
from helpers import fresh_gen, tiny_context

DT = torch.float64


def test_layer_distance_is_sum_over_rows_of_one_minus_cosine():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(4, 3, 2, 2, generator=g, dtype=DT), torch.randn(4, 3, 2, 2, generator=g, dtype=DT)
    ra, rb = a.reshape(4, -1), b.reshape(4, -1)
    manual = sum(1 - (ra[i] @ rb[i]) / (ra[i].norm() * rb[i].norm()) for i in range(4))
    torch.testing.assert_close(layer_distance(a, b), manual)


def test_distance_properties():
    g = torch.Generator().manual_seed(1)
    w, b = torch.randn(5, 7, generator=g, dtype=DT), torch.randn(5, generator=g, dtype=DT)
    assert layer_distance(w, w).item() == pytest.approx(0, abs=1e-12)
    assert layer_distance(w, -w).item() == pytest.approx(2 * 5)
    # invariant to a positive rescaling of each row
    scale = torch.rand(5, 1, generator=g, dtype=DT) + 0.1
    assert layer_distance(w * scale, w + 0.3).item() == pytest.approx(layer_distance(w, w + 0.3).item())
    # 1-D gradients (biases, norm scales) are ignored
    assert match_distance({"w": w, "b": b}, {"w": w, "b": -b}).item() == pytest.approx(0, abs=1e-12)


def test_distance_gradient_is_orthogonal_to_each_row():
    """Scale invariance ⇒ ∂D/∂g_row ⟂ g_row; and the real side is held constant."""
    g = torch.Generator().manual_seed(2)
    syn = torch.randn(3, 6, generator=g, dtype=DT, requires_grad=True)
    real = torch.randn(3, 6, generator=g, dtype=DT, requires_grad=True)
    match_distance({"w": syn}, {"w": real}).backward()
    assert real.grad is None
    torch.testing.assert_close((syn.grad * syn).sum(1), torch.zeros(3, dtype=DT), atol=1e-12, rtol=0)


def test_gm_step_descends_its_matching_distance():
    ctx = tiny_context(kind="pixels", steps=2, batch=20)
    method = Gm(GmConfig(real_per_class=8))
    before = method(fresh_gen(ctx)).meta_loss
    with torch.no_grad():
        ctx.teacher.pixels -= 0.5 * ctx.teacher.pixels.grad / ctx.teacher.pixels.grad.norm()
    ctx.teacher.zero_grad(set_to_none=True)
    after = method(fresh_gen(ctx)).meta_loss  # same student, same real batches
    assert after < before
    assert ctx.teacher.raw_lr.grad is None  # gm cannot learn the inner lr
