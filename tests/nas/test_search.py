"""Search: proxies, Optuna studies shared by concurrent workers, and the search command's errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import optuna
import pytest
import torch
from conftest import TINY_SPACE
from optuna.trial import TrialState

from gtn_nas.core.spaces import arch_id, load_space, parse_space
from gtn_nas.nas.proxies import ProxySettings, make_proxy
from gtn_nas.nas.search import (
    ArchEncoding,
    open_search_study,
    run_search,
)
from gtn_nas.nas.shared_trials import open_search_storage, reclaim_stale, search_pending
from gtn_nas.nas.storage import driver_url

# 16 quick MLPs: enough distinct architectures that two workers overlap in time.


def gtn_nas(*args: str) -> list[str]:
    return [sys.executable, "-m", "gtn_nas", *args]


def test_the_api_prints_nothing(tmp_path, small_mnist, capfd):
    import logging

    from gtn_nas import api

    before = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.INFO)  # as in a fresh notebook
    # Optuna's handler kept the stderr of its first use (pytest's collection-time capture): point it here.
    streams = [
        (h, h.setStream(sys.stderr))
        for h in logging.getLogger("optuna").handlers
        if isinstance(h, logging.StreamHandler)
    ]
    try:
        run = api.search(
            TINY_SPACE,
            ProxySettings(kind="params"),
            tmp_path / "quiet.csv",
            n_trials=2,
            sampler="random",
            data=small_mnist,
            device="cpu",
        )
        assert len(run.study.get_trials(states=(TrialState.COMPLETE,))) == 2
        assert capfd.readouterr() == ("", "")  # no "A new study created", no "Trial 0 finished"
        assert optuna.logging.get_verbosity() == optuna.logging.INFO  # the caller's level is back
    finally:
        optuna.logging.set_verbosity(before)
        for handler, stream in streams:
            handler.setStream(stream)


def test_random_search_is_deterministic_for_a_seed(tmp_path, small_mnist):
    space = load_space(TINY_SPACE)
    proxy = make_proxy(ProxySettings(kind="params"), small_mnist, torch.device("cpu"))
    picks = []
    for i in range(2):
        # A journal-file storage: fast, and the other storage family Optuna offers for several workers.
        study = open_search_study(open_search_storage(f"journal://{tmp_path / f'{i}.log'}"), "d", "tpe", seed=3)
        run_search(study, proxy, space, 5, tmp_path / f"{i}.csv")
        picks.append([t.user_attrs["arch_id"] for t in study.get_trials()])
    assert picks[0] == picks[1]


def test_encoding_uses_keys_for_grids_and_ids_otherwise():
    grid = ArchEncoding(load_space(TINY_SPACE))
    assert grid.structured and set(grid.families) == {"mlp", "conv"}
    ragged = parse_space(
        {
            "arch": [
                {"family": "mlp", "depth": 0, "width": 8, "activation": "relu", "norm": "none"},
                {"family": "mlp", "depth": 1, "width": 16, "activation": "tanh", "norm": "none"},
            ]
        },
        "x",
    )
    enc = ArchEncoding(ragged)
    assert not enc.structured
    trial = optuna.create_study().ask()
    assert arch_id(enc.suggest(trial)) in ragged.ids() and list(trial.params) == ["arch"]


def test_postgres_urls_get_an_installed_driver():
    url = driver_url("postgresql://u:p@127.0.0.1:5/db")
    assert url.startswith("postgresql") and url.endswith("://u:p@127.0.0.1:5/db")
    assert driver_url("sqlite:///x.db") == "sqlite:///x.db"


# -- the command line: one-line errors ---------------------------------------------------------------


def bad_inputs(tmp_path: Path) -> dict[str, tuple[list[str], str]]:
    bad_space = tmp_path / "bad.toml"
    bad_space.write_text('[[grid]]\nfamily = "conv"\ndepth = [1]\n')
    not_teacher = tmp_path / "model.pt"
    torch.save({"weights": torch.zeros(3)}, not_teacher)
    return {
        "bad-space": (["--proxy", "params", "--space", str(bad_space)], "grid[0]: missing key 'width'"),
        "unknown-proxy": (
            ["--proxy", "zero-shot"],
            "--proxy must be one of teacher, real, subset, params, synflow, naswot, fused; got 'zero-shot'",
        ),
        "not-a-teacher": (["--teacher", str(not_teacher)], "not a gtn-nas teacher checkpoint"),
        "garbage-teacher": (["--teacher", str(bad_space)], f"error: {bad_space}: "),
    }


@pytest.mark.parametrize("case", ["bad-space", "unknown-proxy", "not-a-teacher", "garbage-teacher"])
def test_search_errors_are_one_line(tmp_path, case, monkeypatch, capsys):
    """Through the real entry point (`gtn_nas.cli.main`), in-process for speed."""
    from gtn_nas.cli.commands import main

    args, needle = bad_inputs(tmp_path)[case]
    monkeypatch.setattr(sys, "argv", ["gtn-nas", "search", "--out", str(tmp_path / "o.csv"), *args])
    with pytest.raises(SystemExit) as exit_:
        main()
    err = capsys.readouterr().err
    assert exit_.value.code == 2
    assert err.count("\n") == 1 and err.startswith("error: ") and needle in err, err
    assert not (tmp_path / "o.csv").exists()


def test_search_error_in_a_subprocess_is_one_line_on_stderr(tmp_path):
    args, needle = bad_inputs(tmp_path)["not-a-teacher"]
    run = subprocess.run(
        gtn_nas("search", "--out", str(tmp_path / "o.csv"), *args), capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.count("\n") == 1 and run.stderr.startswith("error: ") and needle in run.stderr, run.stderr


def test_ctrl_c_inside_tell_frees_the_trials_slot_at_once(tmp_path, small_mnist, monkeypatch):
    """A Ctrl-C while Optuna records the trial's end: the trial is failed on the way out, instead of
    holding a budget slot until its heartbeat's grace period ends."""
    space = load_space(TINY_SPACE)
    study = open_search_study(open_search_storage(f"sqlite:///{tmp_path / 'tell.db'}"), "tell", "random", seed=0)
    proxy = make_proxy(ProxySettings(kind="params"), small_mnist, torch.device("cpu"))
    real_tell = optuna.Study.tell

    def interrupted_tell(self, trial, *args, state=None, **kwargs):
        if state == TrialState.COMPLETE:  # the fault: Ctrl-C arrives inside tell, before its write
            raise KeyboardInterrupt
        return real_tell(self, trial, *args, state=state, **kwargs)

    monkeypatch.setattr(optuna.Study, "tell", interrupted_tell)
    with pytest.raises(KeyboardInterrupt):
        run_search(study, proxy, space, 3, tmp_path / "tell.csv")
    assert [t.state for t in study.get_trials()] == [TrialState.FAIL]


