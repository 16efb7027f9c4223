"""Teacher-quality benchmark: test accuracy of held-out architectures after 32 steps on each
teacher's exported data, beside two baselines and the full-training yardstick.

For every held-out architecture (search_spaces/heldout.toml: none of them is ever sampled during
distillation) and seed:
- each teacher: the exported .npz recipe (step t: rows [tB, (t+1)B), SGD(lr[t], momentum[t]));
- `real (tuned lr)`: 32 steps of real batches of the same size; lr, momentum and gradient clip
  tuned per architecture on the validation split (grid below, tuning seed 100), then scored on
  test — a generous baseline: it is tuned per architecture, on validation, which no teacher is
  (unless `--tune` names it: `teacher:NAME (tuned)` gets the same grid, its lrs scaled by 0.3/1/3);
- `real (calibrated like teachers)`: the same real batches with one global lr and momentum chosen
  exactly as teachers are calibrated (`gtn_nas.teachers.calibration`: the same grid, lr scales of
  the teachers' initial 0.05, gradient clips, on distillation-space students and a training-split
  holdout) — the equal-budget baseline;
- `real balanced (tuned lr)`, `real balanced (calibrated like teachers)`: the same two, on 32
  class-balanced batches of distinct real training images in the teachers' layout (row i of class
  i mod 10; `distillation.balanced_real_steps`, drawn by seed, without the calibration holdout). A teacher's
  batches are balanced by construction; random batches are not, and that alone costs real data
  points on some nets — this is the baseline that separates what a teacher learned from balance;
- `untrained generator`: a default teacher with no meta-training (its initial lr/momentum);
- the yardstick: full training (Adam, `--full-epochs` epochs on the 50k split, seed 0), cached.

    python benchmarks/teacher_quality.py results/teachers/bptt.pt results/teachers/ift.pt results/teachers/gm.pt
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd
import torch
from scipy.stats import spearmanr

import common
from gtn_nas.api import (
    CalibrationConfig,
    FullTraining,
    Teacher,
    TeacherConfig,
    arch_id,
    load_mnist,
    load_space,
    write_csv,
)
from gtn_nas.api.lab import (
    accuracy,
    balanced_real_steps,
    build_student,
    grid_search,
    real_batches,
    teacher_arrays,
    train_full,
    train_student,
)
from gtn_nas.api.lab import load_teacher_checkpoint as load_teacher
from repo_report import read_csv, teacher_quality_md, teacher_samples_figure
from repo_report.figures import save_figure

LR_GRID = (0.03, 0.1, 0.3)
MOMENTUM_GRID = (0.5, 0.9)
CLIP_GRID = (None, 1.0)  # the clips teachers' calibration may choose
TEACHER_LR_SCALES = (0.3, 1.0, 3.0)  # `--tune`: a teacher's lrs scaled as the real grid spans 0.1 x 0.3/1/3


def recipe(arrays: dict):
    """(steps, max_grad_norm) of an exported teacher."""
    B, T = int(arrays["batch_size"]), len(arrays["lr"])
    x, y = torch.from_numpy(arrays["images"]), torch.from_numpy(arrays.get("soft_labels", arrays["labels"]))
    steps = [
        (x[t * B : (t + 1) * B], y[t * B : (t + 1) * B], float(arrays["lr"][t]), float(arrays["momentum"][t]))
        for t in range(T)
    ]
    clip = arrays.get("max_grad_norm")
    return steps, None if clip is None else float(clip)


def score(spec, seed, steps, split, clip=None) -> float:
    return accuracy(train_student(spec, seed, steps, max_grad_norm=clip), None, split.x, split.y)


def _best(grid, accs):
    return grid[max(range(len(grid)), key=accs.__getitem__)]


def real_steps(kind: str, data, T: int, B: int, lr: float, m: float, seed: int) -> list:
    """T real batches: random draws (`random`) or class-balanced distinct images (`balanced`)."""
    if kind == "random":
        return list(real_batches(data.train, T, B, lr, m, seed=seed))
    return balanced_real_steps(data.train, T, B, lr, m, seed)


def tune_real(spec, data, steps: int, batch: int, kind: str = "random") -> tuple[float, float, float | None]:
    grid = [(lr, m, c) for c in CLIP_GRID for lr in LR_GRID for m in MOMENTUM_GRID]
    accs = [score(spec, 100, real_steps(kind, data, steps, batch, lr, m, seed=100), data.val, c) for lr, m, c in grid]
    return _best(grid, accs)


def tune_teacher(spec, steps, data) -> tuple[float, float, float | None]:
    """The real grid's budget for a teacher: its lrs scaled, momentum and clip replaced."""
    grid = [(k, m, c) for c in CLIP_GRID for k in TEACHER_LR_SCALES for m in MOMENTUM_GRID]
    accs = [score(spec, 100, rescale(steps, k, m), data.val, c) for k, m, c in grid]
    return _best(grid, accs)


def rescale(steps, k: float, m: float):
    return [(x, y, lr * k, m) for x, y, lr, _ in steps]


