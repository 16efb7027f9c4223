"""A queue of architectures shared by any number of workers through an Optuna storage.

Each architecture is an enqueued (WAITING) trial carrying its `arch_id` and `spec` as user
attributes. A worker claims one by moving it WAITING -> RUNNING through the storage, which
succeeds for exactly one worker; it then writes heartbeats while it works, and completes it with
its result. A RUNNING trial whose heartbeat is older than `stale_after` seconds belonged to a
worker that died: it is failed and re-enqueued, so an interrupted run continues where it stopped
and no finished architecture is ever repeated.

The queue is filled once, by the worker that creates the study (study creation is atomic in every
Optuna storage); later workers wait until it is marked ready.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial, TrialState

from .errors import ConfigError
from .spaces import arch_id, spec_to_json

optuna.logging.set_verbosity(optuna.logging.WARNING)


def storage_url(storage: str | None, default_file: Path) -> str:
    """An Optuna storage URL: the one given, or a SQLite file (a plain path is made a sqlite URL)."""
    if storage is None:
        storage = str(default_file)
    if "://" not in storage:
        Path(storage).parent.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{Path(storage).resolve()}"
    return storage


# Messages of a lost race between workers creating the same fresh storage's tables at once.
CREATION_RACE = ("IntegrityError", "UniqueViolation", "duplicate key", "already exists", "database is locked")
HEARTBEAT_S, GRACE_S = 10, 60


def driver_url(url: str) -> str:
    """Pin a plain `postgresql://` URL to whichever PostgreSQL driver is installed.

    SQLAlchemy >= 2.1 maps `postgresql://` to psycopg 3; older set-ups have only psycopg2.
    """
    import importlib.util

    if url.startswith("postgresql://") and importlib.util.find_spec("psycopg") is None \
            and importlib.util.find_spec("psycopg2") is not None:
        return "postgresql+psycopg2://" + url.removeprefix("postgresql://")
    return url


def _open_once(url: str, heartbeat: bool) -> optuna.storages.BaseStorage:
    if url.startswith("journal://"):
        from optuna.storages.journal import JournalFileBackend

        return optuna.storages.JournalStorage(JournalFileBackend(url.removeprefix("journal://")))
    # Generous timeouts: several workers share a SQLite file.
    engine = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {"pool_pre_ping": True}
    with warnings.catch_warnings():  # heartbeats are "experimental" in Optuna: keep stderr to real messages
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        extra = {}
        if heartbeat:  # a dead worker's trial is failed and retried by Optuna itself
            extra = {"heartbeat_interval": HEARTBEAT_S, "grace_period": GRACE_S,
                     "heartbeat_stale_trial_callback": optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=3)}
        return optuna.storages.RDBStorage(driver_url(url), engine_kwargs=engine, **extra)


def open_storage(url: str, heartbeat: bool = False, attempts: int = 5) -> optuna.storages.BaseStorage:
    """An Optuna storage for `url` (RDB or `journal://FILE`).

    Workers started together on a new database race to create its tables; the loser retries.
    """
    for attempt in range(attempts):
        try:
            return _open_once(url, heartbeat)
        except Exception as exc:  # bad URL, missing driver, server down, lost creation race
            message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            if attempt == attempts - 1 or not any(m in str(exc) for m in CREATION_RACE):
                raise ConfigError(f"cannot open Optuna storage {url!r}: {message}") from None
            time.sleep(0.5 + attempt)
    raise AssertionError("unreachable")


class WorkQueue:
    def __init__(self, storage: optuna.storages.BaseStorage, study_name: str, specs: list[dict], stale_after: float = 120.0):
        self.storage, self.stale_after = storage, stale_after
        try:
            self.study = optuna.create_study(storage=storage, study_name=study_name, direction="maximize")
            self._fill(specs)
        except optuna.exceptions.DuplicatedStudyError:
            self.study = optuna.load_study(storage=storage, study_name=study_name)
            self._wait_ready(specs)

    # -- filling ---------------------------------------------------------------------------
    def _fill(self, specs: list[dict]) -> None:
        known = {t.user_attrs.get("arch_id") for t in self.study.get_trials(deepcopy=False)}
        for spec in specs:
            if arch_id(spec) not in known:
                self._enqueue(spec)
        self.study.set_user_attr("queue_ready", len(specs))

    def _enqueue(self, spec: dict, **extra) -> None:
        self.study.enqueue_trial({}, user_attrs={"arch_id": arch_id(spec), "spec": spec_to_json(spec), **extra})

    def _wait_ready(self, specs: list[dict], timeout: float = 60.0) -> None:
        deadline = time.time() + timeout
        while "queue_ready" not in self.study.user_attrs:
            if time.time() > deadline:  # the creator died while filling: finish its job
                self._fill(specs)
                return
            time.sleep(0.5)
        queued = {t.user_attrs.get("arch_id") for t in self.study.get_trials(deepcopy=False)}
        if not {arch_id(s) for s in specs} <= queued:
            raise ConfigError(f"study '{self.study.study_name}' already exists with other architectures; choose another --study-name")

    # -- claiming --------------------------------------------------------------------------
    def claim(self) -> FrozenTrial | None:
        """Take one waiting architecture, or None when none is left."""
        self.reclaim_stale()
        for t in self.study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
            try:
                won = self.storage.set_trial_state_values(t._trial_id, TrialState.RUNNING)
            except optuna.exceptions.UpdateFinishedTrialError:
                continue  # another worker claimed *and finished* it since we listed it
            if won:
                self.heartbeat(t)
                return self.storage.get_trial(t._trial_id)
        return None

    def heartbeat(self, trial: FrozenTrial) -> None:
        self.storage.set_trial_user_attr(trial._trial_id, "heartbeat", time.time())

    def complete(self, trial: FrozenTrial, value: float, attrs: dict) -> None:
        for key, val in attrs.items():
            self.storage.set_trial_user_attr(trial._trial_id, key, val)
        self.storage.set_trial_state_values(trial._trial_id, TrialState.COMPLETE, values=[value])

    def release(self, trial: FrozenTrial) -> None:
        """Give an unfinished architecture back (on Ctrl-C or error) so that another run redoes it."""
        self._fail_and_requeue(trial)

    def _fail_and_requeue(self, trial: FrozenTrial) -> None:
        try:
            self.storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
        except (RuntimeError, optuna.exceptions.UpdateFinishedTrialError):
            return  # another worker got there first and re-enqueued it
        attrs = trial.user_attrs
        self.study.enqueue_trial({}, user_attrs={"arch_id": attrs["arch_id"], "spec": attrs["spec"], "retry_of": trial.number})

    def reclaim_stale(self) -> None:
        now = time.time()
        for t in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            beat = t.user_attrs.get("heartbeat", t.datetime_start.timestamp() if t.datetime_start else now)
            if now - beat > self.stale_after:
                self._fail_and_requeue(t)

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
        return len(self.study.get_trials(deepcopy=False, states=(TrialState.WAITING, TrialState.RUNNING)))
