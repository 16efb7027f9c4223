"""Ctrl-C during distillation: the checkpoint holds the last whole meta-step, and a resume continues it."""

import numpy as np
import pytest
import torch
from conftest import TINY_SPACE

from gtn_nas.teachers.config import DistillConfig
from gtn_nas.teachers.distillation import Distiller, distill
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


def test_ctrl_c_writes_a_checkpoint_of_the_last_completed_meta_step(small_mnist, tmp_path):
    d = Distiller(_cfg("gm", steps=5, checkpoint_every=100, calibrate=False), small_mnist, CPU)
    real, calls = d.meta_step, []

    def interrupted():
        if len(calls) == 3:
            raise KeyboardInterrupt
        calls.append(1)
        return real()

    d.meta_step = interrupted
    with pytest.raises(KeyboardInterrupt):
        d.run(tmp_path / "t.pt")
    assert torch.load(tmp_path / "t.pt", weights_only=True)["meta_step"] == 3


def test_ctrl_c_during_monitoring_keeps_the_completed_step_and_its_row(small_mnist, tmp_path, monkeypatch):
    """The step counter, the teacher and the metrics row change together: an interrupt in the
    evaluation (after the step was taken) used to leave meta_step 2 with one row, for good."""
    import gtn_nas.teachers.distillation as distillation

    full = distill(_cfg("gm", steps=3, calibrate=False), small_mnist, CPU, tmp_path / "full.pt")
    real = distillation.evaluate_teacher

    def interrupted(*args, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(distillation, "evaluate_teacher", interrupted)  # eval_every=2: in step 2's monitoring
    with pytest.raises(KeyboardInterrupt):
        distill(_cfg("gm", steps=3, calibrate=False, checkpoint_every=100), small_mnist, CPU, tmp_path / "t.pt")
    ckpt = torch.load(tmp_path / "t.pt", weights_only=True)
    assert ckpt["meta_step"] == 2 and [r["meta_step"] for r in ckpt["metrics"]] == [1, 2]
    assert np.isnan(ckpt["metrics"][1]["val_acc"])  # the score was lost, not the step
    monkeypatch.setattr(distillation, "evaluate_teacher", real)
    resumed = distill(
        _cfg("gm", steps=3, calibrate=False, checkpoint_every=100), small_mnist, CPU, tmp_path / "t.pt", resume=True
    )
    assert [r["meta_step"] for r in resumed.metrics] == [1, 2, 3]
    a, b = full.teacher.state_dict(), resumed.teacher.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture
def ctrl_c_raises():
    """Python turns SIGINT into KeyboardInterrupt only if SIGINT was not ignored when it started, and
    a shell starts its background jobs with SIGINT ignored: give these tests a terminal's default."""
    import signal

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_interrupts_deferred_delivers_ctrl_c_after_the_block(ctrl_c_raises):
    import os
    import signal

    from gtn_nas.core.interrupts import interrupts_deferred

    done = []
    with pytest.raises(KeyboardInterrupt):
        with interrupts_deferred():
            os.kill(os.getpid(), signal.SIGINT)
            done.append("rest of the block")
    assert done == ["rest of the block"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_ctrl_c_between_gm_per_match_updates_saves_a_whole_meta_step(small_mnist, tmp_path, ctrl_c_raises):
    """--gm-update-per-match updates the teacher inside the method: a SIGINT after the first of a
    step's updates must wait for the step to finish, or the checkpoint holds half a step."""
    import os
    import signal

    opts = {"match_steps": 2, "update_per_match": True}
    cfg = _cfg("gm", steps=3, calibrate=False, checkpoint_every=100, method_options=opts)
    ref = Distiller(cfg, small_mnist, CPU)
    ref.meta_step(), ref.meta_step()  # two whole steps, no interrupt
    d = Distiller(cfg, small_mnist, CPU)
    real, updates = d._apply_update, []

    def update_then_ctrl_c():
        norm = real()
        updates.append(d.step)
        if d.step == 1 and updates.count(1) == 1:  # step 2's first match: one update of two done
            os.kill(os.getpid(), signal.SIGINT)
        return norm

    d._apply_update = update_then_ctrl_c
    with pytest.raises(KeyboardInterrupt):
        d.run(tmp_path / "t.pt")
    ckpt = torch.load(tmp_path / "t.pt", weights_only=True)
    assert ckpt["meta_step"] == 2 and updates.count(1) == 2  # the step finished its second update first
    a = ref.teacher.state_dict()
    assert all(torch.equal(a[k], ckpt["teacher"][k]) for k in a)