def calibrate_real(data, T: int, B: int, kind: str = "random") -> tuple[float, float, float | None, dict]:
    """One global (lr, momentum) for real batches, chosen as `Distiller.calibrate` chooses a teacher's."""
    cfg = CalibrationConfig(seed=777)
    specs = load_space("distill").sample(cfg.students, seed=cfg.seed)
    batches = [(x, y) for x, y, _, _ in real_steps(kind, data, T, B, 0.0, 0.0, seed=100)]
    base = torch.full((T,), 0.05)
    best, _ = grid_search(
        specs, batches, base, torch.full((T,), 0.5), data.train.subset(cfg.holdout, seed=0), cfg, "cpu"
    )
    m = 0.5 if best["momentum"] == "teacher" else float(best["momentum"])
    return 0.05 * best["lr_scale"], m, best["max_grad_norm"], best


def full_training(specs, data, epochs: int, cache: Path) -> dict[str, float]:
    done = (
        pd.read_csv(cache)
        if cache.exists()
        else pd.DataFrame(columns=["arch_id", "epochs", "test_acc", "val_acc", "seconds"])
    )
    for spec in specs:
        aid = arch_id(spec)
        if ((done["arch_id"] == aid) & (done["epochs"] == epochs)).any():
            continue
        t0 = time.perf_counter()
        net = build_student(spec, 0)
        train_full(net, data.train, FullTraining(epochs=epochs), seed=0)
        row = {
            "arch_id": aid,
            "epochs": epochs,
            "test_acc": accuracy(net, None, data.test.x, data.test.y),
            "val_acc": accuracy(net, None, data.val.x, data.val.y),
            "seconds": time.perf_counter() - t0,
        }
        print(f"full training {aid}: test {row['test_acc']:.4f} ({row['seconds']:.0f}s)", flush=True)
        done = pd.concat([done, pd.DataFrame([row])], ignore_index=True)
        write_csv(done, cache)
    return {r.arch_id: r.test_acc for r in done[done["epochs"] == epochs].itertuples()}


def summarise(rows: pd.DataFrame, full: dict[str, float]) -> pd.DataFrame:
    rows = rows.assign(full_acc=rows["arch_id"].map(full))
    rows = rows.assign(retained=rows["test_acc"] / rows["full_acc"])
    per_arch = rows.groupby(["source", "arch_id"], as_index=False)[["test_acc", "retained"]].mean()
    out = []
    for source, g in per_arch.groupby("source", sort=False):
        seeds = rows[rows["source"] == source].groupby("seed")["test_acc"].mean()
        rho = spearmanr(g["test_acc"], g["arch_id"].map(full)).statistic if len(g) > 2 else float("nan")
        out.append(
            {
                "source": source,
                "test_acc_mean": g["test_acc"].mean(),
                "test_acc_sd_over_seeds": seeds.std() if len(seeds) > 1 else 0.0,
                "worst_arch_acc": g["test_acc"].min(),
                "retained_mean": g["retained"].mean(),
                "retained_min": g["retained"].min(),
                "spearman_vs_full": rho,
                "n_archs": len(g),
                "n_seeds": len(seeds),
            }
        )
    return pd.DataFrame(out)


# source -> (batches, how the lr is chosen)
REAL_SOURCES = {
    "real (tuned lr)": ("random", "tuned"),
    "real (calibrated like teachers)": ("random", "calibrated"),
    "real balanced (tuned lr)": ("balanced", "tuned"),
    "real balanced (calibrated like teachers)": ("balanced", "calibrated"),
}


def real_rows(spec, data, T: int, B: int, seeds: int, calibrated: dict, names) -> list[dict]:
    """The real-data baselines `names` for one architecture: tuned on validation, or calibrated like
    teachers (`calibrated`: batches kind -> (lr, momentum, clip))."""
    tuned = {
        kind: tune_real(spec, data, T, B, kind)
        for kind in {REAL_SOURCES[n][0] for n in names if REAL_SOURCES[n][1] == "tuned"}
    }
    rows = []
    for seed in range(seeds):
        for name in names:
            kind, how = REAL_SOURCES[name]
            lr, mom, clip = (tuned if how == "tuned" else calibrated)[kind]
            rows.append(
                {
                    "source": name,
                    "arch_id": arch_id(spec),
                    "seed": seed,
                    "lr": lr,
                    "momentum": mom,
                    "max_grad_norm": clip,
                    "test_acc": score(spec, seed, real_steps(kind, data, T, B, lr, mom, seed), data.test, clip),
                }
            )
    return rows


