"""The lock that makes each work-queue transition (read the queue, then write it) one step across
workers, and the check that a storage has one. SQLite files: an flock beside the database;
PostgreSQL: a transaction-level advisory lock. Both are released when the worker dies."""

from __future__ import annotations

import contextlib

import optuna

try:
    import fcntl
except ImportError:  # Windows: no flock, so no SQLite work queue (see require_queue_storage)
    fcntl = None

from ..core.errors import ConfigError
from .optuna_compat import backend

ADVISORY_LOCK_NS = 0x67746E  # "gtn": the first key of our PostgreSQL advisory locks (the study id is the second)
QUEUE_STORAGES = "sqlite:///FILE or postgresql://..."


def _lock_kind(storage: optuna.storages.BaseStorage) -> str | None:
    engine = getattr(backend(storage), "engine", None)
    dialect = engine.dialect.name if engine is not None else None
    if dialect == "sqlite" and engine.url.database not in (None, "", ":memory:") and fcntl is not None:
        return "flock"
    return "advisory" if dialect == "postgresql" else None


def require_queue_storage(storage: optuna.storages.BaseStorage, url: str = "") -> None:
    """Refuse a storage on which the queue could complete an architecture twice or misjudge staleness:
    journal files and MySQL have no lock here, in-memory SQLite cannot be shared."""
    if _lock_kind(storage) is None:
        shown = f" {url!r}" if url else ""
        raise ConfigError(
            f"the work queue (ground-truth, search --archs-from) needs a SQLite file or PostgreSQL storage, "
            f"which have a lock that makes each architecture complete exactly once; got{shown} "
            f"({type(storage).__name__}). Use {QUEUE_STORAGES}"
        )


@contextlib.contextmanager
def queue_lock(storage: optuna.storages.BaseStorage, study: int):
    """Serialise the queue's read-then-write transitions within a study across workers, so that
    "is this architecture complete (or queued) already?" and the write that follows are one step.
    SQLite: an flock on a file beside the database (not a SQLite transaction, which would block
    this process's own Optuna writes). PostgreSQL: a transaction-level advisory lock (a row lock on
    the study would block trial creation, which takes FOR UPDATE on it). Both die with the worker.
    Not reentrant: no transition calls another while holding it.
    """
    kind = _lock_kind(storage)
    if kind == "flock":
        with open(f"{backend(storage).engine.url.database}.complete-lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes
            yield
    elif kind == "advisory":
        from sqlalchemy import text

        with backend(storage).engine.begin() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(:ns, :study)"), {"ns": ADVISORY_LOCK_NS, "study": study})
            yield
    else:
        raise AssertionError("require_queue_storage refuses storages without a lock")


completion_lock = queue_lock  # its older name
