"""Every Optuna private internal gtn-nas relies on, in one place.

Optuna offers no public way to name a trial or study by its storage id, to reach a study's storage,
or to read its RDB heartbeat table; the work queue and the search loop need all three. Each use
goes through a function here, and `check()` (run by tests/nas/test_optuna_compat.py) fails loudly,
naming what moved, on an Optuna release that changed them. pyproject caps optuna at the newest
major release tested.
"""

from __future__ import annotations

import datetime

import optuna

from ..core.errors import GtnNasError


class OptunaChanged(GtnNasError):
    """The installed Optuna lacks an internal that gtn-nas uses."""


def trial_id(trial) -> int:
    """A trial's storage id (FrozenTrial and Trial both keep it private)."""
    return trial._trial_id


def study_id(study: optuna.Study) -> int:
    return study._study_id


def study_storage(study: optuna.Study) -> optuna.storages.BaseStorage:
    """The storage a study reads and writes through (Optuna wraps an RDBStorage in a cache)."""
    return study._storage


def backend(storage: optuna.storages.BaseStorage) -> optuna.storages.BaseStorage:
    """The storage under Optuna's cache wrapper (`_CachedStorage._backend`), for its engine and
    heartbeat settings; writes keep going through the wrapper, so that its cache stays true."""
    return getattr(storage, "_backend", storage)


def heartbeat_ages(storage: optuna.storages.BaseStorage) -> dict[int, float]:
    """Seconds since each trial's Optuna heartbeat, by the database's own clock (as Optuna judges
    them); empty for storages without Optuna heartbeats."""
    if not isinstance(storage, optuna.storages.RDBStorage) or storage.get_heartbeat_interval() is None:
        return {}
    import sqlalchemy
    from optuna.storages._rdb.models import TrialHeartbeatModel

    query = sqlalchemy.select(TrialHeartbeatModel.trial_id, TrialHeartbeatModel.heartbeat, sqlalchemy.func.now())
    with storage.engine.connect() as conn:
        rows = conn.execute(query).all()
    return {tid: _seconds(now) - _seconds(beat) for tid, beat, now in rows}


def _seconds(moment: datetime.datetime) -> float:
    # Optuna strips time zones before comparing heartbeats (PostgreSQL returns aware ones); so do we.
    return moment.replace(tzinfo=None).timestamp()


def check() -> None:
    """Raise OptunaChanged unless every internal above works in the installed Optuna (on a throwaway
    in-memory SQLite study with heartbeats)."""
    import warnings

    missing = []
    with warnings.catch_warnings():  # heartbeats are "experimental", and meant for `optimize`
        warnings.simplefilter("ignore")
        storage = optuna.storages.RDBStorage("sqlite:///:memory:", heartbeat_interval=60)
        verbosity = optuna.logging.get_verbosity()
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        try:
            study = optuna.create_study(storage=storage)
            trial = study.ask()
        finally:
            optuna.logging.set_verbosity(verbosity)
    for name, get in (
        ("Trial._trial_id", lambda: trial_id(trial)),
        ("FrozenTrial._trial_id", lambda: trial_id(study.get_trials(deepcopy=False)[0])),
        ("Study._study_id", lambda: study_id(study)),
        ("Study._storage", lambda: isinstance(study_storage(study), optuna.storages.BaseStorage) or None),
        ("_CachedStorage._backend", lambda: backend(study_storage(study)) is storage or None),
        ("RDBStorage.engine", lambda: storage.engine.dialect.name == "sqlite" or None),
        ("optuna.storages._rdb.models.TrialHeartbeatModel", lambda: _beats(storage, trial)),
    ):
        try:
            ok = get() is not None
        except (AttributeError, ImportError, TypeError):
            ok = False
        if not ok:
            missing.append(name)
    if missing:
        raise OptunaChanged(
            f"optuna {optuna.__version__} changed internals gtn-nas uses: {', '.join(missing)} "
            "(see gtn_nas/nas/optuna_compat.py; install an optuna within pyproject.toml's bounds)"
        )


def _beats(storage, trial) -> bool | None:
    storage.record_heartbeat(trial._trial_id)
    return True if 0 <= heartbeat_ages(storage).get(trial._trial_id, -1) < 60 else None
