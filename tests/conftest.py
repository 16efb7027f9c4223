"""Shared fixtures. Tests use the real MNIST files: set GTN_NAS_DATA (CI points it at them)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
import torch

from gtn_nas.core.data import load_mnist

FIXTURES = Path(__file__).parent / "fixtures"
TINY_SPACE = str(FIXTURES / "tiny.toml")


@pytest.fixture(scope="session")
def mnist():
    return load_mnist(download=False)


@pytest.fixture(scope="session")
def small_mnist(mnist):
    """Real MNIST cut down so that CLI-level tests run in seconds."""
    from gtn_nas.core.data import MNIST

    return MNIST(mnist.train.subset(2000, 0), mnist.val.subset(500, 0), mnist.test.subset(500, 0))


@pytest.fixture(scope="session", autouse=True)
def _postgres_schema():
    """The pytest-xdist workers share the test server: create Optuna's tables once, under a file
    lock, before two first connections race to create them (a duplicate-type error on PostgreSQL)."""
    url = os.environ.get("GTN_NAS_TEST_POSTGRES")
    if not url:
        return
    import fcntl

    import optuna

    from gtn_nas.nas.storage import driver_url

    with open(Path(tempfile.gettempdir()) / "gtn-nas-test-postgres.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            optuna.storages.RDBStorage(driver_url(url))
        except Exception:  # noqa: BLE001  (an unreachable server is tests/nas/test_postgres.py's to report)
            pass


@pytest.fixture(autouse=True)
def _single_thread():
    # Two CI cores: keep tests from oversubscribing them.
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_teachers(tmp_path_factory, small_mnist):
    """A generator and a pixel teacher, one meta-step of gradient matching each (T=2, B=10)."""
    from gtn_nas.teachers.config import DistillConfig
    from gtn_nas.teachers.distillation import Distiller
    from gtn_nas.teachers.generator import TeacherConfig

    folder = tmp_path_factory.mktemp("teachers")
    paths = {}
    for kind in ("generator", "pixels"):
        cfg = DistillConfig(
            method="gm",
            teacher=TeacherConfig(kind=kind, inner_steps=2, batch_size=10, init="noise"),
            meta_steps=1,
            space=TINY_SPACE,
            eval_every=1000,
            eval_students=1,
            eval_examples=200,
            calibrate=False,  # the calibration grid is tested on its own; here it only costs seconds per worker
        )
        paths[kind] = folder / f"{kind}.pt"
        Distiller(cfg, small_mnist, torch.device("cpu")).run(paths[kind])
    return paths


@pytest.fixture(scope="session")
def tiny_teacher(tiny_teachers):
    return tiny_teachers["generator"]
