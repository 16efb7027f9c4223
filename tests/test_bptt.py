"""BPTT meta-gradients against central finite differences, and its memory options."""

import pytest
import torch

from gtn_nas.methods import Bptt, BpttConfig
from helpers import tiny_context


def _meta_loss(ctx, method):
    ctx.teacher.zero_grad(set_to_none=True)
    return method(ctx).meta_loss


@pytest.mark.parametrize("name", ["pixels", "raw_lr", "raw_momentum"])
def test_bptt_matches_finite_differences(name):
    ctx = tiny_context()
    method = Bptt()
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
    full, same = _grads(ctx, BpttConfig()), _grads(ctx, BpttConfig(truncate=4))
    torch.testing.assert_close(full["pixels"], same["pixels"])
    last2 = _grads(ctx, BpttConfig(truncate=2))
    assert torch.count_nonzero(last2["pixels"][:2]) == 0 and torch.count_nonzero(last2["pixels"][2:]) > 0
    assert torch.count_nonzero(last2["raw_lr"][:2]) == 0
