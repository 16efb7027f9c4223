"""The twin objective: its chain rule through the unrolls, the twin's init and data, a distillation
with it, and the one-line errors."""

import pytest
import torch
from cli_run import assert_one_line_error, cli
from conftest import TINY_SPACE
from helpers import tiny_distill_cfg
from objective_helpers import assert_grads_equal, contexts, unrolled_losses

from gtn_nas.core.errors import ConfigError
from gtn_nas.core.inner import loss
from gtn_nas.core.students import Functional, build_student
from gtn_nas.teachers.distillation import Distiller, distill
from gtn_nas.teachers.methods import Bptt, BpttConfig
from gtn_nas.teachers.objectives.twin import twin_loss, twin_weights

CPU = torch.device("cpu")


def test_twin_weights_match_finite_differences():
    losses, targets, h = [0.9, 0.4, 1.7], [0.5, 0.6, 0.2], 1e-6
    value, c = twin_weights(losses, targets)
    for k in range(3):
        up = [x + h * (i == k) for i, x in enumerate(losses)]
        assert c[k] == pytest.approx((twin_weights(up, targets)[0] - value) / h, rel=1e-4)
    assert value == pytest.approx(sum((a - b) ** 2 for a, b in zip(losses, targets)) / 3)


def test_chain_rule_equals_differentiating_the_twin_loss_through_the_unrolls():
    """Σ_k c_k·dL_k/dλ (each student's bptt meta-gradient, weighted) = d mean_k (L_k − L*_k)²/dλ
    taken directly through the K unrolled trainings."""
    targets = [0.5, 3.0, 1.0]  # below and above the students' losses: both signs of c_k
    teacher, ctxs = contexts()
    params = list(teacher.parameters())
    objective = ((unrolled_losses(teacher, ctxs) - torch.tensor(targets, dtype=torch.float64)) ** 2).mean()
    expected = torch.autograd.grad(objective, params, allow_unused=True)

    method = Bptt(BpttConfig(window=0))
    pending = [method.forward(ctx) for ctx in ctxs]
    _, c = twin_weights([p.meta_loss for p in pending], targets)
    assert min(c) < 0 < max(c)
    for p, ck in zip(pending, c):
        p.backward(ck)
    assert_grads_equal(params, expected)


def _twin_cfg(method="ift", **kw):
    kw = {"twin_steps": 20, "students_per_step": 2, **kw}
    return tiny_distill_cfg(method, TINY_SPACE, objective="twin", **kw)


def test_the_twin_is_the_student_at_its_init_trained_on_real_data(small_mnist):
    d = Distiller(_twin_cfg(), small_mnist, CPU)
    ctx = d.context(0, 1)
    twin = Functional(build_student(ctx.spec, ctx.seed))
    assert all(torch.equal(twin.init_params()[k], ctx.params0[k]) for k in ctx.params0)
    at_init = float(loss(ctx.f, ctx.params0, ctx.meta_x, ctx.meta_y))
    assert twin_loss(ctx.spec, ctx.seed, small_mnist.train, ctx.meta_x, ctx.meta_y, 0) == pytest.approx(at_init)
    trained = twin_loss(ctx.spec, ctx.seed, small_mnist.train, ctx.meta_x, ctx.meta_y, 40)
    assert trained < at_init - 0.5  # 40 real steps teach it something


@pytest.mark.parametrize("method", ["bptt", "ift"])
def test_twin_distillation_moves_the_teacher_deterministically(small_mnist, tmp_path, method):
    a = distill(_twin_cfg(method), small_mnist, CPU, tmp_path / "a.pt")
    b = distill(_twin_cfg(method), small_mnist, CPU, tmp_path / "b.pt")
    start = Distiller(_twin_cfg(method), small_mnist, CPU).teacher.state_dict()
    got, again = a.teacher.state_dict(), b.teacher.state_dict()
    assert all(torch.equal(got[k], again[k]) for k in got)
    assert any(not torch.equal(got[k], start[k]) for k in got)
    assert len(a.metrics) == 2 and all(r["meta_loss"] >= 0 for r in a.metrics)


def test_bad_twin_options_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="twin_steps must be >= 1"):
        _twin_cfg(twin_steps=0).validate()
    assert_one_line_error(cli("distill", "--out", tmp_path / "t.pt", "--objective", "twin", "--method", "gm"), "gm")
    run = cli("distill", "--out", tmp_path / "t.pt", "--objective", "twin", "--rank-weight", "1")
    assert_one_line_error(run, "--rank-weight applies to --objective rank only")
    assert not (tmp_path / "t.pt").exists()
