"""Kill -9 suite: SIGKILL real gtn-nas processes at random moments, rerun, and count what was lost.

Scenarios (each a function, also run once by tests/nas/test_faults.py):
- distill: SIGKILL a distillation `kills` times at random moments, `--resume` after each, and
  compare the final teacher with an uninterrupted run's (identical on CPU for a seed);
- ground-truth / evaluate: two workers share a queue; one is SIGKILLed at a random moment while the
  other runs; then a rerun. Every architecture must be scored exactly once (COMPLETE trials per
  architecture = 1), none lost;
- search: two search workers share a study; one is SIGKILLed; a rerun after `--stale-after` must
  end the study with exactly `--n-trials` COMPLETE trials.
Storages: SQLite, and PostgreSQL when GTN_NAS_TEST_POSTGRES holds a URL.

    python benchmarks/faults.py --repeats 5          -> results/faults.{csv,json,md}
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import pandas as pd

TINY = str(Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "tiny.toml")
CONFIG = str(Path(__file__).resolve().parent / "configs" / "faults-distill.toml")
DISTILL = [
    "--method",
    "bptt",
    "--inner-steps",
    "3",
    "--batch-size",
    "20",
    "--no-calibrate",
    "--quiet",
    "--seed",
    "5",
]


def _env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "GTN_NAS_THREADS": "1"}


def start(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "gtn_nas", *args], env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


UNFINISHED = 3  # gtn-nas's exit status when other (here: killed) workers still hold work


def finish(proc: subprocess.Popen, timeout: float = 600, ok: tuple[int, ...] = (0,)) -> str:
    out, err = proc.communicate(timeout=timeout)
    if proc.returncode not in ok or (proc.returncode == UNFINISHED and "unfinished:" not in err):
        raise RuntimeError(f"{' '.join(proc.args)} exited {proc.returncode}: {err.strip()[-1500:]}")
    return out


def kill_after(proc: subprocess.Popen, seconds: float) -> bool:
    """SIGKILL `proc` after `seconds` unless it ended first; whether it was killed."""
    try:
        proc.wait(timeout=seconds)
        return False
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return True


def kill_once_working(proc: subprocess.Popen, output: Path, rng: random.Random, timeout: float = 300) -> bool:
    """SIGKILL `proc` a random moment (0-0.5 s) after it first wrote `output` (i.e. mid-run, between
    or inside its next pieces of work); whether it was still running."""
    deadline = time.time() + timeout
    while not output.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    return kill_after(proc, rng.uniform(0, 0.5))


def kill_after_checkpoint(proc: subprocess.Popen, ckpt: Path, rng: random.Random, timeout: float = 300) -> bool:
    """SIGKILL a distillation a random moment (0-1 s) after it wrote a new checkpoint (so that every
    kill lands mid-run, some meta-steps past the checkpoint); whether it was still running."""
    before = ckpt.stat().st_mtime_ns if ckpt.exists() else 0
    deadline = time.time() + timeout
    while (not ckpt.exists() or ckpt.stat().st_mtime_ns == before) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    return kill_after(proc, rng.uniform(0, 1))


def distill_scenario(workdir: Path, rng: random.Random, kills: int = 3, steps: int = 300, config: str = CONFIG) -> dict:
    import torch

    from gtn_nas.api.lab import load_checkpoint

    run = ["distill", *DISTILL, "--config", config, "--meta-steps", str(steps)]
    out, ref = workdir / "killed.pt", workdir / "ref.pt"
    done, at = 0, []
    for _ in range(kills):
        done += kill_after_checkpoint(start(*run, "--out", str(out), *(["--resume"] if out.exists() else [])), out, rng)
        at.append(load_checkpoint(out)["meta_step"] if out.exists() else 0)
    finish(start(*run, "--out", str(out), *(["--resume"] if out.exists() else [])))
    finish(start(*run, "--out", str(ref)))
    a, b = load_checkpoint(out), load_checkpoint(ref)
    diff = max(float((a["teacher"][k] - b["teacher"][k]).abs().max()) for k in b["teacher"])
    steps_logged = pd.read_csv(out.with_suffix(".csv"))["meta_step"]
    identical = all(torch.equal(a["teacher"][k], b["teacher"][k]) for k in b["teacher"])
    return {
        "scenario": "distill",
        "kills": done,
        "checkpoints_at_kills": " ".join(map(str, at)),
        "identical_teacher": identical,
        "max_abs_diff": diff,
        "lost": int(steps - steps_logged.nunique()),
        "duplicated": int(len(steps_logged) - steps_logged.nunique()),
    }


def _queue_counts(url: str, study_name: str | None, expected: list[str]) -> dict:
    import optuna
    from optuna.trial import TrialState

    name = study_name or optuna.get_all_study_names(url)[0]
    study = optuna.load_study(study_name=name, storage=url)
    complete = Counter(t.user_attrs["arch_id"] for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    return {
        "archs": len(expected),
        "lost": sum(a not in complete for a in expected),
        "duplicated": sum(n - 1 for n in complete.values()),
    }


def _tiny_csv(workdir: Path) -> tuple[Path, list[str]]:
    from gtn_nas.api import arch_id, load_space
    from gtn_nas.api.lab import spec_to_json

    specs = load_space(TINY).archs
    path = workdir / "archs.csv"
    pd.DataFrame({"arch_id": [arch_id(s) for s in specs], "spec": [spec_to_json(s) for s in specs]}).to_csv(
        path, index=False
    )
    return path, [arch_id(s) for s in specs]


def queue_scenario(kind: str, workdir: Path, url: str, rng: random.Random) -> dict:
    """Two workers of `ground-truth` or `search --archs-from`; one SIGKILLed; a rerun finishes."""
    csv, ids = _tiny_csv(workdir)
    name = f"faults-{kind}-{uuid.uuid4().hex[:8]}"
    common = ["--archs-from", str(csv), "--storage", url, "--study-name", name, "--stale-after", "2", "--quiet"]
    if kind == "ground-truth":
        cmd = lambda i: [
            "ground-truth",
            *common,
            "--epochs",
            "1",
            "--seeds",
            "1",
            "--train-examples",
            "5000",
            "--out",
            str(workdir / f"gt{i}.csv"),
        ]
    else:
        cmd = lambda i: [
            "search",
            "--proxy",
            "real",
            "--lr",
            "0.1",
            "--steps",
            "200",
            *common,
            "--space",
            TINY,
            "--out",
            str(workdir / f"ev{i}.csv"),
        ]
    victim, other = start(*cmd(0)), start(*cmd(1))
    killed = kill_once_working(victim, workdir / ("gt0.csv" if kind == "ground-truth" else "ev0.csv"), rng)
    finish(other, ok=(0, UNFINISHED))  # 3 while the victim's claim is not stale yet
    time.sleep(3.5)  # the victim's claim goes stale (RDB heartbeats: 1-second resolution)
    finish(start(*cmd(2)))
    frame = pd.read_csv(workdir / ("gt2.csv" if kind == "ground-truth" else "ev2.csv"))
    counts = _queue_counts(url, name, ids)
    counts["csv_rows_ok"] = sorted(frame["arch_id"]) == sorted(ids)
    return {"scenario": kind, "kills": int(killed), **counts}


def search_scenario(workdir: Path, url: str, rng: random.Random, n_trials: int = 8) -> dict:
    import optuna
    from optuna.trial import TrialState

    name = f"faults-search-{uuid.uuid4().hex[:8]}"
    cmd = lambda i: [
        "search",
        "--proxy",
        "real",
        "--lr",
        "0.1",
        "--steps",
        "200",
        "--space",
        TINY,
        "--sampler",
        "random",
        "--n-trials",
        str(n_trials),
        "--storage",
        url,
        "--study-name",
        name,
        "--stale-after",
        "2",
        "--quiet",
        "--out",
        str(workdir / f"s{i}.csv"),
    ]
    victim, other = start(*cmd(0)), start(*cmd(1))
    killed = kill_once_working(victim, workdir / "s0.csv", rng)
    finish(other, ok=(0, UNFINISHED))  # 3 while the victim's claim is not stale yet
    time.sleep(3.5)
    finish(start(*cmd(2)))
    study = optuna.load_study(study_name=name, storage=url)
    complete = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    running = len(study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))
    return {
        "scenario": "search",
        "kills": int(killed),
        "n_trials": n_trials,
        "complete": complete,
        "lost": max(0, n_trials - complete),
        "duplicated": max(0, complete - n_trials),
        "left_running": running,
    }


def storages(workdir: Path) -> dict[str, str]:
    urls = {"sqlite": f"sqlite:///{workdir / 'faults.db'}"}
    if os.environ.get("GTN_NAS_TEST_POSTGRES"):
        urls["postgresql"] = os.environ["GTN_NAS_TEST_POSTGRES"]
    return urls


def main() -> None:
    import tempfile

    from gtn_nas.api import write_csv

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("results/faults"))
    ap.add_argument("--scenarios", default="distill,ground-truth,evaluate,search")
    ap.add_argument("--summarise", action="store_true", help="rewrite OUT.md from OUT.csv and OUT.json (no runs)")
    args = ap.parse_args()
    if args.summarise:
        summarise(args.out)
        return
    rng, rows = random.Random(args.seed), []
    for rep in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            wanted = args.scenarios.split(",")
            if "distill" in wanted:
                (work / "d").mkdir()
                rows.append({"storage": "-", "repeat": rep, **distill_scenario(work / "d", rng)})
            for storage, url in storages(work).items():
                for kind in [k for k in ("ground-truth", "evaluate") if k in wanted]:
                    (work / kind).mkdir(exist_ok=True)
                    rows.append({"storage": storage, "repeat": rep, **queue_scenario(kind, work / kind, url, rng)})
                if "search" in wanted:
                    (work / "search").mkdir(exist_ok=True)
                    rows.append({"storage": storage, "repeat": rep, **search_scenario(work / "search", url, rng)})
            print(rows[-1], flush=True)
    from gtn_nas.api import write_text

    write_csv(pd.DataFrame(rows), args.out.with_suffix(".csv"))
    meta = {"command": f"python {' '.join(sys.argv)}", "seed": args.seed, "date": time.strftime("%Y-%m-%d %H:%M")}
    write_text(args.out.with_suffix(".json"), json.dumps(meta, indent=1) + "\n")
    summarise(args.out)


def summarise(out: Path) -> None:
    """OUT.md from OUT.csv and OUT.json, exactly as `python benchmarks/report.py` renders it."""
    from gtn_nas.api import write_text
    from repo_report import faults_md, read_csv, read_json

    frame = read_csv(out.with_suffix(".csv"), ("scenario", "storage"), ("kills", "lost", "duplicated"))
    md = faults_md(frame, read_json(out.with_suffix(".json"), ("command",)), out.with_suffix(".csv").name)
    write_text(out.with_suffix(".md"), md)
    print(md)


if __name__ == "__main__":
    main()
