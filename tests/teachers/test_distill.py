"""Distillation end to end on real (sub-sampled) MNIST: methods, determinism, resume, export."""

import re

import numpy as np
import pytest
import torch
from conftest import TINY_SPACE
from helpers import tiny_distill_cfg

from gtn_nas.core.errors import CheckpointError, ConfigError
from gtn_nas.core.spaces import load_space
from gtn_nas.core.students import accuracy, build_student
from gtn_nas.core.training import sgd_steps
from gtn_nas.teachers.checkpoints import load_teacher
from gtn_nas.teachers.config import DistillConfig
from gtn_nas.teachers.distillation import Distiller, distill
from gtn_nas.teachers.export import KEYS, export_npz
from gtn_nas.teachers.generator import TeacherConfig

CPU = torch.device("cpu")


def _cfg(method="ift", kind="generator", steps=3, **kw):
    kw = {"checkpoint_every": 1, **kw}
    return DistillConfig(
        method=method,
        teacher=TeacherConfig(kind=kind, inner_steps=3, batch_size=20, init="noise"),
        meta_steps=steps,
        space=TINY_SPACE,
        eval_every=2,
        eval_students=1,
        eval_examples=200,
        **kw,
    )


@pytest.mark.parametrize("method", ["bptt", "ift", "gm"])
@pytest.mark.parametrize("kind", ["generator", "pixels"])
def test_every_method_trains_every_teacher_kind(small_mnist, tmp_path, method, kind):
    d = distill(_cfg(method, kind, steps=2, calibrate=False), small_mnist, CPU, tmp_path / "t.pt")
    assert d.step == 2 and len(d.metrics) == 2
    assert all(np.isfinite(r["meta_loss"]) for r in d.metrics)
    assert 0 <= d.metrics[-1]["val_acc"] <= 1
    lr = d.teacher.lr().detach()
    assert torch.allclose(lr, torch.full_like(lr, 0.05)) != (method == "bptt")  # only bptt learns the inner lr
    assert (tmp_path / "t.csv").read_text().startswith("meta_step,meta_loss,val_acc,elapsed_s,peak_mem_mb")


def test_same_seed_same_teacher(small_mnist, tmp_path):
    # (calibration is a deterministic grid search; test_calibration_is_written_... covers it)
    a = distill(_cfg("gm", calibrate=False), small_mnist, CPU, tmp_path / "a.pt").teacher.state_dict()
    b = distill(_cfg("gm", calibrate=False), small_mnist, CPU, tmp_path / "b.pt").teacher.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resume_continues_exactly(small_mnist, tmp_path):
    full = distill(_cfg("bptt", steps=4), small_mnist, CPU, tmp_path / "full.pt")
    interrupted = Distiller(_cfg("bptt", steps=4), small_mnist, CPU)
    for _ in range(2):
        interrupted.meta_step()
    interrupted.save(tmp_path / "part.pt")  # as the periodic checkpoint of a killed run would be
    resumed = distill(_cfg("bptt", steps=4), small_mnist, CPU, tmp_path / "part.pt", resume=True)
    assert resumed.step == 4 and len(resumed.metrics) == 4
    a, b = full.teacher.state_dict(), resumed.teacher.state_dict()
    for k in a:
        torch.testing.assert_close(a[k], b[k])


@pytest.mark.parametrize("mode, done", [("advance", 2), ("replay", 1)])
def test_warm_ift_resumes_exactly_mid_student(small_mnist, tmp_path, mode, done):
    """--ift-warm-steps keeps a student across meta-steps; a run killed while one is half trained
    (advance: 2 of its 3 inner steps run; replay: its 1-step prefix kept, 1 of its 2 meta-steps
    served) resumes it from the checkpoint (weights-only) and ends where the uninterrupted run does."""
    cfg = _cfg("ift", steps=4, calibrate=False, method_options={"warm_steps": 2, "warm_mode": mode})
    full = distill(cfg, small_mnist, CPU, tmp_path / "full.pt")
    interrupted = Distiller(cfg, small_mnist, CPU)
    interrupted.meta_step()
    interrupted.save(tmp_path / "part.pt")
    assert interrupted.method.warm[0].done == done and interrupted.method.warm[0].uses == 1
    resumed = distill(cfg, small_mnist, CPU, tmp_path / "part.pt", resume=True)
    a, b = full.teacher.state_dict(), resumed.teacher.state_dict()
    for k in a:
        torch.testing.assert_close(a[k], b[k])
    with pytest.raises(ConfigError, match="warm_steps"):
        _cfg("ift", method_options={"warm_steps": 4}).validate()  # longer than the 3-step unroll
    from gtn_nas.core.distributed import World

    with pytest.raises(ConfigError, match="one process only"):  # each rank's kept students would be lost on resume
        Distiller(_cfg("ift", students_per_step=2, method_options={"warm_steps": 1}), small_mnist, CPU, World(0, 2))


