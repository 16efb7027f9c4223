"""How fast can an ift meta-step get? Its parts timed on the meta_speed students, in one run.

An ift meta-step first trains the student T steps on the teacher's data (no graph), then solves
for the implicit meta-gradient. Whatever inverse-Hessian approximation is used, the first part
remains, so `default ÷ inner` bounds the speed-up any cheaper solve can bring. Settings, each
timed on the same contexts (same student, init, batches), interleaved repeat by repeat so that
drift in the machine's load hits all of them:

- `inner`: the T inner steps alone (teacher forward included), as every ift meta-step runs them;
- `identity`: ift with the identity for the inverse Hessian (Neumann K = 0), the cheapest solve;
- `cg5`: 5 conjugate-gradient iterations;
- `default`: the cold default (CG 20, damping 1, J=2), pinned; the warm start (`--ift-warm-steps`,
  an option) runs N < T inner steps per meta-step, so this bound is a cold student's.

Real MNIST (a 10k training subset, as in meta_speed.py), T = 32, B = 128, the default ift teacher
untrained, `--students` drawn from the distillation space with seed 0 (meta_speed.py's draw).

    python benchmarks/ift_floor.py --out results/ift_floor.csv
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from pathlib import Path

import pandas as pd
import torch

import common
from gtn_nas.api import MNIST, DistillConfig, Distiller, arch_id, load_mnist, load_space
from gtn_nas.api.lab import Ift, IftConfig, InnerState, train_steps
from repo_report import ift_floor_md, read_csv, read_json

COLD = {"warm_steps": 0, "batches": 2}  # a fresh student trained all T steps each meta-step
SETTINGS = {
    "identity": IftConfig(solver="neumann", neumann_terms=0, **COLD),
    "cg5": IftConfig(neumann_terms=5, **COLD),
    "default": IftConfig(neumann_terms=20, **COLD),  # the cold default, pinned
}


def inner_only(ctx) -> None:
    train_steps(
        ctx.f,
        InnerState.start(ctx.params0),
        ctx.teacher,
        ctx.noise,
        range(ctx.teacher.cfg.inner_steps),
        create_graph=False,
    )


def time_student(d: Distiller, spec: dict, repeats: int) -> dict[str, float]:
    """Median seconds of each setting on one student (a warm-up call of each first)."""
    calls = {"inner": inner_only, **{name: Ift(cfg) for name, cfg in SETTINGS.items()}}
    times = {name: [] for name in calls}
    for r in range(repeats + 1):
        for name, call in calls.items():
            ctx = d.context(r, spec=spec)  # the same student, init and batches for every setting of repeat r
            d.teacher.zero_grad(set_to_none=True)
            t0 = time.perf_counter()
            call(ctx)
            if r > 0:  # r = 0 is the warm-up
                times[name].append(time.perf_counter() - t0)
    d.teacher.zero_grad(set_to_none=True)
    return {name: statistics.median(ts) for name, ts in times.items()}


def main() -> None:
    ap = common.parser(__doc__)
    ap.add_argument("--students", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    common.add_threads(ap, default=2)
    ap.add_argument("--out", type=Path, default=Path("results/ift_floor.csv"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    full = load_mnist()
    data = MNIST(full.train.subset(10_000, 0), full.val.subset(1000, 0), full.test.subset(10, 0))
    d = Distiller(DistillConfig(method="ift", meta_steps=10**6, eval_every=10**9), data, torch.device("cpu"))
    rows = []
    for spec in load_space("distill").sample(args.students, seed=0):
        for setting, sec in time_student(d, spec, args.repeats).items():
            rows.append({"student": arch_id(spec), "setting": setting, "seconds": sec})
        mine = [r for r in rows if r["student"] == arch_id(spec)]
        print(f"{arch_id(spec)}: " + ", ".join(f"{r['setting']} {r['seconds']:.2f}s" for r in mine), flush=True)
    meta = common.metadata(
        T=32,
        batch_size=128,
        threads=args.threads,
        students=args.students,
        repeats=args.repeats,
        settings={name: dataclasses.asdict(cfg) for name, cfg in SETTINGS.items()},
    )
    common.write_outputs(args.out, pd.DataFrame(rows), meta, indent=2)
    speed = args.out.parent / "meta_speed.csv"
    md = ift_floor_md(
        read_csv(args.out), read_json(args.out.with_suffix(".json")), read_csv(speed) if speed.exists() else None
    )
    common.write_md(args.out.with_suffix(".md"), md)


if __name__ == "__main__":
    main()
