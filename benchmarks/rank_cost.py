"""What a rank meta-step costs against an accuracy meta-step with the same K students.

For each method (bptt, ift) and each objective, one Distiller (K students per meta-step, T inner
steps, a teacher from noise so that no fit is timed), its meta-steps interleaved with the other
objective's in one process so that both see the same machine: median seconds per meta-step over
`--steps` meta-steps (the first, warm-up, dropped) and peak memory (CUDA only; on the CPU the process
RSS high-water mark, which only grows, is recorded after each method's runs). The target: rank ÷
accuracy ≤ 1 (the rank objective adds one small ranking loss per meta-step and an exchange of K
floats between processes, nothing per student).

    python benchmarks/rank_cost.py --out results/teachers/rank_cost
"""

from __future__ import annotations

import resource
import statistics
import time
from pathlib import Path

import pandas as pd
import torch

import common
from gtn_nas.core.data import load_mnist
from gtn_nas.teachers.distillation import DistillConfig, Distiller
from gtn_nas.teachers.generator import TeacherConfig

POOL = "results/ground_truth/rank_pool.csv"


def distiller(method: str, objective: str, k: int, data) -> Distiller:
    cfg = DistillConfig(
        method=method,
        teacher=TeacherConfig(init="noise"),
        meta_steps=1000,
        students_per_step=k,
        calibrate=False,
        eval_every=10_000,
        objective=objective,
        rank_pool=POOL if objective == "rank" else None,
    )
    return Distiller(cfg, data, torch.device("cpu"))


def main() -> None:
    ap = common.parser(__doc__)
    ap.add_argument("--methods", default="bptt,ift")
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--out", type=Path, default=Path("results/teachers/rank_cost"))
    common.add_threads(ap, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data = load_mnist()
    rows = []
    for method in args.methods.split(","):
        runs = {obj: distiller(method, obj, args.k, data) for obj in ("accuracy", "rank")}
        times = {obj: [] for obj in runs}
        for _ in range(args.steps):
            for obj, d in runs.items():  # interleaved: both objectives see the same machine
                t0 = time.perf_counter()
                d.meta_step()
                times[obj].append(time.perf_counter() - t0)
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        for obj in runs:
            rows.append(
                {
                    "method": method,
                    "objective": obj,
                    "k": args.k,
                    "sec_per_meta_step": statistics.median(times[obj][1:]),
                    "steps_timed": len(times[obj]) - 1,
                    "max_rss_mb_after": round(rss_mb),
                }
            )
        print(rows[-2], rows[-1], flush=True)
    frame = pd.DataFrame(rows)
    acc = frame[frame["objective"] == "accuracy"].set_index("method")["sec_per_meta_step"]
    frame["rank_over_accuracy"] = [r.sec_per_meta_step / acc[r.method] for r in frame.itertuples()]
    common.write_outputs(args.out, frame, common.metadata(threads=args.threads, k=args.k, steps=args.steps))
    print(frame.to_string(index=False))


if __name__ == "__main__":
    main()