def _replace_sources(old: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """`old` with the sources `new` scored replaced by `new`'s rows, in `old`'s order of sources."""
    order = list(dict.fromkeys([*old["source"], *new["source"]]))
    both = pd.concat([old[~old["source"].isin(set(new["source"]))], new], ignore_index=True)
    return both.sort_values("source", key=lambda c: c.map(order.index), kind="stable", ignore_index=True)


def main() -> None:
    ap = common.parser(__doc__)
    ap.add_argument("teachers", nargs="+", type=Path)
    ap.add_argument("--space", default="heldout")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--full-epochs", type=int, default=2)
    ap.add_argument("--out-dir", type=Path, default=Path("results/teacher_quality"))
    common.add_threads(ap)
    ap.add_argument(
        "--tune", nargs="*", default=[], help="teachers (file stems) also tuned per architecture like real (tuned lr)"
    )
    ap.add_argument(
        "--only",
        default="",
        help="comma-separated sources (e.g. teacher:ift) to score again, for a teacher "
        "changed since the last run; every other source's rows are kept from OUT_DIR/per_arch.csv",
    )
    args = ap.parse_args()
    only = [name for name in args.only.split(",") if name]
    torch.set_num_threads(args.threads)
    data, specs = load_mnist(), list(load_space(args.space).archs)
    sources = {}
    for path in args.teachers:
        teacher, ckpt = load_teacher(path)
        name = path.stem
        sources[f"teacher:{name}"] = (*recipe(teacher_arrays(teacher)), teacher)
    default = Teacher(TeacherConfig(), seed=0)
    sources["untrained generator"] = (*recipe(teacher_arrays(default)), default)
    if set(only) - set(sources) - set(REAL_SOURCES):
        raise SystemExit(
            f"--only: {', '.join(sorted(set(only) - set(sources) - set(REAL_SOURCES)))} is not among "
            f"{', '.join([*sources, *REAL_SOURCES])}"
        )
    T, B = 32, 128
    real_names = [n for n in REAL_SOURCES if not only or n in only]
    calibrated = {}
    for kind in {REAL_SOURCES[n][0] for n in real_names if REAL_SOURCES[n][1] == "calibrated"}:
        *calibrated[kind], cal = calibrate_real(data, T, B, kind)
        print(
            f"real {kind} (calibrated like teachers): lr, momentum, clip {calibrated[kind]} "
            f"(holdout {cal['holdout_acc']:.4f})",
            flush=True,
        )
    to_tune = [name for name in args.tune if not only or f"teacher:{name}" in only]
    rows = []
    for spec in specs:
        tuned = {name: tune_teacher(spec, sources[f"teacher:{name}"][0], data) for name in to_tune}
        for seed in range(args.seeds):
            new = []
            for name, (steps, c, _) in sources.items():
                if not only or name in only:
                    new.append(
                        {
                            "source": name,
                            "arch_id": arch_id(spec),
                            "seed": seed,
                            "test_acc": score(spec, seed, steps, data.test, c),
                        }
                    )
            for name, (k, m, c) in tuned.items():
                new.append(
                    {
                        "source": f"teacher:{name} (tuned)",
                        "arch_id": arch_id(spec),
                        "seed": seed,
                        "lr_scale": k,
                        "momentum": m,
                        "max_grad_norm": c,
                        "test_acc": score(spec, seed, rescale(sources[f"teacher:{name}"][0], k, m), data.test, c),
                    }
                )
            rows += new
        rows += real_rows(spec, data, T, B, args.seeds, calibrated, real_names)
        print(
            f"{arch_id(spec)}: "
            + ", ".join(f"{r['source']} {r['test_acc']:.3f}" for r in rows if r["arch_id"] == arch_id(spec)),
            flush=True,
        )
    frame = pd.DataFrame(rows)
    if only:
        frame = _replace_sources(pd.read_csv(args.out_dir / "per_arch.csv"), frame)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    write_csv(frame, args.out_dir / "per_arch.csv")
    full = full_training(specs, data, args.full_epochs, args.out_dir / "full_training.csv")
    summary = summarise(frame, full)
    write_csv(summary, args.out_dir / "summary.csv")
    for name, (_, _, teacher) in sources.items():
        save_figure(
            teacher_samples_figure(teacher, name),
            args.out_dir / f"samples_{name.replace(':', '_').replace(' ', '_')}.png",
        )
    meta = common.metadata(
        hardware_threads=args.threads,
        inner_steps=T,
        batch_size=B,
        full_epochs=args.full_epochs,
        seeds=args.seeds,
        tuned_teachers=args.tune,
    )
    if only:  # the table is the earlier run's with some sources redone: both commands made it
        earlier = json.loads((args.out_dir / "command.json").read_text())
        meta = {
            **earlier,
            "command": f"{earlier['command']} ; then {meta['command']}",
            "date": meta["date"],
            "hardware": meta["hardware"],
            "tuned_teachers": sorted(set(earlier.get("tuned_teachers", [])) | set(args.tune)),
        }
    common.write_json(args.out_dir / "command.json", meta, indent=None)
    # Rendered from the files just written, exactly as `python benchmarks/report.py` renders them.
    md = teacher_quality_md(read_csv(args.out_dir / "summary.csv"), read_csv(args.out_dir / "full_training.csv"), meta)
    common.write_md(args.out_dir / "summary.md", md)


if __name__ == "__main__":
    main()
