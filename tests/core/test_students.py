import pytest
import torch

from gtn_nas.core.spaces import load_space
from gtn_nas.core.students import build_student


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
