"""Search studies shared by concurrent workers: each trial recorded once, dead workers' trials retried, resumes."""

from __future__ import annotations

import optuna
import pandas as pd
import pytest
import torch
from conftest import TINY_SPACE
from optuna.trial import TrialState
from workers import WORKER_SPACE, check_search_study, gtn_nas, run_together, search_workers

from gtn_nas.core.errors import ConfigError
from gtn_nas.core.spaces import arch_id, load_space, spec_to_json
from gtn_nas.nas.proxies import ProxySettings, make_proxy
from gtn_nas.nas.search import (
    ArchEncoding,
    bind_settings,
    open_search_study,
    record_setup,
    run_search,
)
from gtn_nas.nas.shared_trials import open_search_storage, reclaim_stale


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
        "--stale-after",  # polling the other's live claim every second (the heartbeat), not every 10 s
        "4",
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
