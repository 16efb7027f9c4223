"""Ground truth through an Optuna SQLite study: resume and crash recovery without repeats."""

import subprocess
import sys
import time

import pandas as pd
from conftest import TINY_SPACE
from optuna.trial import TrialState

from gtn_nas.core.spaces import load_space
from gtn_nas.core.training import FullTraining
from gtn_nas.nas.ground_truth import GroundTruthConfig, run_ground_truth
from gtn_nas.nas.storage import open_storage, storage_url
from gtn_nas.nas.workqueue import WorkQueue

CFG = GroundTruthConfig(FullTraining(epochs=1, batch_size=50), seeds=(0, 1), train_examples=300)


def _queue(tmp_path, stale_after=120.0):
    specs = list(load_space(TINY_SPACE).archs)
    return WorkQueue(open_storage(storage_url(None, tmp_path / "gt.db")), "gt", specs, stale_after), specs


def _completions(queue):
    done = [t.user_attrs["arch_id"] for t in queue.study.get_trials(states=(TrialState.COMPLETE,))]
    return done


def test_interrupted_run_resumes_without_repeating(small_mnist, tmp_path):
    queue, specs = _queue(tmp_path)
    first = run_ground_truth(queue, small_mnist, CFG, tmp_path / "gt.csv", "cpu", max_archs=2)
    assert len(first) == 2
    queue, _ = _queue(tmp_path)  # a new process opening the same study
    final = run_ground_truth(queue, small_mnist, CFG, tmp_path / "gt.csv", "cpu")
    assert sorted(_completions(queue)) == sorted({a for a in _completions(queue)})  # nothing done twice
    assert len(final) == len(specs) and final["arch_id"].is_unique
    # the first two rows are the results recorded before the interruption, not recomputed ones
    pd.testing.assert_frame_equal(final.iloc[:2].reset_index(drop=True), first.reset_index(drop=True))
    on_disk = pd.read_csv(tmp_path / "gt.csv")
    assert {"arch_id", "spec", "params", "val_acc", "val_acc_sd", "test_acc", "seconds"} <= set(on_disk.columns)
    assert (on_disk["val_acc"].between(0, 1)).all() and (on_disk["val_acc_sd"] >= 0).all()


def test_crashed_worker_architecture_is_redone(small_mnist, tmp_path):
    queue, specs = _queue(tmp_path)
    lost = queue.claim()  # a worker claims an architecture and dies without a word
    assert lost is not None
    queue.storage.set_trial_user_attr(lost._trial_id, "heartbeat", time.time() - 1000)  # ... long ago
    queue, _ = _queue(tmp_path, stale_after=2.0)
    final = run_ground_truth(queue, small_mnist, CFG, tmp_path / "gt.csv", "cpu")
    assert lost.user_attrs["arch_id"] in set(final["arch_id"])
    assert len(final) == len(specs) and sorted(_completions(queue)) == sorted(final["arch_id"])
    assert queue.study.get_trials(states=(TrialState.FAIL,))[0].number == lost.number


def test_ground_truth_cli(tmp_path):
    out = tmp_path / "gt.csv"
    cmd = [
        sys.executable,
        "-m",
        "gtn_nas",
        "ground-truth",
        "--space",
        TINY_SPACE,
        "--n-archs",
        "2",
        "--epochs",
        "1",
        "--seeds",
        "2",
        "--train-examples",
        "200",
        "--out",
        str(out),
    ]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    frame = pd.read_csv(out)
    assert len(frame) == 2 and (frame["n_seeds"] == 2).all()
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=300)  # nothing left to do
    assert again.returncode == 0 and pd.read_csv(out).equals(frame)


