"""The repository report's pages: each computes what it states from the raw files."""

import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch

from gtn_nas.api import arch_id, load_space
from gtn_nas.core.checkpoint import save_checkpoint
from gtn_nas.teachers.config import DistillConfig
from gtn_nas.teachers.generator import Teacher, TeacherConfig
from repo_report import ift_floor_md, nas_combination_md
from repo_report.figures import pareto_front

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "report" / "results"


def tiny_teacher(path: Path) -> None:
    cfg = DistillConfig(method="gm", teacher=TeacherConfig(inner_steps=2, batch_size=20, init="noise"), meta_steps=1)
    save_checkpoint(
        path,
        {
            "method": "gm",
            "config": cfg.to_dict(),
            "teacher": Teacher(cfg.teacher, seed=0).state_dict(),
            "meta_step": 0,
            "metrics": [],
        },
    )


@pytest.fixture
def results(tmp_path) -> Path:
    folder = tmp_path / "results"
    shutil.copytree(FIXTURE, folder)
    tiny_teacher(folder / "teachers" / "tiny.pt")
    return folder


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_ift_floor_page_states_the_bound_and_whether_a_target_fits_it():
    frame = pd.DataFrame(
        {"student": ["a", "a", "b", "b"], "setting": ["inner", "default"] * 2, "seconds": [1.0, 2.0, 1.0, 4.0]}
    )
    meta = {"command": "python benchmarks/ift_floor.py", "repeats": 3}

    def speed(new: float) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "method": ["ift", "ift"],
                "code": ["0.1 (x)", "new"],
                "students": ["new students"] * 2,
                "sec_per_meta_step": [1.0, new],
            }
        )

    assert "any solve over today's default: 3.00x" in ift_floor_md(frame, meta)  # mean 3 s ÷ mean 1 s
    assert "needs 2.70x over today's default: within the bound" in ift_floor_md(frame, meta, speed(0.9))
    assert "needs 4.50x over today's default: beyond the bound" in ift_floor_md(frame, meta, speed(1.5))


def test_paired_difference_and_its_column_on_the_combination_page():
    from nas_combination import paired_difference

    truth = pd.Series(range(30), dtype=float)
    noisy = truth + pd.Series([(-1) ** i * 4.0 for i in range(30)])
    d, lo, hi = paired_difference(truth, -truth, truth, 200, 0)
    assert (d, lo, hi) == pytest.approx((2.0, 2.0, 2.0))  # a perfect proxy against a reversed one, on every resample
    d, lo, hi = paired_difference(noisy, truth, truth, 200, 0)
    assert d < 0 and lo < d < hi <= 0 + 1e-12  # a noisy proxy never beats the truth itself
    row = {
        "proxy": "teacher:gm",
        "steps": 32,
        "val_examples": 1000,
        "init_seed": 0,
        "rho_alone": 0.7,
        "rho_with_naswot": 0.8,
        "rho_alone_3ep": 0.7,
        "rho_with_naswot_3ep": 0.8,
        "diff": 0.05,
        "diff_lo": -0.01,
        "diff_hi": 0.1,
        "diff_alone": -0.02,
        "diff_alone_lo": -0.2,
        "diff_alone_hi": 0.15,
    }
    meta = {
        "command": "c",
        "date": "d",
        "bootstrap": 200,
        "seed": 0,
        "pair": ["teacher:gm", "real"],
        "scores": "s",
        "naswot": "n",
    }
    md = nas_combination_md(pd.DataFrame([row]), meta)
    assert "| ρ(teacher:gm+naswot) − ρ(real+naswot) [95% CI] | ρ(teacher:gm) − ρ(real) [95% CI] |" in md
    assert "| +0.050 [-0.01, +0.10] | -0.020 [-0.20, +0.15] |" in md
    old = {k: v for k, v in row.items() if not k.startswith("diff_alone")}  # a file written before the column existed
    assert "ρ(teacher:gm) − ρ(real)" not in nas_combination_md(pd.DataFrame([old]), meta)


def test_pareto_front():
    cost = torch.tensor([1.0, 2.0, 3.0, 2.0, 0.5]).numpy()
    rho = torch.tensor([0.5, 0.4, 0.9, 0.6, float("nan")]).numpy()
    assert pareto_front(cost, rho).tolist() == [True, False, True, True, False]


