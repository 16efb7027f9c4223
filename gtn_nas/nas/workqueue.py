"""A queue of architectures shared by any number of workers through an Optuna storage.

Each architecture is an enqueued (WAITING) trial carrying its `arch_id` and `spec` as user
attributes. `run(score)` is the one worker loop (ground truth and search-evaluate both use it):
claim an architecture (WAITING -> RUNNING, exclusive: on SQLite every transaction takes the write
lock first, since SQLite ignores SELECT ... FOR UPDATE), heartbeat from a background thread while
scoring, complete it with the result. A RUNNING trial whose heartbeat is older than `stale_after`
seconds belonged to a worker that died: it is failed and its architecture re-enqueued.

Nothing is lost or recorded twice, whatever dies when:
- completing a trial that another worker meanwhile failed records the result on the architecture's
  live retry instead, unless the architecture is already complete (first finisher wins, no error;
  the check and the write hold `completion_lock`, so two live copies cannot both complete);
- a claimed architecture that is already complete is skipped (its trial pruned as a duplicate);
- on open, and whenever the queue looks empty, any architecture with neither a COMPLETE nor a
  WAITING/RUNNING trial is enqueued again, so a crash between "fail" and "re-enqueue" loses nothing.

Heartbeats are user attributes, so they work the same on RDB and journal storages.
"""

from __future__ import annotations

import contextlib
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial, TrialState

try:
    import fcntl
except ImportError:  # Windows: no completion lock on SQLite (see completion_lock)
    fcntl = None

from ..core.errors import ConfigError
from ..core.spaces import arch_id, spec_from_json, spec_to_json


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
HEARTBEAT_S = 10


def driver_url(url: str) -> str:
    """Pin a plain `postgresql://` URL to whichever PostgreSQL driver is installed.

    SQLAlchemy >= 2.1 maps `postgresql://` to psycopg 3; older set-ups have only psycopg2.
    """
    import importlib.util

    if (
        url.startswith("postgresql://")
        and importlib.util.find_spec("psycopg") is None
        and importlib.util.find_spec("psycopg2") is not None
    ):
        return "postgresql+psycopg2://" + url.removeprefix("postgresql://")
    return url


def _open_once(url: str, stale_after: float | None) -> optuna.storages.BaseStorage:
    if url.startswith("journal://"):
        from optuna.storages.journal import JournalFileBackend

        return optuna.storages.JournalStorage(JournalFileBackend(url.removeprefix("journal://")))
    # Generous timeouts: several workers share a SQLite file.
    engine = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {"pool_pre_ping": True}
    with warnings.catch_warnings():  # heartbeats are "experimental" in Optuna: keep stderr to real messages
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        extra = {}
        if stale_after is not None:  # a dead worker's trial is failed and retried by Optuna itself
            extra = {
                "heartbeat_interval": max(1, int(min(HEARTBEAT_S, stale_after / 4))),
                "grace_period": int(stale_after),
                "heartbeat_stale_trial_callback": optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=3),
            }
        return optuna.storages.RDBStorage(driver_url(url), engine_kwargs=engine, **extra)


def open_storage(url: str, stale_after: float | None = None, attempts: int = 5) -> optuna.storages.BaseStorage:
    """An Optuna storage for `url` (RDB or `journal://FILE`); with `stale_after`, an RDB storage gets
    Optuna's heartbeats (for `study.optimize`: a trial silent that long is failed and retried).

    Workers started together on a new database race to create its tables; the loser retries.
    """
    for attempt in range(attempts):
        try:
            return _open_once(url, stale_after)
        except Exception as exc:  # bad URL, missing driver, server down, lost creation race
            message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            if attempt == attempts - 1 or not any(m in str(exc) for m in CREATION_RACE):
                raise ConfigError(f"cannot open Optuna storage {url!r}: {message}") from None
            time.sleep(0.5 + attempt)
    raise AssertionError("unreachable")


LIVE = (TrialState.WAITING, TrialState.RUNNING)


