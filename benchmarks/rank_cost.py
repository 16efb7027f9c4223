"""What a rank or twin meta-step costs against an accuracy meta-step on the same K students.

Per method (bptt, ift) and meta-step, K contexts are built twice from the same seeds (students of the
ranking pool's rank-train split, one teacher from noise), and timed in turn:

- accuracy: each student's meta-gradient in full (`method(ctx)`: its graph is freed before the next);
- rank: every student's forward first (`method.forward(ctx)`, graphs kept), the ranking loss's weights
  c_k, then each `Pending.backward(c_k)`: the same work plus one small loss, but all K graphs alive at once;
- twin: as rank, plus each student's real-data twin (`objectives.twin.twin_loss`: `--twin-steps` real
  SGD steps of the same net, no graph kept) for its target loss.

Seconds: median over `--steps` meta-steps (the first dropped), interleaved, so both see the same
machine. Memory: bytes of tensors autograd saved for backward (a pack hook counts them): the peak
held at once is one student's for accuracy and the sum over K for rank (bptt's unrolls; ift keeps
no unroll, only its J-batch objective).

    python benchmarks/rank_cost.py --out results/teachers/rank_cost
"""

from __future__ import annotations

import random
import statistics
import time
from pathlib import Path

import pandas as pd
import torch

import common
from gtn_nas.api import DistillConfig, Distiller, TeacherConfig, load_mnist
from gtn_nas.api.lab import RankPool, objective_weights, twin_loss, twin_weights

POOL = "results/ground_truth/rank_pool.csv"


class SavedBytes:
    """Bytes of the tensors autograd saves for backward while the hook is active."""

    def __init__(self):
        self.total = 0

    def __enter__(self):
        def pack(t):
            self.total += t.numel() * t.element_size()
            return t

        self.hooks = torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t)
        self.hooks.__enter__()
        return self

    def __exit__(self, *exc):
        self.hooks.__exit__(*exc)


def contexts(d: Distiller, step: int, specs: list[dict]) -> list:
    return [d.context(step, k, spec) for k, spec in enumerate(specs)]


def accuracy_step(d: Distiller, ctxs: list) -> tuple[float, int]:
    t0, peak = time.perf_counter(), 0
    for ctx in ctxs:
        with SavedBytes() as saved:
            d.method(ctx)
        peak = max(peak, saved.total)
    return time.perf_counter() - t0, peak


def rank_step(d: Distiller, ctxs: list, accs: list[float]) -> tuple[float, int]:
    t0 = time.perf_counter()
    with SavedBytes() as saved:
        pending = [d.method.forward(ctx) for ctx in ctxs]
    _, weights = objective_weights([p.meta_loss for p in pending], accs, "pairwise", None)
    for p, c in zip(pending, weights):
        p.backward(c)
    return time.perf_counter() - t0, saved.total


def twin_step(d: Distiller, ctxs: list, steps: int) -> tuple[float, int]:
    t0 = time.perf_counter()
    with SavedBytes() as saved:
        pending = [d.method.forward(ctx) for ctx in ctxs]
    train = d.data.train
    targets = [twin_loss(c.spec, c.seed, train, c.meta_x, c.meta_y, steps) for c in ctxs]
    _, weights = twin_weights([p.meta_loss for p in pending], targets)
    for p, c in zip(pending, weights):
        p.backward(c)
    return time.perf_counter() - t0, saved.total


def timed(d: Distiller, objective: str, ctxs: list, accs: list[float], twin_steps: int) -> tuple[float, int]:
    if objective == "accuracy":
        return accuracy_step(d, ctxs)
    return rank_step(d, ctxs, accs) if objective == "rank" else twin_step(d, ctxs, twin_steps)


def main() -> None:
    ap = common.parser(__doc__)
    ap.add_argument("--methods", default="bptt,ift")
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--objectives", default="accuracy,rank,twin", help="accuracy first: the others are its ratios")
    ap.add_argument("--twin-steps", type=int, default=128)
    ap.add_argument("--out", type=Path, default=Path("results/teachers/rank_cost"))
    common.add_threads(ap, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data, pool = load_mnist(), RankPool.load(POOL)
    rows = []
    for method in args.methods.split(","):
        cfg = DistillConfig(method=method, teacher=TeacherConfig(init="noise"), calibrate=False)
        d = Distiller(cfg, data, torch.device("cpu"))
        objectives = args.objectives.split(",")
        times, peaks = {o: [] for o in objectives}, dict.fromkeys(objectives, 0)
        for step in range(args.steps):
            chosen = random.Random(step).sample(pool.train, args.k)
            specs, accs = [s for s, _ in chosen], [a for _, a in chosen]
            for objective in objectives:
                d.opt.zero_grad(set_to_none=True)
                ctxs = contexts(d, step, specs)  # the same students, seeds and batches for each
                sec, peak = timed(d, objective, ctxs, accs, args.twin_steps)
                times[objective].append(sec)
                peaks[objective] = max(peaks[objective], peak)
        for objective in times:
            rows.append(
                {
                    "method": method,
                    "objective": objective,
                    "k": args.k,
                    "sec_per_meta_step": statistics.median(times[objective][1:]),
                    "steps_timed": len(times[objective]) - 1,
                    "saved_for_backward_mb": round(peaks[objective] / 2**20, 1),
                }
            )
        print(*rows[-len(objectives) :], flush=True)
    frame = pd.DataFrame(rows)
    base = frame[frame["objective"] == "accuracy"].set_index("method")
    frame["time_vs_accuracy"] = [
        r.sec_per_meta_step / base.at[r.method, "sec_per_meta_step"] for r in frame.itertuples()
    ]
    frame["memory_vs_accuracy"] = [
        r.saved_for_backward_mb / base.at[r.method, "saved_for_backward_mb"] for r in frame.itertuples()
    ]
    meta = common.metadata(threads=args.threads, k=args.k, steps=args.steps, twin_steps=args.twin_steps)
    common.write_outputs(args.out, frame, meta)
    print(frame.to_string(index=False))


if __name__ == "__main__":
    main()
