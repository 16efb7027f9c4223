"""Kill -9, once per scenario: the fast half of benchmarks/faults.py (which repeats them)."""

import os
import random
from pathlib import Path

import faults  # benchmarks/faults.py (pytest's pythonpath has benchmarks/)
import pytest

pytestmark = pytest.mark.scenario  # multi-process: `pytest -m "not scenario"` leaves it out


def _urls(tmp_path):
    urls = [f"sqlite:///{tmp_path / 'faults.db'}"]
    if os.environ.get("GTN_NAS_TEST_POSTGRES"):
        urls.append(os.environ["GTN_NAS_TEST_POSTGRES"])
    return urls


def test_distill_killed_twice_resumes_to_the_uninterrupted_teacher(tmp_path):
    """Twice, so that a resumed run is itself killed and resumed (benchmarks/faults.py kills three
    times, three repeats: results/faults_distill.md); each kill costs a process start-up here."""
    # 80 meta-steps: each kill lands within 35 of a resume (a checkpoint every 5, then 0-1 s of
    # 35-75 ms steps), so both land mid-run; the benchmark's 300 only make its repeats longer.
    config = str(Path(__file__).parents[1] / "fixtures" / "faults-distill.toml")  # a 20-step fit
    r = faults.distill_scenario(tmp_path, random.Random(1), kills=2, steps=80, config=config)
    assert r["kills"] == 2, "a run ended before its kill; the test proves nothing"
    assert r["identical_teacher"] and r["lost"] == 0 and r["duplicated"] == 0, r


@pytest.mark.parametrize("kind", ["ground-truth", "evaluate"])
def test_a_killed_queue_worker_loses_and_repeats_nothing(tmp_path, kind):
    for i, url in enumerate(_urls(tmp_path)):
        work = tmp_path / str(i)
        work.mkdir()
        r = faults.queue_scenario(kind, work, url, random.Random(2))
        assert r["kills"] == 1, "the victim ended before the kill; the test proves nothing"
        assert r["lost"] == 0 and r["duplicated"] == 0 and r["csv_rows_ok"], (url.split(":")[0], r)


def test_a_killed_search_worker_still_ends_with_exactly_n_trials(tmp_path):
    for i, url in enumerate(_urls(tmp_path)):
        work = tmp_path / str(i)
        work.mkdir()
        r = faults.search_scenario(work, url, random.Random(3))
        assert r["kills"] == 1, "the victim ended before the kill; the test proves nothing"
        assert r["complete"] == r["n_trials"] and r["left_running"] == 0, (url.split(":")[0], r)
