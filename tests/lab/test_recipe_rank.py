"""benchmarks/recipe_rank.py's derived teachers: the recipe they are scored under must be exactly the one
named (every step's lr and momentum, and the clip), with the teacher's images untouched."""

import pytest
import torch
from recipe_rank import parse_recipes, with_recipe

from gtn_nas.core.checkpoint import save_checkpoint
from gtn_nas.teachers.checkpoints import load_teacher
from gtn_nas.teachers.config import DistillConfig
from gtn_nas.teachers.generator import Teacher, TeacherConfig
from gtn_nas.teachers.quality import teacher_batches


@pytest.mark.parametrize("clip", [1.0, None])
def test_a_derived_teacher_trains_with_the_named_recipe_on_the_same_images(tmp_path, clip):
    cfg = DistillConfig(method="ift", teacher=TeacherConfig(inner_steps=3, batch_size=20, init="noise"), meta_steps=1)
    ckpt = {
        "method": "ift",
        "config": cfg.to_dict(),
        "teacher": Teacher(cfg.teacher, seed=0).state_dict(),
        "calibration": {"lr_scale": 2.0, "momentum": "teacher", "max_grad_norm": 5.0},
        "meta_step": 1,
        "metrics": [],
    }
    save_checkpoint(tmp_path / "t.pt", ckpt)
    save_checkpoint(tmp_path / "d.pt", with_recipe(ckpt, 0.3, 0.7, clip))
    (before, _), (after, _) = load_teacher(tmp_path / "t.pt"), load_teacher(tmp_path / "d.pt")
    (b0, lr0, m0), (b1, lr1, m1) = teacher_batches(before), teacher_batches(after)
    assert all(torch.equal(x0, x1) and torch.equal(y0, y1) for (x0, y0), (x1, y1) in zip(b0, b1))
    assert lr1 == pytest.approx([0.3] * 3, abs=1e-6) and m1 == pytest.approx([0.7] * 3, abs=1e-6)
    assert lr0 != pytest.approx(lr1) and m0 != pytest.approx(m1)  # the recipe did change
    assert before.max_grad_norm == 5.0 and after.max_grad_norm == clip


def test_recipes_parse_with_none_as_no_clip_and_a_bad_one_is_one_line():
    assert parse_recipes("0.1:0.9:1,0.2:0.5:none") == [(0.1, 0.9, 1.0), (0.2, 0.5, None)]
    with pytest.raises(SystemExit, match=r"^error: recipe '0.1:0.9' is not LR:MOMENTUM:CLIP"):
        parse_recipes("0.2:0.9:1,0.1:0.9")
