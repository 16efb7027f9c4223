"""Gradient-norm clipping in the students' recipe: the step, calibration's choice, the checkpoint,
the export, the proxies and recalibration of a trained teacher."""

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from cli_run import assert_one_line_error, cli
from conftest import TINY_SPACE

from gtn_nas.core.errors import ConfigError
from gtn_nas.core.students import build_student
from gtn_nas.core.training import sgd_steps
from gtn_nas.nas.proxies import ProxySettings, make_proxy
from gtn_nas.teachers.calibration import CalibrationConfig
from gtn_nas.teachers.checkpoints import load_teacher
from gtn_nas.teachers.config import DistillConfig
from gtn_nas.teachers.distillation import distill
from gtn_nas.teachers.export import export_npz
from gtn_nas.teachers.generator import TeacherConfig
from gtn_nas.teachers.recalibration import recalibrate

CPU = torch.device("cpu")
SPEC = {"family": "mlp", "depth": 1, "width": 16, "activation": "relu", "norm": "none"}


def _steps(n=3, lr=0.5, momentum=0.9, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(8, 1, 28, 28, generator=g), torch.arange(8) % 10, lr, momentum) for _ in range(n)]


def test_clipped_step_equals_sgd_on_the_rescaled_gradient():
    net, ref = build_student(SPEC, 0), build_student(SPEC, 0)
    steps = _steps()
    sgd_steps(net, steps, max_grad_norm=0.3)
    bufs = [torch.zeros_like(p) for p in ref.parameters()]
    for x, y, lr, m in steps:  # by hand: g <- g * min(1, c / |g|), then heavy-ball momentum
        grads = torch.autograd.grad(F.cross_entropy(ref(x), y), list(ref.parameters()))
        norm = torch.sqrt(sum((g**2).sum() for g in grads))
        scale = min(1.0, 0.3 / (float(norm) + 1e-6))
        with torch.no_grad():
            for p, b, g in zip(ref.parameters(), bufs, grads):
                b.mul_(m).add_(g * scale)
                p.sub_(lr * b)
    for a, b in zip(net.parameters(), ref.parameters()):
        torch.testing.assert_close(a, b)


def test_a_clip_above_every_gradient_norm_changes_nothing_and_one_below_bounds_the_step():
    steps = _steps(n=1, momentum=0.0)
    plain, loose, tight = (build_student(SPEC, 0) for _ in range(3))
    before = torch.cat([p.detach().flatten().clone() for p in tight.parameters()])
    sgd_steps(plain, steps)
    sgd_steps(loose, steps, max_grad_norm=1e6)
    sgd_steps(tight, steps, max_grad_norm=1e-3)
    for a, b in zip(plain.parameters(), loose.parameters()):
        assert torch.equal(a, b)
    moved = torch.cat([p.detach().flatten() for p in tight.parameters()]) - before
    assert float(moved.norm()) == pytest.approx(0.5 * 1e-3, rel=1e-3)  # lr x c: the gradient was far above c


def test_calibration_config_rejects_bad_clips():
    with pytest.raises(ConfigError):
        CalibrationConfig(max_grad_norms=(0.0,))
    with pytest.raises(ConfigError):
        CalibrationConfig(max_grad_norms=())


def _gm_teacher(small_mnist, tmp_path):
    cfg = DistillConfig(
        method="gm",
        teacher=TeacherConfig(inner_steps=3, batch_size=20, init="noise"),
        meta_steps=1,
        space=TINY_SPACE,
        eval_every=2,
        eval_students=1,
        eval_examples=200,
        calibrate=False,
    )
    distill(cfg, small_mnist, CPU, tmp_path / "t.pt")
    return tmp_path / "t.pt"


