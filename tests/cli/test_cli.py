"""The command line: a full distill -> export round trip, and one-line errors for bad input."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_run import Run, assert_one_line_error, cli
from conftest import TINY_SPACE


def gtn(*args, timeout=300) -> Run:
    """`python -m gtn_nas ARGS` in a fresh process (the real entry point)."""
    run = subprocess.run(
        [sys.executable, "-m", "gtn_nas", *map(str, args)], capture_output=True, text=True, timeout=timeout
    )
    return Run(run.returncode, run.stdout, run.stderr)


TINY_CONFIG = str(Path(TINY_SPACE).with_name("tiny_distill.toml"))
TINY = ["--inner-steps", 2, "--batch-size", 20, "--config", TINY_CONFIG, "--quiet", "--no-calibrate"]


def test_distill_export_roundtrip(tmp_path):
    ckpt = tmp_path / "new" / "folder" / "t.pt"  # missing folders are created (documented in --out)
    run = gtn("distill", "--method", "gm", "--meta-steps", 2, "--out", ckpt, *TINY)
    assert run.exit_code == 0, run.stderr
    assert "validation accuracy" in run.stdout
    assert_one_line_error(
        gtn("distill", "--method", "gm", "--meta-steps", 2, "--out", ckpt, *TINY), "exists", "--resume"
    )
    more = gtn("distill", "--method", "gm", "--meta-steps", 3, "--out", ckpt, "--resume", *TINY)
    assert more.exit_code == 0 and "3 meta-steps" in more.stdout
    run = gtn("export", "--teacher", ckpt, "--out", tmp_path / "d.npz")
    assert run.exit_code == 0, run.stderr
    data = np.load(tmp_path / "d.npz")
    assert data["images"].shape == (40, 1, 28, 28) and int(data["batch_size"]) == 20
    assert torch.load(ckpt, weights_only=True)["meta_step"] == 3


DISTILL = ["distill", "--out", "x.pt"]


@pytest.mark.parametrize(
    "args, needles",
    [
        (["distill", "--method", "sgd", "--out", "x.pt"], ["--method must be one of bptt, ift, gm"]),
        (["distill", "--device", "tpu", "--out", "x.pt"], ["--device"]),
        (["distill", "--meta-steps", "-1", "--out", "x.pt"], ["--meta-steps"]),
        ([*DISTILL, "--no-such-flag"], ["No such option"]),
        ([*DISTILL, "--data-dir", "{tmp}/empty", "--quiet"], ["MNIST not found", "--data-dir"]),
        ([*DISTILL, "--meta-lr", "0"], ["--meta-lr"]),
        ([*DISTILL, "--students-per-step", "0"], ["--students-per-step"]),
        # non-finite floats: inf passed "> 0" (a NaN teacher, exit 0), NaN failed later as "lower --meta-lr"
        ([*DISTILL, "--meta-lr", "inf"], ["--meta-lr", "finite"]),
        ([*DISTILL, "--meta-lr", "nan"], ["--meta-lr", "finite"]),
        ([*DISTILL, "--config", "{tmp}/none.toml"], ["--config", "no such file"]),
        # real/subset learning rates: NaN or <= 0 trained nothing and scored 0.1 or 0.0 with exit 0
        (["search", "--proxy", "real", "--lr", "nan", "--out", "x.csv"], ["--lr", "finite"]),
        (["search", "--proxy", "real", "--lr", "inf", "--out", "x.csv"], ["--lr", "finite"]),
        (["search", "--proxy", "real", "--lr-grid=-1,0", "--out", "x.csv"], ["--lr-grid", "-1.0,0.0"]),
        (["search", "--proxy", "real", "--lr-grid", "0.1,nan", "--out", "x.csv"], ["--lr-grid"]),
        (["search", "--proxy", "real", "--max-grad-norm", "inf", "--out", "x.csv"], ["--max-grad-norm", "finite"]),
        (["search", "--proxy", "real", "--max-grad-norm", "1,never", "--out", "x.csv"], ["--max-grad-norm", "none"]),
        (["search", "--proxy", "real", "--momentum", "0,1.5", "--out", "x.csv"], ["--momentum", "[0, 1)"]),
        (["search", "--teacher", "t.pt", "--momentum", "0,0.9", "--out", "x.csv"], ["--momentum grid applies"]),
        (["ground-truth", "--train-examples", "60000", "--out", "x.csv"], ["--train-examples", "50000"]),
        (["export", "--teacher", "{tmp}/missing.pt", "--out", "{tmp}/d.npz"], ["no such teacher"]),
        (["export", "--teacher", "{tmp}/fake.pt", "--out", "{tmp}/d.npz"], ["not a gtn-nas teacher"]),
        (["export", "--teacher", "{tmp}/fake.pt", "--out", "{tmp}/d.txt"], [".npz"]),
    ],
)
def test_bad_input_is_one_line(tmp_path, monkeypatch, args, needles):
    monkeypatch.chdir(tmp_path)  # relative outputs (x.pt) land where the test looks for them
    torch.save({"weights": torch.zeros(2)}, tmp_path / "fake.pt")
    run = cli(*[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert_one_line_error(run, *needles)
    assert not any(tmp_path.glob("[dx].*"))  # nothing written, not even a half-made study (x.db)


@pytest.mark.parametrize(
    "method, toml, needles",
    [
        ("ift", '[teacher]\nkind = "vae"', ["[teacher] kind"]),
        ("ift", '[teacher]\ninit = "real"\ncurriculum = false', ["curriculum = true"]),
        ("ift", '[teacher]\ninit = "data"', ["[teacher] init must be noise or real"]),
        ("ift", "[teacher]\nfit_steps = -1", ["[teacher] fit_steps must be >= 0"]),
        ("ift", '[teacher]\ngenerator = "vae"', ["[teacher] generator"]),
        ("ift", "[teacher]\ninner_momentum = 0", ["momentum"]),
        ("ift", "[teacher]\ninner_lr = inf", ["inner_lr", "finite"]),
        ("ift", "[teacher]\ninner_lr = nan", ["inner_lr", "finite"]),
        ("ift", "[teacher]\ninner_lr = 1000", ["inner_lr"]),  # overflowed the softplus parametrisation
        ("ift", "[teacher]\ninner_momentum = nan", ["momentum"]),
        ("ift", 'space = "nospace"', ["unknown search space"]),
        ("ift", "eval_every = 0", ["eval_every"]),
        ("ift", "foo = 1", ["unknown key 'foo'"]),
        ("ift", "[teacher]\nfoo = 1", ["[teacher] unknown key 'foo'"]),
        ("ift", "teacher = 3", ["[teacher] must be a table"]),
        ("ift", "space = ", ["not valid TOML"]),
        ("ift", "[method]\nbatches = 0", ["ift batches"]),
        ("ift", '[method]\nsolver = "lu"', ["solver"]),
        ("ift", "[method]\nwindow = 4", ["--method ift", "window"]),  # a bptt option
        ("ift", "[method]\ndamping = nan", ["damping", "finite"]),
        ("ift", "[method]\ndamping = inf", ["damping", "finite"]),
        ("ift", "[method]\nneumann_alpha = inf", ["neumann-alpha", "finite"]),
        ("bptt", "[method]\ntruncate = -1", ["truncate"]),
        ("bptt", "[method]\ncheckpoint_every = -1", ["checkpoint"]),
        ("bptt", "[method]\nwindow = -1", ["window"]),
        ("bptt", "[method]\nmeta_losses = 0", ["meta-losses"]),
        ("gm", "[method]\nreal_per_class = 0", ["real-per-class"]),
        ("gm", '[method]\nlayer_reduce = "max"', ["layer-reduce"]),
        # counted in inner steps: longer than the unroll was silently "all steps" (even the default, given)
        ("bptt", "[teacher]\ninner_steps = 4\n[method]\nwindow = 5", ["[method] window", "--inner-steps (4)"]),
        ("bptt", "[teacher]\ninner_steps = 4\n[method]\nwindow = 8", ["[method] window", "--inner-steps (4)"]),
        ("bptt", "[teacher]\ninner_steps = 4\n[method]\ntruncate = 5", ["[method] truncate"]),
        (
            "bptt",
            "[teacher]\ninner_steps = 4\n[method]\nwindow = 0\ncheckpoint_every = 5",
            ["[method] checkpoint_every"],
        ),
        ("gm", "[teacher]\ninner_steps = 4\n[method]\nmatch_steps = 5", ["[method] match_steps"]),
        ("ift", "[calibration]\nseed = 3", ["[calibration] unknown key 'seed'"]),
        ("ift", "[calibration]\nmax_grad_norms = [0.0]", ["[calibration]", "clips must be > 0"]),
        ("ift", '[calibration]\nmax_grad_norms = ["never"]', ["[calibration]"]),
        ("ift", "calibration = 3", ["[calibration] must be a table"]),
    ],
)
def test_bad_config_files_are_one_line(tmp_path, monkeypatch, method, toml, needles):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.toml").write_text(toml + "\n")
    assert_one_line_error(cli(*DISTILL, "--method", method, "--config", tmp_path / "c.toml"), *needles)
    assert not any(tmp_path.glob("x.*"))


def test_flags_override_the_config_file_and_paths_in_it_are_relative_to_it(tmp_path):
    from gtn_nas.teachers.config_file import distill_config

    (tmp_path / "c.toml").write_text(
        'seed = 5\nspace = "tiny.toml"\n[teacher]\ninner_steps = 7\n[method]\nwindow = 2\n'
    )
    (tmp_path / "tiny.toml").write_text(Path(TINY_SPACE).read_text())
    cfg = distill_config(tmp_path / "c.toml", method="bptt", seed=None, teacher={"inner_steps": 3, "batch_size": None})
    assert (cfg.seed, cfg.teacher.inner_steps, cfg.method_options["window"]) == (5, 3, 2)
    assert cfg.space == str(tmp_path / "tiny.toml") and cfg.teacher.batch_size == 128


def test_the_calibration_table_spells_none_as_words_and_round_trips_through_a_checkpoint_config(tmp_path):
    from gtn_nas.teachers.config import DistillConfig
    from gtn_nas.teachers.config_file import distill_config

    (tmp_path / "c.toml").write_text(
        'calibrate_start = true\n[calibration]\nmomenta = ["teacher", 0.9]\nmax_grad_norms = ["none", 1.0]\n'
    )
    cfg = distill_config(tmp_path / "c.toml", method="ift")
    assert cfg.calibrate_start and cfg.calibration.momenta == (None, 0.9)
    assert cfg.calibration.max_grad_norms == (None, 1.0) and cfg.calibration.lr_scales[0] == 0.25
    as_saved = {
        **cfg.to_dict(),
        "calibration": {k: list(v) if isinstance(v, tuple) else v for k, v in cfg.to_dict()["calibration"].items()},
    }
    assert DistillConfig.from_dict(as_saved) == cfg


@pytest.mark.parametrize(
    "args, needles",
    [
        (
            ["search", "--proxy", "params", "--out", "adir"],
            ["--out adir is a folder"],
        ),  # scored everything, then failed
        (["search", "--proxy", "params", "--out", "afile/x.csv"], ["afile is not a folder"]),
        (["search", "--proxy", "params", "--out", "x.csv", "--storage", "adir"], ["--storage adir is a folder"]),
        (["ground-truth", "--out", "adir"], ["--out adir is a folder"]),
        (["ground-truth", "--out", "afile/sub/gt.csv"], ["afile is not a folder"]),
        (["distill", "--out", "adir"], ["--out adir is a folder"]),
        (["distill", "--out", "afile/sub/t.pt"], ["afile is not a folder"]),
        (["distill", "--out", "m.pt"], ["metrics CSV", "m.csv is a folder"]),  # failed at the first checkpoint
        (["export", "--teacher", "afile", "--out", "d.npz"], ["--out d.npz is a folder"]),
        (["report", "r.csv", "--ground-truth", "gt.csv", "--out", "afile"], ["--out afile is a file"]),
        (["rank", "r.csv", "--ground-truth", "gt.csv", "--out-md", "adir"], ["--out-md adir is a folder"]),
    ],
)
def test_unwritable_outputs_are_refused_before_any_work(tmp_path, monkeypatch, args, needles):
    monkeypatch.chdir(tmp_path)
    for folder in ("adir", "m.csv", "d.npz"):
        (tmp_path / folder).mkdir()
    (tmp_path / "afile").write_text("not a folder")
    before = sorted(tmp_path.rglob("*"))
    assert_one_line_error(cli(*args), *needles)
    assert sorted(tmp_path.rglob("*")) == before  # nothing written, no folder made


def test_output_in_a_read_only_folder_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ro").mkdir(mode=0o555)
    if os.geteuid() == 0:  # root writes anywhere: let the folder answer as it would to a user
        real = os.access
        monkeypatch.setattr(os, "access", lambda path, mode, **kw: Path(path).name != "ro" and real(path, mode, **kw))
    assert_one_line_error(cli("distill", "--out", "ro/sub/t.pt"), "ro/sub/t.pt: cannot write in", "/ro")
    assert not (tmp_path / "ro" / "sub").exists()
