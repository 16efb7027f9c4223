"""`gtn-nas report RUNS --ground-truth GT --out DIR`: a report of anyone's runs, from their files alone."""

import json

import numpy as np
import pandas as pd
import pytest

import gtn_nas
from gtn_nas.nas.ranking import combine_runs

SPEC = json.dumps({"family": "conv", "depth": 2, "width": 8, "activation": "relu", "norm": "none", "pooling": "max"})


def _files(tmp_path, budgets=(8, 32)):
    """A ground truth of 12 nets and, per budget, a proxy whose noise shrinks as its budget grows."""
    rng = np.random.default_rng(0)
    truth = np.linspace(0.7, 0.98, 12)
    gt = pd.DataFrame({"arch_id": [f"a{i}" for i in range(12)], "val_acc": truth, "seconds": 10.0, "train_flops": 1e9})
    gt.to_csv(tmp_path / "gt.csv", index=False)
    runs = []
    for steps in budgets:
        score = truth + rng.normal(0, 0.4 / steps, 12)
        frame = pd.DataFrame(
            {
                "arch_id": gt["arch_id"],
                "spec": SPEC,
                "proxy": "teacher:mine",
                "score": score,
                "seconds": 0.01 * steps,
                "flops": 1e6 * steps,
                "steps": steps,
            }
        )
        frame.to_csv(tmp_path / f"mine-T{steps}.csv", index=False)
        runs.append(tmp_path / f"mine-T{steps}.csv")
    return tmp_path / "gt.csv", runs


def test_report_writes_the_table_scatter_and_frontier(tmp_path):
    gt, runs = _files(tmp_path)
    written = gtn_nas.report_runs(runs, gt, tmp_path / "out")
    names = {p.name for p in written}
    assert names == {"ranking.csv", "ranking.md", "scatter.png", "frontier.csv", "frontier.png"}
    table = pd.read_csv(tmp_path / "out" / "ranking.csv")
    rho = dict(zip(table["proxy"], table["spearman"]))
    assert rho["teacher:mine [mine-T32]"] > rho["teacher:mine [mine-T8]"]  # less noise, better ranking
    frontier = pd.read_csv(tmp_path / "out" / "frontier.csv")
    assert sorted(frontier["steps"]) == [8, 32] and (frontier["flops_ratio"] > 0).all()
    first = {p.name: p.read_bytes() for p in written}
    gtn_nas.report_runs(runs, gt, tmp_path / "out")  # deterministic, byte for byte
    assert first == {p.name: p.read_bytes() for p in written}


def test_one_budget_has_no_frontier(tmp_path):
    gt, runs = _files(tmp_path, budgets=(32,))
    assert {p.name for p in gtn_nas.report_runs(runs, gt, tmp_path / "out")} == {
        "ranking.csv",
        "ranking.md",
        "scatter.png",
    }


def test_combined_ranks_tie_exactly():
    a = pd.DataFrame({"arch_id": ["x", "y", "z"], "score": [1.0, 2.0, 3.0]})
    b = pd.DataFrame({"arch_id": ["x", "y", "z"], "score": [3.0, 2.0, 1.0]})
    ((_, _, rows),) = combine_runs([("a", "a.csv", a), ("b", "b.csv", b)], ["a+b"])
    assert rows["score"].nunique() == 1  # every net ranks 2nd on average: an exact tie


def test_missing_ground_truth_is_a_config_error(tmp_path):
    _, runs = _files(tmp_path)
    with pytest.raises(gtn_nas.core.errors.ConfigError, match="no such ground-truth CSV"):
        gtn_nas.report_runs(runs, tmp_path / "none.csv", tmp_path / "out")
