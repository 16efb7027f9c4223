"""Few-step benchmark of GTN-paper teachers (benchmarks/configs/gtn_mnist.toml): test accuracy after
4, 8, 16 and 32 steps of each teacher's data, against real data tuned at each budget, and the real
steps needed to match each teacher at 32 (GTN's speed-up).

Learners (`--learners`, a space file): the paper's base_fc design at the widths seen in
meta-training and at unseen ones (full width included); `--heldout` adds the 10 held-out nets
(search_spaces/heldout.toml), none of which any teacher saw.

Sources, each scored along one trajectory (the accuracy after t steps is the student after the
first t batches; test split, `--seeds` student seeds):
- `teacher:NAME`: the teacher's 32 batches with its own per-step lr, momentum and clip (exactly
  what its exported .npz carries);
- `real random` / `real balanced`: random real batches, or class-balanced distinct real images in a
  teacher's layout, of the same batch size, with a constant (lr, momentum, clip) chosen per
  learner *and per budget* on 2,000 validation images from LR x MOMENTUM x CLIP (16 recipes,
  tuning seed 100): a generous baseline, tuned where no teacher is.
Speed-up: real random batches at budgets SPEEDUP_BUDGETS, each with its own best recipe on
validation (LR x MOMENTUM unclipped, half the grid, for its cost); the smallest budget whose test
accuracy reaches the teacher's at 32 steps. Budgets beyond 32 on the first `--speedup-learners`
learners only (by default the width seen in meta-training: the first); on the others the match is
looked for among 4-32 steps.

    python benchmarks/gtn_mnist.py runs/gtn_mnist/bptt-noise-s0.pt ... --out-dir results/teachers/gtn_mnist
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch

import common
from gtn_nas.api import arch_id, load_mnist, load_space, write_csv
from gtn_nas.api.lab import accuracy, balanced_real_steps, build_student, real_batches, sgd_steps
from gtn_nas.api.lab import load_teacher_checkpoint as load_teacher
from gtn_nas.api.lab import teacher_recipe as teacher_batches

BUDGETS = (4, 8, 16, 32)
SPEEDUP_BUDGETS = (32, 48, 64, 96, 128, 192, 256)
LR = (0.03, 0.1, 0.3, 1.0)
MOMENTUM = (0.5, 0.9)
CLIP = (None, 1.0)
TUNE_SEED = 100
TUNE_VAL = 2000


def trajectory(spec, seed: int, steps, split, budgets, clip=None) -> dict[int, float]:
    """Accuracy on `split` after each budget of `steps` (one student, one run)."""
    net, scores = build_student(spec, seed), {}

    def after(t):
        if t in budgets:
            scores[t] = accuracy(net.eval(), None, split.x, split.y)

    sgd_steps(net, steps[: max(budgets)], after=after, max_grad_norm=clip)
    return scores


def real_steps(kind: str, data, T: int, lr: float, m: float, seed: int, B: int = 128) -> list:
    if kind == "random":
        return list(real_batches(data.train, T, B, lr, m, seed=seed))
    return balanced_real_steps(data.train, T, B, lr, m, seed)


def tune(spec, data, kind: str, budgets, clips=CLIP, lrs=LR) -> dict[int, tuple]:
    """Per budget, the (lr, momentum, clip) of the grid with the best accuracy on 2,000 validation images."""
    T, val = max(budgets), data.val.subset(TUNE_VAL, seed=0)
    best = {}
    for clip in clips:
        for lr in lrs:
            for m in MOMENTUM:
                accs = trajectory(spec, TUNE_SEED, real_steps(kind, data, T, lr, m, TUNE_SEED), val, budgets, clip)
                for t, acc in accs.items():
                    if t not in best or acc > best[t][0]:
                        best[t] = (acc, lr, m, clip)
    return {t: b[1:] for t, b in best.items()}


def teacher_rows(name: str, teacher, spec, seeds: int, data) -> list[dict]:
    batches, lrs, moms = teacher_batches(teacher)
    steps = [(x, y, lr, m) for (x, y), lr, m in zip(batches, lrs, moms)]
    rows = []
    for seed in range(seeds):
        for t, acc in trajectory(spec, seed, steps, data.test, BUDGETS, teacher.max_grad_norm).items():
            rows.append(
                {"source": f"teacher:{name}", "arch_id": arch_id(spec), "seed": seed, "steps": t, "test_acc": acc}
            )
    return rows


def real_rows(spec, seeds: int, data, kind: str, budgets, clips=CLIP, lrs=LR) -> list[dict]:
    rows = []
    for t, (lr, m, clip) in tune(spec, data, kind, budgets, clips, lrs).items():
        for seed in range(seeds):
            acc = trajectory(spec, seed, real_steps(kind, data, t, lr, m, seed), data.test, (t,), clip)[t]
            rows.append(
                {
                    "source": f"real {kind}",
                    "arch_id": arch_id(spec),
                    "seed": seed,
                    "steps": t,
                    "test_acc": acc,
                    "lr": lr,
                    "momentum": m,
                    "max_grad_norm": clip,
                }
            )
    return rows


def speedup(per_arch: pd.DataFrame) -> pd.DataFrame:
    """Per teacher and learner: the fewest real random steps (tuned per budget) whose mean test
    accuracy reaches the teacher's at 32 steps; NaN when none of SPEEDUP_BUDGETS does. Learners
    with no real-data rows (most held-out nets) have no speed-up and are left out."""
    mean = per_arch.groupby(["source", "arch_id", "steps"], as_index=False)["test_acc"].mean()
    real = mean[mean["source"] == "real random"]
    out = []
    for (source, aid), g in mean[mean["source"].str.startswith("teacher:")].groupby(["source", "arch_id"]):
        target = g.loc[g["steps"] == 32, "test_acc"].item()
        r = real[real["arch_id"] == aid].sort_values("steps")
        if r.empty:
            continue
        reach = r.loc[r["test_acc"] >= target, "steps"]
        steps = int(reach.iloc[0]) if len(reach) else float("nan")
        out.append(
            {
                "source": source,
                "arch_id": aid,
                "teacher_acc_32": target,
                "real_steps_to_match": steps,
                "speedup": steps / 32 if len(reach) else float("nan"),
                "real_best": r["test_acc"].max(),
                "real_budgets": ",".join(str(s) for s in r["steps"]),
            }
        )
    return pd.DataFrame(out)


def summary(per_arch: pd.DataFrame) -> pd.DataFrame:
    """Mean and spread over student seeds of the per-seed test accuracy, per source, learner and budget."""
    g = per_arch.groupby(["source", "arch_id", "steps"], sort=False)["test_acc"]
    return g.agg(test_acc="mean", sd="std", n="count").reset_index()


def save(frame: pd.DataFrame, out_dir: Path) -> None:
    """Merge `frame` into OUT_DIR/per_arch.csv (rows of the same source and learner replaced, others
    kept) and rewrite the summary and speed-up tables from the merged file."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "per_arch.csv"
    if path.exists():
        old = pd.read_csv(path)
        key = set(zip(frame["source"], frame["arch_id"]))
        old = old[[k not in key for k in zip(old["source"], old["arch_id"])]]
        frame = pd.concat([old, frame], ignore_index=True)
    write_csv(frame, path)
    write_csv(summary(frame), out_dir / "summary.csv")
    if (frame["source"] == "real random").any():
        write_csv(speedup(frame), out_dir / "speedup.csv")


