"""The Python API is what the CLI runs: the same defaults, the same studies, the same files."""

import optuna
import pytest
import torch
from cli_run import cli
from conftest import TINY_SPACE

import gtn_nas
from gtn_nas.core.spaces import load_space
from gtn_nas.nas.ground_truth import GroundTruthConfig
from gtn_nas.teachers.config import DEFAULT_META_STEPS, DistillConfig
from gtn_nas.teachers.methods.bptt import BpttConfig


@pytest.mark.parametrize("method", ["bptt", "ift", "gm"])
def test_every_method_gets_its_own_default_budget_through_the_api_too(method):
    assert DistillConfig(method=method).meta_steps == DEFAULT_META_STEPS[method]
    assert DistillConfig(method=method, meta_steps=7).meta_steps == 7


def test_a_truncation_replaces_the_default_window_in_the_config_itself():
    assert BpttConfig().window == 8 and BpttConfig(truncate=4).window == 0
    assert BpttConfig(truncate=4, window=0).window == 0


def test_cli_and_api_share_the_ground_truth_study(tmp_path, small_mnist):
    """A ground truth started from the shell resumes from Python (and back): one study name."""
    out = tmp_path / "gt.csv"
    run = cli(
        "ground-truth",
        "--space",
        TINY_SPACE,
        "--n-archs",
        2,
        "--seeds",
        1,
        "--train-examples",
        200,
        "--max-archs",
        1,
        "--out",
        out,
        "--quiet",
    )
    assert run.exit_code == 3, run.stderr  # one of two done: not finished
    specs = load_space(TINY_SPACE).sample(2, 0)
    cfg = GroundTruthConfig(seeds=(0,), train_examples=200)
    names = optuna.get_all_study_names(f"sqlite:///{tmp_path / 'gt.db'}")
    assert names == [gtn_nas.ground_truth_study(specs, cfg)]
    frame = gtn_nas.ground_truth(specs, cfg, out, data=small_mnist, device="cpu").frame
    assert len(frame) == 2 and optuna.get_all_study_names(f"sqlite:///{tmp_path / 'gt.db'}") == names


def test_export_and_calibrate_are_api_functions(tmp_path, mnist):
    cfg = DistillConfig(
        method="gm",
        teacher=gtn_nas.TeacherConfig(inner_steps=2, batch_size=20, init="noise"),
        meta_steps=1,
        space=TINY_SPACE,
        eval_students=1,
        eval_examples=100,
        calibrate=False,
    )
    run = gtn_nas.distill(cfg, tmp_path / "t.pt", data=mnist, device="cpu")
    assert run.elapsed_s == torch.load(tmp_path / "t.pt", weights_only=True)["elapsed"] > 0
    assert gtn_nas.export(tmp_path / "t.pt", tmp_path / "d.npz") == 40
    grid = gtn_nas.teachers.calibration.CalibrationConfig(
        lr_scales=(1.0, 2.0), momenta=(None,), max_grad_norms=(None,), students=1
    )
    chosen = gtn_nas.calibrate(tmp_path / "t.pt", tmp_path / "c.pt", grid, data=mnist)
    assert chosen["lr_scale"] in (1.0, 2.0) and len(chosen["table"]) == 2
    assert torch.load(tmp_path / "c.pt", weights_only=True)["calibration"]["lr_scale"] == chosen["lr_scale"]
    with pytest.raises(gtn_nas.core.errors.ConfigError, match=".npz"):
        gtn_nas.export(tmp_path / "t.pt", tmp_path / "d.txt")
