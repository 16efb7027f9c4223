"""How a teacher starts: from noise, or from real images (a pixel set set to them, a generator
fitted to them), and the config defaults that follow from it."""

import pytest
import torch
from conftest import TINY_SPACE

from gtn_nas.teachers.config import DistillConfig
from gtn_nas.teachers.distillation import Distiller, distill
from gtn_nas.teachers.generator import TeacherConfig

CPU = torch.device("cpu")


@pytest.mark.parametrize(
    "teacher, init, meta_lr",
    [
        (TeacherConfig(), "real", 0.001),  # a curriculum generator is fitted to real images, then fine-tuned
        (TeacherConfig(init="noise"), "noise", 0.01),
        (TeacherConfig(curriculum=False), "noise", 0.01),  # no code per image to fit
        (TeacherConfig(kind="pixels"), "noise", 0.01),
        (TeacherConfig(kind="pixels", init="real"), "real", 0.01),
    ],
)
def test_how_a_teacher_starts_and_its_meta_lr_follow_from_kind_and_init(teacher, init, meta_lr):
    for method in ("bptt", "ift", "gm"):
        cfg = DistillConfig(method=method, teacher=teacher)
        assert (cfg.teacher.init, cfg.meta_lr) == (init, meta_lr)
        assert DistillConfig(method=method, teacher=teacher, meta_lr=0.05).meta_lr == 0.05  # given wins
        assert DistillConfig.from_dict(cfg.to_dict()) == cfg


def test_pixel_teacher_starts_from_real_images_of_each_rows_class_outside_the_holdout(mnist):
    from gtn_nas.teachers.calibration import CalibrationConfig
    from gtn_nas.teachers.fit import balanced_real_steps, real_pixels

    cfg = DistillConfig(
        method="gm",
        teacher=TeacherConfig(kind="pixels", init="real", inner_steps=3, batch_size=20),
        meta_steps=1,
        space=TINY_SPACE,
        eval_students=1,
        eval_examples=200,
    )
    d = Distiller(cfg, mnist, CPU)
    d.start()
    images = d.teacher.pixels.detach().reshape(60, -1)
    train = mnist.train.x.reshape(len(mnist.train), -1)
    # every row is a real training image (found exactly), of the row's class, never one of the holdout's
    match = torch.cdist(images, train).argmin(1)
    assert torch.equal(images, train[match])
    assert torch.equal(mnist.train.y[match], (torch.arange(20) % 10).repeat(3))
    held = set(mnist.train.subset_indices(CalibrationConfig().holdout, seed=0).tolist())
    assert not held & set(match.tolist()) and len(set(match.tolist())) == 60
    assert torch.equal(real_pixels(mnist.train, cfg.teacher, 0), real_pixels(mnist.train, cfg.teacher, 0))
    assert not torch.equal(real_pixels(mnist.train, cfg.teacher, 0), real_pixels(mnist.train, cfg.teacher, 1))
    # the balanced real baseline is those images as recipe steps, labelled as a teacher labels its rows
    steps = balanced_real_steps(mnist.train, 3, 20, 0.1, 0.5, 0)
    assert torch.equal(torch.cat([x for x, _, _, _ in steps]), real_pixels(mnist.train, cfg.teacher, 0))
    assert all(torch.equal(y, d.teacher.labels) and (lr, m) == (0.1, 0.5) for _, y, lr, m in steps)


@pytest.mark.parametrize(
    "bad, needle",
    [
        (TeacherConfig(init="real", curriculum=False), "needs curriculum = true"),
        (TeacherConfig(kind="pixels", init="data"), "init must be"),
        (TeacherConfig(init="real", fit_steps=-1), "fit_steps"),
    ],
)
def test_real_init_needs_a_fixed_code_per_image_and_a_known_name(bad, needle):
    from gtn_nas.core.errors import ConfigError

    with pytest.raises(ConfigError, match=needle):
        bad.validate()


def test_generator_started_from_real_images_reproduces_them_better_than_an_unfitted_one(mnist):
    from gtn_nas.teachers.fit import real_pixels

    def run(init, fit_steps=40):
        teacher = TeacherConfig(init=init, fit_steps=fit_steps, inner_steps=3, batch_size=20)
        d = Distiller(
            DistillConfig(
                method="gm", teacher=teacher, meta_steps=1, space=TINY_SPACE, eval_students=1, eval_examples=200
            ),
            mnist,
            CPU,
        )
        d.start()
        return d

    target = real_pixels(mnist.train, TeacherConfig(inner_steps=3, batch_size=20), 0)

    def error(d):
        with torch.no_grad():
            return float(((d.teacher.dataset()["images"] - target) ** 2).mean())

    fitted, unfitted = run("real"), run("noise")
    assert fitted.fit_error is not None and unfitted.fit_error is None
    assert error(fitted) < 0.7 * error(unfitted)
    again = run("real")  # deterministic for a seed
    assert all(
        torch.equal(a, b) for a, b in zip(fitted.teacher.state_dict().values(), again.teacher.state_dict().values())
    )
    # the fit moves the generator and its codes, never the inner lr/momentum
    assert torch.equal(fitted.teacher.raw_lr, unfitted.teacher.raw_lr)


def test_a_resumed_real_started_teacher_is_not_fitted_again_and_matches_an_uninterrupted_run(mnist, tmp_path):
    cfg = lambda steps: DistillConfig(
        method="gm",
        teacher=TeacherConfig(init="real", fit_steps=20, inner_steps=3, batch_size=20),
        meta_steps=steps,
        space=TINY_SPACE,
        eval_every=10,
        eval_students=1,
        eval_examples=200,
        calibrate=False,
        checkpoint_every=1,
    )
    distill(cfg(1), mnist, CPU, tmp_path / "a.pt")
    resumed = distill(cfg(2), mnist, CPU, tmp_path / "a.pt", resume=True)
    whole = distill(cfg(2), mnist, CPU, tmp_path / "b.pt")
    assert resumed.fit_error is None and whole.fit_error is not None
    a, b = resumed.teacher.state_dict(), whole.teacher.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
