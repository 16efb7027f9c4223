"""Trials of a search study shared by several workers: budget slots, heartbeats, reclaiming a dead
worker's trial, and ask/tell that tolerate another worker finishing a trial first.

`search.run_search` drives its loop with these. RDB storages get Optuna's heartbeats; journal
storages have none, so a `heartbeat` user attribute stamped with the storage's clock stands in, and
`fail_stale` fails (and re-enqueues) what Optuna's own check cannot see.
"""

from __future__ import annotations

import warnings

import optuna
from optuna.trial import FrozenTrial, TrialState

from .clock import storage_now
from .heartbeat import Heartbeat, is_stale, last_beat
from .optuna_compat import backend, heartbeat_ages, study_storage, trial_id
from .storage import exclusive_sqlite, heartbeat_every, open_storage
from .workqueue import Pending


def open_search_storage(url: str, stale_after: float | None = 120.0) -> optuna.storages.BaseStorage:
    """An Optuna storage for `url`; RDB storages get Optuna's heartbeats (stale trials are failed and
    retried); journal storages have none, and `run_search` heartbeats through a user attribute.
    On SQLite, transactions take the write lock at once, so that two workers cannot both pop the same
    enqueued trial (a dead worker's retry) in `ask()`, as they can claim one in the work queue."""
    storage = open_storage(url, stale_after=None if url.startswith("journal://") else stale_after)
    exclusive_sqlite(storage)
    return storage


def fail_stale(study: optuna.Study, stale_after: float) -> int:
    """Fail RUNNING trials that `is_stale` (no `heartbeat` attribute for `stale_after` seconds, by the
    storage's clock) and enqueue their architecture again; returns how many.

    On journal storages this is what Optuna's heartbeat does for RDB ones. On RDB storages it covers
    what Optuna's heartbeat cannot see: a trial with no heartbeat row yet (its worker was killed
    between `ask()` and its first beat), which Optuna skips forever while `slots_taken` counts it.
    Such a trial, seen for the first time with no beat of any kind, is stamped with the storage's
    time and judged from that stamp (its start time is the asking worker's clock, which may be skewed).
    """
    storage, failed = study_storage(study), 0
    now, beating = storage_now(storage), set(heartbeat_ages(storage))
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if trial_id(t) in beating:
            continue
        if "heartbeat" not in t.user_attrs:
            _stamp(storage, t, now)
            continue
        if not is_stale(t, now, stale_after):
            continue
        try:
            storage.set_trial_state_values(trial_id(t), TrialState.FAIL)
        except (RuntimeError, optuna.exceptions.UpdateFinishedTrialError):
            continue
        if t.params:  # killed before proposing anything: freeing the slot is all there is to do
            study.enqueue_trial(t.params, user_attrs={"retry_of": t.number})
        failed += 1
    return failed


def _stamp(storage, trial: FrozenTrial, now: float) -> None:
    try:
        storage.set_trial_user_attr(trial_id(trial), "heartbeat", now)
    except (RuntimeError, optuna.exceptions.UpdateFinishedTrialError):
        pass  # finished meanwhile


def search_pending(study: optuna.Study, n_trials: int, stale_after: float) -> Pending:
    """How far the study is from `n_trials` COMPLETE trials, and when trials held by other (possibly
    dead) workers become reclaimable, by the storage's clock."""
    storage = study_storage(study)
    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.RUNNING))
    complete = sum(t.state == TrialState.COMPLETE for t in trials)
    running = [t for t in trials if t.state == TrialState.RUNNING]
    ages, now = heartbeat_ages(storage), storage_now(storage)

    def left(t: FrozenTrial) -> float:  # Optuna fails a trial whose beat is older than its grace period
        if trial_id(t) in ages:
            return stale_after + 1 - ages[trial_id(t)]  # grace is whole seconds, heartbeats too on SQLite
        return last_beat(t, now) + stale_after - now

    return Pending(
        total=n_trials,
        complete=min(complete, n_trials),
        waiting=0,
        claimed=len(running) if complete < n_trials else 0,
        lost=0,
        reclaimable_in=max(0.0, min(map(left, running))) if running else None,
    )


def slots_taken(study: optuna.Study, number: int | None = None) -> int:
    """COMPLETE trials plus RUNNING trials numbered before `number` (all RUNNING ones if None)."""
    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.RUNNING))
    return sum(t.state == TrialState.COMPLETE or number is None or t.number < number for t in trials)


def reclaim_stale(study: optuna.Study, stale_after: float) -> None:
    """Fail dead workers' trials and enqueue their architectures again (Optuna's heartbeat check on
    RDB storages, then `fail_stale` for what it does not cover)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)  # a no-op without Optuna heartbeats (journal storages)
    fail_stale(study, stale_after)


def ask(study: optuna.Study) -> optuna.Trial:
    with warnings.catch_warnings():  # Optuna warns about heartbeats outside `optimize`; this loop beats itself
        warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used with Study.optimize")
        return study.ask()


def trial_heartbeat(study: optuna.Study, trial: optuna.Trial, stale_after: float):
    """One heartbeat thread for the trial's whole life, beaten at once: Optuna's own (the table it
    judges by the database's clock) on an RDB storage with heartbeats, else a `heartbeat` user
    attribute stamped with the storage's clock (journal files: one host's)."""
    storage, rdb = study_storage(study), backend(study_storage(study))
    every = rdb.get_heartbeat_interval() if isinstance(rdb, optuna.storages.RDBStorage) else None
    if every is not None:
        beat = lambda: storage.record_heartbeat(trial_id(trial))
    else:
        every = heartbeat_every(stale_after)
        beat = lambda: storage.set_trial_user_attr(trial_id(trial), "heartbeat", storage_now(storage))
    beat()  # at once: until then only fail_stale's first-seen stamp can see a dead worker
    return Heartbeat(beat, every)


def tell(study: optuna.Study, trial: optuna.Trial, value: float | None, state: TrialState) -> bool:
    """Finish a trial; False, without an error, if another worker failed it meanwhile."""
    try:
        return study.tell(trial, value, state=state, skip_if_finished=True).state == state
    except optuna.exceptions.UpdateFinishedTrialError:  # failed between tell's read and its write
        return False