def test_learning_curve_ends_where_train_student_ends():
    import learning_curves

    from gtn_nas.core.data import Split
    from gtn_nas.core.students import accuracy
    from gtn_nas.core.training import train_student

    g = torch.Generator().manual_seed(0)
    spec = {"family": "mlp", "depth": 1, "width": 16, "activation": "relu", "norm": "batch"}
    steps = [(torch.randn(20, 1, 28, 28, generator=g), torch.arange(20) % 10, 0.1, 0.9) for _ in range(6)]
    test = Split(torch.randn(50, 1, 28, 28, generator=g), torch.arange(50) % 10)
    points = learning_curves.curve(spec, 3, steps, test, every=2)
    assert [t for t, _ in points] == [0, 2, 4, 6]
    assert points[-1][1] == accuracy(train_student(spec, 3, steps), None, test.x, test.y)
    clipped = learning_curves.curve(spec, 3, steps, test, every=2, max_grad_norm=0.05)  # a clip that binds
    assert clipped[-1][1] == accuracy(train_student(spec, 3, steps, max_grad_norm=0.05), None, test.x, test.y)


def test_learning_curves_read_each_real_baselines_own_calibration(tmp_path):
    import learning_curves
    import pandas as pd

    per_arch = tmp_path / "per_arch.csv"
    pd.DataFrame(
        [
            {
                "source": learning_curves.REAL_SOURCE,
                "arch_id": "a",
                "seed": 0,
                "lr": 0.1,
                "momentum": 0.9,
                "max_grad_norm": 1.0,
            },
            {
                "source": learning_curves.BALANCED_SOURCE,
                "arch_id": "a",
                "seed": 0,
                "lr": 0.2,
                "momentum": 0.5,
                "max_grad_norm": None,
            },
        ]
    ).to_csv(per_arch, index=False)
    assert learning_curves.real_setting(per_arch, None, None) == (learning_curves.REAL_SOURCE, 0.1, 0.9, 1.0)
    assert learning_curves.real_setting(per_arch, None, None, learning_curves.BALANCED_SOURCE) == (
        learning_curves.BALANCED_SOURCE,
        0.2,
        0.5,
        None,
    )
    assert (
        learning_curves.real_setting(per_arch, 0.3, 0.0, learning_curves.BALANCED_SOURCE)[0]
        == "real balanced (lr 0.3, momentum 0)"
    )


def test_rescoring_some_sources_keeps_the_others_and_their_order():
    """`teacher_quality.py --only` and `clip_ablation.py --append` redo some rows of a committed table."""
    import clip_ablation
    import teacher_quality

    old = pd.DataFrame(
        {
            "source": ["real", "teacher:a", "teacher:b", "real", "teacher:a", "teacher:b"],
            "seed": [0, 0, 0, 1, 1, 1],
            "test_acc": [0.9, 0.5, 0.6, 0.91, 0.51, 0.61],
        }
    )
    new = pd.DataFrame({"source": ["teacher:a", "teacher:a"], "seed": [0, 1], "test_acc": [0.7, 0.71]})
    merged = teacher_quality._replace_sources(old, new)
    assert list(dict.fromkeys(merged["source"])) == ["real", "teacher:a", "teacher:b"]
    assert merged[merged["source"] == "teacher:a"]["test_acc"].tolist() == [0.7, 0.71]
    assert sorted(merged[merged["source"] != "teacher:a"]["test_acc"]) == [0.6, 0.61, 0.9, 0.91]

    rows = pd.DataFrame({"teacher": ["x", "x", "y", "y"], "grid": ["before", "after"] * 2, "v": [1, 2, 3, 4]})
    added = pd.DataFrame(
        {"teacher": ["y", "x", "x"], "grid": ["uncalibrated", "uncalibrated", "after"], "v": [5, 6, 7]}
    )
    merged = clip_ablation._merge(rows, added)
    assert list(zip(merged["teacher"], merged["grid"], merged["v"])) == [
        ("x", "uncalibrated", 6),
        ("x", "before", 1),
        ("x", "after", 7),
        ("y", "uncalibrated", 5),
        ("y", "before", 3),
        ("y", "after", 4),
    ]


def test_wall_time_table_names_every_run_that_left_rows():
    from repo_report import wall_time_md

    frame = pd.DataFrame({"method": ["gm", "bptt"], "scale": [2.0, 4.0], "wall_s": [2250.0, 2400.0]})
    meta = {
        "command": "python b.py --scale 4",
        "scale": 4,
        "runs": [
            {"command": "python b.py --scale 2", "scale": 2, "note": "pinned"},
            {"command": "python b.py --scale 4", "scale": 4},
        ],
    }
    md = wall_time_md(frame, meta)
    assert md.startswith("# Distillation runs at several budgets")
    assert "Commands: `python b.py --scale 2` (pinned); `python b.py --scale 4`" in md
    assert wall_time_md(frame.iloc[:1], {"command": "python b.py --scale 2", "scale": 2}).startswith(
        "# Distillation runs at 2x the default meta-steps\n\nCommand: `python b.py --scale 2`"
    )


