"""Ablation of one calibration change: letting calibration clip the students' gradient norm.

For each trained teacher, calibration runs twice from the same uncalibrated teacher, with the same
students, seed and training-split holdout (`gtn_nas.teachers.recalibration.recalibrate`): `before`
with the grid lr scale x momentum (no clipping, the old default), `after` with gradient-norm clips
added (`--clips`); `--grids uncalibrated` adds the teacher with its calibration undone (lr x1, its own
momentum, no clip: what a method that does not calibrate ships). Each teacher is then measured
where the issue measures teachers:

- held-out: the 10 held-out architectures x `--seeds` initialisations, 32 steps on its data, MNIST
  test accuracy / full-training test accuracy (results/teacher_quality/full_training.csv);
- NAS: the 60 ground-truth ConvNets, 32 steps on its data (one initialisation, seed 0, as
  `gtn-nas search --teacher`), Spearman of validation accuracy (all 10k, and the 1k subset the
  frontier uses) with the 1-epoch ground truth.

Calibration never sees validation, test or the ground truth; only these measurements do.

    python benchmarks/clip_ablation.py results/teachers/default/gm-15min.pt results/teachers/gm.pt

`--append` adds the rows to an existing OUT (replacing rows of the same teacher and grid); the JSON
then lists every command that wrote it.
"""

from __future__ import annotations

import json
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd
import torch
from scipy.stats import spearmanr

import common
from gtn_nas.api import CalibrationConfig, arch_id, load_ground_truth, load_mnist, load_space, write_csv
from gtn_nas.api.lab import correct, recalibrate, score_teacher, train_student
from gtn_nas.api.lab import load_teacher_checkpoint as load_teacher
from gtn_nas.api.lab import proxy_teacher_batches as teacher_batches
from repo_report import clip_ablation_md

FULL = Path("results/teacher_quality/full_training.csv")
UNCALIBRATED = {"lr_scales": (1.0,), "momenta": (None,), "max_grad_norms": (None,)}


def nas_scores(teacher, data, specs) -> pd.DataFrame:
    """Each ground-truth ConvNet trained 32 steps on the teacher's data, scored on all 10k validation images."""
    batches, _ = teacher_batches(teacher, 32, seed=0)
    small = torch.randperm(len(data.val), generator=torch.Generator().manual_seed(0))[:1000]  # Split.subset(1000, 0)
    rows = []
    for spec in specs:
        net = train_student(spec, 0, batches, max_grad_norm=teacher.max_grad_norm)
        hits = correct(net, None, data.val.x, data.val.y).float()
        rows.append({"arch_id": arch_id(spec), "val_10k": hits.mean().item(), "val_1k": hits[small].mean().item()})
    return pd.DataFrame(rows)


def measure(task: tuple[str, str, tuple, int, int]) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    path, grid_name, clips, students, seeds = task
    torch.set_num_threads(1)
    data = load_mnist()
    # The one-setting grid lr x1, own momentum, no clip reproduces the uncalibrated teacher.
    grid = UNCALIBRATED if grid_name == "uncalibrated" else {"max_grad_norms": clips}
    with tempfile.TemporaryDirectory() as tmp:
        cal = recalibrate(path, Path(tmp) / "t.pt", data, CalibrationConfig(students=students, **grid))
        teacher, _ = load_teacher(Path(tmp) / "t.pt")
    full = pd.read_csv(FULL)
    full = full[full["epochs"] == 2].set_index("arch_id")["test_acc"]
    held = pd.DataFrame(score_teacher(teacher, load_space("heldout").archs, data.test, range(seeds)))
    held = held.assign(retained=held["acc"] / held["arch_id"].map(full))
    gt = load_ground_truth(common.GROUND_TRUTH)
    nas = nas_scores(teacher, data, [json.loads(s) for s in gt["spec"]]).merge(gt[["arch_id", "val_acc"]], on="arch_id")
    per_arch = held.groupby("arch_id")["retained"].mean()
    row = {
        "teacher": Path(path).stem,
        "grid": grid_name,
        "lr_scale": cal["lr_scale"],
        "momentum": cal["momentum"],
        "max_grad_norm": cal["max_grad_norm"],
        "calibration_holdout_acc": cal["holdout_acc"],
        "calibration_settings": len(cal["table"]),
        "calibration_s": cal["seconds"],
        "retained_mean": per_arch.mean(),
        "retained_min": per_arch.min(),
        "retained_sd_seeds": held.groupby("seed")["retained"].mean().std(),
        "nas_spearman_10k": spearmanr(nas["val_10k"], nas["val_acc"]).statistic,
        "nas_spearman_1k": spearmanr(nas["val_1k"], nas["val_acc"]).statistic,
        "nas_at_chance": int((nas["val_10k"] < 0.2).sum()),
        "n_heldout": len(per_arch),
        "n_seeds": seeds,
        "n_nas": len(nas),
    }
    tag = {"teacher": row["teacher"], "grid": grid_name}
    return row, held.assign(**tag), nas.assign(**tag)


