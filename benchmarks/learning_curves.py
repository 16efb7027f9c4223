"""Learning curves: test accuracy of the held-out students every few inner steps, on each teacher's
data and on real data.

For every held-out architecture (search_spaces/heldout.toml) and seed, a fresh student (initialised
from the seed) is trained by the export recipe (`gtn_nas.core.training.sgd_steps`, one SGD step
per batch, momentum buffers kept) on
- each teacher's data: its 32 synthetic batches with its learned lr and momentum per step, and
  its calibrated gradient clip if it has one;
- real data: 32 random training batches of 128 (drawn by the seed) with one lr and momentum:
  by default the `real (calibrated like teachers)` values (and clip) that benchmarks/teacher_quality.py
  chose (read from its per_arch.csv), else `--real-lr` / `--real-momentum` (no clip);
- real data in 32 class-balanced batches (`distillation.balanced_real_steps`, drawn by the seed),
  with the `real balanced (calibrated like teachers)` values, else the same given lr and momentum.
The student's accuracy on a fixed subset of the test split (`--test-examples`, drawn with seed 0)
is recorded before training (step 0) and after every `--every` steps up to the last one.

    python benchmarks/learning_curves.py results/teachers/bptt.pt results/teachers/ift.pt \\
        results/teachers/gm.pt --seeds 1
    -> results/teacher_quality/curves.csv (source, arch_id, seed, step, test_acc), curves.json (the
       command and settings), and from them curves.md and curves.png (as
       `python benchmarks/report.py` draws them)
"""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import torch

import common
from gtn_nas.api import arch_id, load_mnist, load_space, write_csv
from gtn_nas.api.lab import Split, accuracy, balanced_real_steps, build_student, real_batches, sgd_steps
from gtn_nas.api.lab import load_teacher_checkpoint as load_teacher
from gtn_nas.api.lab import teacher_recipe as teacher_batches
from repo_report import curves_md, read_csv
from repo_report.figures import curves_figure, save_figure

REAL_SOURCE = "real (calibrated like teachers)"
BALANCED_SOURCE = "real balanced (calibrated like teachers)"


def curve(
    spec: dict, seed: int, steps: list, test: Split, every: int, max_grad_norm: float | None = None
) -> list[tuple[int, float]]:
    """(step, test accuracy) at steps 0, every, 2*every, ... and after the last step (gradients
    clipped to `max_grad_norm` as the recipe says)."""
    net = build_student(spec, seed)
    points = []

    def score(t: int) -> None:
        net.eval()  # as train_student scores (students keep no running statistics)
        with torch.no_grad():
            points.append((t, accuracy(net, None, test.x, test.y)))
        net.train()

    def recipe():
        # sgd_steps is the one training recipe; scoring between its steps keeps its optimizer
        # (and momentum buffers) intact, so the last point equals a train_student score.
        for t, step in enumerate(steps):
            if t % every == 0:
                score(t)
            yield step

    sgd_steps(net, recipe(), max_grad_norm=max_grad_norm)
    score(len(steps))
    return points


def real_setting(
    per_arch: Path, lr: float | None, momentum: float | None, source: str = REAL_SOURCE
) -> tuple[str, float, float, float | None]:
    """(source name, lr, momentum, clip) for real data: given values, else teacher_quality's calibrated ones."""
    if lr is not None and momentum is not None:
        return f"{source.split(' (')[0]} (lr {lr:g}, momentum {momentum:g})", lr, momentum, None
    rows = pd.read_csv(per_arch)
    rows = rows[rows["source"] == source]
    if rows.empty:
        raise SystemExit(f"{per_arch} has no '{source}' rows; pass --real-lr and --real-momentum")
    clip = rows["max_grad_norm"].iloc[0] if "max_grad_norm" in rows else None
    return source, float(rows["lr"].iloc[0]), float(rows["momentum"].iloc[0]), None if pd.isna(clip) else float(clip)


def main() -> None:
    ap = common.parser(__doc__)
    ap.add_argument("teachers", nargs="*", type=Path)
    ap.add_argument("--space", default="heldout")
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--every", type=int, default=4, help="score after every this many steps")
    ap.add_argument("--test-examples", type=int, default=2000)
    ap.add_argument(
        "--real-per-arch",
        type=Path,
        default=Path("results/teacher_quality/per_arch.csv"),
        help="teacher_quality.py's per-architecture CSV (for the calibrated real-data lr/momentum)",
    )
    ap.add_argument("--real-lr", type=float)
    ap.add_argument("--real-momentum", type=float)
    ap.add_argument("--no-real", action="store_true", help="teachers only")
    ap.add_argument("--out", type=Path, default=Path("results/teacher_quality/curves.csv"))
    common.add_threads(ap)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data = load_mnist()
    test = data.test.subset(args.test_examples, seed=0)
    specs = list(load_space(args.space).archs)
    sources = {}  # name -> (seed -> the steps [(x, y, lr, momentum)], gradient clip)
    for path in args.teachers:
        teacher, _ = load_teacher(path)
        batches, lrs, moms = teacher_batches(teacher)
        steps = [(x, y, lr, mo) for (x, y), lr, mo in zip(batches, lrs, moms)]  # the same for every seed
        sources[f"teacher:{path.stem}"] = (lambda seed, steps=steps: steps, teacher.max_grad_norm)
    real = None
    if not args.no_real:
        name, lr, mom, clip = real_setting(args.real_per_arch, args.real_lr, args.real_momentum)
        real = {"source": name, "lr": lr, "momentum": mom, "max_grad_norm": clip}
        sources[name] = (lambda seed: list(real_batches(data.train, 32, 128, lr, mom, seed=seed)), clip)
        # the same baseline in class-balanced batches, as every teacher's data is balanced
        name, b_lr, b_mom, b_clip = real_setting(args.real_per_arch, args.real_lr, args.real_momentum, BALANCED_SOURCE)
        real["balanced"] = {"source": name, "lr": b_lr, "momentum": b_mom, "max_grad_norm": b_clip}
        sources[name] = (lambda seed: balanced_real_steps(data.train, 32, 128, b_lr, b_mom, seed), b_clip)
    rows = []
    for name, (steps_for, clip) in sources.items():
        t0 = time.perf_counter()
        for spec in specs:
            for seed in range(args.seeds):
                for step, acc in curve(spec, seed, steps_for(seed), test, args.every, clip):
                    rows.append({"source": name, "arch_id": arch_id(spec), "seed": seed, "step": step, "test_acc": acc})
        write_csv(pd.DataFrame(rows), args.out)
        last = pd.DataFrame(rows).query("source == @name")
        print(
            f"{name}: {time.perf_counter() - t0:.0f}s, mean test acc after step "
            f"{last['step'].max()}: {last[last['step'] == last['step'].max()]['test_acc'].mean():.4f}",
            flush=True,
        )
    meta = common.metadata(
        space=args.space,
        seeds=args.seeds,
        every=args.every,
        test_examples=args.test_examples,
        test_subset_seed=0,
        real=real,
        threads=args.threads,
    )
    common.write_outputs(args.out, meta=meta)
    # From the file just written, exactly as `python benchmarks/report.py` renders them.
    frame = read_csv(args.out)
    common.write_md(
        args.out.with_suffix(".md"), curves_md(frame, meta, png=args.out.with_suffix(".png").name), echo=False
    )
    save_figure(curves_figure(frame), args.out.with_suffix(".png"))
    print(f"wrote {args.out} and its .json, .md and .png")


if __name__ == "__main__":
    main()
