"""BPTT meta-gradients against central finite differences, and its memory options."""

import pytest
import torch
from helpers import fresh_gen, tiny_context

from gtn_nas.teachers.methods import Bptt, BpttConfig


def _meta_loss(ctx, method):
    ctx.teacher.zero_grad(set_to_none=True)
    return method(ctx).meta_loss


@pytest.mark.parametrize("name", ["pixels", "raw_lr", "raw_momentum"])
def test_bptt_matches_finite_differences(name):
    _assert_matches_finite_differences(tiny_context(), Bptt(), name)


def _assert_matches_finite_differences(ctx, method, name):
    """The meta-gradient along a random direction of teacher parameter `name` against central differences."""
    _meta_loss(ctx, method)
    param = getattr(ctx.teacher, name)
    direction = torch.randn(param.shape, generator=torch.Generator().manual_seed(1), dtype=param.dtype)
    analytic = (param.grad * direction).sum().item()
    eps = 1e-5
    with torch.no_grad():
        param += eps * direction
        up = _meta_loss(ctx, method)
        param -= 2 * eps * direction
        down = _meta_loss(ctx, method)
        param += eps * direction
    assert analytic == pytest.approx((up - down) / (2 * eps), rel=1e-5, abs=1e-9)


def test_bptt_reaches_generator_weights():
    ctx = tiny_context(kind="generator", curriculum=False)
    Bptt()(ctx)
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in ctx.teacher.generator.parameters())


def _grads(ctx, cfg):
    ctx.teacher.zero_grad(set_to_none=True)
    Bptt(cfg)(ctx)
    return {n: p.grad.clone() for n, p in ctx.teacher.named_parameters() if p.grad is not None}


def test_checkpointing_gives_the_same_gradient():
    ctx = tiny_context(kind="generator", steps=5)
    full, ckpt = _grads(ctx, BpttConfig()), _grads(ctx, BpttConfig(checkpoint_every=2))
    assert full.keys() == ckpt.keys()
    for k in full:
        torch.testing.assert_close(full[k], ckpt[k])


def test_truncation_to_all_steps_is_exact_and_shorter_truncation_cuts_early_steps():
    ctx = tiny_context(steps=4)
    full, same = _grads(ctx, BpttConfig()), _grads(ctx, BpttConfig(window=0, truncate=4))
    torch.testing.assert_close(full["pixels"], same["pixels"])
    last2 = _grads(ctx, BpttConfig(window=0, truncate=2))
    assert torch.count_nonzero(last2["pixels"][:2]) == 0 and torch.count_nonzero(last2["pixels"][2:]) > 0
    assert torch.count_nonzero(last2["raw_lr"][:2]) == 0


def _fd_check(ctx, method, name="pixels", seed_gen=True, steps=None):
    """Central finite differences of the method's meta-loss along a random direction of `name`
    (restricted to inner steps `steps` of the parameter's first axis when given)."""
    from helpers import directional_derivatives

    analytic, numeric = directional_derivatives(ctx, method, name, seed_gen=seed_gen, steps=steps)
    assert analytic == pytest.approx(numeric, rel=1e-5, abs=1e-9)


@pytest.mark.parametrize("name", ["pixels", "raw_lr", "raw_momentum"])
def test_intermediate_losses_match_finite_differences(name):
    _fd_check(tiny_context(steps=4), Bptt(BpttConfig(meta_losses=3)), name)


def test_intermediate_losses_are_the_mean_of_the_real_loss_at_each_point():
    from gtn_nas.core.inner import InnerState, loss, train_steps
    from gtn_nas.teachers.methods.bptt import loss_points

    assert loss_points(0, 4, 2) == [2, 4] and loss_points(0, 4, 1) == [4] and loss_points(2, 4, 5) == [3, 4]
    ctx = tiny_context(steps=4)
    got = Bptt(BpttConfig(meta_losses=2)).__call__(ctx).meta_loss
    with torch.no_grad():
        s2 = train_steps(ctx.f, InnerState.start(ctx.params0), ctx.teacher, None, range(2), create_graph=False)
        s4 = train_steps(ctx.f, s2, ctx.teacher, None, range(2, 4), create_graph=False)
        expected = (loss(ctx.f, s2.params, ctx.meta_x, ctx.meta_y) + loss(ctx.f, s4.params, ctx.meta_x, ctx.meta_y)) / 2
    assert got == pytest.approx(expected.item(), rel=1e-10)


def test_random_window_matches_finite_differences_and_reaches_only_its_steps():
    """The window's steps get the exact gradient of the loss at the window's end (the steps before
    it are constants of the unroll, so the check perturbs only the window's images)."""
    ctx = tiny_context(steps=6)
    method = Bptt(BpttConfig(window=2))
    first, stop = method.span(6, torch.Generator().manual_seed(0))
    assert stop - first == 2
    _fd_check(ctx, method, "pixels", steps=range(first, stop))
    g = ctx.teacher.pixels.grad
    touched = [t for t in range(6) if torch.count_nonzero(g[t])]
    assert touched == [first, first + 1]
    starts = {method.span(6, torch.Generator().manual_seed(s))[0] for s in range(40)}
    assert starts == set(range(5))  # every placement occurs


def test_bad_bptt_options_are_config_errors():
    from gtn_nas.core.errors import ConfigError

    for bad in (
        {"truncate": -1, "window": 0},
        {"checkpoint_every": -1},
        {"window": -2},
        {"meta_losses": 0},
        {"checkpoint_every": 2, "meta_losses": 2},
        {"window": 2, "truncate": 2},
    ):
        with pytest.raises(ConfigError):
            BpttConfig(**bad)


def test_augmented_unroll_matches_finite_differences_through_the_transformations():
    """With augment every image of every step is transformed (its draws from the meta-step's
    stream, so a reseeded stream repeats them): the meta-gradient is exact through them."""
    ctx = tiny_context(steps=4)
    method = Bptt(BpttConfig(window=0, augment=True))
    _fd_check(ctx, method, "pixels")
    plain = Bptt(BpttConfig(window=0))(fresh_gen(ctx)).meta_loss
    assert method(fresh_gen(ctx)).meta_loss != pytest.approx(plain, rel=1e-6)  # the student saw other images


def test_augmented_checkpointed_unroll_recomputes_the_same_transformations():
    ctx = tiny_context(kind="generator", steps=5)

    def grads(cfg):
        ctx.teacher.zero_grad(set_to_none=True)
        Bptt(cfg)(fresh_gen(ctx))
        return {n: p.grad.clone() for n, p in ctx.teacher.named_parameters() if p.grad is not None}

    full = grads(BpttConfig(window=0, augment=True))
    ckpt = grads(BpttConfig(window=0, augment=True, checkpoint_every=2))
    assert full.keys() == ckpt.keys()
    for k in full:
        torch.testing.assert_close(full[k], ckpt[k])


@pytest.mark.parametrize("name", ["pixels", "raw_lr"])
def test_bptt_through_a_gradient_clip_matches_finite_differences(name):
    """A calibrated clip is part of the unroll bptt differentiates (min(1, c/|g|) is smooth where active)."""
    ctx = tiny_context()
    ctx.teacher.max_grad_norm = 0.05
    method = Bptt()
    clipped = _meta_loss(ctx, method)
    ctx.teacher.max_grad_norm = None
    assert _meta_loss(ctx, method) != pytest.approx(clipped, rel=1e-6)  # the clip is active
    ctx.teacher.max_grad_norm = 0.05
    _assert_matches_finite_differences(ctx, method, name)
