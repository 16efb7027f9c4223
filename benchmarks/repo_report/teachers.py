"""Teacher pages: wall times, ablations, calibration, held-out quality, samples, learning curves."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import torch
from matplotlib.figure import Figure

from . import figures as draw
from .figures import markdown_table
from .inputs import Inputs, _blank_na, flag, run_commands


def wall_time_md(frame: pd.DataFrame, meta: dict) -> str:
    scales = sorted(set(frame["scale"])) if "scale" in frame else [float(meta.get("scale", 1))]
    if scales == [1]:
        title = "Default distillation runs"
    elif len(scales) == 1:
        title = f"Distillation runs at {scales[0]:g}x the default meta-steps"
    else:
        title = "Distillation runs at several budgets (`scale` x the default meta-steps)"
    runs = meta.get("runs") or [meta]
    commands = run_commands(runs)
    return f"# {title}\n\nCommand{'s' if len(runs) > 1 else ''}: {commands}\n\n" + markdown_table(
        _blank_na(frame.drop(columns=["final_line"], errors="ignore")), ".3f"
    )


def _wall_time(folder: str) -> Callable[[Inputs], dict]:
    def build(inputs: Inputs) -> dict:
        frame = inputs.csv(f"{folder}/wall_time.csv", ("method",), ("wall_s", "meta_steps", "meta_training_s"))
        return {f"{folder}/wall_time.md": wall_time_md(frame, inputs.json(f"{folder}/wall_time.json", ("command",)))}

    return build


ABLATION_COLUMNS = [
    "variant",
    "what",
    "seed",
    "budget_s",
    "meta_steps",
    "meta_steps_per_min",
    "final_meta_loss",
    "retained_raw",
    "retained_sd_seeds_raw",
    "retained_calibrated",
    "worst_retained_calibrated",
    "calibration",
]


def ablation_md(frame: pd.DataFrame) -> str:
    return (
        "# Ablation of the distillation changes\n\n"
        "Each variant: the wall-clock budget of meta-training in `budget_s` (0: the teacher as initialised, "
        "a control) and a seed; held-out retained accuracy (10 architectures x seeds, "
        "32 steps, test accuracy / full-training test accuracy), before (`raw`) and after calibration of the inner "
        "lr/momentum. Commands: `python benchmarks/ablation.py --variant NAME` per variant (the `command` column of "
        "`ablation.csv`, one JSON per variant in `ablation/`), then `python benchmarks/ablation.py --summarise`.\n\n"
        + markdown_table(
            _blank_na(frame[ABLATION_COLUMNS].assign(budget_s=frame["budget_s"].round().astype(int))), ".3f"
        )
    )


def _ablation(inputs: Inputs) -> dict:
    frame = inputs.csv(
        "teachers/ablation.csv",
        ("variant", "what", "calibration"),
        (
            "seed",
            "budget_s",
            "meta_steps",
            "meta_steps_per_min",
            "final_meta_loss",
            "retained_raw",
            "retained_sd_seeds_raw",
            "retained_calibrated",
            "worst_retained_calibrated",
        ),
    )
    return {"teachers/ablation.md": ablation_md(frame)}


CLIP_COLUMNS = [
    "teacher",
    "grid",
    "lr_scale",
    "momentum",
    "max_grad_norm",
    "calibration_holdout_acc",
    "calibration_s",
    "retained_mean",
    "retained_min",
    "retained_sd_seeds",
    "nas_spearman_10k",
    "nas_spearman_1k",
    "nas_at_chance",
]


def clip_ablation_md(frame: pd.DataFrame, meta: dict, stem: str = "clip_ablation") -> str:
    return (
        "# Ablation: calibration may clip the students' gradient norm\n\n"
        f"Command: `{meta['command']}`\n\n"
        "Each teacher calibrated twice from the same uncalibrated state (same students, seed and training-split "
        f"holdout): `before` = lr scale x momentum, `after` = the same x gradient-norm clips ({meta['clips']}); "
        "`uncalibrated` (where present) = the teacher with no calibration (lr x1, its own momentum, no clip). "
        f"Held-out: 10 architectures x {meta['seeds']} seeds, 32 steps, test accuracy / full-training test accuracy. "
        "NAS: Spearman with the 1-epoch ground truth over the 60 ConvNets, 32 steps, one initialisation, on all 10k "
        "validation images and on the frontier's 1k subset; `nas_at_chance`: ConvNets below 0.2 validation accuracy. "
        f"Per architecture: `{stem}/heldout.csv`, `{stem}/nas.csv`. Calibration seconds ran "
        f"{meta['workers']} at a time on {meta['hardware']}.\n\n"
        + markdown_table(frame[CLIP_COLUMNS].assign(max_grad_norm=frame["max_grad_norm"].map(_clip_text)), ".3f")
    )


def _clip_text(v) -> str:
    return "none" if pd.isna(v) or v in ("", "none") else f"{float(v):g}"


def _clip_ablation(stem: str) -> Callable[[Inputs], dict]:
    def build(inputs: Inputs) -> dict:
        frame = inputs.csv(
            f"teachers/{stem}.csv",
            ("teacher", "grid", "momentum"),
            (
                "lr_scale",
                "calibration_holdout_acc",
                "calibration_s",
                "retained_mean",
                "retained_min",
                "nas_spearman_10k",
                "nas_spearman_1k",
                "nas_at_chance",
            ),
        )
        meta = inputs.json(f"teachers/{stem}.json", ("command", "clips", "seeds", "workers", "hardware"))
        return {f"teachers/{stem}.md": clip_ablation_md(frame, meta, stem)}

    return build


def recalibration_md(frame: pd.DataFrame, meta: dict) -> str:
    return (
        "# Shipped teachers recalibrated\n\n"
        f"Command: `{meta['command']}` ({meta['date']}, {meta['hardware']}, {meta['threads']} threads)\n\n"
        "Each teacher's calibration undone (a teacher never calibrated: `previous` is its own lr x1 and momentum) "
        "and run again with gradient-norm clips in the grid "
        f"({meta['clips']}); same students, seed and training-split holdout as at distillation. `elapsed_s_now`: "
        "the checkpoint's distillation time, now counting this calibration instead of the one it replaced.\n\n"
        + markdown_table(_blank_na(frame), ".4f")
    )


def _recalibration(stem: str) -> Callable[[Inputs], dict]:
    def build(inputs: Inputs) -> dict:
        frame = inputs.csv(
            f"teachers/{stem}.csv",
            ("teacher", "previous", "now"),
            ("holdout_acc_previous", "holdout_acc_now", "settings", "seconds", "elapsed_s_now"),
        )
        meta = inputs.json(f"teachers/{stem}.json", ("command", "date", "hardware", "threads", "clips"))
        return {f"teachers/{stem}.md": recalibration_md(frame, meta)}

    return build


QUALITY_NUMERIC = (
    "test_acc_mean",
    "test_acc_sd_over_seeds",
    "worst_arch_acc",
    "retained_mean",
    "retained_min",
    "spearman_vs_full",
    "n_archs",
    "n_seeds",
)


def teacher_quality_md(summary: pd.DataFrame, full: pd.DataFrame, meta: dict) -> str:
    command = meta["command"]
    T, B = meta.get("inner_steps", 32), meta.get("batch_size", 128)
    epochs = int(meta.get("full_epochs") or flag(command, "--full-epochs", 2))
    yard = full[full["epochs"] == epochs][["arch_id", "test_acc"]].rename(columns={"test_acc": "full_test_acc"})
    return (
        f"# Teacher quality on held-out architectures\n\nCommand: `{command}`\n\n"
        f"{int(summary['n_archs'].max())} held-out architectures x {int(summary['n_seeds'].max())} seeds, {T} steps of "
        f"batch {B}; MNIST test accuracy. `retained` = accuracy after {T} steps / accuracy after full training "
        f"({epochs} epochs of Adam). Per architecture and seed: `per_arch.csv`; learning curves: `curves.md`; samples "
        "of each teacher's data: `samples_*.png`.\n\n"
        + markdown_table(summary)
        + "\nFull-training yardstick per architecture:\n\n"
        + markdown_table(yard)
    )


def _teacher_quality_in(folder: str) -> Callable[[Inputs], dict]:
    def build(inputs: Inputs) -> dict:
        summary = inputs.csv(f"{folder}/summary.csv", ("source",), QUALITY_NUMERIC)
        full = inputs.csv(f"{folder}/full_training.csv", ("arch_id",), ("epochs", "test_acc"))
        meta = inputs.json(f"{folder}/command.json", ("command",))
        return {f"{folder}/summary.md": teacher_quality_md(summary, full, meta)}

    return build


_teacher_quality = _teacher_quality_in("teacher_quality")


def teacher_samples_figure(teacher, title: str) -> Figure:
    # One thread: the generator's convolutions sum in a thread-count-dependent order, and a last-bit
    # difference can flip a pixel of the PNG; the report's bytes must not depend on GTN_NAS_THREADS.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        d = teacher.dataset()
    finally:
        torch.set_num_threads(threads)
    return draw.sample_grid_figure(d["images"], d["labels"], title)


def _samples(inputs: Inputs) -> dict:
    from gtn_nas.api import Teacher, TeacherConfig
    from gtn_nas.api.lab import load_teacher_checkpoint as load_teacher

    out = {}
    for rel in inputs.glob("teachers/**/*.pt"):
        teacher, _ = load_teacher(inputs.path(rel))  # a bad checkpoint is a one-line CheckpointError
        out[f"teacher_quality/samples_teacher_{Path(rel).stem}.png"] = teacher_samples_figure(
            teacher, f"teacher:{Path(rel).stem}"
        )
    # What meta-training starts from (today's default teacher, seed 0), for comparison.
    out["teacher_quality/samples_untrained_generator.png"] = teacher_samples_figure(
        Teacher(TeacherConfig(), seed=0), "untrained generator"
    )
    return out


def _configs(inputs: Inputs) -> dict:
    """Beside each shipped teacher, NAME.toml: every setting its checkpoint stored, as a config file
    that reruns it (`gtn-nas distill --method M --config NAME.toml`)."""
    from gtn_nas.api import DistillConfig
    from gtn_nas.api.lab import config_toml
    from gtn_nas.api.lab import load_teacher_checkpoint as load_teacher

    out = {}
    for rel in inputs.glob("teachers/**/*.pt"):
        _, ckpt = load_teacher(inputs.path(rel))  # a bad checkpoint is a one-line CheckpointError
        cfg, toml = DistillConfig.from_dict(ckpt["config"]), Path(rel).with_suffix(".toml")
        calibrated = ckpt.get("calibration") or ckpt.get("start_calibration") or {}
        head = (
            f"# The settings stored in {Path(rel).name} ({cfg.method}, {ckpt['meta_step']} meta-steps), written by\n"
            "# `python benchmarks/report.py` from the checkpoint. The same distillation, with today's code:\n"
            f"#   gtn-nas distill --method {cfg.method} --config results/{toml} --out {Path(rel).name}\n"
            + (
                f"# Its calibration chose inner lr x{calibrated['lr_scale']}, momentum {calibrated['momentum']}, "
                f"clip {calibrated.get('max_grad_norm')}.\n"
                if calibrated
                else ""
            )
        )
        # Paths in a checkpoint are relative to the repository root, where it was distilled.
        out[str(toml)] = head + config_toml(cfg, Path("results") / Path(rel).parent)
    return out


def curves_md(frame: pd.DataFrame, meta: dict, png: str = "curves.png") -> str:
    means = frame.pivot_table(index="source", columns="step", values="test_acc", aggfunc="mean", sort=False)
    means.columns = [f"step {c}" for c in means.columns]
    real = meta.get("real") or {}
    clip = f", gradient clip {real['max_grad_norm']:g}" if real.get("max_grad_norm") else ""
    real_text = (
        f" Real data, `{real['source']}`: 32 random training batches of 128, lr {real['lr']:g}, momentum "
        f"{real['momentum']:g}{clip}, the same for every architecture."
        if real
        else ""
    )
    if real.get("balanced"):
        b = real["balanced"]
        b_clip = f", gradient clip {b['max_grad_norm']:g}" if b.get("max_grad_norm") else ""
        real_text += (
            f" `{b['source']}`: 32 class-balanced batches of distinct real training images (row i of class i mod "
            f"10, as a teacher's), lr {b['lr']:g}, momentum {b['momentum']:g}{b_clip}."
        )
    # Runs that record the real clip also clipped each teacher's data as calibrated.
    teachers = (
        " Teachers' data is trained with each teacher's calibrated gradient clip, if any."
        if "max_grad_norm" in real
        else ""
    )
    return (
        "# Learning curves of held-out students\n\n"
        f"Command: `{meta['command']}`\n\n"
        f"{frame['arch_id'].nunique()} held-out architectures x {frame['seed'].nunique()} seed(s), "
        "trained by the export recipe on each source; "
        f"accuracy on a fixed {int(meta.get('test_examples', 0)):,}-image subset of the test split "
        f"before training (step 0) and after every {meta.get('every', '?')} steps.{real_text}{teachers} "
        f"Mean test accuracy over architectures and seeds (plot, with ± s.d.: `{png}`):\n\n"
        + markdown_table(means.reset_index(), ".3f")
    )


def _curves(inputs: Inputs) -> dict:
    frame = inputs.csv("teacher_quality/curves.csv", ("source", "arch_id"), ("seed", "step", "test_acc"))
    meta = inputs.json("teacher_quality/curves.json", ("command",))
    return {
        "teacher_quality/curves.md": curves_md(frame, meta),
        "teacher_quality/curves.png": draw.curves_figure(frame),
    }


def _starts(inputs: Inputs) -> dict:
    frame = inputs.csv("teachers/starts/summary.csv", ("method", "rho_start"), ())
    if "fit_steps" in frame:
        frame["fit_steps"] = frame["fit_steps"].map(lambda v: v if pd.isna(v) else str(int(v)))
    meta = inputs.json("teachers/starts/summary.json", ("command", "rank_command"))
    return {"teachers/starts/summary.md": starts_md(frame, meta)}


def starts_md(frame: pd.DataFrame, meta: dict) -> str:
    return (
        "# Each shipped teacher against its own start\n\n"
        f"Command: `{meta['command']}`, after the runs it lists (`runs/*.json`).  \n"
        f"Hardware: {meta.get('hardware', 'not recorded')}; {meta.get('date', '')}.\n\n"
        "A start is the shipped teacher's own config (decoder, fit, recipe) with 0 meta-steps, calibrated "
        "as its method is (`start_calibration`; bptt: none). `heldout_*`: test accuracy after 32 steps ÷ "
        "full-training test accuracy, 10 held-out nets x 2 student seeds. `rho_*`: Spearman ρ with the 1-epoch "
        "ground truth of the 60 ConvNets at 32 steps; `*_minus_*`: paired differences of ρ over the same "
        "bootstrap resamples, 95% intervals. `real` tunes its lr alone (results/nas/real.csv); `real-grid` "
        "(random batches) and `subset-grid` (class-balanced, the ift teacher's 4,096 images) tune lr x "
        "momentum x clip on the training-split holdout, a grid like the teachers' calibration; their rows "
        f"give their own ρ under `rho_start` (`{meta['rank_command']}`; `nas_correlation.md`). `rho3ep_*`: the "
        "same scores against 3-epoch full training of 20 of the 60 ConvNets, the yardstick "
        f"(`{meta.get('yardstick_command', '')}`; `yardstick.md`).\n\n"
        + markdown_table(frame.astype(object).fillna("–"), ".4f")
    )