def test_resume_refuses_other_options(small_mnist, tmp_path):
    distill(_cfg("gm", steps=1, calibrate=False), small_mnist, CPU, tmp_path / "t.pt")
    with pytest.raises(CheckpointError, match="differ"):
        distill(_cfg("gm", steps=2, seed=5, calibrate=False), small_mnist, CPU, tmp_path / "t.pt", resume=True)


class DivergingStudents:
    """The real method, except that at the given meta-steps the student diverges (as an unnormalised
    deep net can at the teacher's lr): NaN meta-loss and NaN meta-gradient."""

    def __init__(self, d: Distiller, steps):
        self.d, self.method, self.steps = d, d.method, set(steps)

    def __call__(self, ctx):
        result = self.method(ctx)
        if self.d.step not in self.steps:
            return result
        for p in ctx.teacher.parameters():
            if p.grad is not None:
                p.grad.fill_(float("nan"))
        return type(result)(float("nan"), result.params)


def test_a_diverged_student_skips_its_meta_step_and_the_run_goes_on(small_mnist):
    from gtn_nas.teachers.distillation import MAX_SKIPPED_IN_A_ROW

    d = Distiller(_cfg("gm", steps=4, calibrate=False), small_mnist, CPU)
    d.method = DivergingStudents(d, steps={1})
    d.meta_step()
    before = {k: v.clone() for k, v in d.teacher.state_dict().items()}
    d.meta_step()  # skipped: the teacher is untouched
    assert all(torch.equal(before[k], v) for k, v in d.teacher.state_dict().items())
    d.meta_step()
    assert d.step == 3 and np.isnan(d.metrics[1]["meta_loss"]) and np.isfinite(d.metrics[2]["meta_loss"])
    assert all(torch.isfinite(v).all() for v in d.teacher.state_dict().values())

    d = Distiller(_cfg("gm", steps=20, calibrate=False), small_mnist, CPU)
    start = {k: v.clone() for k, v in d.teacher.state_dict().items()}
    d.method = DivergingStudents(d, steps=range(20))
    with pytest.raises(ConfigError, match="in a row; lower --meta-lr"):
        while True:
            d.meta_step()
    assert d.step == MAX_SKIPPED_IN_A_ROW
    assert all(torch.equal(start[k], v) for k, v in d.teacher.state_dict().items())


def test_the_config_stores_every_method_option_defaults_included():
    import dataclasses

    from gtn_nas.teachers.methods import GmConfig

    cfg = DistillConfig(method="gm", method_options={"match_steps": 4})
    assert cfg.method_options == dataclasses.asdict(GmConfig(match_steps=4))
    assert DistillConfig.from_dict(cfg.to_dict()) == cfg


def test_export_follows_the_documented_recipe(small_mnist, tmp_path):
    """A plain nn.Module trained with torch.optim.SGD on the .npz matches the teacher's own evaluation."""
    # Uncalibrated (no gradient clip to apply): the calibrated export has its own test below.
    distill(_cfg("ift", steps=1, calibrate=False), small_mnist, CPU, tmp_path / "t.pt")
    export_npz(tmp_path / "t.pt", tmp_path / "t.npz")
    data = np.load(tmp_path / "t.npz")
    assert set(data.files) == set(KEYS)
    T, B = 3, int(data["batch_size"])
    assert data["images"].shape == (T * B, 1, 28, 28) and data["images"].dtype == np.float32
    assert data["labels"].dtype == np.int64 and data["lr"].shape == (T,) and data["momentum"].dtype == np.float32
    assert float(data["mean"]) == pytest.approx(0.1307) and float(data["std"]) == pytest.approx(0.3081)
    spec = load_space(TINY_SPACE).archs[0]
    net = build_student(spec, 5)
    x, y = torch.from_numpy(data["images"]), torch.from_numpy(data["labels"])
    sgd_steps(
        net, [(x[t * B : (t + 1) * B], y[t * B : (t + 1) * B], data["lr"][t], data["momentum"][t]) for t in range(T)]
    )
    from gtn_nas.teachers.quality import evaluate_teacher

    teacher, _ = load_teacher(tmp_path / "t.pt")
    expected = evaluate_teacher(teacher, [spec], small_mnist.val, seed=5, device=CPU)
    assert accuracy(net, None, small_mnist.val.x, small_mnist.val.y) == pytest.approx(expected, abs=2e-3)


