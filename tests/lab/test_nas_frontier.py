"""benchmarks/nas_frontier.py's per-architecture scoring: the 1,000-image subset alone when asked."""

import argparse

import nas_frontier  # benchmarks/ (pytest's pythonpath)
import pytest
from conftest import TINY_SPACE

from gtn_nas.api import load_space

PLAN = {"real": {"kind": "real", "lr": 0.05, "momentum": 0.5, "batch_size": 32, "subset_size": 256}}


def _score(full: bool) -> list[dict]:
    nas_frontier._init_worker(PLAN, (2, 4), 500, 1, full=full)
    return nas_frontier.score_arch(("real", load_space(TINY_SPACE).archs[0], 0))


def test_small_only_skips_the_full_split_and_scores_the_subset_exactly_as_the_full_run():
    both, small = _score(True), _score(False)
    assert sorted({r["val_examples"] for r in both}) == [500, 10_000]
    assert [r["val_examples"] for r in small] == [500, 500] and [r["steps"] for r in small] == [2, 4]
    same = [r for r in both if r["val_examples"] == 500]
    assert [r["score"] for r in small] == [r["score"] for r in same]
    assert [r["flops"] for r in small] == [r["flops"] for r in same]


def test_real_data_names_give_their_recipes():
    tuned, clipped = nas_frontier.real_settings("real"), nas_frontier.real_settings("subset-clip1")
    assert (tuned.kind, tuned.lr, tuned.max_grad_norm) == ("real", None, None)
    assert (clipped.kind, clipped.lr, clipped.max_grad_norm) == ("subset", None, 1.0)
    fixed = nas_frontier.real_settings("subset-recipe", nas_frontier.parse_recipe("0.2:0.9:1"))
    assert (fixed.kind, fixed.lr, fixed.momentum, fixed.max_grad_norm) == ("subset", 0.2, 0.9, 1.0)
    assert nas_frontier.parse_recipe("0.1:0:none") == (0.1, 0.0, None)
    grid = nas_frontier.real_settings("real-grid")
    assert grid.kind == "real" and grid.lr is None and len(grid.recipes()) == 6 * 3 * 2


def test_a_recipe_name_without_a_recipe_and_a_malformed_recipe_are_refused():
    with pytest.raises(SystemExit, match="needs --recipe"):
        nas_frontier.real_settings("real-recipe")
    with pytest.raises(argparse.ArgumentTypeError, match="LR:MOMENTUM:CLIP"):
        nas_frontier.parse_recipe("0.2:0.9")


def test_a_fixed_recipe_is_planned_without_tuning():
    plans = nas_frontier.plan_proxies([], ["real-recipe"], set(), recipe=(0.2, 0.9, 1.0))
    assert plans["real-recipe"] == {
        "kind": "real",
        "lr": 0.2,
        "momentum": 0.9,
        "batch_size": 128,
        "subset_size": 32 * 128,
        "setup_seconds": 0.0,
        "max_grad_norm": 1.0,
    }
