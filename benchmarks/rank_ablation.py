"""Rank-objective ablation: does meta-training beat its own fitted start, and does `--objective rank`?

Each variant is a `gtn-nas distill --method ift` command (below); every variant starts from the same
fitted generator for a given seed, so `start` (`--meta-steps 0`: fitted and calibrated, never
meta-trained) is the control each teacher is compared with. Per variant and distillation seed:

1. distill (skipped when the checkpoint is complete; resumable);
2. score the 60 ConvNets of results/ground_truth/convnet.csv at 32 steps (`gtn-nas search`);
3. held-out retained accuracy: test accuracy after 32 steps on the teacher's data ÷ full-training
   test accuracy (results/teacher_quality/full_training.csv), 10 held-out nets x 2 student seeds.

`--summarise` ranks every scored teacher against the ground truth with paired bootstrap intervals
(teacher − its start, teacher − real) and writes summary.{csv,md} beside the runs.

    GTN_NAS_THREADS=1 python benchmarks/rank_ablation.py --only start:0 accuracy:0 ...
    python benchmarks/rank_ablation.py --summarise
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import torch
from rank_stats import GT, REAL_RUNS, ROOT, families, pooled

from gtn_nas.api import arch_id, load_mnist, load_space, write_csv, write_text
from gtn_nas.api.lab import accuracy, save_checkpoint, train_student
from gtn_nas.api.lab import load_teacher_checkpoint as load_teacher
from gtn_nas.api.lab import teacher_recipe as teacher_batches
from repo_report import write_section

POOL = "results/ground_truth/rank_pool.csv"
META_STEPS = 60  # x K = 4 students: the 240 students of the default 15-minute ift run (K = 1)
K = 4
CALIBRATE_START = "benchmarks/configs/calibrate-start.toml"
VARIANTS = {
    "start": ["--meta-steps", "0"],
    "accuracy": ["--meta-steps", str(META_STEPS)],
    "rank": ["--meta-steps", str(META_STEPS), "--objective", "rank", "--rank-pool", POOL],
    "rank-mix1": ["--meta-steps", str(META_STEPS), "--objective", "rank", "--rank-pool", POOL, "--rank-weight", "1"],
    "start-clip1": [],  # see RECALIBRATED
    "rank-zscore": ["--meta-steps", str(META_STEPS), "--objective", "rank", "--rank-pool", POOL],
}
VARIANTS["rank-zscore"] += ["--config", "benchmarks/configs/rank-zscore.toml"]
# cs-*: the start calibrated (clip 1) before meta-training, which then trains its students with
# that recipe (benchmarks/configs/calibrate-start.toml); their control is cs-start.
for _base in ("start", "accuracy", "rank", "rank-mix1"):
    VARIANTS[f"cs-{_base}"] = [*VARIANTS[_base], "--config", CALIBRATE_START]

# One change each to cs-rank-mix1, the same 240 students: K = 8 students per meta-step (30 meta-steps);
# a pool of ConvNets only (the evaluation ranks ConvNets; the MLPs' large gaps to them weigh most in the
# pairwise loss); the pool grown to 144 nets (rank_pool_144.csv, a superset of rank_pool.csv).
CONV_POOL = "results/teachers/rank_ablation/pools/conv.csv"  # written from POOL by derived_pool()
POOL144 = "results/ground_truth/rank_pool_144.csv"
STUDENTS = {"cs-rank-mix1-k8": 8}
# bptt under the rank objective against its own calibrated start: 200 meta-steps of 4 students, the
# 800 students of the default bptt run.
METHOD = {"bptt-cs-start": "bptt", "bptt-cs-rank-mix1": "bptt"}


def with_flag(args: list[str], flag: str, value: str) -> list[str]:
    """`args` with `flag`'s value replaced (each flag given once, so a command reads as it runs)."""
    i = args.index(flag)
    return [*args[: i + 1], value, *args[i + 2 :]]


