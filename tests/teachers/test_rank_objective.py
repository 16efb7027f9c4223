"""The rank-aware meta-objective: its loss, its chain rule through each method, the ranking pool,
the zero-meta-step control and the one-line errors."""

from pathlib import Path

import pytest
import torch
from cli_run import assert_one_line_error, cli
from conftest import TINY_SPACE
from helpers import tiny_distill_cfg
from objective_helpers import assert_grads_equal, contexts, pool_csv, unrolled_losses

from gtn_nas.core.errors import ConfigError
from gtn_nas.core.spaces import arch_id, load_space, specs_from_csv
from gtn_nas.teachers.config import DistillConfig
from gtn_nas.teachers.distillation import Distiller, distill
from gtn_nas.teachers.fit import fit_generator, real_pixels
from gtn_nas.teachers.generator import Teacher, TeacherConfig
from gtn_nas.teachers.methods import Bptt, BpttConfig, Ift, IftConfig
from gtn_nas.teachers.objectives.rank import RankPool, objective_weights, rank_loss

CPU = torch.device("cpu")
RESULTS = Path(__file__).resolve().parents[2] / "results" / "ground_truth"


@pytest.mark.parametrize("form", ["pairwise", "zscore"])
def test_rank_loss_gradient_matches_finite_differences(form):
    g = torch.Generator().manual_seed(0)
    L = torch.rand(6, generator=g, dtype=torch.float64) + 0.2
    a = torch.rand(6, generator=g, dtype=torch.float64)
    if form == "pairwise":  # τ is detached by design, so the finite differences hold it at L's too
        tau, gap = L.std(unbiased=False), (a[:, None] - a[None, :]).clamp(min=0)
        f = lambda x: (gap * torch.nn.functional.softplus((x[:, None] - x[None, :]) / tau)).sum() / gap.sum()
        torch.testing.assert_close(f(L), rank_loss(L, a, form))
    else:
        f = lambda x: rank_loss(x, a, form)
    _, c = objective_weights(L.tolist(), a.tolist(), form, None)
    eps = 1e-6
    for k in range(6):
        e = torch.zeros(6, dtype=torch.float64)
        e[k] = eps
        fd = float(f(L + e) - f(L - e)) / (2 * eps)
        assert abs(fd - c[k]) < 1e-6, (k, fd, c[k])


def test_rank_loss_is_low_for_the_right_order_and_ignores_a_shift():
    a = torch.tensor([0.9, 0.8, 0.7], dtype=torch.float64)
    right, wrong = (
        torch.tensor([0.1, 0.2, 0.3], dtype=torch.float64),
        torch.tensor([0.3, 0.2, 0.1], dtype=torch.float64),
    )
    for form in ("pairwise", "zscore"):
        assert rank_loss(right, a, form) < rank_loss(wrong, a, form)
        torch.testing.assert_close(rank_loss(right + 5.0, a, form), rank_loss(right, a, form))


def test_the_mix_adds_the_mean_loss():
    L, a = [0.3, 0.5, 0.9], [0.9, 0.7, 0.8]
    value, c = objective_weights(L, a, "zscore", 2.0)
    rank_value, rank_c = objective_weights(L, a, "zscore", None)
    assert value == pytest.approx(sum(L) / 3 + 2.0 * rank_value)
    assert c == pytest.approx([1 / 3 + 2.0 * x for x in rank_c])


@pytest.mark.parametrize("form", ["pairwise", "zscore"])
def test_chain_rule_equals_differentiating_the_rank_loss_through_the_unrolls(form):
    """Σ_k c_k·dL_k/dλ (each student's own bptt meta-gradient, weighted) = d ℓ_rank(L_1..L_K)/dλ
    taken directly through the K unrolled trainings."""
    accs = [0.9, 0.6, 0.75]
    teacher, ctxs = contexts()
    params = list(teacher.parameters())
    tau_fixed = rank_loss(unrolled_losses(teacher, ctxs), torch.tensor(accs, dtype=torch.float64), form)
    expected = torch.autograd.grad(tau_fixed, params, allow_unused=True)

    method = Bptt(BpttConfig(window=0))
    pending = [method.forward(ctx) for ctx in ctxs]
    _, c = objective_weights([p.meta_loss for p in pending], accs, form, None)
    for p, ck in zip(pending, c):
        p.backward(ck)
    assert_grads_equal(params, expected)


def test_ift_pending_backward_is_linear_in_its_weight():
    """ift's c·dL/dλ: the implicit solve of c·v equals c times the solve of v."""
    teacher, ctxs = contexts()
    method = Ift(IftConfig())
    ctxs[0].gen = torch.Generator().manual_seed(0)  # ift draws its J batches from the stream
    method.forward(ctxs[0]).backward(1.0)
    once = [p.grad.clone() for p in teacher.data_parameters()]
    teacher.zero_grad(set_to_none=True)
    ctxs[0].gen = torch.Generator().manual_seed(0)
    method.forward(ctxs[0]).backward(-2.5)
    for a, b in zip(once, [p.grad for p in teacher.data_parameters()]):
        torch.testing.assert_close(b, -2.5 * a)
    assert any(torch.count_nonzero(a) for a in once)


