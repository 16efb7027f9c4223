"""Search: proxies, Optuna studies shared by concurrent workers, and the search command's errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import optuna
import pandas as pd
import pytest
import torch
from conftest import TINY_SPACE
from optuna.trial import TrialState

from gtn_nas.core.errors import ConfigError
from gtn_nas.core.spaces import arch_id, load_space, parse_space, spec_to_json
from gtn_nas.nas.proxies import ProxySettings, make_proxy
from gtn_nas.nas.search import (
    ArchEncoding,
    bind_settings,
    open_search_study,
    record_setup,
    run_search,
)
from gtn_nas.nas.shared_trials import open_search_storage, reclaim_stale, search_pending
from gtn_nas.nas.storage import driver_url

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


def test_two_search_workers_record_every_trial_once(tmp_path, tiny_teacher):
    space = tmp_path / "workers.toml"
    space.write_text(WORKER_SPACE)
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    search_workers(tiny_teacher, storage, "shared", space, tmp_path, n_trials=12)
    complete = check_search_study(storage, "shared", 12)
    assert len({t.user_attrs["worker"] for t in complete}) == 2, "both workers should have completed trials"
    # The worker that finished last wrote the whole table: one row per architecture.
    last = max((tmp_path / f"worker{i}.csv" for i in range(2)), key=lambda p: p.stat().st_mtime_ns)
    frame = pd.read_csv(last)
    assert frame["arch_id"].is_unique and set(frame["arch_id"]) == {t.user_attrs["arch_id"] for t in complete}
    assert frame["proposals"].sum() == 12 and (frame["proxy"] == "teacher:gm").all()


def test_two_archs_from_workers_score_each_architecture_once(tmp_path, tiny_teacher):
    specs = load_space(TINY_SPACE).archs
    gt = tmp_path / "gt.csv"
    pd.DataFrame({"arch_id": [arch_id(s) for s in specs], "spec": [spec_to_json(s) for s in specs]}).to_csv(
        gt, index=False
    )
    storage = f"sqlite:///{tmp_path / 'queue.db'}"
    cmd = lambda i: gtn_nas(
        "search",
        "--teacher",
        str(tiny_teacher),
        "--steps",
        "2",
        "--archs-from",
        str(gt),
        "--storage",
        storage,
        "--space",
        TINY_SPACE,
        "--quiet",
        "--wait",  # exit 0 only with every architecture scored: the first to finish waits for the other
        "--out",
        str(tmp_path / f"w{i}.csv"),
    )
    for r in run_together([cmd(0), cmd(1)]):
        assert r.returncode == 0, r.stderr[-2000:]
    [name] = optuna.get_all_study_names(storage)
    assert name.startswith("evaluate-generator-gt-n6-")
    study = optuna.load_study(study_name=name, storage=storage)
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    assert sorted(t.user_attrs["arch_id"] for t in complete) == sorted(arch_id(s) for s in specs)
    assert not study.get_trials(states=(TrialState.WAITING, TrialState.RUNNING))
    rows = pd.concat([pd.read_csv(tmp_path / f"w{i}.csv") for i in range(2)]).drop_duplicates("arch_id")
    assert len(rows) == len(specs)


# -- in-process: proxies ---------------------------------------------------------------------------


def test_search_reuses_scores_honestly_and_resumes_to_the_budget(tmp_path, small_mnist):
    space = load_space(TINY_SPACE)
    storage = open_search_storage(f"sqlite:///{tmp_path / 's.db'}")
    proxy = make_proxy(ProxySettings(kind="params"), small_mnist, torch.device("cpu"))
    out = tmp_path / "params.csv"

    def run(n):
        study = open_search_study(storage, "p", "random", seed=0)
        bind_settings(study, proxy.settings, {"mode": "search", "space": space.name})
        record_setup(study, proxy)
        return study, run_search(study, proxy, space, n, out)

    study, frame = run(7)  # 7 proposals from 4 architectures: at least 3 reuses
    trials = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(trials) == 7 and len(frame) == len({t.user_attrs["arch_id"] for t in trials}) <= 4
    reused = [t for t in trials if "reused_from" in t.user_attrs]
    assert len(reused) == 7 - len(frame) and all(t.user_attrs["seconds"] == 0 for t in reused)
    assert frame["proposals"].sum() == 7 and frame["arch_id"].is_unique
    study, frame = run(9)
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) == 9
    study, _ = run(9)  # already complete: nothing runs
    assert len(study.get_trials()) == 9
    with pytest.raises(ConfigError, match="was made with other settings \\(steps\\)"):
        bind_settings(study, ProxySettings(kind="params", steps=5), {"mode": "search", "space": space.name})


@pytest.mark.filterwarnings("ignore:Heartbeat of storage is supposed to be used with Study.optimize")
def test_a_dead_workers_trial_is_retried_not_lost(tmp_path, small_mnist, monkeypatch):
    import time

    import gtn_nas.nas.storage as storage_module

    monkeypatch.setattr(storage_module, "HEARTBEAT_S", 1)
    space = load_space(TINY_SPACE)
    storage = open_search_storage(f"sqlite:///{tmp_path / 'dead.db'}", stale_after=2)
    study = open_search_study(storage, "dead", "random", seed=0)
    dead = study.ask()  # a worker that proposed an architecture, beat once, and died
    ArchEncoding(space).suggest(dead)
    storage.record_heartbeat(dead._trial_id)
    time.sleep(3.5)  # Optuna compares RDB heartbeats at 1-second resolution
    proxy = make_proxy(ProxySettings(kind="params"), small_mnist, torch.device("cpu"))
    run_search(study, proxy, space, 3, tmp_path / "dead.csv")
    trials = study.get_trials()
    assert trials[dead.number].state == TrialState.FAIL
    retried = [t for t in trials if t.system_attrs.get("failed_trial") == dead.number]
    assert (
        len(retried) == 1
        and retried[0].state == TrialState.COMPLETE
        and retried[0].params == trials[dead.number].params
    )
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) == 3


@pytest.mark.filterwarnings("ignore:Heartbeat of storage is supposed to be used with Study.optimize")
def test_a_worker_killed_before_its_first_heartbeat_frees_its_slot(tmp_path, small_mnist):
    import time

    space = load_space(TINY_SPACE)
    storage = open_search_storage(f"sqlite:///{tmp_path / 'early.db'}", stale_after=2)
    study = open_search_study(storage, "early", "random", seed=0)
    dead = study.ask()  # proposed an architecture and died before Optuna recorded any heartbeat
    ArchEncoding(space).suggest(dead)
    # Its start time is the dead worker's clock, so the first worker to see it stamps it with the
    # storage's time and judges it from there.
    reclaim_stale(study, 2)
    assert study.get_trials()[dead.number].state == TrialState.RUNNING
    time.sleep(2.5)
    proxy = make_proxy(ProxySettings(kind="params"), small_mnist, torch.device("cpu"))
    run_search(study, proxy, space, 3, tmp_path / "early.csv", stale_after=2)
    trials = study.get_trials()
    assert trials[dead.number].state == TrialState.FAIL and not study.get_trials(states=(TrialState.RUNNING,))
    retried = [t for t in trials if t.user_attrs.get("retry_of") == dead.number]
    assert (
        len(retried) == 1
        and retried[0].state == TrialState.COMPLETE
        and retried[0].params == trials[dead.number].params
    )
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) == 3


def test_a_result_for_a_reclaimed_search_trial_is_dropped_without_error(tmp_path, small_mnist):
    space = load_space(TINY_SPACE)
    storage = open_search_storage(f"sqlite:///{tmp_path / 'late.db'}")
    study = open_search_study(storage, "late", "random", seed=0)
    proxy = make_proxy(ProxySettings(kind="params"), small_mnist, torch.device("cpu"))
    score, reclaimed = proxy.score, []

    def slow_score(spec):  # while the first trial scores, another worker takes its worker for dead
        if not reclaimed:
            [mine] = study.get_trials(states=(TrialState.RUNNING,))
            storage.set_trial_state_values(mine._trial_id, TrialState.FAIL)
            study.enqueue_trial(mine.params, user_attrs={"retry_of": mine.number})
            reclaimed.append(mine.number)
        return score(spec)

    proxy.score = slow_score
    run_search(study, proxy, space, 3, tmp_path / "late.csv")  # no "Cannot tell a FAIL trial"
    trials = study.get_trials()
    assert trials[reclaimed[0]].state == TrialState.FAIL
    retry = [t for t in trials if t.user_attrs.get("retry_of") == reclaimed[0]]
    assert len(retry) == 1 and retry[0].state == TrialState.COMPLETE and retry[0].params == trials[reclaimed[0]].params
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) == 3 and not study.get_trials(
        states=(TrialState.RUNNING,)
    )


def _ask_enqueued(url, start, out):
    import time

    from gtn_nas.nas.shared_trials import ask

    study = optuna.load_study(study_name="race", storage=open_search_storage(url))
    start.wait(timeout=60)  # all workers pop together: a spawn slower than 40 pops would leave no race to test
    numbers = []
    while "retry_of" in (trial := study._storage.get_trial(ask(study)._trial_id)).user_attrs:  # until a fresh proposal
        numbers.append(trial.number)
        time.sleep(0.01)  # a worker training its trial, so the others get a turn
    out.put(numbers)


def test_search_workers_pop_each_enqueued_trial_once_on_sqlite(tmp_path):
    import multiprocessing as mp

    url = f"sqlite:///{tmp_path / 'race.db'}"
    study = open_search_study(open_search_storage(url), "race", "random", seed=0)
    for i in range(40):  # retries of dead workers' trials, as fail_stale enqueues them
        study.enqueue_trial({"arch": str(i)}, user_attrs={"retry_of": i})
    ctx = mp.get_context("spawn")
    out, start = ctx.Queue(), ctx.Barrier(3)
    procs = [ctx.Process(target=_ask_enqueued, args=(url, start, out)) for _ in range(3)]
    for p in procs:
        p.start()
    per_worker = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join()
    popped = [n for got in per_worker for n in got]
    assert sorted(popped) == list(range(40))  # every retry taken, none by two workers
    assert sum(1 for got in per_worker if got) >= 2  # the race happened: several workers popped retries


def test_a_dead_workers_trial_is_retried_on_journal_storage_too(tmp_path, small_mnist):
    import time

    space = load_space(TINY_SPACE)
    study = open_search_study(open_search_storage(f"journal://{tmp_path / 'dead.log'}"), "dead", "random", seed=0)
    dead = study.ask()  # a worker that proposed an architecture, beat long ago, and died
    ArchEncoding(space).suggest(dead)
    study._storage.set_trial_user_attr(dead._trial_id, "heartbeat", time.time() - 100)
    proxy = make_proxy(ProxySettings(kind="params"), small_mnist, torch.device("cpu"))
    run_search(study, proxy, space, 3, tmp_path / "dead.csv", stale_after=2)
    trials = study.get_trials()
    assert trials[dead.number].state == TrialState.FAIL
    retried = [t for t in trials if t.user_attrs.get("retry_of") == dead.number]
    assert (
        len(retried) == 1
        and retried[0].state == TrialState.COMPLETE
        and retried[0].params == trials[dead.number].params
    )
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) == 3


def test_the_api_prints_nothing(tmp_path, small_mnist, capfd):
    import logging

    from gtn_nas import api

    before = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.INFO)  # as in a fresh notebook
    # Optuna's handler kept the stderr of its first use (pytest's collection-time capture): point it here.
    streams = [
        (h, h.setStream(sys.stderr))
        for h in logging.getLogger("optuna").handlers
        if isinstance(h, logging.StreamHandler)
    ]
    try:
        run = api.search(
            TINY_SPACE,
            ProxySettings(kind="params"),
            tmp_path / "quiet.csv",
            n_trials=2,
            sampler="random",
            data=small_mnist,
            device="cpu",
        )
        assert len(run.study.get_trials(states=(TrialState.COMPLETE,))) == 2
        assert capfd.readouterr() == ("", "")  # no "A new study created", no "Trial 0 finished"
        assert optuna.logging.get_verbosity() == optuna.logging.INFO  # the caller's level is back
    finally:
        optuna.logging.set_verbosity(before)
        for handler, stream in streams:
            handler.setStream(stream)


def test_random_search_is_deterministic_for_a_seed(tmp_path, small_mnist):
    space = load_space(TINY_SPACE)
    proxy = make_proxy(ProxySettings(kind="params"), small_mnist, torch.device("cpu"))
    picks = []
    for i in range(2):
        # A journal-file storage: fast, and the other storage family Optuna offers for several workers.
        study = open_search_study(open_search_storage(f"journal://{tmp_path / f'{i}.log'}"), "d", "tpe", seed=3)
        run_search(study, proxy, space, 5, tmp_path / f"{i}.csv")
        picks.append([t.user_attrs["arch_id"] for t in study.get_trials()])
    assert picks[0] == picks[1]


def test_encoding_uses_keys_for_grids_and_ids_otherwise():
    grid = ArchEncoding(load_space(TINY_SPACE))
    assert grid.structured and set(grid.families) == {"mlp", "conv"}
    ragged = parse_space(
        {
            "arch": [
                {"family": "mlp", "depth": 0, "width": 8, "activation": "relu", "norm": "none"},
                {"family": "mlp", "depth": 1, "width": 16, "activation": "tanh", "norm": "none"},
            ]
        },
        "x",
    )
    enc = ArchEncoding(ragged)
    assert not enc.structured
    trial = optuna.create_study().ask()
    assert arch_id(enc.suggest(trial)) in ragged.ids() and list(trial.params) == ["arch"]


def test_postgres_urls_get_an_installed_driver():
    url = driver_url("postgresql://u:p@127.0.0.1:5/db")
    assert url.startswith("postgresql") and url.endswith("://u:p@127.0.0.1:5/db")
    assert driver_url("sqlite:///x.db") == "sqlite:///x.db"


# -- the command line: one-line errors ---------------------------------------------------------------


def bad_inputs(tmp_path: Path) -> dict[str, tuple[list[str], str]]:
    bad_space = tmp_path / "bad.toml"
    bad_space.write_text('[[grid]]\nfamily = "conv"\ndepth = [1]\n')
    not_teacher = tmp_path / "model.pt"
    torch.save({"weights": torch.zeros(3)}, not_teacher)
    return {
        "bad-space": (["--proxy", "params", "--space", str(bad_space)], "grid[0]: missing key 'width'"),
        "unknown-proxy": (
            ["--proxy", "zero-shot"],
            "--proxy must be one of teacher, real, subset, params, synflow, naswot; got 'zero-shot'",
        ),
        "not-a-teacher": (["--teacher", str(not_teacher)], "not a gtn-nas teacher checkpoint"),
        "garbage-teacher": (["--teacher", str(bad_space)], f"error: {bad_space}: "),
    }


@pytest.mark.parametrize("case", ["bad-space", "unknown-proxy", "not-a-teacher", "garbage-teacher"])
def test_search_errors_are_one_line(tmp_path, case, monkeypatch, capsys):
    """Through the real entry point (`gtn_nas.cli.main`), in-process for speed."""
    from gtn_nas.cli.commands import main

    args, needle = bad_inputs(tmp_path)[case]
    monkeypatch.setattr(sys, "argv", ["gtn-nas", "search", "--out", str(tmp_path / "o.csv"), *args])
    with pytest.raises(SystemExit) as exit_:
        main()
    err = capsys.readouterr().err
    assert exit_.value.code == 2
    assert err.count("\n") == 1 and err.startswith("error: ") and needle in err, err
    assert not (tmp_path / "o.csv").exists()


def test_search_error_in_a_subprocess_is_one_line_on_stderr(tmp_path):
    args, needle = bad_inputs(tmp_path)["not-a-teacher"]
    run = subprocess.run(
        gtn_nas("search", "--out", str(tmp_path / "o.csv"), *args), capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.count("\n") == 1 and run.stderr.startswith("error: ") and needle in run.stderr, run.stderr


def test_ctrl_c_inside_tell_frees_the_trials_slot_at_once(tmp_path, small_mnist, monkeypatch):
    """A Ctrl-C while Optuna records the trial's end: the trial is failed on the way out, instead of
    holding a budget slot until its heartbeat's grace period ends."""
    space = load_space(TINY_SPACE)
    study = open_search_study(open_search_storage(f"sqlite:///{tmp_path / 'tell.db'}"), "tell", "random", seed=0)
    proxy = make_proxy(ProxySettings(kind="params"), small_mnist, torch.device("cpu"))
    real_tell = optuna.Study.tell

    def interrupted_tell(self, trial, *args, state=None, **kwargs):
        if state == TrialState.COMPLETE:  # the fault: Ctrl-C arrives inside tell, before its write
            raise KeyboardInterrupt
        return real_tell(self, trial, *args, state=state, **kwargs)

    monkeypatch.setattr(optuna.Study, "tell", interrupted_tell)
    with pytest.raises(KeyboardInterrupt):
        run_search(study, proxy, space, 3, tmp_path / "tell.csv")
    assert [t.state for t in study.get_trials()] == [TrialState.FAIL]


