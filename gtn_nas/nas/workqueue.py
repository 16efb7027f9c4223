"""A queue of architectures shared by any number of workers through an Optuna storage.

Each architecture is an enqueued (WAITING) trial carrying its `arch_id` and `spec` as user
attributes. `run(score)` is the one worker loop (ground truth and search-evaluate both use it):
claim an architecture (WAITING -> RUNNING, exclusive: on SQLite every transaction takes the write
lock first, since SQLite ignores SELECT ... FOR UPDATE), heartbeat from a background thread while
scoring, complete it with the result. A RUNNING trial whose heartbeat is older than `stale_after`
seconds belonged to a worker that died: it is failed and its architecture re-enqueued.

Nothing is lost or recorded twice, whatever dies when:
- every transition that reads the queue before writing it (fill, complete, fail + re-enqueue,
  repair) holds `queue_lock`, so no interleaving of workers can enqueue an architecture twice or
  complete it twice; a worker killed inside one releases the lock with its process (or connection);
- completing a trial that another worker meanwhile failed records the result on the architecture's
  live retry instead, unless the architecture is already complete (first finisher wins, no error);
- a claimed architecture that is already complete is skipped (its trial pruned as a duplicate);
- on open, and whenever the queue looks empty, any architecture with neither a COMPLETE nor a
  WAITING/RUNNING trial is enqueued again, so a crash between "fail" and "re-enqueue" loses nothing;
- a worker killed outside scoring leaves a RUNNING trial that is reclaimable `stale_after` seconds
  after its last heartbeat; until then `pending()` reports it, so no run can claim to be finished.

Heartbeats are user attributes stamped with the storage's clock (`clock.storage_now`), so workers
on hosts with skewed clocks agree on what is stale. Only SQLite and PostgreSQL storages are
accepted: they have both the lock and the clock (`require_queue_storage`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import optuna
from optuna.trial import FrozenTrial, TrialState

from ..core.errors import ConfigError
from ..core.spaces import arch_id, spec_from_json, spec_to_json
from .clock import storage_now
from .heartbeat import Heartbeat, is_stale, last_beat, validate_stale_after
from .optuna_compat import study_id, trial_id
from .queue_lock import queue_lock, require_queue_storage
from .storage import HEARTBEAT_S, exclusive_sqlite, heartbeat_every

LIVE = (TrialState.WAITING, TrialState.RUNNING)


@dataclass(frozen=True)
class Pending:
    """What a queue still lacks: architectures with no COMPLETE trial, by why."""

    total: int
    complete: int
    waiting: int  # enqueued, nobody on them: a rerun (or another worker) takes them
    claimed: int  # RUNNING under a worker that is alive or not yet known dead
    lost: int  # neither complete nor live: the next run's repair enqueues them again
    reclaimable_in: float | None  # seconds until the first claimed one is stale, if its worker is dead

    @property
    def done(self) -> bool:
        return self.complete == self.total

    def describe(self, noun: str = "architectures") -> str:
        parts = []
        if self.claimed:
            parts.append(
                f"{self.claimed} claimed by other workers (reclaimable in {math.ceil(self.reclaimable_in)} s "
                "if those workers died)"
            )
        if self.waiting:
            parts.append(f"{self.waiting} waiting")
        if self.lost:
            parts.append(f"{self.lost} to be enqueued again")
        missing = self.total - self.complete
        return (
            f"{self.complete} of {self.total} {noun} done; {missing} not yet: {', '.join(parts)}. "
            "Rerun the same command (with --wait to wait for claimed ones) to finish"
        )


class WorkQueue:
    def __init__(
        self, storage: optuna.storages.BaseStorage, study_name: str, specs: list[dict], stale_after: float = 120.0
    ):
        require_queue_storage(storage)
        self.storage, self.stale_after, self.specs = storage, validate_stale_after(stale_after), specs
        exclusive_sqlite(storage)
        try:
            self.study = optuna.create_study(storage=storage, study_name=study_name, direction="maximize")
        except optuna.exceptions.DuplicatedStudyError:
            self.study = optuna.load_study(storage=storage, study_name=study_name)
        self._open(specs)

    @property
    def beat_every(self) -> float:
        return heartbeat_every(self.stale_after)

    def _lock(self):
        return queue_lock(self.storage, study_id(self.study))

    def now(self) -> float:
        return storage_now(self.storage)

    # -- filling ---------------------------------------------------------------------------
    def _open(self, specs: list[dict]) -> None:
        """Fill the queue exactly once: whoever holds the lock first while it is unfilled fills it
        (the creator, or a later worker if the creator died mid-fill), then repair what was lost."""
        with self._lock():
            if "queue_ready" not in self.study.user_attrs:
                self._fill(specs)
                return
        queued = {t.user_attrs.get("arch_id") for t in self.study.get_trials(deepcopy=False)}
        if not {arch_id(s) for s in specs} <= queued:
            raise ConfigError(
                f"study '{self.study.study_name}' already exists with other architectures; choose another --study-name"
            )
        self.repair()

    def _fill(self, specs: list[dict]) -> None:  # under the lock
        known = {t.user_attrs.get("arch_id") for t in self.study.get_trials(deepcopy=False)}
        for spec in specs:
            if arch_id(spec) not in known:
                self._enqueue(spec)
        self.study.set_user_attr("queue_ready", len(specs))

    def _enqueue(self, spec: dict, **extra) -> None:
        self._enqueue_json(arch_id(spec), spec_to_json(spec), **extra)

    def _enqueue_json(self, aid: str, spec_json: str, **extra) -> None:
        self.study.enqueue_trial({}, user_attrs={"arch_id": aid, "spec": spec_json, **extra})

    def repair(self) -> int:
        """Enqueue again every architecture with no COMPLETE and no WAITING/RUNNING trial; returns how many."""
        with self._lock():
            lost = self._lost(self.study.get_trials(deepcopy=False))
            for spec in lost:
                self._enqueue(spec, repaired=True)
        return len(lost)

    def _lost(self, trials: list[FrozenTrial]) -> list[dict]:
        safe = {t.user_attrs.get("arch_id") for t in trials if t.state == TrialState.COMPLETE or t.state in LIVE}
        return [spec for spec in self.specs if arch_id(spec) not in safe]

    # -- claiming --------------------------------------------------------------------------
    def claim(self) -> FrozenTrial | None:
        """Take one waiting architecture, or None when none is left."""
        self.reclaim_stale()
        for attempt in range(2):
            complete = self._complete_ids()
            for t in self.study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
                tid = trial_id(t)
                try:
                    # Beat before taking it, so that a claimed trial always has a beat on the storage's
                    # clock (Optuna's datetime_start is this worker's), even if we die right after.
                    self.storage.set_trial_user_attr(tid, "heartbeat", self.now())
                    won = self.storage.set_trial_state_values(tid, TrialState.RUNNING)
                except optuna.exceptions.UpdateFinishedTrialError:
                    continue  # another worker claimed *and finished* it since we listed it
                if not won:
                    continue
                if t.user_attrs.get("arch_id") in complete:  # a stale duplicate: never score twice
                    self._finish(tid, TrialState.PRUNED, {"duplicate": True})
                    continue
                return self.storage.get_trial(tid)
            if attempt == 0 and not self.repair():
                break
        return None

    def heartbeat(self, trial: FrozenTrial) -> None:
        self.storage.set_trial_user_attr(trial_id(trial), "heartbeat", self.now())

    def _complete_ids(self) -> set[str]:
        return {
            t.user_attrs.get("arch_id") for t in self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        }

    def _finish(self, tid: int, state: TrialState, attrs: dict, value: float | None = None) -> bool:
        """Set attributes and a final state; False if the trial was finished by someone else meanwhile.
        A worker killed between the two leaves a RUNNING trial with some attributes: it goes stale
        and is redone like any other."""
        try:
            for key, val in attrs.items():
                self.storage.set_trial_user_attr(tid, key, val)
            self.storage.set_trial_state_values(tid, state, values=None if value is None else [value])
            return True
        except (RuntimeError, optuna.exceptions.UpdateFinishedTrialError):
            return False

    def complete(self, trial: FrozenTrial, value: float, attrs: dict) -> bool:
        """Record a result once per architecture. If this trial was reclaimed meanwhile, the result goes
        to the architecture's live retry; if the architecture is complete already, it is dropped.
        Returns whether this call recorded it. Atomic under `queue_lock`."""
        with self._lock():
            return self._complete(trial, value, attrs)

    def _complete(self, trial: FrozenTrial, value: float, attrs: dict) -> bool:
        aid = trial.user_attrs["arch_id"]
        if aid in self._complete_ids():  # two live copies (an older queue's double repair): the first result stands
            self._finish(trial_id(trial), TrialState.PRUNED, {"duplicate": True})
            return False
        if self._finish(trial_id(trial), TrialState.COMPLETE, attrs, value):
            return True
        for _ in range(10):
            trials = [t for t in self.study.get_trials(deepcopy=False) if t.user_attrs.get("arch_id") == aid]
            if any(t.state == TrialState.COMPLETE for t in trials):
                return False  # someone finished first
            live = [t for t in trials if t.state in LIVE]
            if not live:
                self._enqueue_json(aid, trial.user_attrs["spec"], retry_of=trial.number)
                continue
            if self._finish(trial_id(live[0]), TrialState.COMPLETE, {**attrs, "result_of": trial.number}, value):
                return True
        return False

    def release(self, trial: FrozenTrial) -> None:
        """Give an unfinished architecture back (on Ctrl-C or error) so that another run redoes it."""
        self._fail_and_requeue(trial)

    def _fail_and_requeue(self, trial: FrozenTrial) -> None:
        """FAIL the trial and enqueue its architecture again, as one step under the lock: only the
        worker whose FAIL wins enqueues, and only if no live or complete copy exists (a concurrent
        repair cannot add a second). Killed between the two writes, it leaves no copy, which the next
        repair (under the same lock) restores."""
        with self._lock():
            if not self._finish(trial_id(trial), TrialState.FAIL, {}):
                return  # another worker got there first and re-enqueued it
            aid = trial.user_attrs["arch_id"]
            others = [t for t in self.study.get_trials(deepcopy=False) if t.user_attrs.get("arch_id") == aid]
            if not any(t.state == TrialState.COMPLETE or t.state in LIVE for t in others):
                self._enqueue_json(aid, trial.user_attrs["spec"], retry_of=trial.number)

    def reclaim_stale(self) -> None:
        now = self.now()
        for t in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            if is_stale(t, now, self.stale_after):
                self._fail_and_requeue(t)

    # -- the worker loop -------------------------------------------------------------------
    def run(
        self,
        score: Callable[[dict], tuple[float, dict]],
        max_archs: int | None = None,
        on_done: Callable[[str, dict], None] | None = None,
    ) -> int:
        """Claim, score (`score(spec) -> (value, attrs)`, heartbeating meanwhile) and complete
        architectures until none is left or this worker has done `max_archs`; returns how many it
        recorded. On any exception (Ctrl-C included) the claimed architecture is given back.
        Returning does not mean the queue is done: see `pending()`."""
        done = 0
        while max_archs is None or done < max_archs:
            trial = self.claim()
            if trial is None:
                break
            try:
                with Heartbeat(lambda t=trial: self.heartbeat(t), self.beat_every):
                    value, attrs = score(spec_from_json(trial.user_attrs["spec"]))
            except BaseException:
                self.release(trial)
                raise
            if self.complete(trial, value, attrs):
                done += 1
                if on_done is not None:
                    on_done(trial.user_attrs["arch_id"], attrs)
        return done

    # -- results ---------------------------------------------------------------------------
    def completed(self) -> list[FrozenTrial]:
        """Completed trials, one per architecture (the first if a retry raced), in queue order."""
        seen, out = set(), []
        for t in self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            if t.user_attrs["arch_id"] not in seen:
                seen.add(t.user_attrs["arch_id"])
                out.append(t)
        return out

    def remaining(self) -> int:
        return len(self.study.get_trials(deepcopy=False, states=LIVE))

    def pending(self) -> Pending:
        """What is not complete yet, and when claimed architectures become reclaimable (storage clock)."""
        trials, now = self.study.get_trials(deepcopy=False), self.now()
        complete = {t.user_attrs.get("arch_id") for t in trials if t.state == TrialState.COMPLETE}
        wanted = {arch_id(s) for s in self.specs}
        running = [t for t in trials if t.state == TrialState.RUNNING and t.user_attrs.get("arch_id") not in complete]
        claimed = {t.user_attrs.get("arch_id") for t in running}
        waiting = {t.user_attrs.get("arch_id") for t in trials if t.state == TrialState.WAITING} - complete - claimed
        stale_at = [last_beat(t, now) + self.stale_after for t in running]
        return Pending(
            total=len(wanted),
            complete=len(wanted & complete),
            waiting=len(wanted & waiting),
            claimed=len(wanted & claimed),
            lost=len(self._lost(trials)),
            reclaimable_in=max(0.0, min(stale_at) - now) if stale_at else None,
        )


def wait_for_queue(
    run_once: Callable[[], Pending], wait: bool, poll: float = HEARTBEAT_S, sleep: Callable[[float], None] = time.sleep
) -> Pending:
    """Run a worker (`run_once`, returning the queue's `Pending`) and, with `wait`, run it again
    whenever architectures claimed by other workers may have become reclaimable, until every
    architecture is complete. While a live worker keeps its claim fresh we poll every `poll` s
    (callers pass the heartbeat interval), so its finished work is seen within one beat."""
    left = run_once()
    while wait and not left.done:
        sleep(min(poll, max(1.0, (left.reclaimable_in or 0.0) + 0.5)))
        left = run_once()
    return left
