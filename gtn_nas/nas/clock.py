"""One clock for every worker: the storage's.

Heartbeats and staleness must be judged by a single clock, or a worker whose clock runs ahead of
another's by more than `--stale-after` takes live work for dead (and one that runs behind keeps
dead work forever). The database's clock is that single clock: PostgreSQL's `clock_timestamp()`,
MySQL's `NOW(6)`. SQLite has no server: its time is the host's, which is the one clock by
construction, since a SQLite file is shared only by workers on one host. It is still read through
SQLite (not Python's `time.time()`), so both paths are the same code.
"""

from __future__ import annotations

import time

import optuna

from .optuna_compat import backend

QUERIES = {
    "postgresql": "SELECT extract(epoch from clock_timestamp())",
    "mysql": "SELECT UNIX_TIMESTAMP(NOW(6))",
    "sqlite": "SELECT (julianday('now') - 2440587.5) * 86400.0",
}


def storage_now(storage: optuna.storages.BaseStorage) -> float:
    """Seconds since the epoch by the storage's clock (the host's for file storages)."""
    engine = getattr(backend(storage), "engine", None)
    query = QUERIES.get(engine.dialect.name) if engine is not None else None
    if query is None:  # a journal file: one host's clock, like SQLite
        return time.time()
    with engine.connect() as conn:
        return float(conn.exec_driver_sql(query).scalar_one())
