"""Training a student (gtn_nas.core.inner, gtn_nas.core.training): functional SGD equals torch.optim.SGD,
one trajectory scored along the way equals shorter runs, the full-training schedule."""

import pytest
import torch

from gtn_nas.core.inner import InnerState, grads, sgd_step
from gtn_nas.core.students import Functional, build_student
from gtn_nas.core.training import sgd_steps


def test_functional_sgd_matches_torch_optim_sgd():
    """The inner loop and the export recipe (torch.optim.SGD) follow the same trajectory."""
    spec = {"family": "conv", "depth": 1, "width": 4, "activation": "tanh", "norm": "instance", "pooling": "avg"}
    g = torch.Generator().manual_seed(0)
    steps = [
        (torch.randn(12, 1, 28, 28, generator=g), torch.randint(10, (12,), generator=g), 0.1 + 0.05 * t, 0.2 + 0.2 * t)
        for t in range(4)
    ]
    net = build_student(spec, 3)
    f = Functional(build_student(spec, 3))
    state = InnerState.start(f.init_params())
    for x, y, lr, mom in steps:
        state = sgd_step(state, grads(f, state.params, x, y), lr, mom).detached()
    sgd_steps(net, steps)
    for name, p in net.named_parameters():
        torch.testing.assert_close(p, state.params[name], rtol=1e-5, atol=1e-6)


def test_scoring_along_one_trajectory_equals_separate_shorter_runs():
    """`after` (the frontier's budgets on one trajectory) sees what a run of that many steps ends with."""
    spec = {"family": "conv", "depth": 2, "width": 4, "activation": "relu", "norm": "batch", "pooling": "max"}
    g = torch.Generator().manual_seed(1)
    steps = [
        (torch.randn(16, 1, 28, 28, generator=g), torch.randint(10, (16,), generator=g), 0.1, 0.9) for _ in range(6)
    ]
    probe = torch.randn(8, 1, 28, 28, generator=g)
    long, seen = build_student(spec, 5), {}

    def after(t):
        long.eval()  # as the frontier scores: eval mode mid-trajectory must not change the rest
        with torch.no_grad():
            seen[t] = long(probe)

    sgd_steps(long, steps, after)
    for t in (2, 4, 6):
        short = build_student(spec, 5)
        sgd_steps(short, steps[:t])
        with torch.no_grad():
            torch.testing.assert_close(seen[t], short.eval()(probe), rtol=1e-5, atol=1e-6)


def test_cosine_schedule_anneals_and_bad_schedules_are_refused():
    from gtn_nas.core.data import Split
    from gtn_nas.core.errors import ConfigError
    from gtn_nas.core.training import FullTraining, train_full

    spec = {"family": "mlp", "depth": 1, "width": 16, "activation": "relu", "norm": "none"}
    g = torch.Generator().manual_seed(0)
    train = Split(torch.randn(64, 1, 28, 28, generator=g), torch.randint(10, (64,), generator=g))
    nets = {}
    for schedule in ("constant", "cosine"):
        nets[schedule] = build_student(spec, 0)
        train_full(nets[schedule], train, FullTraining(epochs=2, batch_size=32, lr=0.01, schedule=schedule), seed=0)
    # cosine: step 0 at the full lr (same first update), later steps smaller, so the weights differ
    first = {k: next(net.parameters()) for k, net in nets.items()}
    assert not torch.allclose(first["constant"], first["cosine"])
    with pytest.raises(ConfigError, match="schedule"):
        FullTraining(schedule="linear")
