import pytest
import torch

from gtn_nas.inner import InnerState, grads, sgd_step
from gtn_nas.spaces import load_space
from gtn_nas.students import Functional, build_student
from gtn_nas.training import sgd_steps


@pytest.mark.parametrize("spec", load_space("heldout").archs + load_space("distill").archs[:4])
def test_every_family_builds_and_classifies(spec):
    net = build_student(spec, seed=0)
    assert net(torch.randn(5, 1, 28, 28)).shape == (5, 10)


def test_init_is_seeded_and_leaves_global_rng_alone():
    spec = load_space("convnet").archs[7]
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = build_student(spec, seed=1)
    after = torch.rand(1)
    b = build_student(spec, seed=1)
    assert torch.equal(before, after)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not torch.equal(next(a.parameters()), next(build_student(spec, seed=2).parameters()))


def test_batch_norm_keeps_no_running_state():
    spec = {"family": "conv", "depth": 1, "width": 4, "activation": "relu", "norm": "batch", "pooling": "max"}
    net = build_student(spec, 0)
    assert len(list(net.buffers())) == 0  # nothing can leak across functional inner steps


def test_functional_sgd_matches_torch_optim_sgd():
    """The inner loop and the export recipe (torch.optim.SGD) follow the same trajectory."""
    spec = {"family": "conv", "depth": 1, "width": 4, "activation": "tanh", "norm": "instance", "pooling": "avg"}
    g = torch.Generator().manual_seed(0)
    steps = [(torch.randn(12, 1, 28, 28, generator=g), torch.randint(10, (12,), generator=g), 0.1 + 0.05 * t, 0.2 + 0.2 * t)
             for t in range(4)]
    net = build_student(spec, 3)
    f = Functional(build_student(spec, 3))
    state = InnerState.start(f.init_params())
    for x, y, lr, mom in steps:
        state = sgd_step(state, grads(f, state.params, x, y), lr, mom).detached()
    sgd_steps(net, steps)
    for name, p in net.named_parameters():
        torch.testing.assert_close(p, state.params[name], rtol=1e-5, atol=1e-6)
