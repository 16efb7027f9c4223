"""IFT hypergradients against closed forms (ridge regression) and an exact linear solve."""

import pytest
import torch

from gtn_nas.teachers.methods.ift import ift_backward

DT = torch.float64


def _problem(seed=0, n=20, d=5, c=0.5):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=g, dtype=DT)  # the "synthetic data": the hyper-parameter λ
    y = torch.randn(n, generator=g, dtype=DT)
    Xv, yv = torch.randn(30, d, generator=g, dtype=DT), torch.randn(30, generator=g, dtype=DT)
    return X, y, Xv, yv, c


def _train_loss(X, y, c):
    return lambda ws: 0.5 * ((X @ ws[0] - y) ** 2).mean() + 0.5 * c * (ws[0] ** 2).sum()


def _val_loss(Xv, yv):
    return lambda w: 0.5 * ((Xv @ w - yv) ** 2).mean()


def _closed_form_grad(X, y, Xv, yv, c):
    """d L_val(w*(X)) / dX, differentiating the ridge solution w* = (XᵀX/n + cI)⁻¹ Xᵀy/n."""
    X = X.clone().requires_grad_()
    n, d = X.shape
    w = torch.linalg.solve(X.T @ X / n + c * torch.eye(d, dtype=DT), X.T @ y / n)
    (g,) = torch.autograd.grad(_val_loss(Xv, yv)(w), X)
    return g


def _ift_grad(X, y, Xv, yv, c, terms, alpha):
    n, d = X.shape
    w_star = torch.linalg.solve(X.T @ X / n + c * torch.eye(d, dtype=DT), X.T @ y / n).requires_grad_()
    (v,) = torch.autograd.grad(_val_loss(Xv, yv)(w_star), w_star)
    lam = X.clone().requires_grad_()
    ift_backward(_train_loss(lam, y, c), _train_loss(X, y, c), [w_star], (v,), terms, alpha)
    return lam.grad


def test_ift_with_many_terms_matches_ridge_closed_form():
    X, y, Xv, yv, c = _problem()
    exact = _closed_form_grad(X, y, Xv, yv, c)
    approx = _ift_grad(X, y, Xv, yv, c, terms=2000, alpha=0.3)
    torch.testing.assert_close(approx, exact, rtol=1e-6, atol=1e-9)


def test_ift_matches_explicit_hessian_solve():
    """Same problem, the inverse Hessian applied with torch.linalg.solve on the explicit Hessian."""
    X, y, Xv, yv, c = _problem(seed=1)
    n, d = X.shape
    w_star = torch.linalg.solve(X.T @ X / n + c * torch.eye(d, dtype=DT), X.T @ y / n)
    H = torch.autograd.functional.hessian(lambda w: _train_loss(X, y, c)([w]), w_star)
    v = torch.autograd.functional.jacobian(_val_loss(Xv, yv), w_star)
    p = torch.linalg.solve(H, v)
    lam = X.clone().requires_grad_()
    w = w_star.clone().requires_grad_()
    (g,) = torch.autograd.grad(_train_loss(lam, y, c)([w]), w, create_graph=True)
    (-(g * p).sum()).backward()
    torch.testing.assert_close(_ift_grad(X, y, Xv, yv, c, terms=2000, alpha=0.3), lam.grad, rtol=1e-6, atol=1e-9)


def test_few_terms_is_a_worse_but_aligned_approximation():
    X, y, Xv, yv, c = _problem(seed=2)
    exact = _closed_form_grad(X, y, Xv, yv, c).flatten()
    errs = [torch.linalg.norm(_ift_grad(X, y, Xv, yv, c, k, 0.3).flatten() - exact) for k in (0, 5, 50)]
    assert errs[0] > errs[1] > errs[2]
    cos = torch.nn.functional.cosine_similarity(_ift_grad(X, y, Xv, yv, c, 5, 0.3).flatten(), exact, dim=0)
    assert cos > 0.9


def test_ift_with_conjugate_gradient_matches_ridge_closed_form():
    X, y, Xv, yv, c = _problem(seed=3)
    n, d = X.shape
    w_star = torch.linalg.solve(X.T @ X / n + c * torch.eye(d, dtype=DT), X.T @ y / n).requires_grad_()
    (v,) = torch.autograd.grad(_val_loss(Xv, yv)(w_star), w_star)
    lam = X.clone().requires_grad_()
    ift_backward(_train_loss(lam, y, c), _train_loss(X, y, c), [w_star], (v,), d, 0.3, solver="cg")
    torch.testing.assert_close(lam.grad, _closed_form_grad(X, y, Xv, yv, c), rtol=1e-6, atol=1e-9)