def exclusive_sqlite(storage: optuna.storages.BaseStorage) -> None:
    """Make every SQLite transaction take the write lock at BEGIN (BEGIN IMMEDIATE).

    Optuna checks a trial's state and then updates it in one transaction, relying on SELECT ...
    FOR UPDATE, which SQLite ignores; with a deferred BEGIN two workers can both read WAITING and
    both claim the trial. (SQLAlchemy's documented recipe for serialisable SQLite.)
    """
    engine = getattr(storage, "engine", None)
    if engine is None or engine.dialect.name != "sqlite" or getattr(engine, "_gtn_exclusive", False):
        return
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _no_implicit_begin(dbapi_conn, record):
        dbapi_conn.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin_immediate(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    engine.dispose()  # pooled connections made before the listeners existed
    engine._gtn_exclusive = True


ADVISORY_LOCK_NS = 0x67746E  # "gtn": the first key of our PostgreSQL advisory locks (the study id is the second)


@contextlib.contextmanager
def completion_lock(storage: optuna.storages.BaseStorage, study_id: int):
    """Serialise completions within a study across workers, so that "is this architecture complete
    already?" and "complete it" are one step. SQLite: an flock on a file beside the database (not a
    SQLite transaction, which would block this process's own Optuna writes). PostgreSQL: a
    transaction-level advisory lock (a row lock on the study would block trial creation, which
    takes FOR UPDATE on it). Elsewhere (journal, MySQL, no fcntl) none: two live copies of one
    architecture completing at the same instant could both be COMPLETE; `completed()` keeps the first.
    """
    engine = getattr(storage, "engine", None)
    dialect = engine.dialect.name if engine is not None else None
    database = engine.url.database if dialect == "sqlite" else None
    if database and database != ":memory:" and fcntl is not None:
        with open(f"{database}.complete-lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes
            yield
    elif dialect == "postgresql":
        from sqlalchemy import text

        with engine.begin() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(:ns, :study)"), {"ns": ADVISORY_LOCK_NS, "study": study_id})
            yield
    else:
        yield


def validate_stale_after(seconds: float) -> float:
    if not seconds >= 2 or seconds != seconds or seconds == float("inf"):
        raise ConfigError(
            f"--stale-after must be a finite number of seconds >= 2 (heartbeats come every "
            f"min({HEARTBEAT_S}, stale_after/4) s); got {seconds}"
        )
    return seconds


def is_stale(trial: FrozenTrial, now: float, stale_after: float) -> bool:
    """Whether a RUNNING trial's `heartbeat` attribute (else its start) is older than `stale_after`."""
    beat = trial.user_attrs.get("heartbeat", trial.datetime_start.timestamp() if trial.datetime_start else now)
    return now - beat > stale_after


class Heartbeat:
    """Beat for one trial from a daemon thread until stopped (a context manager)."""

    def __init__(self, beat: Callable[[], None], every: float):
        self.beat, self.every, self.stop = beat, every, threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self.stop.wait(self.every):
            try:
                self.beat()
            except Exception:  # a storage hiccup; the next beat retries, and a lost claim is handled at complete
                pass

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


class WorkQueue:
    def __init__(
        self, storage: optuna.storages.BaseStorage, study_name: str, specs: list[dict], stale_after: float = 120.0
    ):
        self.storage, self.stale_after, self.specs = storage, validate_stale_after(stale_after), specs
        exclusive_sqlite(storage)
        try:
            self.study = optuna.create_study(storage=storage, study_name=study_name, direction="maximize")
            self._fill(specs)
        except optuna.exceptions.DuplicatedStudyError:
            self.study = optuna.load_study(storage=storage, study_name=study_name)
            self._wait_ready(specs)
            self.repair()

    @property
    def beat_every(self) -> float:
        return min(HEARTBEAT_S, self.stale_after / 4)

    # -- filling ---------------------------------------------------------------------------
    def _fill(self, specs: list[dict]) -> None:
        known = {t.user_attrs.get("arch_id") for t in self.study.get_trials(deepcopy=False)}
        for spec in specs:
            if arch_id(spec) not in known:
                self._enqueue(spec)
        self.study.set_user_attr("queue_ready", len(specs))

    def _enqueue(self, spec: dict, **extra) -> None:
        self._enqueue_json(arch_id(spec), spec_to_json(spec), **extra)

    def _enqueue_json(self, aid: str, spec_json: str, **extra) -> None:
        self.study.enqueue_trial({}, user_attrs={"arch_id": aid, "spec": spec_json, **extra})

    def _wait_ready(self, specs: list[dict], timeout: float = 60.0) -> None:
        deadline = time.time() + timeout
        while "queue_ready" not in self.study.user_attrs:
            if time.time() > deadline:  # the creator died while filling: finish its job
                self._fill(specs)
                return
            time.sleep(0.5)
        queued = {t.user_attrs.get("arch_id") for t in self.study.get_trials(deepcopy=False)}
        if not {arch_id(s) for s in specs} <= queued:
            raise ConfigError(
                f"study '{self.study.study_name}' already exists with other architectures; choose another --study-name"
            )

    def repair(self) -> int:
        """Enqueue again every architecture with no COMPLETE and no WAITING/RUNNING trial; returns how many."""
        trials = self.study.get_trials(deepcopy=False)
        safe = {t.user_attrs.get("arch_id") for t in trials if t.state == TrialState.COMPLETE or t.state in LIVE}
        lost = [spec for spec in self.specs if arch_id(spec) not in safe]
        for spec in lost:
            self._enqueue(spec, repaired=True)
        return len(lost)

    # -- claiming --------------------------------------------------------------------------
    def claim(self) -> FrozenTrial | None:
        """Take one waiting architecture, or None when none is left."""
        self.reclaim_stale()
        for attempt in range(2):
            complete = self._complete_ids()
            for t in self.study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
                try:
                    won = self.storage.set_trial_state_values(t._trial_id, TrialState.RUNNING)
                except optuna.exceptions.UpdateFinishedTrialError:
                    continue  # another worker claimed *and finished* it since we listed it
                if not won:
                    continue
                if t.user_attrs.get("arch_id") in complete:  # a stale duplicate: never score twice
                    self._finish(t._trial_id, TrialState.PRUNED, {"duplicate": True})
                    continue
                self.heartbeat(t)
                return self.storage.get_trial(t._trial_id)
            if attempt == 0 and not self.repair():
                break
        return None

    def heartbeat(self, trial: FrozenTrial) -> None:
        self.storage.set_trial_user_attr(trial._trial_id, "heartbeat", time.time())

    def _complete_ids(self) -> set[str]:
        return {
            t.user_attrs.get("arch_id") for t in self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        }

    def _finish(self, trial_id: int, state: TrialState, attrs: dict, value: float | None = None) -> bool:
        """Set attributes and a final state; False if the trial was finished by someone else meanwhile."""
        try:
            for key, val in attrs.items():
                self.storage.set_trial_user_attr(trial_id, key, val)
            self.storage.set_trial_state_values(trial_id, state, values=None if value is None else [value])
            return True
        except (RuntimeError, optuna.exceptions.UpdateFinishedTrialError):
            return False

    def complete(self, trial: FrozenTrial, value: float, attrs: dict) -> bool:
        """Record a result once per architecture. If this trial was reclaimed meanwhile, the result goes
        to the architecture's live retry; if the architecture is complete already, it is dropped.
        Returns whether this call recorded it. Atomic under `completion_lock` (SQLite, PostgreSQL)."""
        with completion_lock(self.storage, self.study._study_id):
            return self._complete(trial, value, attrs)

    def _complete(self, trial: FrozenTrial, value: float, attrs: dict) -> bool:
        aid = trial.user_attrs["arch_id"]
        if aid in self._complete_ids():  # two live copies (repaired twice at once): the first result stands
            self._finish(trial._trial_id, TrialState.PRUNED, {"duplicate": True})
            return False
        if self._finish(trial._trial_id, TrialState.COMPLETE, attrs, value):
            return True
        for _ in range(10):
            trials = [t for t in self.study.get_trials(deepcopy=False) if t.user_attrs.get("arch_id") == aid]
            if any(t.state == TrialState.COMPLETE for t in trials):
                return False  # someone finished first
            live = [t for t in trials if t.state in LIVE]
            if not live:
                self._enqueue_json(aid, trial.user_attrs["spec"], retry_of=trial.number)
                continue
            if self._finish(live[0]._trial_id, TrialState.COMPLETE, {**attrs, "result_of": trial.number}, value):
                return True
        return False

    def release(self, trial: FrozenTrial) -> None:
        """Give an unfinished architecture back (on Ctrl-C or error) so that another run redoes it."""
        self._fail_and_requeue(trial)

    def _fail_and_requeue(self, trial: FrozenTrial) -> None:
        # Two writes; a crash between them is healed by repair() on the next open or empty claim.
        if not self._finish(trial._trial_id, TrialState.FAIL, {}):
            return  # another worker got there first and re-enqueued it
        self._enqueue_json(trial.user_attrs["arch_id"], trial.user_attrs["spec"], retry_of=trial.number)

    def reclaim_stale(self) -> None:
        now = time.time()
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
        recorded. On any exception (Ctrl-C included) the claimed architecture is given back."""
        done = 0
        while max_archs is None or done < max_archs:
            trial = self.claim()
            if trial is None:
                break
            try:
                with Heartbeat(lambda: self.heartbeat(trial), self.beat_every):
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