def test_recalibration_with_clips_reaches_the_checkpoint_the_export_and_the_proxy(small_mnist, tmp_path):
    path = _gm_teacher(small_mnist, tmp_path)
    cfg = CalibrationConfig(
        lr_scales=(1.0, 64.0), momenta=(0.9,), max_grad_norms=(None, 0.5), students=2, holdout=200, seed=3
    )
    result = recalibrate(path, tmp_path / "r.pt", small_mnist, cfg)
    assert len(result["table"]) == 4 and {r["max_grad_norm"] for r in result["table"]} == {None, 0.5}
    best = max(result["table"], key=lambda r: r["holdout_acc"])
    assert (best["lr_scale"], best["max_grad_norm"]) == (result["lr_scale"], result["max_grad_norm"])
    # Force the clip (a one-setting grid) to check where it travels.
    forced = recalibrate(
        path, tmp_path / "c.pt", small_mnist, dataclasses.replace(cfg, lr_scales=(2.0,), max_grad_norms=(0.5,))
    )
    assert forced["max_grad_norm"] == 0.5
    teacher, ckpt = load_teacher(tmp_path / "c.pt")
    assert teacher.max_grad_norm == 0.5 and ckpt["calibration"]["max_grad_norm"] == 0.5
    torch.testing.assert_close(teacher.lr(), torch.full((3,), 0.1))  # 0.05 x 2: the base lr, not a compounded one
    export_npz(tmp_path / "c.pt", tmp_path / "c.npz")
    assert float(np.load(tmp_path / "c.npz")["max_grad_norm"]) == 0.5
    assert load_teacher(path)[0].max_grad_norm is None and "max_grad_norm" not in np.load(_export(path, tmp_path))
    proxy = make_proxy(
        ProxySettings(kind="teacher", teacher=str(tmp_path / "c.pt")), small_mnist, CPU, teacher=(teacher, ckpt)
    )
    assert proxy.max_grad_norm == 0.5 and proxy.setup["max_grad_norm"] == 0.5


def _export(path, tmp_path):
    export_npz(path, tmp_path / "plain.npz")
    return tmp_path / "plain.npz"


def test_recalibrating_twice_starts_from_the_uncalibrated_teacher(small_mnist, tmp_path):
    path = _gm_teacher(small_mnist, tmp_path)
    cfg = CalibrationConfig(lr_scales=(4.0,), momenta=(0.0,), max_grad_norms=(1.0,), students=1, holdout=100, seed=3)
    recalibrate(path, tmp_path / "a.pt", small_mnist, cfg)
    again = recalibrate(
        tmp_path / "a.pt",
        tmp_path / "b.pt",
        small_mnist,
        dataclasses.replace(cfg, momenta=(None,), max_grad_norms=(None,)),
    )
    teacher, _ = load_teacher(tmp_path / "b.pt")
    torch.testing.assert_close(teacher.lr(), torch.full((3,), 0.2))
    torch.testing.assert_close(
        teacher.momentum(), torch.full((3,), 0.5)
    )  # the initial momentum, not the 0 chosen before
    assert teacher.max_grad_norm is None and again["previous"]["max_grad_norm"] == 1.0


def test_real_proxy_clip_is_validated_and_applied(small_mnist):
    with pytest.raises(ConfigError):
        ProxySettings(kind="real", lr=0.1, max_grad_norm=0.0).validate()
    with pytest.raises(ConfigError):
        ProxySettings(kind="teacher", teacher="t.pt", max_grad_norm=1.0).validate()
    s = ProxySettings(kind="real", lr=0.1, max_grad_norm=1.0, val_examples=100)
    assert make_proxy(s, small_mnist, CPU).max_grad_norm == 1.0
    assert "max_grad_norm" in s.key() and "max_grad_norm" not in ProxySettings(kind="real", lr=0.1).key()


def test_calibrate_command_recalibrates_and_refuses_bad_input_in_one_line(small_mnist, tmp_path):

    path = _gm_teacher(small_mnist, tmp_path)
    assert_one_line_error(
        cli("calibrate", "--teacher", path, "--out", tmp_path / "o.pt", "--clips", "none,0"), "--clips"
    )
    assert_one_line_error(cli("calibrate", "--teacher", path, "--out", tmp_path / "o.pt", "--clips", "x"), "--clips")
    assert_one_line_error(cli("calibrate", "--teacher", tmp_path / "nope.pt", "--out", tmp_path / "o.pt"), "nope.pt")
    assert_one_line_error(cli("calibrate", "--teacher", path, "--out", tmp_path), "folder")
    run = cli("calibrate", "--teacher", path, "--out", tmp_path / "o.pt", "--clips", "0.5", "--students", "1")
    assert run.exit_code == 0, run.stderr
    assert "clipped at 0.5" in run.stdout and load_teacher(tmp_path / "o.pt")[0].max_grad_norm == 0.5