def test_search_runs_only_keeps_the_other_searches_and_their_command(tmp_path):
    """`search_runs.py --only X` replaces X's row of the summary, keeps the others in their order,
    and keeps the command that made them beside its own."""
    import search_runs

    pd.DataFrame({"search": ["a", "b", "c"], "pick": ["p", "q", "r"]}).to_csv(tmp_path / "summary.csv", index=False)
    (tmp_path / "summary.json").write_text(json.dumps({"command": "python benchmarks/search_runs.py", "date": "d"}))
    merged, runs = search_runs.kept_from_before(pd.DataFrame({"search": ["b"], "pick": ["new"]}), tmp_path)
    assert merged["search"].tolist() == ["a", "b", "c"] and merged["pick"].tolist() == ["p", "new", "r"]
    assert runs == [{"command": "python benchmarks/search_runs.py", "date": "d", "searches": ["a", "b", "c"]}]
    from repo_report.nas import search_md

    runs.append({"command": "python benchmarks/search_runs.py --only b", "date": "e", "searches": ["b"]})
    md = search_md(merged, {"command": runs[-1]["command"], "runs": runs}, [])
    assert (
        "Commands: `python benchmarks/search_runs.py` (a, b, c; d); "
        "then `python benchmarks/search_runs.py --only b` (b; e)" in md
    )


def test_search_regret_is_in_points_against_the_whole_ground_truth(tmp_path):
    import search_runs

    gt = pd.DataFrame({"val_acc": [0.90, 0.98, 0.95], "seconds": [10.0, 20.0, 70.0]})
    gt.to_csv(tmp_path / "gt.csv", index=False)
    rows = pd.DataFrame(
        {
            "pick_val_acc": [0.98, 0.955],
            "proxy_seconds": [5.0, 1.0],
            "setup_seconds": [5.0, 0.0],
            "fit_gt_seconds": [0, 9.0],
        }
    )
    out = search_runs.with_regret(rows, tmp_path / "gt.csv")
    assert out["regret_points"].round(6).tolist() == [0.0, 2.5]
    assert out["cost_vs_gt"].round(6).tolist() == [0.1, 0.1]
    assert (out["gt_archs"] == 3).all() and (out["best_of_gt_val_acc"] == 0.98).all()


def test_a_fused_search_is_fitted_on_its_seeds_draw_of_the_ground_truth(tmp_path):
    import search_runs

    results = Path(__file__).resolve().parents[2] / "results"
    gt_csv = results / "ground_truth/convnet250.csv"
    gt = pd.read_csv(gt_csv).set_index("arch_id")
    zero_cost = [str(results / "nas/naswot.csv"), str(results / "nas_250/naswot.csv")]
    drawn = {}
    for seed in (0, 1):
        model, seconds = search_runs.fit_fused(seed, 12, gt_csv, zero_cost, tmp_path)
        train = pd.read_csv(tmp_path / f"fused-s{seed}-train.csv")
        assert model.exists() and len(train) == 12 and set(train["arch_id"]) <= set(gt.index)
        assert seconds == pytest.approx(gt.loc[train["arch_id"], "seconds"].sum())
        drawn[seed] = set(train["arch_id"])
    assert drawn[0] != drawn[1]


def test_identical_runs_are_named_as_one(tmp_path):
    """Rows with the same 60 scores and held-out retention are one run: the shortest name stands."""
    from repo_report.inputs import Inputs
    from repo_report.rank_study import same_runs

    nas = tmp_path / "teachers" / "rank_ablation" / "nas"
    nas.mkdir(parents=True)
    scores = {"start": [0.9, 0.8], "cs-start": [0.9, 0.8], "bptt-cs-start": [0.9, 0.8], "other": [0.9, 0.7]}
    for name, values in scores.items():
        pd.DataFrame({"arch_id": ["a", "b"], "score": values}).to_csv(nas / f"{name}-seed0.csv", index=False)
    frame = pd.DataFrame({"variant": list(scores), "seed": 0, "heldout_retained": [0.9, 0.9, 0.9, 0.9]})
    assert same_runs(Inputs(tmp_path), frame) == ["", "= start", "= start", ""]
    frame.loc[1, "heldout_retained"] = 0.8  # another held-out score: another run
    assert same_runs(Inputs(tmp_path), frame) == ["", "", "= start", ""]


