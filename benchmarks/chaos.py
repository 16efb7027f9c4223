"""Chaos run: 4 workers share a study while a random one is SIGKILLed every few seconds and restarted.

For each storage (SQLite, and PostgreSQL with --postgres URL) and each job (ground truth; search):
start 4 workers, one of them with its clock skewed by --skew seconds (Python's time.time, as a host
with a wrong clock would show it); for --seconds, every 2-4 s SIGKILL a random running worker and
start it again; a worker that ends by itself is started again too. Then stop killing, let the
workers end, and run one last worker with --wait. Checked at the end:
- every architecture (ground truth) has exactly one COMPLETE trial; the search study exactly
  --n-trials COMPLETE trials and nothing RUNNING (rows lost and duplicated must be 0);
- every exit status is truthful: 0 only with nothing unfinished ("N of N architectures done", or no
  "unfinished:" line), 3 only with an "unfinished:" line, nothing else, and no traceback anywhere.
Work redone: the seconds of COMPLETE trials that redo a killed one (retries), i.e. what kills cost.

    python benchmarks/chaos.py --seconds 25 --postgres URL   -> results/faults_chaos.{json,md}
"""

from __future__ import annotations

import argparse
import json
import random
import shlex
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

from faults import TINY, UNFINISHED, _env  # benchmarks/faults.py: this script's folder is on sys.path

SKEWED = (
    "import sys, time; real = time.time; time.time = lambda: real() + {skew}; "
    "from gtn_nas.cli.commands import main; sys.argv[0] = 'gtn-nas'; main(sys.argv[1:])"
)


def command(job: str, url: str, study: str, out: Path, stale_after: float) -> list[str]:
    common = ["--storage", url, "--study-name", study, "--stale-after", str(stale_after), "--quiet", "--out", str(out)]
    if job == "ground-truth":
        return ["ground-truth", "--space", TINY, "--n-archs", "6", "--seeds", "1", "--train-examples", "200", *common]
    return ["search", "--proxy", "real", "--lr", "0.1", "--steps", "200", "--space", TINY, "--sampler", "random"] + [
        "--n-trials",
        "8",
        *common,
    ]


def launch(args: list[str], skew: float | None) -> subprocess.Popen:
    head = [sys.executable, "-c", SKEWED.format(skew=skew)] if skew else [sys.executable, "-m", "gtn_nas"]
    return subprocess.Popen(head + args, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def truthful(code: int, out: str, err: str, job: str) -> bool:
    if "Traceback" in err or code not in (0, UNFINISHED):
        return False
    if code == UNFINISHED:
        return err.startswith("unfinished:") or "\nunfinished:" in err
    return "unfinished:" not in err and (job != "ground-truth" or " 6 of 6 architectures done" in " " + out)


def scenario(job: str, url: str, work: Path, seconds: float, skew: float, rng: random.Random, stale: float) -> dict:
    study = f"chaos-{job}-{uuid.uuid4().hex[:6]}"
    cmd = lambda i: command(job, url, study, work / f"{job}-{i}.csv", stale)
    skews = [skew, None, None, None]  # worker 0's clock is wrong
    procs = [launch(cmd(i), skews[i]) for i in range(4)]
    ended, kills, start = [], 0, time.time()
    next_kill = start + rng.uniform(2, 4)
    while time.time() - start < seconds:
        for i, p in enumerate(procs):
            if p.poll() is not None:  # ended by itself: judge its exit, start it again
                ended.append((p.returncode, *p.communicate()))
                procs[i] = launch(cmd(i), skews[i])
        if time.time() >= next_kill:
            i = rng.randrange(4)
            procs[i].kill()
            procs[i].communicate()
            kills += 1
            procs[i] = launch(cmd(i), skews[i])
            next_kill = time.time() + rng.uniform(2, 4)
        time.sleep(0.1)
    for p in procs:
        ended.append((p.wait(timeout=600), *p.communicate()))
    last = launch([*cmd(9), "--wait"], None)
    last_out, last_err = last.communicate(timeout=600)
    ended.append((last.returncode, last_out, last_err))
    return {
        "job": job,
        "storage": url.split(":")[0],
        "seconds": seconds,
        "kills": kills,
        "runs_ended": len(ended),
        "exit_codes": dict(Counter(str(c) for c, _, _ in ended)),
        "untruthful_exits": sum(not truthful(c, o, e, job) for c, o, e in ended),
        "untruthful_samples": [f"{c}: {o[-200:]} | {e[-300:]}" for c, o, e in ended if not truthful(c, o, e, job)][:3],
        "last_run_exit": last.returncode,
        **counts(job, url, study),
    }


def counts(job: str, url: str, study_name: str) -> dict:
    import optuna
    from optuna.trial import TrialState

    from gtn_nas.api.lab import driver_url

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    trials = optuna.load_study(study_name=study_name, storage=driver_url(url)).get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    # Retries: re-enqueued by the queue or fail_stale (user attributes), or by Optuna's own callback.
    retries = [
        t
        for t in complete
        if {"retry_of", "repaired", "result_of"} & set(t.user_attrs) or "failed_trial" in t.system_attrs
    ]
    redone = sum(float(t.user_attrs.get("seconds", 0.0)) for t in retries)
    running = sum(t.state == TrialState.RUNNING for t in trials)
    if job == "ground-truth":
        per_arch = Counter(t.user_attrs["arch_id"] for t in complete)
        lost = 6 - len(per_arch)
        duplicated = sum(n - 1 for n in per_arch.values())
    else:
        lost, duplicated = max(0, 8 - len(complete)), max(0, len(complete) - 8)
    return {
        "rows_lost": lost,
        "duplicated": duplicated,
        "left_running": running,
        "failed_trials": sum(t.state == TrialState.FAIL for t in trials),
        "work_redone_s": round(redone, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=25.0, help="Chaos time per storage and job.")
    ap.add_argument("--postgres", default=None, help="PostgreSQL URL (else SQLite only).")
    ap.add_argument("--skew", type=float, default=600.0, help="Worker 0's clock offset in seconds.")
    ap.add_argument("--stale-after", type=float, default=4.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", type=Path, default=Path("/tmp/gtn-nas-chaos"))
    ap.add_argument("--out", type=Path, default=Path("results/faults_chaos.json"))
    a = ap.parse_args()
    rng, rows, t0 = random.Random(a.seed), [], time.time()
    a.work.mkdir(parents=True, exist_ok=True)
    urls = [f"sqlite:///{(a.work / f'chaos-{uuid.uuid4().hex[:6]}.db').resolve()}"] + (
        [a.postgres] if a.postgres else []
    )
    for url in urls:
        for job in ("ground-truth", "search"):
            row = scenario(job, url, a.work, a.seconds, a.skew, rng, a.stale_after)
            print(json.dumps(row), flush=True)
            rows.append(row)
    summary = {
        "command": "python benchmarks/chaos.py " + shlex.join(sys.argv[1:]),
        "wall_s": round(time.time() - t0, 1),
        "argv": sys.argv[1:],
        "rows": rows,
    }
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(summary, indent=1) + "\n")
    bad = [r for r in rows if r["rows_lost"] or r["duplicated"] or r["left_running"] or r["untruthful_exits"]]
    print(f"wall {summary['wall_s']} s; {sum(r['kills'] for r in rows)} kills; {len(bad)} scenario(s) failed")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
