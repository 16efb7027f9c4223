"""PostgreSQL: two search workers share one study on a real server.

Set GTN_NAS_TEST_POSTGRES to a URL (`.ci/postgres.sh` starts a server and prints one). Without it the
test skips locally but fails when CI=1 (or CI=true), so CI cannot pass by silently skipping.
"""

from __future__ import annotations

import os
import uuid

import optuna
import pytest
from optuna.trial import TrialState
from workers import SPECS, WORKER_SPACE, check_search_study, completions_race, search_workers

from gtn_nas.nas.storage import driver_url, open_storage
from gtn_nas.nas.workqueue import WorkQueue

pytestmark = pytest.mark.scenario  # multi-process: `pytest -m "not scenario"` leaves it out

URL = os.environ.get("GTN_NAS_TEST_POSTGRES")


def _need_server():
    if not URL:
        if os.environ.get("CI", "").lower() in ("1", "true"):
            pytest.fail("CI is set but GTN_NAS_TEST_POSTGRES is not: run .ci/postgres.sh and export the URL it prints")
        pytest.skip("set GTN_NAS_TEST_POSTGRES=postgresql://USER:PASS@HOST:PORT/DB (see .ci/postgres.sh)")


def test_two_live_copies_completing_at_once_record_one_result_on_postgres(monkeypatch):
    _need_server()
    study = f"test-postgres-race-{uuid.uuid4().hex[:8]}"
    try:
        states = completions_race(lambda: WorkQueue(open_storage(URL), study, SPECS[:1], 120), monkeypatch)
        assert states == [TrialState.COMPLETE, TrialState.PRUNED]
    finally:
        optuna.delete_study(study_name=study, storage=driver_url(URL))


def test_two_search_workers_share_one_postgres_study(tmp_path, request):
    _need_server()
    teacher = request.getfixturevalue("tiny_teacher")  # built only when the test runs
    space = tmp_path / "workers.toml"
    space.write_text(WORKER_SPACE)
    study = f"test-postgres-{uuid.uuid4().hex[:8]}"  # a fresh study per run on a shared server
    try:
        search_workers(teacher, URL, study, space, tmp_path, n_trials=16)
        complete = check_search_study(driver_url(URL), study, 16)
        assert len({t.user_attrs["worker"] for t in complete}) == 2, "both workers should have completed trials"
    finally:
        try:
            optuna.delete_study(study_name=study, storage=driver_url(URL))
        except KeyError:
            pass  # the workers never created it