@pytest.mark.parametrize(
    "toml", sorted((ROOT / "results" / "teachers").rglob("*.toml")), ids=lambda p: str(p.relative_to(ROOT))
)
def test_each_shipped_teacher_ships_the_config_that_reruns_it(toml):
    """The config beside a shipped teacher reads back to the settings its checkpoint stored."""
    from gtn_nas.teachers.checkpoints import load_teacher
    from gtn_nas.teachers.config import DistillConfig
    from gtn_nas.teachers.config_file import distill_config

    stored = DistillConfig.from_dict(load_teacher(toml.with_suffix(".pt"))[1]["config"]).validate()
    method = re.search(r"--method (\w+)", toml.read_text()).group(1)
    back = distill_config(toml, method=method)
    same_space = Path(back.space).resolve() == (ROOT / stored.space).resolve() or back.space == stored.space
    assert same_space and back.to_dict() | {"space": ""} == stored.to_dict() | {"space": ""}


def test_a_frontier_setting_averages_the_seeds_every_net_has():
    import frontier_runs

    rows = [
        ("real", "a", 0, 0.5),
        ("real", "a", 1, 0.7),
        ("real", "b", 0, 0.9),  # one seed only: left out
        ("real", "a", 2, 0.1),  # a seed not asked for
    ]
    scores = pd.DataFrame(
        [
            {"proxy": p, "arch_id": a, "init_seed": s, "steps": 32, "val_examples": 1000, "score": v}
            | {"train_seconds": 1.0, "eval_seconds": 0.5, "flops": 10, "params": 3}
            for p, a, s, v in rows
        ]
    )
    out = frontier_runs.setting(scores, 32, 1000, [0, 1])
    assert out["arch_id"].tolist() == ["a"]
    assert out["score"].iloc[0] == pytest.approx(0.6) and out["seconds"].iloc[0] == 3.0 and out["flops"].iloc[0] == 20


def test_family_rankings_are_computed_within_each_family(tmp_path):
    import families

    space = load_space("convnet")
    specs = space.sample(16, seed=0)
    truth = [0.90 + 0.005 * i for i in range(len(specs))]
    gt = pd.DataFrame(
        {
            "arch_id": [arch_id(s) for s in specs],
            "spec": [json.dumps(s) for s in specs],
            "val_acc": truth,
            "seconds": 1.0,
        }
    )
    gt.to_csv(tmp_path / "gt.csv", index=False)
    for name, sign in (("good", 1), ("bad", -1)):
        pd.DataFrame({"arch_id": gt["arch_id"], "proxy": name, "score": [sign * t for t in truth]}).to_csv(
            tmp_path / f"{name}.csv", index=False
        )
    runs = [str(tmp_path / "good.csv"), str(tmp_path / "bad.csv")]
    table = families.family_table(tmp_path / "gt.csv", runs, ["good,bad"], n_boot=50)
    alone = table[table["pair"].isna()]
    assert set(alone["family"]) == set(families.KEYS)
    for (family, value), f in alone.groupby(["family", "value"]):
        expected = sum(str(s[family]) == value for s in specs)
        assert (f["n"] == expected).all()
        if expected > 2:
            assert f.set_index("proxy").loc["good", "spearman"] == pytest.approx(1.0)
            assert f.set_index("proxy").loc["bad", "spearman"] == pytest.approx(-1.0)


def test_family_keys_the_architectures_lack_are_skipped(tmp_path):
    import families

    specs = load_space("mlp").sample(12, seed=0)
    gt = pd.DataFrame(
        {"arch_id": [arch_id(s) for s in specs], "spec": [json.dumps(s) for s in specs], "val_acc": range(12)}
    ).assign(seconds=1.0)
    gt.to_csv(tmp_path / "gt.csv", index=False)
    pd.DataFrame({"arch_id": gt["arch_id"], "proxy": "p", "score": range(12)}).to_csv(tmp_path / "p.csv", index=False)
    table = families.family_table(tmp_path / "gt.csv", [str(tmp_path / "p.csv")], [], 20, ("pooling", "activation"))
    assert set(table["family"]) == {"activation"}  # an MLP has no pooling
    assert table["n"].sum() == 12