def _rank_cfg(pool, method="ift", **kw):
    kw = {"students_per_step": 3, **kw}
    return tiny_distill_cfg(method, TINY_SPACE, objective="rank", rank_pool=str(pool), **kw)


@pytest.mark.parametrize("method", ["bptt", "ift"])
def test_rank_distillation_trains_distinct_pool_students_and_logs_rank_val(small_mnist, tmp_path, method, monkeypatch):
    pool = pool_csv(tmp_path / "pool.csv")
    d = Distiller(_rank_cfg(pool, method), small_mnist, CPU)
    seen = []
    real_forward = d.method.forward
    monkeypatch.setattr(d.method, "forward", lambda ctx: seen.append(arch_id(ctx.spec)) or real_forward(ctx))
    d.run(tmp_path / "t.pt")
    train_ids = {arch_id(s) for s, _ in RankPool.load(pool).train}
    assert len(seen) == 6 and set(seen) <= train_ids and len(set(seen[:3])) == 3 and len(set(seen[3:])) == 3
    assert -1 <= d.metrics[-1]["rank_val_rho"] <= 1
    assert "rank_val_rho" in (tmp_path / "t.csv").read_text().splitlines()[0]


def test_rank_distillation_is_deterministic(small_mnist, tmp_path):
    pool = pool_csv(tmp_path / "pool.csv")
    a = distill(_rank_cfg(pool, "bptt", rank_weight=1.0), small_mnist, CPU, tmp_path / "a.pt").teacher.state_dict()
    b = distill(_rank_cfg(pool, "bptt", rank_weight=1.0), small_mnist, CPU, tmp_path / "b.pt").teacher.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_zero_meta_steps_is_the_fitted_start(mnist, tmp_path):
    cfg = DistillConfig(
        method="ift",
        teacher=TeacherConfig(inner_steps=3, batch_size=20, fit_steps=4),
        meta_steps=0,
        space=TINY_SPACE,
        eval_students=1,
        eval_examples=200,
        calibrate=False,
        seed=3,
    )
    d = distill(cfg, mnist, CPU, tmp_path / "start.pt")  # the full split: the fit avoids the calibration holdout
    assert d.step == 0 and (tmp_path / "start.pt").exists()
    start = Teacher(cfg.teacher, seed=3)
    fit_generator(start, real_pixels(mnist.train, cfg.teacher, 3), 4, seed=3)
    got, want = d.teacher.state_dict(), start.state_dict()
    assert all(torch.equal(got[k], want[k]) for k in want)
    assert torch.load(tmp_path / "start.pt", weights_only=True)["complete"]


@pytest.mark.parametrize("name", ["rank_pool.csv", "rank_pool_144.csv"])
def test_the_shipped_pools_are_disjoint_from_every_evaluation_net(name):
    pool = RankPool.load(RESULTS / name)
    evaluation = {arch_id(s) for s in specs_from_csv(RESULTS / "convnet.csv")}
    yardstick = {arch_id(s) for s in specs_from_csv(RESULTS / "yardstick_archs.csv")}
    heldout = set(load_space("heldout").ids())
    assert len(pool.train) >= 2 and len(pool.val) >= 2
    assert not pool.ids() & (evaluation | yardstick | heldout)
    assert not {arch_id(s) for s, _ in pool.train} & {arch_id(s) for s, _ in pool.val}


@pytest.mark.parametrize(
    "extra, needles",
    [
        (["--objective", "rank", "--students-per-step", "2"], ["--objective rank needs --rank-pool"]),
        (["--objective", "rank", "--rank-pool", "POOL"], ["--students-per-step >= 2"]),
        (["--objective", "rank", "--rank-pool", "BAD", "--students-per-step", "2"], ["missing column(s) val_acc"]),
        (["--objective", "rank", "--rank-pool", "nowhere.csv", "--students-per-step", "2"], ["no such file"]),
        (["--objective", "rank", "--rank-pool", "POOL", "--students-per-step", "2", "--method", "gm"], ["gm"]),
        (
            ["--objective", "rank", "--rank-pool", "POOL", "--students-per-step", "2", "--rank-loss", "hinge"],
            ["--rank-loss"],
        ),
        (["--rank-weight", "1"], ["--rank-weight applies to --objective rank only"]),
        (["--objective", "best"], ["--objective must be one of"]),
    ],
)
def test_bad_rank_options_are_one_line_errors(tmp_path, extra, needles):
    pool = pool_csv(tmp_path / "pool.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("arch_id,spec\nx,{}\n")
    args = [str(pool) if a == "POOL" else str(bad) if a == "BAD" else a for a in extra]
    out = tmp_path / "t.pt"
    assert_one_line_error(cli("distill", "--out", out, *args), *needles)
    assert not out.exists()


def test_a_pool_too_small_for_k_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="fewer than"):
        _rank_cfg(pool_csv(tmp_path / "pool.csv", n=8), students_per_step=8).validate()
