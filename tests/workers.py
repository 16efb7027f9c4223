"""Several real worker processes on one study or queue, and the checks that each item is done once."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import optuna
from conftest import TINY_SPACE
from optuna.trial import TrialState

from gtn_nas.core.spaces import load_space
from gtn_nas.nas.workqueue import WorkQueue

# 16 quick MLPs: enough distinct architectures that two workers overlap in time.
WORKER_SPACE = """name = "workers"
[[grid]]
family = "mlp"
depth = [0, 1]
width = [8, 16]
activation = ["relu", "tanh"]
norm = ["none", "layer"]
"""


def gtn_nas(*args: str) -> list[str]:
    return [sys.executable, "-m", "gtn_nas", *args]


def run_together(commands: list[list[str]], timeout: float = 240) -> list[subprocess.CompletedProcess]:
    """Start every command at once (separate processes) and wait for all of them."""
    env = {**os.environ, "GTN_NAS_THREADS": "1"}
    procs = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for c in commands]
    outs = [p.communicate(timeout=timeout) for p in procs]
    return [subprocess.CompletedProcess(c, p.returncode, o, e) for c, p, (o, e) in zip(commands, procs, outs)]


def search_workers(teacher: Path, storage: str, study: str, space: Path, out_dir: Path, n_trials: int, n: int = 2):
    # 2,000 steps (the teacher's 2 batches, cycled) take ~1 s per new architecture, so the ~6 s of work
    # outlasts any skew in the two workers' start-up (at 100 steps, ~1 s in all, one worker sometimes did it all).
    cmd = lambda i: gtn_nas(
        "search",
        "--teacher",
        str(teacher),
        "--space",
        str(space),
        "--steps",
        "2000",
        "--sampler",
        "random",
        "--n-trials",
        str(n_trials),
        "--storage",
        storage,
        "--study-name",
        study,
        "--quiet",
        "--wait",  # a worker that finishes first waits for the other's trials: both end with every trial done
        "--out",
        str(out_dir / f"worker{i}.csv"),
    )
    for r in run_together([cmd(i) for i in range(n)]):
        assert r.returncode == 0, r.stderr[-2000:]


def check_search_study(storage: str, study_name: str, n_trials: int) -> list:
    """Exactly n_trials COMPLETE trials, each recorded once; extra trials only as PRUNED over budget."""
    trials = optuna.load_study(study_name=study_name, storage=storage).get_trials()
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == n_trials
    assert len({t.number for t in trials}) == len(trials)
    assert all(
        t.state == TrialState.PRUNED and t.user_attrs.get("over_budget")
        for t in trials
        if t.state != TrialState.COMPLETE
    )
    by_number = {t.number: t for t in complete}
    for t in complete:
        if "reused_from" in t.user_attrs:  # a repeat proposal: the earlier trial's score, at no cost
            first = by_number[t.user_attrs["reused_from"]]
            assert first.user_attrs["arch_id"] == t.user_attrs["arch_id"] and first.value == t.value
            assert t.user_attrs["seconds"] == 0 and "reused_from" not in first.user_attrs
    trained = [t.user_attrs["arch_id"] for t in complete if "reused_from" not in t.user_attrs]
    # Two workers may race to train the same new architecture; each trial is still recorded once.
    assert set(trained) == {t.user_attrs["arch_id"] for t in complete}
    return complete


SPECS = list(load_space(TINY_SPACE).archs)


def completions_race(open_queue, monkeypatch) -> list[TrialState]:
    """Two workers complete two live copies of one architecture at the same instant."""
    import threading

    a = open_queue()
    a._enqueue(SPECS[0], repaired=True)  # two workers repaired the same loss at once
    b = open_queue()
    first, second = a.claim(), b.claim()
    assert first.user_attrs["arch_id"] == second.user_attrs["arch_id"]
    read = WorkQueue._complete_ids

    def slow_read(self):  # widen the window between "complete already?" and "complete it"
        ids = read(self)
        time.sleep(0.5)
        return ids

    monkeypatch.setattr(WorkQueue, "_complete_ids", slow_read)
    spans = []

    def complete(q, t, v):
        start = time.monotonic()
        q.complete(t, v, {"score": v})
        spans.append((start, time.monotonic()))

    workers = [threading.Thread(target=complete, args=args) for args in ((a, first, 0.9), (b, second, 0.1))]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    # The race happened: both completions were under way at once (each started before either ended).
    assert len(spans) == 2 and max(s for s, _ in spans) < min(e for _, e in spans)
    return sorted((t.state for t in a.study.get_trials()), key=lambda s: s.name)
