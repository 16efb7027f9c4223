"""Students per meta-step and processes: meta-steps per minute, and how much a meta-batch of K
students lowers the meta-gradient's variance.

Speed: the real `gtn-nas distill` runs for `--steps` meta-steps per configuration, either one
process with 2 threads or `torchrun` with 2 processes of 1 thread (gloo), at each K; throughput is
meta-steps (and students) per minute over the metrics CSV's `step_s` (rank 0, so it includes the
all-reduce), first step dropped. Runs with equal K train the same students. Variance:
per-student meta-gradients of a frozen teacher for `--draws` draws of 4 students (the students a
meta-step would draw), averaged over the first K of each draw; total variance = mean over draws
of |g_K - mean(g_K)|^2, divided by |mean(g_K)|^2 to compare K.

    python benchmarks/distributed.py --method gm --teacher results/teachers/default/gm-15min.pt
    -> results/distributed.{csv,json,md}
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import torch

import common
from gtn_nas.api import DistillConfig, Distiller, load_mnist, write_csv
from gtn_nas.api.lab import load_teacher_checkpoint as load_teacher
from repo_report import distributed_md, read_csv


def timed_run(method: str, k: int, procs: int, threads: int, steps: int, workdir: Path) -> dict:
    out = workdir / f"{method}-k{k}-p{procs}.pt"
    launcher = (
        ["gtn-nas"]
        if procs == 1
        else [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc-per-node={procs}",
            "-m",
            "gtn_nas",
        ]
    )
    cmd = [
        *launcher,
        "distill",
        "--method",
        method,
        "--meta-steps",
        str(steps),
        "--students-per-step",
        str(k),
        "--config",
        str(Path(__file__).resolve().parent / "configs" / "distributed.toml"),
        "--no-calibrate",
        "--quiet",
        "--out",
        str(out),
    ]  # meta-steps alone, no fit
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "GTN_NAS_THREADS": str(threads)}
    run = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if run.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {run.stderr.strip()[-2000:]}")
    step_s = pd.read_csv(out.with_suffix(".csv"))["step_s"].iloc[1:]
    # Each meta-step draws other architectures, so single steps vary several-fold; runs of equal K
    # draw the same students, and the throughput is the total time over the same steps.
    total = float(step_s.sum())
    return {
        "method": method,
        "students_per_step": k,
        "processes": procs,
        "threads_per_process": threads,
        "meta_steps_timed": len(step_s),
        "median_step_s": float(step_s.median()),
        "total_s": total,
        "meta_steps_per_min": 60 * len(step_s) / total,
        "students_per_min": 60 * k * len(step_s) / total,
        "command": f"OMP_NUM_THREADS={threads} GTN_NAS_THREADS={threads} " + " ".join(cmd),
    }


def gradient_variance(teacher_path: Path, draws: int, ks: list[int]) -> list[dict]:
    _, ckpt = load_teacher(teacher_path)
    cfg = DistillConfig.from_dict(ckpt["config"])
    d = Distiller(cfg, load_mnist(), torch.device("cpu"))
    d.teacher.load_state_dict(ckpt["teacher"])
    params = [p for g in d.opt.param_groups for p in g["params"]]
    per_student = torch.zeros(draws, max(ks), sum(p.numel() for p in params))
    for i in range(draws):
        for k in range(max(ks)):
            d.opt.zero_grad(set_to_none=True)
            d.method(d.context(10**6 + i, k))  # steps the teacher never trained on
            per_student[i, k] = torch.cat(
                [(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in params]
            )
    rows = []
    for k in ks:
        g = per_student[:, :k].mean(1)
        mean = g.mean(0)
        var = float(((g - mean) ** 2).sum(1).mean())
        rows.append(
            {
                "method": cfg.method,
                "students_per_step": k,
                "draws": draws,
                "total_variance": var,
                "relative_variance": var / float((mean**2).sum()),
                "teacher": str(teacher_path),
            }
        )
    base = rows[0]["total_variance"]
    for r in rows:
        r["variance_vs_k1"] = r["total_variance"] / base
    return rows


def main() -> None:
    ap = common.parser(__doc__)
    ap.add_argument("--method", default="gm")
    ap.add_argument(
        "--teacher",
        type=Path,
        default=Path("results/teachers/default/gm-15min.pt"),
        help="frozen teacher for the variance",
    )
    ap.add_argument("--ks", default="1,2,4")
    ap.add_argument("--steps", type=int, default=13, help="meta-steps per timed configuration (the first is not timed)")
    ap.add_argument("--draws", type=int, default=8)
    ap.add_argument("--out", type=Path, default=Path("results/distributed"))
    args = ap.parse_args()
    ks = [int(k) for k in args.ks.split(",")]
    speed = []
    with tempfile.TemporaryDirectory() as tmp:
        for k in ks:
            for procs, threads in ((1, 2), (2, 1)):
                if procs <= k:  # every process needs a student
                    speed.append(timed_run(args.method, k, procs, threads, args.steps, Path(tmp)))
                    print(json.dumps(speed[-1]), flush=True)
    torch.set_num_threads(2)
    variance = gradient_variance(args.teacher, args.draws, ks)
    print(json.dumps(variance), flush=True)
    env = {
        "command": common.command(),
        "machine": common.hardware(),  # the variance's 2 threads; each speed row says its own
        "torch": torch.__version__,
        "cuda": torch.cuda.is_available(),
        "date": common.utc_now(),
    }
    variance_csv = args.out.parent / f"{args.out.name}_variance.csv"
    common.write_outputs(args.out, pd.DataFrame(speed), {**env, "speed": speed, "variance": variance})
    write_csv(pd.DataFrame(variance), variance_csv)
    # From the files just written, exactly as `python benchmarks/report.py` renders them.
    md = distributed_md(read_csv(args.out.with_suffix(".csv")), read_csv(variance_csv), env)
    common.write_md(args.out.with_suffix(".md"), md)


if __name__ == "__main__":
    main()