def test_damping_solves_the_damped_system():
    """(H + δI)⁻¹: the ridge closed form with c + δ in the Hessian but c in the mixed partial."""
    X, y, Xv, yv, c = _problem(seed=4)
    n, d = X.shape
    delta = 0.7
    w_star = torch.linalg.solve(X.T @ X / n + c * torch.eye(d, dtype=DT), X.T @ y / n)
    H = X.T @ X / n + (c + delta) * torch.eye(d, dtype=DT)
    v = torch.autograd.functional.jacobian(_val_loss(Xv, yv), w_star)
    p = torch.linalg.solve(H, v)
    lam, w = X.clone().requires_grad_(), w_star.clone().requires_grad_()
    (g,) = torch.autograd.grad(_train_loss(lam, y, c)([w]), w, create_graph=True)
    (-(g * p).sum()).backward()
    lam2 = X.clone().requires_grad_()
    w2 = w_star.clone().requires_grad_()
    ift_backward(_train_loss(lam2, y, c), _train_loss(X, y, c), [w2], (v,), d, 0.3, solver="cg", damping=delta)
    torch.testing.assert_close(lam2.grad, lam.grad, rtol=1e-6, atol=1e-9)


def test_settling_lowers_the_ift_objective_gradient():
    """Settling steps move the student towards a stationary point of L_syn (what the IFT assumes)."""
    from helpers import fresh_gen, tiny_context

    from gtn_nas.core.inner import loss
    from gtn_nas.teachers.methods import Ift, IftConfig

    norms = []
    for settle in (0, 50):
        ctx = tiny_context(steps=3, batch=20)
        ift = Ift(IftConfig(batches=3, settle_steps=settle, warm_steps=0))
        params = ift(fresh_gen(ctx)).params
        with torch.no_grad():
            batches = [ctx.teacher.batch(t) for t in range(3)]
        w = {k: v.requires_grad_() for k, v in params.items()}
        g = torch.autograd.grad(sum(loss(ctx.f, w, x, y) for x, y in batches) / 3, list(w.values()))
        norms.append(sum((x**2).sum() for x in g).sqrt().item())
    assert norms[1] < 0.5 * norms[0]


def test_bad_ift_options_are_config_errors():
    from gtn_nas.core.errors import ConfigError
    from gtn_nas.teachers.methods import IftConfig

    for bad in (
        {"batches": 0},
        {"neumann_terms": -1},
        {"neumann_alpha": 0},
        {"settle_steps": -1},
        {"solver": "lu"},
        {"damping": -1},
        {"damping": float("nan")},
        {"damping": float("inf")},
        {"neumann_alpha": float("inf")},
        {"neumann_alpha": float("nan")},
        {"warm_steps": -1},
        {"warm_mode": "resume"},
        {"solver": "cg", "neumann_terms": 0},
    ):  # 0 CG iterations: a zero meta-gradient, a teacher that never learns
        with pytest.raises(ConfigError):
            IftConfig(**bad)
    IftConfig(solver="neumann", neumann_terms=0)  # the identity inverse (K = 0) is a real setting


def test_warm_ift_runs_one_student_through_its_t_steps_over_several_meta_steps():
    """warm_steps N: the student of the first meta-step is continued N steps per meta-step; with the
    teacher unchanged, after T/N meta-steps it is where one T-step (cold) meta-step leaves it, and
    the next meta-step starts the fresh student it is given."""
    import dataclasses

    from helpers import fresh_gen, tiny_context

    from gtn_nas.teachers.methods import Ift, IftConfig

    ctx = tiny_context(steps=4, batch=10)
    cold = Ift(IftConfig(solver="neumann", neumann_terms=0, warm_steps=0))(fresh_gen(ctx)).params
    warm = Ift(IftConfig(solver="neumann", neumann_terms=0, warm_steps=2, warm_mode="advance"))
    other = dataclasses.replace(tiny_context(steps=4, batch=10, seed=1), teacher=ctx.teacher, noise=ctx.noise)
    firsts = [warm(fresh_gen(c)).params for c in (ctx, other)]  # the second call continues ctx's student, not other's
    assert warm.warm[0].done == 4 and warm.warm[0].seed == 0
    for k in cold:
        torch.testing.assert_close(firsts[1][k], cold[k])
        assert not torch.allclose(firsts[0][k], cold[k])
    warm(fresh_gen(other))  # the run is over: other's fresh student starts
    assert warm.warm[0].done == 2 and warm.warm[0].seed == 1