def _merge(old: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """Old rows whose (teacher, grid) the new run did not redo, then the new rows; uncalibrated first."""
    redone = set(zip(new["teacher"], new["grid"]))
    kept = old[[(t, g) not in redone for t, g in zip(old["teacher"], old["grid"])]]
    order = {"uncalibrated": 0, "before": 1, "after": 2}
    both = pd.concat([kept, new], ignore_index=True)
    teachers = list(dict.fromkeys(both["teacher"]))
    return both.sort_values(
        ["teacher", "grid"],
        key=lambda c: c.map(teachers.index) if c.name == "teacher" else c.map(order),
        kind="stable",
        ignore_index=True,
    )


def main() -> None:
    ap = common.parser(__doc__)
    ap.add_argument("teachers", nargs="+", type=Path)
    ap.add_argument("--clips", default="none,1", help="the `after` grid's clips ('none' = no clipping)")
    ap.add_argument("--students", type=int, default=4, help="calibration students per setting (distill's default)")
    ap.add_argument("--seeds", type=int, default=2)
    common.add_workers(ap)
    ap.add_argument(
        "--out", type=Path, default=Path("results/teachers/clip_ablation"), help="writes OUT.csv, OUT.json, OUT/*.csv"
    )
    ap.add_argument("--grids", default="before,after", help="any of uncalibrated, before, after")
    ap.add_argument("--append", action="store_true", help="add to an existing OUT instead of replacing it")
    args = ap.parse_args()
    grids = {"uncalibrated": None, "before": (None,), "after": common.clips(args.clips)}
    names = args.grids.split(",")
    if not names or set(names) - set(grids):
        raise SystemExit(f"--grids: choose from {', '.join(grids)}; got {args.grids!r}")
    tasks = [(str(p), name, grids[name], args.students, args.seeds) for p in args.teachers for name in names]
    start = time.perf_counter()
    with ProcessPoolExecutor(args.workers) as pool:
        results = list(pool.map(measure, tasks))
    rows = pd.DataFrame([r for r, _, _ in results])
    held = pd.concat([h for _, h, _ in results], ignore_index=True)
    nas = pd.concat([n for _, _, n in results], ignore_index=True)
    commands = [common.command()]
    if args.append and args.out.with_suffix(".csv").exists():
        old_meta = json.loads(args.out.with_suffix(".json").read_text())
        commands = old_meta.get("commands", [old_meta["command"]]) + [common.command()]
        rows, held, nas = (
            _merge(pd.read_csv(path), new)
            for path, new in (
                (args.out.with_suffix(".csv"), rows),
                (args.out / "heldout.csv", held),
                (args.out / "nas.csv", nas),
            )
        )
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(held, args.out / "heldout.csv")
    write_csv(nas, args.out / "nas.csv")
    meta = common.metadata(
        hardware_threads=1,  # each worker's
        command=" ; ".join(commands),
        commands=commands,
        wall_s=time.perf_counter() - start,
        workers=args.workers,
        threads_per_worker=1,
        clips=args.clips,
        students=args.students,
        seeds=args.seeds,
    )
    common.write_outputs(args.out, rows, meta)
    common.write_md(args.out.with_suffix(".md"), clip_ablation_md(rows, meta, args.out.name))


if __name__ == "__main__":
    main()