@pytest.mark.filterwarnings("ignore:Heartbeat of storage is supposed to be used with Study.optimize")
def test_a_search_worker_whose_clock_runs_behind_does_not_reclaim_live_trials(tmp_path, monkeypatch):
    """Staleness is judged by the storage's clock: a worker 1000 s behind (or ahead) cannot take a
    live trial for dead, and its own beats are not stamped in the past."""
    import time

    from gtn_nas.nas.shared_trials import trial_heartbeat

    # No Optuna heartbeats (as the work queue's storages): beats are user attributes, by SQLite's clock.
    storage = open_search_storage(f"sqlite:///{tmp_path / 'skew.db'}", stale_after=None)
    study = open_search_study(storage, "skew", "random", seed=0)
    live = study.ask()  # a live worker's trial
    live.suggest_categorical("arch", ["a", "b"])

    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() - 1000)  # this worker's clock
    with trial_heartbeat(study, live, stale_after=2):
        pass
    monkeypatch.setattr(time, "time", lambda: real() + 1000)
    reclaim_stale(study, 2)
    assert [t.state for t in study.get_trials()] == [TrialState.RUNNING]


def test_search_pending_says_when_a_dead_workers_trial_becomes_reclaimable(tmp_path, small_mnist):
    space = load_space(TINY_SPACE)
    study = open_search_study(open_search_storage(f"sqlite:///{tmp_path / 'p.db'}"), "p", "random", seed=0)
    proxy = make_proxy(ProxySettings(kind="params"), small_mnist, torch.device("cpu"))
    run_search(study, proxy, space, 2, tmp_path / "p.csv", stale_after=30)
    dead = study.ask()  # another worker took the third slot and died
    ArchEncoding(space).suggest(dead)
    reclaim_stale(study, 30)
    left = search_pending(study, 3, stale_after=30)
    assert (left.complete, left.claimed, left.done) == (2, 1, False) and 25 < left.reclaimable_in <= 31
    assert "2 of 3 trials done" in left.describe("trials") and "reclaimable in" in left.describe("trials")
