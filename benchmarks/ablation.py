"""Ablation of the distillation changes: each variant trained for the same wall-clock budget
(and seed), then scored on the held-out architectures.

A variant is a method plus options. Its number of meta-steps is set so that it fits `--budget`
seconds: a probe of `--probe` students' meta-steps measures its seconds per meta-step first (on the same
machine, alongside whatever else runs; the probe's rate is recorded). The trained teacher is scored
before and after calibration of its inner lr/momentum: students of every held-out architecture
(search_spaces/heldout.toml) x `--seeds` seeds trained 32 steps on its data, MNIST test accuracy,
`retained` = that / full-training test accuracy (results/teacher_quality/full_training.csv).

    python benchmarks/ablation.py --variant bptt-base          # one variant -> results/teachers/ablation/<name>.json
    python benchmarks/ablation.py --summarise                  # -> results/teachers/ablation.{csv,md}
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

import pandas as pd
import torch

import common
from gtn_nas.api import DistillConfig, Distiller, TeacherConfig, load_mnist, load_space, write_csv
from gtn_nas.api.lab import score_teacher
from repo_report import ablation_md, read_csv

HYPER = {"inner_lr": 0.1, "inner_momentum": 0.9}
# The cold ift default, pinned so reruns measure what the rows hold if a default moves: a variant's
# ift options not given are these, as when the CG-era variants ran (the Neumann-era ones, ift-base
# to ift-hyper, ran with K=5 Neumann defaults).
IFT_COLD = {"warm_steps": 0, "neumann_terms": 20, "batches": 2}
UPSAMPLE = {"generator": "upsample"}
# name -> (method, method options, other DistillConfig/TeacherConfig fields, what it ablates)
VARIANTS = {
    "bptt-base": ("bptt", {}, {}, "new generator + new students, full unroll, final loss"),
    "bptt-window8": ("bptt", {"window": 8}, {}, "random window of 8 steps"),
    "bptt-losses4": ("bptt", {"meta_losses": 4}, {}, "intermediate losses at 4 points"),
    "bptt-window8-losses2": ("bptt", {"window": 8, "meta_losses": 2}, {}, "window 8 + 2 loss points"),
    "bptt-upsample": ("bptt", {}, {"generator": "upsample"}, "gtn-nas 0.1 generator"),
    "bptt-students-v0": ("bptt", {}, {"space": "distill_v0"}, "gtn-nas 0.1 distillation students"),
    "bptt-k2": ("bptt", {}, {"students_per_step": 2}, "2 students per meta-step"),
    "ift-base": ("ift", {}, {}, "J=2, K=5 Neumann, no settling"),
    "ift-settle20": ("ift", {"settle_steps": 20}, {}, "20 settling steps"),
    "ift-j8": ("ift", {"batches": 8}, {}, "J=8 synthetic batches"),
    "ift-cg20": ("ift", {"solver": "cg", "neumann_terms": 20, "damping": 1.0}, {}, "CG 20 iterations, damping 1"),
    "ift-students-v0": ("ift", {}, {"space": "distill_v0"}, "gtn-nas 0.1 distillation students"),
    "gm-base": ("gm", {}, {}, "sum over rows, 32 real/class, every step"),
    "gm-mean": ("gm", {"layer_reduce": "mean"}, {}, "mean over rows per layer"),
    "gm-real128": ("gm", {"real_per_class": 128}, {}, "128 real images per class"),
    "gm-match8": ("gm", {"match_steps": 8}, {}, "match at 8 random steps"),
    "gm-students-v0": ("gm", {}, {"space": "distill_v0"}, "gtn-nas 0.1 distillation students"),
    "bptt-window8-hyper": ("bptt", {"window": 8}, HYPER, "window 8, initial inner lr 0.1 / momentum 0.9"),
    "ift-hyper": ("ift", {}, HYPER, "initial inner lr 0.1 / momentum 0.9"),
    "gm-hyper": ("gm", {}, HYPER, "initial inner lr 0.1 / momentum 0.9"),
    "bptt-window8-upsample": ("bptt", {"window": 8}, UPSAMPLE, "window 8, gtn-nas 0.1 generator"),
    "ift-upsample": ("ift", {}, UPSAMPLE, "gtn-nas 0.1 generator"),
    "gm-match8-upsample": ("gm", {"match_steps": 8}, UPSAMPLE, "match at 8 random steps, gtn-nas 0.1 generator"),
    "gm-match8-upm": (
        "gm",
        {"match_steps": 8, "update_per_match": True},
        {},
        "match at 8 random steps, a teacher update after each match",
    ),
    "gm-match8-k2": (
        "gm",
        {"match_steps": 8},
        {"students_per_step": 2},
        "match at 8 random steps, 2 students per meta-step",
    ),
    "bptt-window8-upsample-k2": (
        "bptt",
        {"window": 8},
        {**UPSAMPLE, "students_per_step": 2},
        "window 8, gtn-nas 0.1 generator, 2 students per meta-step",
    ),
    "ift-cg20-upsample": (
        "ift",
        {"solver": "cg", "neumann_terms": 20, "damping": 1.0},
        UPSAMPLE,
        "CG 20 iterations, damping 1, gtn-nas 0.1 generator (the default)",
    ),
    "ift-cg20-upsample-k2": (
        "ift",
        {"solver": "cg", "neumann_terms": 20, "damping": 1.0},
        {**UPSAMPLE, "students_per_step": 2},
        "the default with 2 students per meta-step",
    ),
    "gm-match8-hyper": (
        "gm",
        {"match_steps": 8},
        HYPER,
        "match at 8 random steps, initial inner lr 0.1 / momentum 0.9",
    ),
    "bptt-window8-upsample-soft": (
        "bptt",
        {"window": 8},
        {**UPSAMPLE, "soft_labels": True},
        "window 8, gtn-nas 0.1 generator, learned soft labels",
    ),
    "ift-cg20-upsample-soft": (
        "ift",
        {"solver": "cg", "neumann_terms": 20, "damping": 1.0},
        {**UPSAMPLE, "soft_labels": True},
        "the ift default with learned soft labels",
    ),
    "ift-default": ("ift", {}, {}, "the ift default (CG 20, damping 1, upsample generator)"),
    "ift-cg5": ("ift", {"neumann_terms": 5}, {}, "the ift default with 5 CG iterations"),
    "ift-identity": (
        "ift",
        {"solver": "neumann", "neumann_terms": 0},
        {},
        "the ift default with the identity for the inverse Hessian (Neumann K=0)",
    ),
    "gm-default": ("gm", {}, {}, "the gm default (convt generator, 8 matches, calibrated) before augmentation"),
    "gm-default-upsample": (
        "gm",
        {},
        UPSAMPLE,
        "the gm default with the upsample generator, after UpsampleConv made it ~2x faster",
    ),
    "gm-pixels-real": (
        "gm",
        {},
        {"kind": "pixels", "init": "real"},
        "gm default, pixel teacher started from real images",
    ),
    "gm-default-dsa": (
        "gm",
        {"augment": True},
        {},
        "the gm default with differentiable siamese augmentation at each match",
    ),
    "gm-match4": (
        "gm",
        {"augment": True, "match_steps": 4},
        {},
        "the gm default (with augmentation) matching at 4 random inner steps instead of 8",
    ),
    "gm-match2": (
        "gm",
        {"augment": True, "match_steps": 2},
        {},
        "the gm default (with augmentation) matching at 2 random inner steps instead of 8",
    ),
    "gm-mlr02": (
        "gm",
        {"augment": True},
        {"meta_lr": 0.02},
        "the gm default (with augmentation) at meta-lr 0.02 instead of 0.01",
    ),
    "gm-mlr005": (
        "gm",
        {"augment": True},
        {"meta_lr": 0.005},
        "the gm default (with augmentation) at meta-lr 0.005 instead of 0.01",
    ),
    "bptt-default": ("bptt", {}, {}, "the bptt default (upsample generator, window 8)"),
    "bptt-default-dsa": (
        "bptt",
        {"augment": True},
        {},
        "the bptt default with a random DSA transformation of every synthetic image at every inner step",
    ),
    "bptt-window16": ("bptt", {"window": 16}, {}, "the bptt default with a window of 16 steps"),
    "bptt-pixels-real": (
        "bptt",
        {},
        {"kind": "pixels", "init": "real"},
        "bptt default, pixel teacher started from real images",
    ),
    "bptt-pixels-real-mlr05": (
        "bptt",
        {},
        {"kind": "pixels", "init": "real", "meta_lr": 0.05},
        "bptt default, pixel teacher started from real images, meta-lr 0.05",
    ),
    "bptt-genreal": (
        "bptt",
        {},
        {"init": "real", "meta_lr": 0.01},
        "bptt default, generator first fitted to real images (300 Adam steps, GLO)",
    ),
    "gm-genreal": (
        "gm",
        {"augment": True},
        {"init": "real", "meta_lr": 0.01},
        "gm default, generator first fitted to real images (300 Adam steps, GLO)",
    ),
    "bptt-genreal-mlr001": (
        "bptt",
        {},
        {"init": "real", "meta_lr": 0.001},
        "bptt default, generator first fitted to real images, meta-lr 0.001 (fine-tuning)",
    ),
    "gm-genreal-mlr001": (
        "gm",
        {"augment": True},
        {"init": "real", "meta_lr": 0.001},
        "gm default, generator first fitted to real images, meta-lr 0.001 (fine-tuning)",
    ),
    "ift-genreal-mlr001": (
        "ift",
        {},
        {"init": "real", "meta_lr": 0.001},
        "ift default, generator first fitted to real images, meta-lr 0.001 (fine-tuning)",
    ),
    "ift-genreal": (
        "ift",
        {},
        {"init": "real", "meta_lr": 0.01},
        "ift default, generator first fitted to real images (300 Adam steps, GLO)",
    ),
    "bptt-genreal-convt": (
        "bptt",
        {},
        {"init": "real", "generator": "convt"},
        "bptt default (fitted start, meta-lr 0.001) with gm's convt decoder",
    ),
    "bptt-genreal-fit1000": (
        "bptt",
        {},
        {"init": "real", "fit_steps": 1000},
        "bptt default (fitted start, meta-lr 0.001) fitted for 1000 Adam steps instead of 300",
    ),
    "gm-genreal-fit1000": (
        "gm",
        {"augment": True},
        {"init": "real", "fit_steps": 1000},
        "gm default (fitted start, meta-lr 0.001) fitted for 1000 Adam steps instead of 300",
    ),
    "ift-warm8-cg5-j1": (
        "ift",
        {"warm_steps": 8, "neumann_terms": 5, "batches": 1},
        {},
        "the ift default with a warm-started student, 8 inner steps per meta-step, 5 CG iterations, "
        "J=1 synthetic batch",
    ),
    "ift-warm4-cg5-j1": (
        "ift",
        {"warm_steps": 4, "neumann_terms": 5, "batches": 1},
        {},
        "the ift default with a warm-started student, 4 inner steps per meta-step, 5 CG iterations, "
        "J=1 synthetic batch",
    ),
    "ift-genreal-mlr001-warm8-cg5-j1": (
        "ift",
        {"warm_steps": 8, "neumann_terms": 5, "batches": 1},
        {"init": "real", "meta_lr": 0.001},
        "ift default (fitted start, meta-lr 0.001) with a warm-started student, 8 inner steps per meta-step, "
        "5 CG iterations, J=1",
    ),
}
DEFAULT_BUDGET = 180.0  # seconds of meta-training; other budgets are tagged in the file name
TEACHER_FIELDS = {"generator", "inner_lr", "inner_momentum", "soft_labels", "kind", "init", "fit_steps"}


def config(name: str, meta_steps: int, seed: int) -> DistillConfig:
    method, options, extra, _ = VARIANTS[name]
    if method == "gm":  # every gm variant but the -dsa one ran before augmentation was on by default
        options = {"augment": False, **options}
    if method == "ift":
        options = {**IFT_COLD, **options}
    extra = {"init": "noise", **extra}  # every variant but the *-genreal ones ran before the fitted start
    teacher = TeacherConfig(**{k: v for k, v in extra.items() if k in TEACHER_FIELDS})
    rest = {k: v for k, v in extra.items() if k not in TEACHER_FIELDS}
    return DistillConfig(
        method=method,
        method_options=options,
        teacher=teacher,
        meta_steps=meta_steps,
        seed=seed,
        eval_every=10**9,
        checkpoint_every=10**9,
        calibrate=False,
        **rest,
    )


def heldout(d: Distiller, data, seeds: int) -> dict:
    rows = score_teacher(d.teacher, load_space("heldout").archs, data.test, range(seeds))
    full = pd.read_csv(Path("results/teacher_quality/full_training.csv")).set_index("arch_id")["test_acc"]
    frame = pd.DataFrame(rows).assign(retained=lambda f: f["acc"] / f["arch_id"].map(full))
    per_seed = frame.groupby("seed")["retained"].mean()
    return {
        "retained": frame["retained"].mean(),
        "retained_sd_seeds": float(per_seed.std()) if len(per_seed) > 1 else 0.0,
        "test_acc": frame["acc"].mean(),
        "worst_retained": frame.groupby("arch_id")["retained"].mean().min(),
    }


def run_variant(name: str, budget: float, probe: int, seeds: int, seed: int, out_dir: Path) -> dict:
    data = load_mnist()
    sec, steps, init_s = float("nan"), 0, 0.0  # budget 0: the teacher as initialised (a control)
    if budget > 0:
        probe_d = Distiller(config(name, 10**6, seed), data, torch.device("cpu"))
        probe_d.start()
        init_s = probe_d.elapsed  # a fit to real images counts against the budget
        # A warm-started ift student lives T/N meta-steps: the probe covers `probe` students either way.
        warm = probe_d.cfg.method_options.get("warm_steps") or 0
        probe_steps = probe * (-(-probe_d.cfg.teacher.inner_steps // warm) if warm else 1)
        t0 = time.perf_counter()
        for _ in range(probe_steps):
            probe_d.meta_step()
        sec = (time.perf_counter() - t0) / probe_steps
        steps = max(1, int((budget - init_s) / sec))
    d = Distiller(config(name, max(steps, 1), seed), data, torch.device("cpu"))
    d.start()
    init_s = init_s or d.elapsed
    t0 = time.perf_counter()
    while d.step < steps:
        d.meta_step()
    train_s = time.perf_counter() - t0
    before = heldout(d, data, seeds)
    # Calibration is scored where it may be switched on: ift, gm, and bptt's base run.
    calibrated = d.cfg.method != "bptt" or name == "bptt-base"
    if calibrated:
        d.calibrate()
    after = heldout(d, data, seeds) if calibrated else {k: float("nan") for k in before}
    method, options, extra, what = VARIANTS[name]
    if not steps:
        name, what = f"{name}-init", f"{what}; as initialised, no meta-steps (control)"
    row = {
        "variant": name,
        "method": method,
        "what": what,
        "options": json.dumps({**options, **extra}),
        "seed": seed,
        "budget_s": budget,
        "init_s": init_s,
        "probe_s_per_step": sec,
        "meta_steps": steps,
        "train_s": train_s,
        "meta_steps_per_min": 60 * steps / train_s if steps else float("nan"),
        "final_meta_loss": statistics.mean(r["meta_loss"] for r in d.metrics[-10:] if r["meta_loss"] == r["meta_loss"])
        if steps
        else float("nan"),  # skipped steps are NaN
        **{f"{k}_raw": v for k, v in before.items()},
        **{f"{k}_calibrated": v for k, v in after.items()},
        "calibration": json.dumps({k: d.calibration[k] for k in ("lr_scale", "momentum", "holdout_acc")})
        if calibrated
        else "",
        "threads": torch.get_num_threads(),
        "command": common.command(),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    budget_tag = "" if budget in (0, DEFAULT_BUDGET) else f"-{budget:g}s"
    common.write_json(out_dir / f"{name}{budget_tag}-seed{seed}.json", row)
    return row


def summarise(out_dir: Path) -> None:
    rows = [json.loads(p.read_text()) for p in sorted(out_dir.glob("*.json"))]
    frame = pd.DataFrame(rows)
    order = {n: i for i, n in enumerate(VARIANTS)}
    frame = frame.sort_values(
        ["method", "variant", "budget_s"], key=lambda c: c.map(order) if c.name == "variant" else c
    )
    write_csv(frame, out_dir.parent / "ablation.csv")
    # Rendered from the file just written, exactly as `python benchmarks/report.py` renders it.
    common.write_md(out_dir.parent / "ablation.md", ablation_md(read_csv(out_dir.parent / "ablation.csv")))


def main() -> None:
    ap = common.parser(__doc__)
    ap.add_argument("--variant", choices=list(VARIANTS))
    ap.add_argument("--budget", type=float, default=DEFAULT_BUDGET, help="seconds of meta-training per variant")
    ap.add_argument("--probe", type=int, default=3)
    ap.add_argument("--seeds", type=int, default=2, help="held-out seeds")
    ap.add_argument("--seed", type=int, default=0, help="distillation seed")
    common.add_threads(ap)
    ap.add_argument("--out-dir", type=Path, default=Path("results/teachers/ablation"))
    ap.add_argument("--summarise", action="store_true")
    args = ap.parse_args()
    if args.summarise:
        summarise(args.out_dir)
        return
    torch.set_num_threads(args.threads)
    row = run_variant(args.variant, args.budget, args.probe, args.seeds, args.seed, args.out_dir)
    print(json.dumps(row))


if __name__ == "__main__":
    main()