def test_train_examples_beyond_the_training_split_are_refused(small_mnist, tmp_path):
    import pytest

    from gtn_nas.core.errors import ConfigError
    from gtn_nas.nas.ground_truth import TRAIN_SPLIT

    assert TRAIN_SPLIT == 50_000
    for n in (TRAIN_SPLIT + 1, 60_000, 0):  # 60000 trained on 50k under a study named n60000
        with pytest.raises(ConfigError, match="--train-examples"):
            GroundTruthConfig(train_examples=n)
    GroundTruthConfig(train_examples=TRAIN_SPLIT)
    queue, _ = _queue(tmp_path)
    with pytest.raises(ConfigError, match="exceeds the 2000 training examples"):  # a cut-down MNIST
        run_ground_truth(queue, small_mnist, GroundTruthConfig(train_examples=2001), tmp_path / "gt.csv", "cpu")
    assert not (tmp_path / "gt.csv").exists()


def test_configs_validate_every_field():
    import pytest

    from gtn_nas.core.errors import ConfigError

    with pytest.raises(ConfigError, match="seed"):
        GroundTruthConfig(seeds=())  # was an UnboundLocalError in evaluate_arch
    for bad in (
        {"epochs": 0},
        {"batch_size": 0},
        {"lr": 0.0},
        {"lr": -1e-3},
        {"lr": float("nan")},
        {"lr": float("inf")},
        {"schedule": "step"},
    ):
        with pytest.raises(ConfigError):
            FullTraining(**bad)


def test_api_refuses_train_examples_beyond_its_data_before_creating_a_study(small_mnist, tmp_path):
    import pytest

    import gtn_nas
    from gtn_nas.core.errors import ConfigError

    specs = load_space(TINY_SPACE).archs[:1]
    with pytest.raises(ConfigError, match="exceeds the 2000 training examples"):
        gtn_nas.ground_truth(
            specs, GroundTruthConfig(train_examples=3000), tmp_path / "gt.csv", data=small_mnist, device="cpu"
        )
    assert list(tmp_path.iterdir()) == []  # no study file, no CSV


def test_exit_status_is_zero_only_when_every_architecture_has_its_row(tmp_path):
    """The exit-status rule: 3 (and a line saying what is missing and when it becomes reclaimable)
    while architectures are waiting or claimed by another, here dead, worker; --wait redoes them."""
    from gtn_nas.core.spaces import load_space
    from gtn_nas.nas.storage import open_storage, storage_url
    from gtn_nas.nas.workqueue import WorkQueue

    out = tmp_path / "gt.csv"
    cmd = [sys.executable, "-m", "gtn_nas", "ground-truth", "--space", TINY_SPACE, "--n-archs", "3", "--seeds", "1"]
    cmd += ["--train-examples", "200", "--out", str(out), "--study-name", "gt", "--quiet"]
    # The second worker judges the dead claim with a long --stale-after: on a loaded machine its own
    # start-up can outlast a short one, and it would then (rightly) redo the claim and finish
    # everything. The third judges it stale after 8 s, so --wait has little to wait for.
    patient, quick = ["--stale-after", "300"], ["--stale-after", "8"]
    first = subprocess.run([*cmd, *quick, "--max-archs", "1"], capture_output=True, text=True, timeout=300)
    assert first.returncode == 3, first.stderr
    assert "unfinished: 1 of 3 architectures done; 2 not yet: 2 waiting" in first.stderr
    assert "Traceback" not in first.stderr

    specs = load_space(TINY_SPACE).sample(3, 0)
    dead = WorkQueue(open_storage(storage_url(str(out.with_suffix(".db")), out)), "gt", specs, 8)
    assert dead.claim() is not None  # ... and this worker dies holding it
    second = subprocess.run([*cmd, *patient], capture_output=True, text=True, timeout=300)
    assert second.returncode == 3, second.stderr
    assert "2 of 3 architectures done; 1 not yet: 1 claimed by other workers (reclaimable in" in second.stderr
    assert len(pd.read_csv(out)) == 2

    waited = subprocess.run([*cmd, *quick, "--wait"], capture_output=True, text=True, timeout=300)
    assert waited.returncode == 0, waited.stderr
    assert "3 of 3 architectures done" in waited.stdout and len(pd.read_csv(out)) == 3