def test_replay_ift_takes_every_implicit_step_at_step_t_from_a_kept_prefix():
    """warm_mode replay: the first T-N steps are run once, on the teacher of the student's first
    meta-step; each of its ceil(T/N) meta-steps runs steps T-N..T-1 from there on the teacher as it
    is then. With the teacher unchanged that is exactly the cold student; after a teacher update it
    is the old prefix continued on the new teacher; then a fresh student starts."""
    import copy
    import dataclasses

    from helpers import fresh_gen, tiny_context

    from gtn_nas.core.inner import InnerState, train_steps
    from gtn_nas.teachers.methods import Ift, IftConfig

    ctx = tiny_context(steps=4, batch=10)
    settings = dict(solver="neumann", neumann_terms=0)
    cold = Ift(IftConfig(**settings))(fresh_gen(ctx)).params
    replay = Ift(IftConfig(**settings, warm_steps=1, warm_mode="replay"))  # ceil(4/1) = 4 meta-steps per student
    first = replay(fresh_gen(ctx)).params
    assert replay.warm[0].done == 3 and replay.warm[0].uses == 1
    for k in cold:
        torch.testing.assert_close(first[k], cold[k])
    moved = copy.deepcopy(ctx.teacher)
    with torch.no_grad():
        for q in moved.parameters():  # random, not constant: a teacher may normalise its images
            q.add_(0.5 * torch.randn(q.shape, generator=torch.Generator().manual_seed(3), dtype=q.dtype))
    later = dataclasses.replace(ctx, teacher=moved)
    got = replay(fresh_gen(later)).params
    prefix = train_steps(ctx.f, InnerState.start(ctx.params0), ctx.teacher, ctx.noise, range(3), create_graph=False)
    want = train_steps(ctx.f, prefix, moved, ctx.noise, range(3, 4), create_graph=False).params
    moved_cold = Ift(IftConfig(**settings))(fresh_gen(later)).params
    for k in cold:
        torch.testing.assert_close(got[k], want[k])
        assert not torch.allclose(got[k], moved_cold[k])  # the prefix was not run again on the new teacher
    other = dataclasses.replace(tiny_context(steps=4, batch=10, seed=1), teacher=moved, noise=ctx.noise)
    for _ in range(2):
        replay(fresh_gen(other))
    assert replay.warm[0].seed == 0 and replay.warm[0].uses == 4
    fresh = replay(fresh_gen(other)).params  # its 4 meta-steps are over: other's fresh student, cold on `moved`
    assert replay.warm[0].seed == 1 and replay.warm[0].uses == 1
    other_cold = Ift(IftConfig(**settings))(fresh_gen(other)).params
    for k in other_cold:
        torch.testing.assert_close(fresh[k], other_cold[k])


@pytest.mark.parametrize("mode, done", [("advance", 4), ("replay", 1)])
def test_warm_ift_state_round_trips_through_a_weights_only_checkpoint(tmp_path, mode, done):
    from helpers import fresh_gen, tiny_context

    from gtn_nas.core.checkpoint import load_checkpoint, save_checkpoint
    from gtn_nas.teachers.methods import Ift, IftConfig

    ctx = tiny_context(steps=4, batch=10)
    a = Ift(IftConfig(warm_steps=3, warm_mode=mode))
    a(fresh_gen(ctx))
    save_checkpoint(
        tmp_path / "c.pt",
        {"method": "ift", "config": {}, "teacher": {}, "meta_step": 1, "metrics": [], "method_state": a.state_dict()},
    )
    b = Ift(IftConfig(warm_steps=3, warm_mode=mode))
    b.load_state_dict(load_checkpoint(tmp_path / "c.pt")["method_state"])
    ctx.teacher.zero_grad(set_to_none=True)
    ra = a(fresh_gen(ctx, 1))
    ga = [p.grad.clone() for p in ctx.teacher.parameters() if p.grad is not None]
    ctx.teacher.zero_grad(set_to_none=True)
    rb = b(fresh_gen(ctx, 1))
    gb = [p.grad.clone() for p in ctx.teacher.parameters() if p.grad is not None]
    assert b.warm[0].done == done and b.warm[0].uses == 2 and ra.meta_loss == rb.meta_loss
    for x, y in zip(ga, gb):
        torch.testing.assert_close(x, y)
