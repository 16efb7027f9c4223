"""Opening the Optuna storages that studies and work queues live in: a SQLite file by default, any
RDB URL (PostgreSQL for several hosts), `journal://FILE`; workers racing to create a fresh database's
tables retry, and SQLite transactions are made exclusive where a queue needs them to be.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import optuna

from ..core.errors import ConfigError


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


def heartbeat_every(stale_after: float) -> float:
    """Seconds between a live worker's heartbeats: at most HEARTBEAT_S, and four to a `stale_after`,
    so one late beat never makes a live claim look dead. Waiting workers poll as often."""
    return min(HEARTBEAT_S, stale_after / 4)


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
                "heartbeat_interval": max(1, int(heartbeat_every(stale_after))),
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
