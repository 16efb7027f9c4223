"""Gradient matching: the distance's definition and properties, and that the method descends it."""

import pytest
import torch
from helpers import fresh_gen, tiny_context

from gtn_nas.teachers.methods import Gm, GmConfig
from gtn_nas.teachers.methods.gm import layer_distance, match_distance

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


SPECS = [
    {"family": "conv", "depth": 2, "width": 4, "activation": "tanh", "norm": "batch", "pooling": "max"},
    {"family": "conv", "depth": 1, "width": 4, "activation": "elu", "norm": "instance", "pooling": "avg"},
    {"family": "mlp", "depth": 2, "width": 8, "activation": "gelu", "norm": "layer"},
    {"family": "mlp", "depth": 1, "width": 8, "activation": "tanh", "norm": "batch"},
]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s['family']}-{s['norm']}")
@pytest.mark.parametrize("reduce", ["sum", "mean", "sum+augment"])
def test_batched_distance_and_gradient_equal_the_per_class_loop(spec, reduce):
    """vmap over classes (unequal class sizes: batch 23) gives the loop's distance and meta-gradient,
    with siamese augmentation too (each class's draw reaches the right class in both paths)."""
    reduce, augment = reduce.split("+")[0], reduce.endswith("augment")
    out = []
    for batched in (False, True):
        ctx = tiny_context(kind="generator", steps=2, batch=23, spec=spec)
        r = Gm(GmConfig(real_per_class=5, layer_reduce=reduce, batched=batched, augment=augment))(fresh_gen(ctx))
        out.append((r.meta_loss, {n: p.grad.clone() for n, p in ctx.teacher.named_parameters() if p.grad is not None}))
    assert out[0][0] == pytest.approx(out[1][0], rel=1e-9)
    assert out[0][1].keys() == out[1][1].keys() and out[0][1]
    for k in out[0][1]:
        torch.testing.assert_close(out[0][1][k], out[1][1][k], rtol=1e-7, atol=1e-9)


def test_mean_reduce_is_the_mean_over_rows_and_weighs_layers_equally():
    g = torch.Generator().manual_seed(4)
    wide, narrow = torch.randn(64, 5, generator=g, dtype=DT), torch.randn(2, 5, generator=g, dtype=DT)
    assert layer_distance(wide, -wide, "mean").item() == pytest.approx(2.0)
    assert layer_distance(narrow, -narrow, "mean").item() == pytest.approx(2.0)
    assert layer_distance(wide, -wide, "sum").item() == pytest.approx(128.0)
    a, b = torch.randn(3, 4, generator=g, dtype=DT), torch.randn(3, 4, generator=g, dtype=DT)
    torch.testing.assert_close(layer_distance(a, b, "mean"), layer_distance(a, b, "sum") / 3)


def test_match_steps_matches_only_that_many_steps():
    ctx = tiny_context(kind="pixels", steps=4, batch=20)
    Gm(GmConfig(real_per_class=4, match_steps=2))(fresh_gen(ctx))
    touched = [t for t in range(4) if torch.count_nonzero(ctx.teacher.pixels.grad[t])]
    assert len(touched) == 2


def test_bad_gm_options_are_config_errors():
    from gtn_nas.core.errors import ConfigError

    for bad in ({"real_per_class": 0}, {"layer_reduce": "max"}, {"match_steps": -1}):
        with pytest.raises(ConfigError):
            GmConfig(**bad)


def test_augmentation_changes_the_match_and_is_drawn_from_the_step_stream():
    ctx = tiny_context(kind="generator", steps=2, batch=20)
    plain = Gm(GmConfig(real_per_class=5, augment=False))(fresh_gen(ctx)).meta_loss
    ctx.teacher.zero_grad(set_to_none=True)
    runs = []
    for _ in range(2):
        runs.append(Gm(GmConfig(real_per_class=5, augment=True))(fresh_gen(ctx)).meta_loss)
        ctx.teacher.zero_grad(set_to_none=True)
    assert runs[0] == runs[1] != plain
