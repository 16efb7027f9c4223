"""The Optuna internals gtn-nas uses (gtn_nas/nas/optuna_compat.py) exist in the installed Optuna."""

import optuna
import pytest

from gtn_nas.nas import optuna_compat


def test_the_installed_optuna_has_every_internal_we_use():
    optuna_compat.check()  # raises OptunaChanged, naming each missing internal


def test_an_optuna_that_moved_an_internal_fails_loudly(monkeypatch):
    from optuna.storages._rdb import models

    monkeypatch.delattr(models, "TrialHeartbeatModel")  # as a release that moved the heartbeat table would
    with pytest.raises(optuna_compat.OptunaChanged, match="TrialHeartbeatModel") as err:
        optuna_compat.check()
    assert "\n" not in str(err.value) and optuna.__version__ in str(err.value)


def test_pyproject_caps_optuna_at_the_major_version_tested():
    import re
    import tomllib
    from pathlib import Path

    deps = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())["project"][
        "dependencies"
    ]
    [spec] = [d for d in deps if d.startswith("optuna")]
    cap = re.search(r"<\s*(\d+)", spec)
    assert cap, f"no upper bound on optuna: {spec}"
    assert int(optuna.__version__.split(".")[0]) < int(cap.group(1)), (optuna.__version__, spec)