VARIANTS["cs-rank-mix1-k8"] = with_flag(VARIANTS["cs-rank-mix1"], "--meta-steps", str(META_STEPS * K // 8))
VARIANTS["cs-rank-mix1-conv"] = with_flag(VARIANTS["cs-rank-mix1"], "--rank-pool", CONV_POOL)
VARIANTS["cs-rank-mix1-pool144"] = with_flag(VARIANTS["cs-rank-mix1"], "--rank-pool", POOL144)
VARIANTS["bptt-cs-start"] = VARIANTS["cs-start"]
VARIANTS["bptt-cs-rank-mix1"] = with_flag(VARIANTS["cs-rank-mix1"], "--meta-steps", "200")


# Coverage: distillation students that include the unpooled ConvNets the distillation space leaves
# out (depth 3; width 20), a third of the 60 evaluation nets (benchmarks/configs/distill-unpooled.toml).
# The start is calibrated on students of that space too, so its control is its own start.
UNPOOLED = "benchmarks/configs/calibrate-start-unpooled.toml"
VARIANTS["cs-start-unpooled"] = with_flag(VARIANTS["cs-start"], "--config", UNPOOLED)
VARIANTS["cs-accuracy-unpooled"] = with_flag(VARIANTS["cs-accuracy"], "--config", UNPOOLED)


# The twin objective (gtn_nas/teachers/objectives/twin.py) from the calibrated start, the same 240
# students as cs-accuracy: each student's real-data loss pulled to that of its twin (the same net
# and init after 128 real steps) instead of down. Its control is cs-start.
VARIANTS["cs-twin"] = [*VARIANTS["cs-accuracy"], "--objective", "twin"]


# Variants that differ from another only in the environment: the thread count of the start's fit
# (the fit sums convolutions in a thread-dependent order; how much does that move a start?).
VARIANTS["start-threads2"] = VARIANTS["start"]
ENV = {"start-threads2": {"GTN_NAS_THREADS": "2"}}


# The variant picked for more seeds after seeds 0-2 (the best pooled difference of the study, p 0.13):
# seeds 3 and up test it afresh (`rank_stats.pooled`).
FRESH = {"cs-accuracy-unpooled-startrecipe": 3}


def base_flags(variant: str) -> list[str]:
    return ["--method", METHOD.get(variant, "ift"), "--students-per-step", str(STUDENTS.get(variant, K)), "--quiet"]


def label(name: str) -> str:
    """`gtn-nas rank`'s label of a run's scores (NAME-seedS.csv)."""
    return f"teacher:{METHOD.get(name.rsplit('-seed', 1)[0], 'ift')} [{name}]"


def derived_pool() -> None:
    """The ConvNet-only pool: rank_pool.csv's rows of family conv (ids, ground truth unchanged)."""
    if not (ROOT / CONV_POOL).exists():
        pool = pd.read_csv(ROOT / POOL)
        write_csv(pool[pool["family"] == "conv"], ROOT / CONV_POOL)


# Teachers scored under their start's recipe (lr, momentum, clip) instead of the one the end calibration
# chose: the checkpoint that `calibrate = false` (benchmarks/configs/calibrate-start-only.toml) saves,
# since ift's meta-gradient reaches none of the three (tests/lab/test_rank_ablation.py checks the two equal).
START_RECIPE = {
    f"{v}-startrecipe": v
    for v in ("cs-accuracy", "cs-rank-mix1", "cs-rank-mix1-k8", "cs-rank-mix1-conv", "cs-accuracy-unpooled", "cs-twin")
}
NO_END_CALIBRATION = {
    CALIBRATE_START: "benchmarks/configs/calibrate-start-only.toml",
    UNPOOLED: "benchmarks/configs/calibrate-start-only-unpooled.toml",
}
for _name, _base in START_RECIPE.items():
    _config = VARIANTS[_base][VARIANTS[_base].index("--config") + 1]
    VARIANTS[_name] = with_flag(VARIANTS[_base], "--config", NO_END_CALIBRATION[_config])
    STUDENTS[_name] = STUDENTS.get(_base, K)


def images_with_recipe(images: dict, recipe: dict) -> dict:
    """The teacher state of checkpoint `images` with the inner lr and momentum of checkpoint `recipe`."""
    return {**images["teacher"], **{k: recipe["teacher"][k] for k in ("raw_lr", "raw_momentum")}}


def with_start_recipe(teacher: dict, start: dict) -> dict:
    """`teacher` (a checkpoint dict, ift) as if its end calibration had not run: the lr and momentum of
    the start it was meta-trained from, no end calibration (so its clip is the start's)."""
    state = images_with_recipe(teacher, start)
    seconds = (teacher.get("calibration") or {}).get("seconds", 0.0)
    config = {**teacher["config"], "calibrate": False}
    return {**teacher, "teacher": state, "config": config, "calibration": {}, "elapsed": teacher["elapsed"] - seconds}


# The other half of that 2 x 2: the start scored under the recipe cs-accuracy's end calibration chose
# (at seed 0 every cs-* teacher's end calibration chose that same recipe: lr x0.5, clip 1).
START_UNDER = {"cs-start-accrecipe": "cs-accuracy"}
VARIANTS["cs-start-accrecipe"] = VARIANTS["cs-start"]


def start_with_recipe_of(start: dict, teacher: dict) -> dict:
    """The start (a checkpoint dict, ift) with the lr, momentum and end calibration (clip) of `teacher`."""
    return {**start, "teacher": images_with_recipe(start, teacher), "calibration": teacher["calibration"]}


def control(variant: str) -> str:
    """The start a variant is compared with: the same fitted start, calibrated the same way."""
    if variant.startswith("bptt-"):
        return "bptt-cs-start"
    if variant.startswith("cs-") and "-unpooled" in variant and variant != "cs-start-unpooled":
        return "cs-start-unpooled"
    return "cs-start" if variant.startswith("cs-") else "start"


# Controls made from a start by `gtn-nas calibrate` (its flags): is the start's ranking its calibration?
RECALIBRATED = {"start-clip1": ["--clips", "1"]}


def run(cmd: list[str], log: list[str], env: dict | None = None) -> float:
    shown = " ".join(f"{k}={v}" for k, v in (env or {}).items())
    print("$", shown, shlex.join(cmd), flush=True)
    log.append(f"{shown} {shlex.join(cmd)}".strip())
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=ROOT, env={**os.environ, **(env or {})})
    return time.perf_counter() - t0


def heldout_retained(ckpt: Path, seeds=(0, 1)) -> pd.DataFrame:
    data = load_mnist()
    teacher, _ = load_teacher(ckpt)
    batches, lrs, moms = teacher_batches(teacher)
    recipe = [(x, y, lr, m) for (x, y), lr, m in zip(batches, lrs, moms)]
    full = pd.read_csv(ROOT / "results/teacher_quality/full_training.csv").set_index("arch_id")["test_acc"]
    rows = []
    for spec in load_space("heldout").archs:
        for seed in seeds:
            acc = accuracy(
                train_student(spec, seed, recipe, "cpu", teacher.max_grad_norm), None, data.test.x, data.test.y
            )
            rows.append(
                {"arch_id": arch_id(spec), "seed": seed, "test_acc": acc, "retained": acc / full[arch_id(spec)]}
            )
    return pd.DataFrame(rows)


def search_command(out: Path, *source: str) -> list[str]:
    """`gtn-nas search` of the 60 ConvNets at 32 steps, as results/nas/COMMANDS.md scores the shipped
    teachers (less --device auto); `source`: the proxy's flags (--teacher CKPT, --proxy ...)."""
    flags = ["--archs-from", GT, "--steps", "32", "--seed", "0", "--space", "convnet", "--quiet"]
    return ["gtn-nas", "search", *source, *flags, "--out", str(out)]


def one(variant: str, seed: int, out_dir: Path) -> None:
    name = f"{variant}-seed{seed}"
    ckpt, log = out_dir / f"{name}.pt", []
    cmd = ["gtn-nas", "distill", *base_flags(variant), *VARIANTS[variant], "--seed", str(seed), "--out", str(ckpt)]
    if CONV_POOL in cmd:
        derived_pool()
    if variant in START_RECIPE and not ckpt.exists():  # derived, no distillation: `cmd` is its equivalent
        load = lambda v: torch.load(out_dir / f"{v}-seed{seed}.pt", weights_only=True, map_location="cpu")
        start = control(START_RECIPE[variant])
        save_checkpoint(ckpt, with_start_recipe(load(START_RECIPE[variant]), load(start)))
        pair = f"{START_RECIPE[variant]}-seed{seed}.pt and {start}-seed{seed}.pt"
        log.append(f"# derived from {pair} by with_start_recipe")
    if variant in START_UNDER and not ckpt.exists():  # derived: no command makes it
        load = lambda v: torch.load(out_dir / f"{v}-seed{seed}.pt", weights_only=True, map_location="cpu")
        save_checkpoint(ckpt, start_with_recipe_of(load("cs-start"), load(START_UNDER[variant])))
        log.append(
            f"# derived from cs-start-seed{seed}.pt and {START_UNDER[variant]}-seed{seed}.pt by start_with_recipe_of"
        )
    if variant in RECALIBRATED:  # the same seed's start, calibrated again on a grid that only clips
        cmd = [
            "gtn-nas",
            "calibrate",
            "--teacher",
            str(out_dir / f"start-seed{seed}.pt"),
            "--out",
            str(ckpt),
            *RECALIBRATED[variant],
        ]
    done = ckpt.exists() and torch.load(ckpt, weights_only=True, map_location="cpu")["complete"]
    wall = None if done else run(cmd + (["--resume"] if ckpt.exists() else []), log, ENV.get(variant))
    nas = out_dir / "nas" / f"{name}.csv"
    if not nas.exists():
        run(search_command(nas, "--teacher", str(ckpt)), log)
    held = heldout_retained(ckpt)
    write_csv(held, out_dir / "heldout" / f"{name}.csv")
    saved = torch.load(ckpt, weights_only=True, map_location="cpu")
    metrics = pd.DataFrame(saved["metrics"])
    rank_val = metrics["rank_val_rho"].dropna() if "rank_val_rho" in metrics else pd.Series(dtype=float)
    record = {
        "variant": variant,
        "seed": seed,
        "distill_command": shlex.join(cmd),
        "distill_wall_s": wall,
        "meta_steps": int(metrics["meta_step"].iloc[-1]) if len(metrics) else 0,
        "students_per_step": STUDENTS.get(variant, K),
        "elapsed_s": float(saved["elapsed"]),  # fit + meta-steps + calibration
        "heldout_retained": float(held["retained"].mean()),
        "heldout_retained_min": float(held["retained"].min()),
        "rank_val_rho_last": float(rank_val.iloc[-1]) if len(rank_val) else None,
        "threads": ENV.get(variant, os.environ).get("GTN_NAS_THREADS"),  # the distillation's
        "commands": log,
    }
    write_text(out_dir / "runs" / f"{name}.json", json.dumps(record, indent=1) + "\n")
    print(json.dumps({k: v for k, v in record.items() if k != "commands"}), flush=True)


def summarise(out_dir: Path) -> None:
    records = [json.loads(p.read_text()) for p in sorted((out_dir / "runs").glob("*.json"))]
    names = [f"{r['variant']}-seed{r['seed']}" for r in records]
    runs = [str(out_dir / "nas" / f"{n}.csv") for n in names] + ["results/nas/real.csv", "results/nas/subset.csv"]
    paired = []
    for r, n in zip(records, names):
        start = f"{control(r['variant'])}-seed{r['seed']}"
        if r["variant"] != control(r["variant"]) and start in names:  # start-clip1 too: the calibration's effect
            paired += ["--paired", f"{label(n)},{label(start)}"]
        paired += ["--paired", f"{label(n)},real"]
    cmd = [
        "gtn-nas",
        "rank",
        "--ground-truth",
        GT,
        *runs,
        "--bootstrap",
        "1000",
        "--seed",
        "0",
        *paired,
        "--out-csv",
        str(out_dir / "nas_correlation.csv"),
        "--out-md",
        str(out_dir / "nas_correlation.md"),
    ]
    run(cmd, [])
    corr = pd.read_csv(ROOT / out_dir / "nas_correlation.csv").set_index("proxy")

    def interval(label: str, sign: str = "+") -> str:
        if label not in corr.index:
            return ""
        r = corr.loc[label]
        return f"{r['spearman']:{sign}.3f} [{r['spearman_lo']:{sign}.2f}, {r['spearman_hi']:{sign}.2f}]"

    rows = []
    for r, n in zip(records, names):
        me = label(n)
        rows.append(
            {
                "variant": r["variant"],
                "seed": r["seed"],
                "meta_steps": r["meta_steps"],
                "students_per_step": r.get("students_per_step", K),
                # scored from a checkpoint derived from others (a recipe swapped), no distillation of its own
                "derived": any(c.startswith("# derived") for c in r["commands"]),
                "elapsed_s": round(r["elapsed_s"] or 0.0),
                "heldout_retained": round(r["heldout_retained"], 4),
                "rank_val_rho_last": None if r["rank_val_rho_last"] is None else round(r["rank_val_rho_last"], 3),
                "convnet60_rho": interval(me, sign=""),
                "minus_start": interval(f"{me} − {label(control(r['variant']) + '-seed' + str(r['seed']))}"),
                "minus_real": interval(f"{me} − real"),
            }
        )
    table = pd.DataFrame(rows).sort_values(["variant", "seed"])
    meta = {
        "command": "python benchmarks/rank_ablation.py --summarise",
        "rank_command": shlex.join(cmd),
        "meta_steps": META_STEPS,
        "students_per_step": K,
        "pool": POOL,
        "ground_truth": GT,
        "runs": {n: r["commands"] for r, n in zip(records, names)},
        "threads": [r["threads"] for r in records],
    }
    write_csv(table, out_dir / "summary.csv")
    write_csv(pooled(out_dir, names, control, FRESH), out_dir / "pooled.csv")
    runs = {(r["variant"], r["seed"]): out_dir / "nas" / f"{n}.csv" for r, n in zip(records, names)}
    fam = families({**runs, **{(label, None): ROOT / p for label, p in REAL_RUNS.items()}})
    write_csv(fam, out_dir / "families.csv")
    write_text(out_dir / "summary.json", json.dumps(meta, indent=1) + "\n")
    write_section("rank-ablation", "results")  # summary.md and families.md, as the report renders them
    print(table.to_string(index=False))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--only", nargs="*", default=[], help="VARIANT:SEED jobs to run (variants: " + ", ".join(VARIANTS) + ")"
    )
    ap.add_argument("--out-dir", type=Path, default=Path("results/teachers/rank_ablation"))
    ap.add_argument("--summarise", action="store_true")
    args = ap.parse_args()
    for job in args.only:
        variant, seed = job.split(":")
        if variant not in VARIANTS:
            sys.exit(f"error: unknown variant {variant!r}; choose from {', '.join(VARIANTS)}")
        one(variant, int(seed), args.out_dir)
    if args.summarise:
        summarise(args.out_dir)


if __name__ == "__main__":
    main()