def test_a_study_knows_its_teacher_by_content_not_path(small_mnist, tmp_path):
    import shutil

    import optuna

    from gtn_nas.nas.search import bind_settings

    path = _gm_teacher(small_mnist, tmp_path)
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 's.db'}", study_name="s")
    bind_settings(study, ProxySettings(kind="teacher", teacher=str(path)), {})
    moved = tmp_path / "moved" / "t.pt"
    moved.parent.mkdir()
    shutil.copy(path, moved)
    bind_settings(study, ProxySettings(kind="teacher", teacher=str(moved)), {})  # same teacher elsewhere: accepted
    cfg = CalibrationConfig(lr_scales=(2.0,), momenta=(0.9,), max_grad_norms=(1.0,), students=1, holdout=100, seed=3)
    recalibrate(path, path, small_mnist, cfg)
    with pytest.raises(ConfigError, match="teacher"):  # recalibrated in place: another proxy
        bind_settings(study, ProxySettings(kind="teacher", teacher=str(path)), {})


def test_the_functional_inner_step_clips_as_the_export_recipe_does():
    """Meta-training's students (core.inner) and the scoring students (training.sgd_steps) follow
    the same trajectory under a gradient clip, so a calibrated clip means the same in both."""
    from gtn_nas.core.inner import InnerState, grads, sgd_step
    from gtn_nas.core.students import Functional

    net = build_student(SPEC, 0)
    f = Functional(build_student(SPEC, 0))
    state, steps = InnerState.start(f.init_params()), _steps()
    for x, y, lr, m in steps:
        state = sgd_step(state, grads(f, state.params, x, y), lr, m, max_grad_norm=0.3)
    sgd_steps(net, steps, max_grad_norm=0.3)
    for name, p in net.named_parameters():
        torch.testing.assert_close(state.params[name], p.detach())


def _start_calibrated(small_mnist, tmp_path, meta_steps, method="ift"):
    cfg = DistillConfig(
        method=method,
        teacher=TeacherConfig(inner_steps=3, batch_size=20, init="noise"),
        meta_steps=meta_steps,
        space=TINY_SPACE,
        eval_every=1,
        eval_students=1,
        eval_examples=200,
        calibrate_start=True,
        calibration=CalibrationConfig(lr_scales=(2.0,), momenta=(0.9,), max_grad_norms=(0.5,), students=1, holdout=100),
    )
    return distill(cfg, small_mnist, CPU, tmp_path / "t.pt")


def test_a_start_calibration_sets_the_recipe_meta_training_uses(small_mnist, tmp_path):
    d = _start_calibrated(small_mnist, tmp_path, meta_steps=0)
    ckpt = torch.load(tmp_path / "t.pt", weights_only=True)
    # 0 meta-steps: the calibrated start is the teacher, calibrated once.
    assert ckpt["complete"] and ckpt["calibration"] == {} and ckpt["start_calibration"]["max_grad_norm"] == 0.5
    teacher, _ = load_teacher(tmp_path / "t.pt")
    assert teacher.max_grad_norm == 0.5
    torch.testing.assert_close(teacher.lr(), torch.full((3,), 0.1))
    torch.testing.assert_close(teacher.momentum(), torch.full((3,), 0.9))
    assert d.start_calibration["seconds"] <= d.elapsed
    with pytest.raises(ConfigError, match="start was calibrated"):
        recalibrate(tmp_path / "t.pt", tmp_path / "r.pt", small_mnist)


def test_meta_training_after_a_start_calibration_trains_its_students_with_the_clip(small_mnist, tmp_path, monkeypatch):
    from gtn_nas.core import inner

    seen = []
    real_step = inner.sgd_step
    monkeypatch.setattr(inner, "sgd_step", lambda *a, **k: seen.append(a[4] if len(a) > 4 else None) or real_step(*a))
    d = _start_calibrated(small_mnist, tmp_path, meta_steps=1)
    assert seen and set(seen) == {0.5}  # every inner step of the meta-step, clipped at the start's choice
    ckpt = torch.load(tmp_path / "t.pt", weights_only=True)
    assert ckpt["complete"] and ckpt["calibration"]["max_grad_norm"] == 0.5 and d.calibration is not None
