"""The GTN-paper configurations (benchmarks/configs/gtn_mnist*.toml) load and run, and the meta-lr
follows the paper's cosine annealing."""

import math
from pathlib import Path

import pytest
import torch

from gtn_nas.teachers.config_file import distill_config
from gtn_nas.teachers.distillation import Distiller

CONFIGS = Path(__file__).resolve().parents[2] / "benchmarks" / "configs"
FILES = {"bptt": "gtn_mnist.toml", "ift": "gtn_mnist_ift.toml", "gm": "gtn_mnist_gm.toml"}


@pytest.mark.parametrize("method", FILES)
def test_the_gtn_configuration_loads_and_runs_two_meta_steps(method, small_mnist, tmp_path):
    cfg = distill_config(CONFIGS / FILES[method], method=method, meta_steps=2, calibrate=False)
    assert cfg.space.endswith("learner_w16.toml") and cfg.meta_lr == 0.02 and cfg.teacher.noise_dim == 128
    if method == "bptt":  # full unroll, a real-data loss after every step
        assert cfg.method_options["window"] == 0 and cfg.method_options["meta_losses"] == 32
    # the paper's 32 steps x 128 images, cut to 3 x 20 so that two meta-steps take a second
    small = distill_config(
        CONFIGS / FILES[method],
        method=method,
        meta_steps=2,
        calibrate=False,
        eval_examples=200,
        teacher={"inner_steps": 3, "batch_size": 20},
    )
    d = Distiller(small, small_mnist, torch.device("cpu"))
    before = [p.detach().clone() for p in d.teacher.parameters()]
    d.run(tmp_path / "t.pt")
    assert d.step == 2 and all(math.isfinite(r["meta_loss"]) for r in d.metrics)
    assert any(not torch.equal(a, b) for a, b in zip(before, d.teacher.parameters()))
    assert (tmp_path / "t.pt").exists()


def test_the_meta_lr_follows_cosine_annealing_to_a_tenth(small_mnist):
    """The paper's CosineAnnealingLR(T_max = meta-iterations, eta_min = lr x final_relative_lr 0.1)."""
    cfg = distill_config(CONFIGS / FILES["bptt"], method="bptt", meta_steps=40)
    d = Distiller(cfg, small_mnist, torch.device("cpu"))
    ref_opt = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=cfg.meta_lr)
    ref = torch.optim.lr_scheduler.CosineAnnealingLR(ref_opt, T_max=40, eta_min=cfg.meta_lr * 0.1)
    for step in range(45):  # past the horizon it stays at the floor
        assert d.opt.param_groups[0]["lr"] == pytest.approx(max(ref_opt.param_groups[0]["lr"], cfg.meta_lr * 0.1))
        d.opt.step()
        d.sched.step()
        ref_opt.step()
        if step < 40:
            ref.step()
    assert d.opt.param_groups[0]["lr"] == pytest.approx(cfg.meta_lr * 0.1)


def test_every_carry_over_variant_loads_and_its_students_are_distillation_nets():
    """benchmarks/carry_over.py's variants: each config loads, and its students come from the
    distillation space's families (or their weight-normalised twins), never an evaluation net."""
    from gtn_nas.api import load_space

    distill = {
        (s["family"], s["depth"], s["width"], s["activation"], s.get("pooling")) for s in load_space("distill").archs
    }
    held = set(load_space("heldout").ids())
    for path in sorted((CONFIGS / "carry_over").glob("gtn-*.toml")):
        cfg = distill_config(path, method="bptt")
        space = load_space(cfg.space)
        assert not set(space.ids()) & held, path.name
        for s in space.archs:
            assert (s["family"], s["depth"], s["width"], s["activation"], s.get("pooling")) in distill, (path.name, s)
    few = load_space(distill_config(CONFIGS / "carry_over" / "gtn-unroll-few.toml", method="bptt").space)
    assert len(few.archs) == 24 and {(s["norm"], s["pooling"]) for s in few.archs} == {("batch", "max")}
    assert set(few.ids()) <= set(load_space("distill").ids())
