"""benchmarks/rank_ablation.py's *-startrecipe teachers: derived from a calibrated teacher, they must be
exactly what distillation with `calibrate = false` saves, or the comparison they make is not the one named."""

import dataclasses

import torch
from conftest import TINY_SPACE
from rank_ablation import start_with_recipe_of, with_start_recipe

from gtn_nas.teachers.calibration import CalibrationConfig
from gtn_nas.teachers.checkpoints import load_teacher
from gtn_nas.teachers.config import DistillConfig
from gtn_nas.teachers.distillation import distill
from gtn_nas.teachers.generator import TeacherConfig

CPU = torch.device("cpu")


def test_a_teacher_under_its_start_recipe_is_what_calibrate_false_saves(mnist, tmp_path):
    # No lr scale 1 on the grid: the end calibration must change the recipe, so the test can fail.
    grid = CalibrationConfig(lr_scales=(0.5, 2.0), momenta=(None, 0.9), max_grad_norms=(1.0,), students=1, holdout=200)
    cfg = DistillConfig(
        method="ift",
        teacher=TeacherConfig(inner_steps=3, batch_size=20, fit_steps=4),
        meta_steps=2,
        space=TINY_SPACE,
        eval_students=1,
        eval_examples=200,
        calibrate_start=True,
        calibration=grid,
        seed=3,
    )
    paths = {name: tmp_path / f"{name}.pt" for name in ("start", "end", "nocal")}
    distill(dataclasses.replace(cfg, meta_steps=0), mnist, CPU, paths["start"])
    distill(cfg, mnist, CPU, paths["end"])
    distill(dataclasses.replace(cfg, calibrate=False), mnist, CPU, paths["nocal"])
    load = lambda name: torch.load(paths[name], weights_only=True, map_location="cpu")
    end, want = load("end"), load("nocal")
    assert not torch.equal(end["teacher"]["raw_lr"], want["teacher"]["raw_lr"])  # the calibration moved it
    got = with_start_recipe(end, load("start"))
    assert got["teacher"].keys() == want["teacher"].keys()
    assert all(torch.equal(got["teacher"][k], want["teacher"][k]) for k in want["teacher"])
    assert got["calibration"] == {} and got["config"] == want["config"]
    torch.save(got, tmp_path / "derived.pt")
    derived, _ = load_teacher(tmp_path / "derived.pt")
    reference, _ = load_teacher(paths["nocal"])
    assert derived.max_grad_norm == reference.max_grad_norm == 1.0


def test_the_start_under_a_teachers_recipe_keeps_its_images_and_takes_the_recipe():
    gen = torch.Generator().manual_seed(0)
    ckpt = lambda: {"teacher": {k: torch.randn(3, generator=gen) for k in ("w", "raw_lr", "raw_momentum")}}
    start, teacher = ckpt() | {"calibration": {}}, ckpt() | {"calibration": {"max_grad_norm": 1.0}}
    got = start_with_recipe_of(start, teacher)
    assert torch.equal(got["teacher"]["w"], start["teacher"]["w"])
    assert all(torch.equal(got["teacher"][k], teacher["teacher"][k]) for k in ("raw_lr", "raw_momentum"))
    assert got["calibration"] == {"max_grad_norm": 1.0}


def test_the_unpooled_distillation_space_adds_unpooled_convnets_and_no_evaluation_net():
    from pathlib import Path

    from gtn_nas.core.spaces import arch_id, load_space, specs_from_csv

    root = Path(__file__).resolve().parents[2]
    space = load_space(root / "benchmarks/configs/distill-unpooled.toml")
    added = set(space.ids()) - set(load_space("distill").ids())
    assert set(load_space("distill").ids()) <= set(space.ids()) and len(added) == 96
    by_id = {arch_id(a): a for a in space.archs}
    assert all(by_id[i]["family"] == "conv" and by_id[i]["pooling"] == "none" for i in added)
    assert {by_id[i]["depth"] for i in added} == {1, 2, 3}
    results = root / "results/ground_truth"
    evaluation = {arch_id(s) for f in ("convnet.csv", "yardstick_archs.csv") for s in specs_from_csv(results / f)}
    assert not set(space.ids()) & (evaluation | set(load_space("heldout").ids()))