def test_calibration_is_written_to_the_checkpoint_and_the_export(small_mnist, tmp_path):
    d = distill(_cfg("gm", steps=1), small_mnist, CPU, tmp_path / "t.pt")  # gm calibrates by default
    cal = torch.load(tmp_path / "t.pt", weights_only=True)["calibration"]
    assert cal["lr_scale"] == d.calibration["lr_scale"] and len(cal["table"]) == 6 * 3 * 2
    best = max(cal["table"], key=lambda r: r["holdout_acc"])
    assert (best["lr_scale"], best["momentum"], best["max_grad_norm"]) == (
        cal["lr_scale"],
        cal["momentum"],
        cal["max_grad_norm"],
    )
    teacher, _ = load_teacher(tmp_path / "t.pt")
    torch.testing.assert_close(teacher.lr(), torch.full((3,), 0.05 * cal["lr_scale"]))
    export_npz(tmp_path / "t.pt", tmp_path / "t.npz")
    data = np.load(tmp_path / "t.npz")
    np.testing.assert_allclose(data["lr"], 0.05 * cal["lr_scale"], rtol=1e-5)
    expected_m = 0.5 if cal["momentum"] == "teacher" else max(float(cal["momentum"]), 1e-4)
    np.testing.assert_allclose(data["momentum"], expected_m, rtol=1e-4)
    assert ("max_grad_norm" in data) == (cal["max_grad_norm"] is not None)


def test_bptt_does_not_calibrate_by_default_and_calibration_can_be_forced(small_mnist, tmp_path):
    # ift and gm cannot learn the inner lr/momentum: they calibrate unless told not to (clip_ablation_ift_bptt.md)
    assert [Distiller(_cfg(m, steps=1), small_mnist, CPU).calibrates for m in ("bptt", "ift", "gm")] == [
        False,
        True,
        True,
    ]
    assert not Distiller(_cfg("ift", steps=1, calibrate=False), small_mnist, CPU).calibrates
    assert distill(_cfg("bptt", steps=1), small_mnist, CPU, tmp_path / "a.pt").calibration is None
    assert distill(_cfg("bptt", steps=1, calibrate=True), small_mnist, CPU, tmp_path / "b.pt").calibration is not None


def test_students_per_step_averages_the_students_meta_gradients(small_mnist):
    cfg = _cfg("bptt", steps=1, students_per_step=2)
    d = Distiller(cfg, small_mnist, CPU)
    grads = []
    for k in range(2):
        d.opt.zero_grad(set_to_none=True)
        d.method(d.context(0, k))
        grads.append({n: p.grad.clone() for n, p in d.teacher.named_parameters()})
    d.opt.zero_grad(set_to_none=True)
    K = d.cfg.students_per_step
    for k in range(K):
        d.method(d.context(0, k))
    for n, p in d.teacher.named_parameters():
        torch.testing.assert_close(p.grad / K, (grads[0][n] + grads[1][n]) / 2)
    assert d.context(0, 1).params0.keys() != d.context(0, 0).params0.keys() or not all(
        torch.equal(a, b) for a, b in zip(d.context(0, 1).params0.values(), d.context(0, 0).params0.values())
    )


@pytest.mark.parametrize("per_match", [False, True])
def test_gm_update_per_match_steps_the_teacher_once_per_match(small_mnist, per_match):
    d = Distiller(
        _cfg("gm", steps=2, calibrate=False, method_options={"match_steps": 2, "update_per_match": per_match}),
        small_mnist,
        CPU,
    )
    before = {k: v.clone() for k, v in d.teacher.state_dict().items()}
    d.meta_step()
    adam_steps = {int(s["step"]) for s in d.opt.state_dict()["state"].values()}
    assert adam_steps == ({2} if per_match else {1})
    assert any(not torch.equal(before[k], v) for k, v in d.teacher.state_dict().items())
    assert all(p.grad is None for p in d.teacher.parameters())  # nothing leaks into the next meta-step


