"""Is the 32-step recipe what ranks the unpooled and deep ConvNets too low? A recipe sweep.

Every proxy, real data included, ranks the avg-pooled ConvNets too high and the unpooled and depth-3
ones too low under the start's recipe (results/teachers/rank_ablation/families.md). This sweep trains
students on one teacher's 32 batches under a grid of recipes (absolute lr x momentum x gradient clip)
and records, per recipe:

- `calib4_acc`: what today's calibration maximises — the mean holdout accuracy of the 4 distillation
  students the teacher's calibration draws, with its init seeds (`calibrate_distilled`'s students
  and holdout: at a grid point it reproduces the calibration's table); `calib16_acc`: the same over
  16 students (the first 4 are those), a less noisy version of the same criterion;
- `pool_rho`: a rank criterion a calibration could use instead — Spearman rho between the rank-train
  ConvNets' ground truth (results/ground_truth/rank_pool.csv) and their holdout accuracy (the same
  2,000 training-split images; never validation);
- `eval_rho`: what a user gets — Spearman rho over the 60 evaluation ConvNets of
  results/ground_truth/convnet.csv, scored on `--val-examples` validation images. It selects nothing
  here; it says whether either criterion picks a recipe that ranks better.

    GTN_NAS_THREADS=1 python benchmarks/recipe_rank.py --teacher CKPT --out results/teachers/recipe_rank/NAME.csv

Rows are appended per recipe, so a stopped sweep resumes where it stopped. `--summarise-fixed DIR`
ranks the `gtn-nas search` scores in DIR/nas (teachers and their starts under one derived recipe)
against the ground truth, each teacher paired with its start, and pools the seeds (DIR/pooled.csv).
`--derive LR:M:CLIP OUT.pt` instead saves the teacher with that recipe (every step's lr and momentum,
the clip), for `gtn-nas search`.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import torch
from rank_ablation import POOL, control, label
from rank_stats import GT, ROOT, pooled
from scipy.stats import spearmanr

from gtn_nas.api import (
    CalibrationConfig,
    DistillConfig,
    GtnNasError,
    load_ground_truth,
    load_mnist,
    load_space,
    write_csv,
    write_text,
)
from gtn_nas.api.lab import RankPool, accuracy, inv_softplus, load_checkpoint, save_checkpoint, train_student
from gtn_nas.api.lab import load_teacher_checkpoint as load_teacher
from gtn_nas.api.lab import teacher_recipe as teacher_batches

CALIB_STUDENTS = 16
COLUMNS = ("teacher", "lr", "momentum", "clip", "calib4_acc", "calib16_acc", "pool_rho", "pool_n", "eval_rho")
RECIPES = "0.1:0.5:1,0.1:0.9:1,0.2:0.5:1,0.2:0.9:1,0.4:0.5:1,0.4:0.9:1"


def parse_recipes(text: str) -> list[tuple[float, float, float | None]]:
    """Recipes written LR:MOMENTUM:CLIP,... (CLIP "none": no clipping) as (lr, momentum, clip) tuples;
    a malformed one is a one-line error."""
    out = []
    for item in text.split(","):
        try:
            lr, m, clip = item.split(":")
            out.append((float(lr), float(m), None if clip == "none" else float(clip)))
        except ValueError:
            sys.exit(f"error: recipe {item!r} is not LR:MOMENTUM:CLIP (CLIP a number or none)")
    return out


def with_recipe(ckpt: dict, lr: float, momentum: float, clip: float | None) -> dict:
    """A teacher checkpoint (dict) whose students train with one lr, momentum and clip at every step."""
    state = dict(ckpt["teacher"])
    state["raw_lr"] = inv_softplus(torch.full_like(state["raw_lr"], lr))
    state["raw_momentum"] = torch.full_like(state["raw_momentum"], math.log(momentum / (1 - momentum)))
    recipe = {"lr": lr, "momentum": momentum, "max_grad_norm": clip, "derived_by": "benchmarks/recipe_rank.py"}
    return {**ckpt, "teacher": state, "calibration": recipe}


def accuracies(specs, batches, lr, momentum, clip, split, seeds=None) -> list[float]:
    """Accuracy on `split` of each spec trained on `batches` (init seed 0, or seeds[i] for spec i)."""
    steps = [(x, y, lr, momentum) for x, y in batches]
    seeds = seeds or [0] * len(specs)
    return [accuracy(train_student(s, i, steps, "cpu", clip), None, split.x, split.y) for s, i in zip(specs, seeds)]


def calibration_scores(specs, batches, lr, m, clip, holdout, seed) -> dict:
    """The calibration's score of a recipe (its first 4 students, init seeds seed, seed+1, ...) and
    the same over every student in `specs` (`score_recipe`'s seeds)."""
    accs = accuracies(specs, batches, lr, m, clip, holdout, [seed + i for i in range(len(specs))])
    return {"calib4_acc": sum(accs[:4]) / 4, f"calib{len(accs)}_acc": sum(accs) / len(accs)}


def summarise_fixed(folder: Path) -> None:
    """`gtn-nas rank` of DIR/nas/*.csv (teacher − its start, paired) and the seeds pooled."""
    names = sorted(p.stem for p in (folder / "nas").glob("*.csv"))
    teachers = [n for n in names if "-seed" in n]  # the rest (real data) is ranked, not paired
    paired = []
    for n in teachers:
        variant, seed = n.rsplit("-seed", 1)
        if control(variant) != variant and f"{control(variant)}-seed{seed}" in names:
            paired += ["--paired", f"{label(n)},{label(f'{control(variant)}-seed{seed}')}"]
    out = ["--out-csv", str(folder / "nas_correlation.csv"), "--out-md", str(folder / "nas_correlation.md")]
    runs = [str(folder / "nas" / f"{n}.csv") for n in names]
    cmd = ["gtn-nas", "rank", "--ground-truth", GT, *runs, "--bootstrap", "1000"]
    subprocess.run([*cmd, "--seed", "0", *paired, *out], check=True, cwd=ROOT)
    write_csv(pooled(folder, teachers, control), folder / "pooled.csv")


def sweep(teacher_path: str, out: Path, recipes: list, val_examples: int, calib_only: bool = False) -> None:
    """Append one row per recipe not yet in `out` (or, `calib_only`, rescore the calibration columns)."""
    data = load_mnist()
    teacher, _ = load_teacher(teacher_path)  # a bad checkpoint stops here, before anything is written
    log = out.with_suffix(".commands.txt")  # every command that added rows, in order
    ran = log.read_text() if log.exists() else ""
    write_text(log, ran + "GTN_NAS_THREADS=1 " + shlex.join(["python", *sys.argv]) + "\n")
    batches, _, _ = teacher_batches(teacher)
    cfg = DistillConfig.from_dict(load_checkpoint(teacher_path)["config"])
    # random.Random.sample draws the same first 4 of 16 as of 4: the calibration's students come first
    calib_specs = load_space(cfg.space).sample(CALIB_STUDENTS, seed=cfg.seed + 777)
    holdout = data.train.subset(CalibrationConfig().holdout, seed=0)
    val = data.val.subset(val_examples, seed=0)
    pool = [(s, a) for s, a in RankPool.load(ROOT / POOL).train if s["family"] == "conv"]
    gt = load_ground_truth(ROOT / GT)
    evals = [json.loads(s) for s in gt["spec"]]
    done = pd.read_csv(out) if out.exists() else pd.DataFrame(columns=["lr", "momentum", "clip"])
    rows = done.to_dict("records")
    if calib_only:
        for r in rows:
            clip = None if str(r["clip"]) == "none" else float(r["clip"])
            r.update(calibration_scores(calib_specs, batches, r["lr"], r["momentum"], clip, holdout, cfg.seed + 777))
            r.pop("calib_acc", None)
        write_csv(pd.DataFrame(rows)[list(dict.fromkeys(COLUMNS + tuple(rows[0])))], out)
        return
    for lr, m, clip in recipes:
        key = (lr, m, "none" if clip is None else clip)
        if any((r["lr"], r["momentum"], str(r["clip"])) == (key[0], key[1], str(key[2])) for r in rows):
            continue
        t0 = time.perf_counter()
        scores = calibration_scores(calib_specs, batches, lr, m, clip, holdout, cfg.seed + 777)
        pool_accs = accuracies([s for s, _ in pool], batches, lr, m, clip, holdout)
        eval_accs = accuracies(evals, batches, lr, m, clip, val)
        row = {
            "teacher": teacher_path,
            "lr": lr,
            "momentum": m,
            "clip": key[2],
            **scores,
            "pool_rho": float(spearmanr(pool_accs, [a for _, a in pool]).statistic),
            "pool_n": len(pool),
            "eval_rho": float(spearmanr(eval_accs, gt["val_acc"]).statistic),
            "eval_mean_acc": sum(eval_accs) / len(eval_accs),
            "seconds": time.perf_counter() - t0,
        }
        rows.append(row)
        write_csv(pd.DataFrame(rows), out)
        print(json.dumps(row), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--teacher", help="the teacher checkpoint (a sweep, --derive)")
    ap.add_argument("--out", help="the sweep's CSV")
    ap.add_argument("--val-examples", type=int, default=2000)
    ap.add_argument("--derive", nargs=2, metavar=("LR:M:CLIP", "OUT"), help="save the teacher with this recipe")
    ap.add_argument("--summarise-fixed", type=Path, metavar="DIR", help="rank DIR/nas/*.csv, pool the seeds")
    ap.add_argument("--calib-only", action="store_true", help="(re)score the calibration columns of --out's rows")
    ap.add_argument("--recipes", default=RECIPES, help="LR:MOMENTUM:CLIP,... (CLIP none: no clipping)")
    args = ap.parse_args()
    if args.summarise_fixed:
        summarise_fixed(args.summarise_fixed)
        return
    if not args.teacher:
        ap.error("--teacher is required for a sweep or --derive")
    if args.derive:
        (recipe,) = parse_recipes(args.derive[0])
        save_checkpoint(args.derive[1], with_recipe(load_checkpoint(args.teacher), *recipe))
        return
    if not args.out:
        ap.error("--out is required for a sweep")
    sweep(args.teacher, Path(args.out), parse_recipes(args.recipes), args.val_examples, args.calib_only)


if __name__ == "__main__":
    try:
        main()
    except GtnNasError as exc:  # a missing or foreign checkpoint, absent data: one line, exit 1
        sys.exit(f"error: {exc}")