@pytest.mark.filterwarnings("ignore:Heartbeat of storage is supposed to be used with Study.optimize")
def test_a_search_worker_whose_clock_runs_behind_does_not_reclaim_live_trials(tmp_path, monkeypatch):
    """Staleness is judged by the storage's clock: a worker 1000 s behind (or ahead) cannot take a
    live trial for dead, and its own beats are not stamped in the past."""
    import time

    from gtn_nas.nas.shared_trials import trial_heartbeat

    # No Optuna heartbeats (as the work queue's storages): beats are user attributes, by SQLite's clock.
    storage = open_search_storage(f"sqlite:///{tmp_path / 'skew.db'}", stale_after=None)
    study = open_search_study(storage, "skew", "random", seed=0)
    live = study.ask()  # a live worker's trial
    live.suggest_categorical("arch", ["a", "b"])

    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() - 1000)  # this worker's clock
    with trial_heartbeat(study, live, stale_after=2):
        pass
    monkeypatch.setattr(time, "time", lambda: real() + 1000)
    reclaim_stale(study, 2)
    assert [t.state for t in study.get_trials()] == [TrialState.RUNNING]


def test_search_pending_says_when_a_dead_workers_trial_becomes_reclaimable(tmp_path, small_mnist):
    space = load_space(TINY_SPACE)
    study = open_search_study(open_search_storage(f"sqlite:///{tmp_path / 'p.db'}"), "p", "random", seed=0)
    proxy = make_proxy(ProxySettings(kind="params"), small_mnist, torch.device("cpu"))
    run_search(study, proxy, space, 2, tmp_path / "p.csv", stale_after=30)
    dead = study.ask()  # another worker took the third slot and died
    ArchEncoding(space).suggest(dead)
    reclaim_stale(study, 30)
    left = search_pending(study, 3, stale_after=30)
    assert (left.complete, left.claimed, left.done) == (2, 1, False) and 25 < left.reclaimable_in <= 31
    assert "2 of 3 trials done" in left.describe("trials") and "reclaimable in" in left.describe("trials")