def test_every_shipped_teacher_loads_and_resumes_its_config():
    """Shims exist only for shipped checkpoints: each loads, and its stored config comes back whole
    (the shipped ift teachers predate ift's warm_mode and resume as 'advance', the only mode then)."""
    from pathlib import Path

    from gtn_nas.core.checkpoint import load_checkpoint

    shipped = sorted((Path(__file__).resolve().parents[2] / "results" / "teachers").glob("**/*.pt"))
    assert len(shipped) >= 6
    for path in shipped:
        teacher, ckpt = load_teacher(path)
        cfg = DistillConfig.from_dict(load_checkpoint(path)["config"])
        assert cfg.method == ckpt["method"] and teacher.cfg == cfg.teacher
        if cfg.method == "ift":
            assert cfg.method_options["warm_mode"] == "advance"


@pytest.mark.parametrize(
    "bad",
    [
        {"eval_every": 0},
        {"meta_lr": 0.0},
        {"students_per_step": 0},
        {"meta_batch": 0},
        {"meta_lr": float("inf")},
        {"meta_lr": float("nan")},
        {"grad_clip": float("inf")},
        {"teacher": TeacherConfig(inner_lr=float("inf"))},
        {"teacher": TeacherConfig(inner_lr=float("nan"))},
    ],
)
def test_bad_distill_options_are_config_errors(bad):
    from gtn_nas.core.errors import ConfigError

    with pytest.raises(ConfigError):
        DistillConfig(**bad).validate()


@pytest.mark.parametrize("method", ["bptt", "ift"])
def test_soft_labels_are_learned_and_exported_as_the_recipe_trains(small_mnist, tmp_path, method):
    teacher = TeacherConfig(inner_steps=3, batch_size=20, soft_labels=True, init="noise")
    d = distill(tiny_distill_cfg(method, TINY_SPACE, teacher), small_mnist, CPU, tmp_path / "t.pt")
    start = TeacherConfig(inner_steps=3, batch_size=20, soft_labels=True, init="noise")
    from gtn_nas.teachers.generator import Teacher

    assert not torch.allclose(
        d.teacher.label_logits, Teacher(start, seed=0).label_logits
    )  # the meta-gradient reached them
    export_npz(tmp_path / "t.pt", tmp_path / "t.npz")
    data = np.load(tmp_path / "t.npz")
    soft = data["soft_labels"]
    assert soft.shape == (60, 10) and np.allclose(soft.sum(1), 1, atol=1e-5)
    assert (soft.argmax(1) == data["labels"]).all() and (data["labels"] == np.arange(60) % 20 % 10).all()
    # The exported targets are the teacher's own: the recipe on the .npz equals training on teacher.dataset().
    teacher, _ = load_teacher(tmp_path / "t.pt")
    ds = teacher.dataset()
    assert torch.allclose(ds["labels"], torch.from_numpy(soft))


def test_gm_refuses_soft_labels():
    from gtn_nas.core.errors import ConfigError

    with pytest.raises(ConfigError, match="soft_labels"):
        DistillConfig(method="gm", teacher=TeacherConfig(soft_labels=True)).validate()


@pytest.mark.parametrize(
    "method, options, flag",
    [
        ("bptt", {"window": 5}, "[method] window"),
        ("bptt", {"window": 0, "truncate": 5}, "[method] truncate"),
        ("bptt", {"window": 0, "checkpoint_every": 5}, "[method] checkpoint_every"),
        ("gm", {"match_steps": 5}, "[method] match_steps"),
    ],
)
def test_options_counted_in_inner_steps_cannot_exceed_them(method, options, flag):
    from gtn_nas.core.errors import ConfigError
    from gtn_nas.teachers.methods import resolve_options

    teacher = TeacherConfig(inner_steps=4)
    for given in (options, resolve_options(method, options)):  # as an API user and as the CLI pass them
        with pytest.raises(ConfigError, match=re.escape(f"{flag} (5) must be at most --inner-steps (4)")):
            DistillConfig(method=method, teacher=teacher, method_options=given).validate()
    DistillConfig(
        method=method, teacher=TeacherConfig(inner_steps=5), method_options=options
    ).validate()  # equal is fine
    # the methods' defaults (window 8, 8 matches) mean "every step" on a shorter unroll
    DistillConfig(
        method=method, teacher=TeacherConfig(inner_steps=3), method_options=resolve_options(method, {})
    ).validate()
