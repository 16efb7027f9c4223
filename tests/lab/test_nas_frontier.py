"""benchmarks/nas_frontier.py's per-architecture scoring: the 1,000-image subset alone when asked."""

import nas_frontier  # benchmarks/ (pytest's pythonpath)
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
