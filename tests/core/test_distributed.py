"""Distillation over torch.distributed: two real gloo processes on loopback, started by torchrun."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import TINY_SPACE
from objective_helpers import pool_csv

from gtn_nas.core.checkpoint import load_checkpoint
from gtn_nas.core.distributed import World

pytestmark = pytest.mark.scenario  # multi-process: `pytest -m "not scenario"` leaves it out

FIXTURES = Path(TINY_SPACE).parent
# bptt with a 2-step window on the tiny space, no calibration, monitoring practically off
TINY = [
    "--method",
    "bptt",
    "--config",
    str(FIXTURES / "tiny_distributed_noise.toml"),
    "--inner-steps",
    "3",
    "--batch-size",
    "20",
    "--no-calibrate",
    "--quiet",
    "--seed",
    "3",
]
REAL_INIT = ["--config", str(FIXTURES / "tiny_distributed_real.toml")]  # the same, from a fitted generator


_STARTED: list[subprocess.Popen] = []


@pytest.fixture(autouse=True)
def _stop_what_a_test_started():
    # A failed assert or a timeout must not leave torchrun and its ranks running after the test.
    yield
    while _STARTED:
        proc = _STARTED.pop()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()


def _env():
    return {**os.environ, "OMP_NUM_THREADS": "1", "GTN_NAS_THREADS": "1"}


def _distill(out: Path, *args: str, ranks: int = 1, **kw):
    launcher = (
        [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={ranks}"]
        if ranks > 1
        else [sys.executable]
    )
    cmd = [*launcher, "-m", "gtn_nas", "distill", *TINY, "--out", str(out), *args]
    proc = subprocess.Popen(
        cmd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True, **kw
    )
    _STARTED.append(proc)
    return proc


def _finish(proc, timeout=300):
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-2000:]
    return out


def _teacher(path: Path) -> dict:
    return load_checkpoint(path)["teacher"]


def test_students_are_dealt_round_robin_over_ranks():
    worlds = [World(r, 3) for r in range(3)]
    dealt = sorted(k for w in worlds for k in w.students(7))
    assert dealt == list(range(7))
    assert list(worlds[1].students(7)) == [1, 4]
    assert list(World().students(4)) == [0, 1, 2, 3]


def test_one_process_world_leaves_gradients_alone():
    p = torch.nn.Parameter(torch.ones(3))
    p.grad = torch.full((3,), 2.0)
    assert World().sum_gradients([p], 1.5) == 1.5 and torch.equal(p.grad, torch.full((3,), 2.0))


def test_a_failing_rank_ignores_further_sigterms_so_its_save_and_message_finish():
    # torchrun's SIGTERM can land while rank 0 saves after gloo already reported the failure.
    code = (
        "import os, signal, time; from gtn_nas.core.distributed import _failure; "
        "e = _failure('x'); os.kill(os.getpid(), signal.SIGTERM); time.sleep(0.2); print('alive', type(e).__name__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "alive RankFailure", out.stderr


@pytest.mark.parametrize("objective", ["accuracy", "rank"])
def test_two_ranks_equal_one_process_with_the_same_students(tmp_path, objective):
    # a generator fitted to real images first: every rank fits, then all take rank 0's start; with
    # the rank objective the ranks also exchange their students' losses before weighting them
    extra = ["--objective", "rank", "--rank-pool", str(pool_csv(tmp_path / "pool.csv"))] if objective == "rank" else []
    one = _distill(tmp_path / "one.pt", "--meta-steps", "4", "--students-per-step", "2", *REAL_INIT, *extra)
    two = _distill(tmp_path / "two.pt", "--meta-steps", "4", "--students-per-step", "2", *REAL_INIT, *extra, ranks=2)
    _finish(one), _finish(two)
    a, b = _teacher(tmp_path / "one.pt"), _teacher(tmp_path / "two.pt")
    assert set(a) == set(b)
    for k in a:
        assert torch.allclose(a[k], b[k], rtol=1e-5, atol=1e-6), k
    rows = (tmp_path / "two.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + 4  # rank 0 alone writes the metrics


def _rank_pid(launcher_pid: int, rank: int) -> int | None:
    """The pid of torchrun's worker with RANK=rank (Linux /proc)."""
    for child in Path(f"/proc/{launcher_pid}/task/{launcher_pid}/children").read_text().split():
        try:
            env = Path(f"/proc/{child}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"RANK={rank}".encode() in env:
            return int(child)
    return None


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="finds torchrun's workers through /proc (Linux)")
def test_a_killed_rank_ends_the_run_with_a_message_and_a_checkpoint_one_process_resumes(tmp_path):
    steps = ["--meta-steps", "60", "--students-per-step", "2"]  # checkpoints at 25 and 50
    out = tmp_path / "t.pt"
    run = _distill(out, *steps, ranks=2)
    deadline = time.time() + 240
    while not out.exists():  # the first checkpoint (meta-step 25)
        assert run.poll() is None and time.time() < deadline, run.communicate()[1][-2000:]
        time.sleep(0.1)
    pid = _rank_pid(run.pid, 1)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    _, err = run.communicate(timeout=120)
    assert run.returncode != 0
    assert "another process of this run failed" in err and "rerun with --resume" in err, err[-2000:]
    ckpt = load_checkpoint(out)
    assert 25 <= ckpt["meta_step"] < 60 and not ckpt["complete"]
    # One process resumes what two started, and ends where an uninterrupted run ends.
    _finish(_distill(out, *steps, "--resume"))
    _finish(_distill(tmp_path / "ref.pt", *steps))
    a, b = _teacher(out), _teacher(tmp_path / "ref.pt")
    for k in a:
        assert torch.allclose(a[k], b[k], rtol=1e-4, atol=1e-5), k