def main() -> None:
    ap = common.parser(__doc__)
    ap.add_argument("teachers", nargs="*", type=Path)
    ap.add_argument("--learners", default="benchmarks/configs/gtn_mnist/learners_eval.toml")
    ap.add_argument("--heldout", action="store_true", help="also the 10 held-out nets (search_spaces/heldout.toml)")
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--no-real", action="store_true", help="teachers only (real rows kept from OUT_DIR/per_arch.csv)")
    ap.add_argument("--speedup-learners", type=int, default=1, help="the first N learners get the speed-up budgets")
    ap.add_argument("--lrs", default=",".join(map(str, LR)), help="the real-data grid's learning rates")
    ap.add_argument("--out-dir", type=Path, default=Path("results/teachers/gtn_mnist"))
    common.add_threads(ap)
    args = ap.parse_args()
    lrs = tuple(float(v) for v in args.lrs.split(","))
    torch.set_num_threads(args.threads)
    data = load_mnist()
    specs = list(load_space(args.learners).archs) + (list(load_space("heldout").archs) if args.heldout else [])
    teachers = {p.stem: load_teacher(p)[0] for p in args.teachers}
    rows = []
    for i, spec in enumerate(specs):
        for name, teacher in teachers.items():
            rows += teacher_rows(name, teacher, spec, args.seeds, data)
        if not args.no_real:
            for kind in ("random", "balanced"):
                rows += real_rows(spec, args.seeds, data, kind, BUDGETS, lrs=lrs)
            if i < args.speedup_learners:
                more = tuple(b for b in SPEEDUP_BUDGETS if b not in BUDGETS)
                rows += real_rows(spec, args.seeds, data, "random", more, clips=(None,), lrs=lrs)
        done = pd.DataFrame([r for r in rows if r["arch_id"] == arch_id(spec) and r["steps"] == 32])
        print(arch_id(spec), done.groupby("source")["test_acc"].mean().round(4).to_dict(), flush=True)
        save(pd.DataFrame(rows), args.out_dir)  # after every learner: a long run keeps what it finished
    common.write_json(
        args.out_dir / f"command_{Path(args.learners).stem}_{'_'.join(sorted(teachers)) or 'real'}.json",
        common.metadata(hardware_threads=args.threads, seeds=args.seeds, budgets=BUDGETS),
    )


if __name__ == "__main__":
    main()
