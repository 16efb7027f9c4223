"""Results reporting: every Markdown file and plot under results/, rebuilt from the raw files there.

A `Section` names the raw files it reads (paths relative to the results folder) and builds
{relative output path: Markdown text or Figure} from them. `build_report` runs every section; one
whose inputs are absent is skipped and listed as missing, not failed. Everything is rendered in
memory first, so a corrupt input (an unparsable CSV, a missing column or key) stops the report with
a one-line `ReportInputError` before any file is written; `write_report` then writes each output
atomically, leaving unchanged files untouched. The same inputs give the same bytes (PNGs included).

Benchmarks call the same renderers (`*_md`, `gtn_nas.report.*_figure`) on the files they have just
written, so each results file has one format, defined here. Commands live in JSON sidecars beside
the raw files (key "command"); `manifest.json` indexes them for results/README.md.
"""

from __future__ import annotations

import json
import math
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch
from matplotlib.figure import Figure

from . import report as draw
from .atomic import atomic_write
from .errors import ConfigError, GtnNasError
from .report import markdown_table


class ReportInputError(GtnNasError):
    """A results file the report reads is unreadable or lacks what its section needs."""


class MissingInput(Exception):
    """Inputs of a section do not exist: the section is skipped (not an error)."""

    def __init__(self, paths: list[str]):
        super().__init__(", ".join(paths))
        self.paths = paths


# -- reading inputs -------------------------------------------------------------------------------

def read_csv(path: str | Path, columns: tuple[str, ...] = (), numeric: tuple[str, ...] = ()) -> pd.DataFrame:
    """A CSV with the given columns (and numeric ones), or a one-line ReportInputError naming it."""
    path = Path(path)
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
        raise ReportInputError(f"{path}: not a readable CSV ({(str(exc).strip().splitlines() or [type(exc).__name__])[0]})") from None
    missing = [c for c in (*columns, *numeric) if c not in frame.columns]
    if missing:
        raise ReportInputError(f"{path}: missing column(s) {', '.join(missing)}")
    for c in numeric:
        if not pd.api.types.is_numeric_dtype(frame[c]):
            raise ReportInputError(f"{path}: column {c} is not numeric")
    return frame


def read_json(path: str | Path, keys: tuple[str, ...] = ()) -> dict:
    """A JSON object with the given keys, or a one-line ReportInputError naming the file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ReportInputError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ReportInputError(f"{path}: expected a JSON object")
    missing = [k for k in keys if k not in data]
    if missing:
        raise ReportInputError(f"{path}: missing key(s) {', '.join(missing)}")
    return data


class Inputs:
    """The results folder as a section sees it: validated reads, absent files raise MissingInput."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.read: list[str] = []  # what the current section read, for error messages

    def exists(self, rel: str) -> bool:
        return (self.root / rel).is_file()

    def path(self, rel: str) -> Path:
        if not self.exists(rel):
            raise MissingInput([rel])
        self.read.append(rel)
        return self.root / rel

    def csv(self, rel: str, columns: tuple[str, ...] = (), numeric: tuple[str, ...] = ()) -> pd.DataFrame:
        return read_csv(self.path(rel), columns, numeric)

    def json(self, rel: str, keys: tuple[str, ...] = ()) -> dict:
        return read_json(self.path(rel), keys)

    def glob(self, pattern: str) -> list[str]:
        """Relative paths matching `pattern`, sorted; MissingInput when there are none."""
        found = sorted(str(p.relative_to(self.root)) for p in self.root.glob(pattern) if p.is_file())
        if not found:
            raise MissingInput([pattern])
        return found

    def in_results(self, path: str, recorded_results: str = "results") -> str:
        """A path as a command recorded it (`results/x/y.csv`, where the command's results folder
        was `recorded_results`), relative to this results folder (`x/y.csv`); a path outside that
        folder is taken as the command took it (absolute, or relative to the working directory)."""
        try:
            return str(Path(path).relative_to(recorded_results))
        except ValueError:
            return str(Path(path).absolute())


# -- small formatting helpers ---------------------------------------------------------------------

def flag(command: str, name: str, default):
    """The value of option `name` in a recorded command line (`--x 3` or `--x=3`), else `default`."""
    args = shlex.split(command)
    for i, a in enumerate(args):
        if a == name and i + 1 < len(args):
            return type(default)(args[i + 1])
        if a.startswith(name + "="):
            return type(default)(a.split("=", 1)[1])
    return default


def _blank_na(frame: pd.DataFrame) -> pd.DataFrame:
    """Empty text cells read back from a CSV are NaN; show them empty, as written."""
    text = [c for c in frame.columns if not (pd.api.types.is_numeric_dtype(frame[c]) or pd.api.types.is_bool_dtype(frame[c]))]
    return frame.assign(**{c: frame[c].fillna("") for c in text})


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _num(v, fmt: str) -> str:
    return "n/a" if v is None or (isinstance(v, float) and not math.isfinite(v)) else format(v, fmt)


def _command_block(*commands: str) -> str:
    return "```\n" + "\n".join(commands) + "\n```\n"


# -- the results index (manifest.json) ------------------------------------------------------------

def index_md(manifest: dict, commands: dict[str, dict]) -> str:
    """results/README.md: one row per manifest entry whose sidecar exists (`commands`: sidecar → JSON)."""
    rows = []
    for e in manifest["files"]:
        side = e.get("sidecar")
        if side and side not in commands:
            continue  # not produced yet
        made = f"`{e['command']}`" if e.get("command") else f"`{commands[side]['command']}`"
        extra = [x for x in (commands.get(side, {}).get("note") if side else None, e.get("note")) if x]
        made += "".join(f", {x}" for x in extra) + (f" (`{side}`)" if side else "")
        rows.append(f"| {_cell(e['path'])} | {_cell(e['what'])} | {_cell(made)} | {_cell(e.get('alone', ''))} |")
    head = ("# Results\n\n"
            f"Everything here was produced by the commands written beside it, on this project's development machine: "
            f"{manifest['machine']}. Which runs had the machine to themselves and which shared it is said per file below; "
            "compare methods by the ratios measured in one run.\n\n"
            "Every Markdown file and plot here is rebuilt from the raw files (CSV, JSON, checkpoints) by `gtn-nas report`, "
            "which trains nothing; this index comes from `manifest.json`, each command from the JSON file named beside it.\n\n"
            "| path | what | made by | alone? |\n|---|---|---|---|\n")
    return head + "\n".join(rows) + "\n"


def folder_readme_md(note: dict) -> str:
    return f"# {note['title']}\n\n" + "\n".join(note["text"]) + "\n"


def _index(inputs: Inputs) -> dict:
    manifest = inputs.json("manifest.json", ("machine", "files"))
    sides = {e["sidecar"] for e in manifest["files"] if e.get("sidecar")}
    commands = {s: inputs.json(s, ("command",)) for s in sorted(sides) if inputs.exists(s)}
    out = {"README.md": index_md(manifest, commands)}
    for folder, note in manifest.get("folders", {}).items():
        out[f"{folder}/README.md"] = folder_readme_md(note)
    return out


# -- ground truth ---------------------------------------------------------------------------------

def ground_truth_md(frame: pd.DataFrame, meta: dict, name: str, yardstick: bool = False) -> str:
    epochs = "/".join(str(v) for v in sorted(frame["epochs"].unique())) if "epochs" in frame else "?"
    epochs += " epoch" if epochs == "1" else " epochs"
    seeds = "/".join(str(v) for v in sorted(frame["n_seeds"].unique())) if "n_seeds" in frame else "?"
    acc = frame["val_acc"]
    text = (f"# Ground truth\n\n`{name}`: {len(frame)} architectures drawn (seed {meta.get('arch_seed', '?')}) from "
            f"`search_spaces/{meta.get('space', '?')}.toml`, each trained from scratch on the 50k training split for {epochs} "
            f"({meta.get('training', 'see the command')}) with {seeds} seeds, scored on the 10k validation split (mean "
            "`val_acc`, spread `val_acc_sd`, every seed in `val_accs`) and on the test split (`test_acc`). `seconds` is "
            f"training + evaluation wall time summed over seeds, {meta.get('machine', 'machine not recorded')}, so it is noisy; "
            "`train_flops` counts forward+backward FLOPs with `torch.utils.flop_counter`.\n\n"
            f"Validation accuracy ranges from {acc.min():.4f} to {acc.max():.4f} (median {acc.median():.4f}).\n\n"
            f"Command{' (' + meta['note'] + ')' if meta.get('note') else ''}:\n\n" + _command_block(meta["command"]))
    if yardstick:
        text += "\nIs one epoch enough to rank them? `yardstick.md` compares 1 and 3 epochs.\n"
    return text


def _ground_truth(inputs: Inputs) -> dict:
    frame = inputs.csv("ground_truth/convnet.csv", ("arch_id",), ("val_acc",))
    meta = inputs.json("ground_truth/convnet.json", ("command",))
    return {"ground_truth/README.md": ground_truth_md(frame, meta, "convnet.csv", inputs.exists("ground_truth/yardstick.csv"))}


YARDSTICK_COLUMNS = ("arch_id",)
YARDSTICK_NUMERIC = ("val_acc_1ep", "val_acc_3ep")


def yardstick_md(frame: pd.DataFrame, meta: dict, png: str = "yardstick.png") -> str:
    table = frame.sort_values(["val_acc_3ep", "arch_id"], ascending=[False, True])[["arch_id", *YARDSTICK_NUMERIC]]
    table = table.assign(rank_1ep=table["val_acc_1ep"].rank(ascending=False, method="min").astype(int),
                         rank_3ep=table["val_acc_3ep"].rank(ascending=False, method="min").astype(int))
    table.columns = ["arch_id", "val. acc. 1 epoch", "val. acc. 3 epochs", "rank, 1 epoch", "rank, 3 epochs"]
    kendall = (f"; Kendall τ {_num(meta['kendall'], '.3f')} [{_num(meta.get('kendall_lo'), '.2f')}, {_num(meta.get('kendall_hi'), '.2f')}]"
               if "kendall" in meta else "")
    trained = f"The 3-epoch training: `{meta['long_command']}`.\n\n" if meta.get("long_command") else ""
    return ("# Yardstick: does 1 epoch of full training rank like 3?\n\n"
            f"Command: `{meta['command']}`\n\n{trained}"
            f"Between the validation accuracies after 1 and after 3 epochs over {int(meta['n'])} architectures: Spearman ρ "
            f"**{_num(meta['spearman'], '.3f')}** [{_num(meta['spearman_lo'], '.2f')}, {_num(meta['spearman_hi'], '.2f')}]{kendall} "
            f"(95% bootstrap intervals). Plot: `{png}`.\n\n" + markdown_table(table, ".4f"))


def _yardstick(inputs: Inputs) -> dict:
    frame = inputs.csv("ground_truth/yardstick.csv", YARDSTICK_COLUMNS, YARDSTICK_NUMERIC)
    meta = inputs.json("ground_truth/yardstick.json", ("command", "spearman", "spearman_lo", "spearman_hi", "n"))
    fig = draw.agreement_figure(frame["val_acc_1ep"], frame["val_acc_3ep"], "validation accuracy, 1 epoch",
                                "validation accuracy, 3 epochs", f"ρ = {_num(meta['spearman'], '.3f')} (n = {int(meta['n'])})")
    return {"ground_truth/yardstick.md": yardstick_md(frame, meta), "ground_truth/yardstick.png": fig}


# -- teachers: wall times, ablation, quality, samples, learning curves -----------------------------

def wall_time_md(frame: pd.DataFrame, meta: dict) -> str:
    scales = sorted(set(frame["scale"])) if "scale" in frame else [float(meta.get("scale", 1))]
    if scales == [1]:
        title = "Default distillation runs"
    elif len(scales) == 1:
        title = f"Distillation runs at {scales[0]:g}x the default meta-steps"
    else:
        title = "Distillation runs at several budgets (`scale` x the default meta-steps)"
    runs = meta.get("runs") or [meta]
    commands = "; ".join(f"`{r['command']}`" + (f" ({r['note']})" if r.get("note") else "") for r in runs)
    return (f"# {title}\n\nCommand{'s' if len(runs) > 1 else ''}: {commands}\n\n"
            + markdown_table(_blank_na(frame.drop(columns=["final_line"], errors="ignore")), ".3f"))


def _wall_time(folder: str) -> Callable[[Inputs], dict]:
    def build(inputs: Inputs) -> dict:
        frame = inputs.csv(f"{folder}/wall_time.csv", ("method",), ("wall_s", "meta_steps", "meta_training_s"))
        return {f"{folder}/wall_time.md": wall_time_md(frame, inputs.json(f"{folder}/wall_time.json", ("command",)))}
    return build


ABLATION_COLUMNS = ["variant", "what", "seed", "budget_s", "meta_steps", "meta_steps_per_min", "final_meta_loss", "retained_raw",
                    "retained_sd_seeds_raw", "retained_calibrated", "worst_retained_calibrated", "calibration"]


def ablation_md(frame: pd.DataFrame) -> str:
    return ("# Ablation of the distillation changes\n\n"
            "Each variant: the wall-clock budget of meta-training in `budget_s` (0: the teacher as initialised, "
            "a control) and a seed; held-out retained accuracy (10 architectures x seeds, "
            "32 steps, test accuracy / full-training test accuracy), before (`raw`) and after calibration of the inner "
            "lr/momentum. Commands: `python benchmarks/ablation.py --variant NAME` per variant (the `command` column of "
            "`ablation.csv`, one JSON per variant in `ablation/`), then `python benchmarks/ablation.py --summarise`.\n\n"
            + markdown_table(_blank_na(frame[ABLATION_COLUMNS].assign(budget_s=frame["budget_s"].round().astype(int))), ".3f"))


def _ablation(inputs: Inputs) -> dict:
    frame = inputs.csv("teachers/ablation.csv", ("variant", "what", "calibration"),
                       ("seed", "budget_s", "meta_steps", "meta_steps_per_min", "final_meta_loss", "retained_raw", "retained_sd_seeds_raw",
                        "retained_calibrated", "worst_retained_calibrated"))
    return {"teachers/ablation.md": ablation_md(frame)}


CLIP_COLUMNS = ["teacher", "grid", "lr_scale", "momentum", "max_grad_norm", "calibration_holdout_acc", "calibration_s",
                "retained_mean", "retained_min", "retained_sd_seeds", "nas_spearman_10k", "nas_spearman_1k", "nas_at_chance"]


def clip_ablation_md(frame: pd.DataFrame, meta: dict, stem: str = "clip_ablation") -> str:
    return ("# Ablation: calibration may clip the students' gradient norm\n\n"
            f"Command: `{meta['command']}`\n\n"
            "Each teacher calibrated twice from the same uncalibrated state (same students, seed and training-split "
            f"holdout): `before` = lr scale x momentum, `after` = the same x gradient-norm clips ({meta['clips']}); "
            "`uncalibrated` (where present) = the teacher with no calibration (lr x1, its own momentum, no clip). "
            f"Held-out: 10 architectures x {meta['seeds']} seeds, 32 steps, test accuracy / full-training test accuracy. "
            "NAS: Spearman with the 1-epoch ground truth over the 60 ConvNets, 32 steps, one initialisation, on all 10k "
            "validation images and on the frontier's 1k subset; `nas_at_chance`: ConvNets below 0.2 validation accuracy. "
            f"Per architecture: `{stem}/heldout.csv`, `{stem}/nas.csv`. Calibration seconds ran "
            f"{meta['workers']} at a time on {meta['hardware']}.\n\n"
            + markdown_table(frame[CLIP_COLUMNS].assign(max_grad_norm=frame["max_grad_norm"].map(_clip_text)), ".3f"))


def _clip_text(v) -> str:
    return "none" if pd.isna(v) or v in ("", "none") else f"{float(v):g}"


def _clip_ablation(stem: str) -> Callable[[Inputs], dict]:
    def build(inputs: Inputs) -> dict:
        frame = inputs.csv(f"teachers/{stem}.csv", ("teacher", "grid", "momentum"),
                           ("lr_scale", "calibration_holdout_acc", "calibration_s", "retained_mean", "retained_min",
                            "nas_spearman_10k", "nas_spearman_1k", "nas_at_chance"))
        meta = inputs.json(f"teachers/{stem}.json", ("command", "clips", "seeds", "workers", "hardware"))
        return {f"teachers/{stem}.md": clip_ablation_md(frame, meta, stem)}
    return build


def recalibration_md(frame: pd.DataFrame, meta: dict) -> str:
    return ("# Shipped teachers recalibrated\n\n"
            f"Command: `{meta['command']}` ({meta['date']}, {meta['hardware']}, {meta['threads']} threads)\n\n"
            "Each teacher's calibration undone (a teacher never calibrated: `previous` is its own lr x1 and momentum) "
            "and run again with gradient-norm clips in the grid "
            f"({meta['clips']}); same students, seed and training-split holdout as at distillation. `elapsed_s_now`: "
            "the checkpoint's distillation time, now counting this calibration instead of the one it replaced.\n\n"
            + markdown_table(_blank_na(frame), ".4f"))


def _recalibration(stem: str) -> Callable[[Inputs], dict]:
    def build(inputs: Inputs) -> dict:
        frame = inputs.csv(f"teachers/{stem}.csv", ("teacher", "previous", "now"),
                           ("holdout_acc_previous", "holdout_acc_now", "settings", "seconds", "elapsed_s_now"))
        meta = inputs.json(f"teachers/{stem}.json", ("command", "date", "hardware", "threads", "clips"))
        return {f"teachers/{stem}.md": recalibration_md(frame, meta)}
    return build


COMBINATION_NUMERIC = ("steps", "val_examples", "init_seed", "rho_alone", "rho_with_naswot", "rho_alone_3ep", "rho_with_naswot_3ep")


def combination_pivot(frame: pd.DataFrame, val: int, seed: int, suffix: str = "") -> pd.DataFrame:
    """Proxy x steps: "rho alone → rho with naswot" at one validation size and initialisation."""
    f = frame[(frame["val_examples"] == val) & (frame["init_seed"] == seed)]
    cell = f.assign(cell=[f"{a:.2f} → {b:.2f}" for a, b in zip(f[f"rho_alone{suffix}"], f[f"rho_with_naswot{suffix}"])])
    table = cell.pivot(index="proxy", columns="steps", values="cell")
    table.columns = [f"{int(c)} steps" for c in table.columns]
    return table.reset_index()


def nas_combination_md(frame: pd.DataFrame, meta: dict) -> str:
    pair = meta["pair"]
    diffs = frame.dropna(subset=["diff"])[["steps", "val_examples", "init_seed", "diff", "diff_lo", "diff_hi"]]
    diffs = diffs.assign(**{f"ρ({pair[0]}+naswot) − ρ({pair[1]}+naswot) [95% CI]":
                            [f"{d:+.3f} [{lo:+.2f}, {hi:+.2f}]" for d, lo, hi in zip(diffs["diff"], diffs["diff_lo"], diffs["diff_hi"])]})
    seeds = sorted(frame["init_seed"].unique())
    return ("# A trained proxy beside a zero-cost one: rank-averaged with naswot\n\n"
            f"Command: `{meta['command']}` ({meta['date']}; reads `{meta['scores']}` and `{meta['naswot']}`, trains nothing)\n\n"
            "Each cell: Spearman ρ of the proxy alone → of its combination with naswot (each architecture's mean rank "
            "under both, `gtn-nas rank --combine P+naswot`), against the 1-epoch ground truth over the 60 ConvNets; "
            f"naswot alone: see `nas_correlation.md`. 1,000 validation images, initialisation 0:\n\n"
            + markdown_table(combination_pivot(frame, 1000, 0)) +
            "\n10,000 validation images, initialisation 0:\n\n" + markdown_table(combination_pivot(frame, 10000, 0)) +
            "\nAgainst the 3-epoch yardstick (its 20 nets), 1,000 validation images, initialisation 0:\n\n"
            + markdown_table(combination_pivot(frame, 1000, 0, "_3ep")) +
            f"\nPaired: the same {meta['bootstrap']} bootstrap resamples of the 60 architectures for both combinations "
            f"(seed {meta['seed']}), percentile 95% interval; initialisations {', '.join(str(int(s)) for s in seeds)} "
            "where the frontier has them:\n\n"
            + markdown_table(diffs.drop(columns=["diff", "diff_lo", "diff_hi"]).astype({"steps": int, "val_examples": int, "init_seed": int})))


def _nas_combination(inputs: Inputs) -> dict:
    frame = inputs.csv("nas_combination.csv", ("proxy",), COMBINATION_NUMERIC)
    meta = inputs.json("nas_combination.json", ("command", "date", "bootstrap", "seed", "pair", "naswot", "scores"))
    return {"nas_combination.md": nas_combination_md(frame, meta)}


QUALITY_NUMERIC = ("test_acc_mean", "test_acc_sd_over_seeds", "worst_arch_acc", "retained_mean", "retained_min",
                   "spearman_vs_full", "n_archs", "n_seeds")


def teacher_quality_md(summary: pd.DataFrame, full: pd.DataFrame, meta: dict) -> str:
    command = meta["command"]
    T, B = meta.get("inner_steps", 32), meta.get("batch_size", 128)
    epochs = int(meta.get("full_epochs") or flag(command, "--full-epochs", 2))
    yard = full[full["epochs"] == epochs][["arch_id", "test_acc"]].rename(columns={"test_acc": "full_test_acc"})
    return (f"# Teacher quality on held-out architectures\n\nCommand: `{command}`\n\n"
            f"{int(summary['n_archs'].max())} held-out architectures x {int(summary['n_seeds'].max())} seeds, {T} steps of "
            f"batch {B}; MNIST test accuracy. `retained` = accuracy after {T} steps / accuracy after full training "
            f"({epochs} epochs of Adam). Per architecture and seed: `per_arch.csv`; learning curves: `curves.md`; samples "
            "of each teacher's data: `samples_*.png`.\n\n"
            + markdown_table(summary) + "\nFull-training yardstick per architecture:\n\n" + markdown_table(yard))


def _teacher_quality(inputs: Inputs) -> dict:
    summary = inputs.csv("teacher_quality/summary.csv", ("source",), QUALITY_NUMERIC)
    full = inputs.csv("teacher_quality/full_training.csv", ("arch_id",), ("epochs", "test_acc"))
    meta = inputs.json("teacher_quality/command.json", ("command",))
    return {"teacher_quality/summary.md": teacher_quality_md(summary, full, meta)}


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
    from .distillation import load_teacher
    from .teacher import Teacher, TeacherConfig

    out = {}
    for rel in inputs.glob("teachers/**/*.pt"):
        teacher, _ = load_teacher(inputs.path(rel))  # a bad checkpoint is a one-line CheckpointError
        out[f"teacher_quality/samples_teacher_{Path(rel).stem}.png"] = teacher_samples_figure(teacher, f"teacher:{Path(rel).stem}")
    # What meta-training starts from (today's default teacher, seed 0), for comparison.
    out["teacher_quality/samples_untrained_generator.png"] = teacher_samples_figure(Teacher(TeacherConfig(), seed=0), "untrained generator")
    return out


def curves_md(frame: pd.DataFrame, meta: dict, png: str = "curves.png") -> str:
    means = frame.pivot_table(index="source", columns="step", values="test_acc", aggfunc="mean", sort=False)
    means.columns = [f"step {c}" for c in means.columns]
    real = meta.get("real") or {}
    clip = f", gradient clip {real['max_grad_norm']:g}" if real.get("max_grad_norm") else ""
    real_text = (f" Real data, `{real['source']}`: 32 random training batches of 128, lr {real['lr']:g}, momentum "
                 f"{real['momentum']:g}{clip}, the same for every architecture." if real else "")
    if real.get("balanced"):
        b = real["balanced"]
        b_clip = f", gradient clip {b['max_grad_norm']:g}" if b.get("max_grad_norm") else ""
        real_text += (f" `{b['source']}`: 32 class-balanced batches of distinct real training images (row i of class i mod "
                      f"10, as a teacher's), lr {b['lr']:g}, momentum {b['momentum']:g}{b_clip}.")
    # Runs that record the real clip also clipped each teacher's data as calibrated.
    teachers = " Teachers' data is trained with each teacher's calibrated gradient clip, if any." if "max_grad_norm" in real else ""
    return ("# Learning curves of held-out students\n\n"
            f"Command: `{meta['command']}`\n\n"
            f"{frame['arch_id'].nunique()} held-out architectures x {frame['seed'].nunique()} seed(s), trained by the export "
            f"recipe on each source; accuracy on a fixed {int(meta.get('test_examples', 0)):,}-image subset of the test split "
            f"before training (step 0) and after every {meta.get('every', '?')} steps.{real_text}{teachers} Mean test accuracy over "
            f"architectures and seeds (plot, with ± s.d.: `{png}`):\n\n" + markdown_table(means.reset_index(), ".3f"))


def _curves(inputs: Inputs) -> dict:
    frame = inputs.csv("teacher_quality/curves.csv", ("source", "arch_id"), ("seed", "step", "test_acc"))
    meta = inputs.json("teacher_quality/curves.json", ("command",))
    return {"teacher_quality/curves.md": curves_md(frame, meta), "teacher_quality/curves.png": draw.curves_figure(frame)}


# -- speed, memory, distributed, faults, IFT alignment --------------------------------------------

def meta_speed_md(frame: pd.DataFrame, meta: dict) -> str:
    cols = ["method", "code", "students", "threads", "sec_per_meta_step", "meta_steps_per_min", "speedup_vs_0.1_same_students",
            "speedup_vs_0.1_as_shipped", "options"]
    students = len(json.loads(frame["per_student"].iloc[0])) if "per_student" in frame and len(frame) else "?"
    repeats = meta.get("repeats") or flag(meta["command"], "--repeats", 2)
    return (f"# Meta-steps per minute: gtn-nas 0.1 against the current code\n\nCommand: `{meta['command']}`  \n"
            f"Hardware: {meta.get('hardware', 'not recorded')}, T={meta.get('T', 32)}, B={meta.get('batch_size', 128)}, each row "
            f"its own process; mean over {students} students of the median of {repeats} meta-steps.\n"
            "`speedup_vs_0.1_same_students`: against 0.1 on the same students and threads; `speedup_vs_0.1_as_shipped`: against 0.1 "
            "on its own distillation students (what a default run costs).\n\n" + markdown_table(_blank_na(frame[cols]), ".2f"))


def _meta_speed(inputs: Inputs) -> dict:
    frame = inputs.csv("meta_speed.csv", ("method", "code", "students", "options"),
                       ("threads", "sec_per_meta_step", "meta_steps_per_min", "speedup_vs_0.1_same_students", "speedup_vs_0.1_as_shipped"))
    return {"meta_speed.md": meta_speed_md(frame, inputs.json("meta_speed.json", ("command",)))}


def meta_cost_table(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(measurements with ratios to BPTT through all steps at the same T, failed measurements)."""
    ok = frame.dropna(subset=["peak_mem_mb"]) if "peak_mem_mb" in frame else frame.iloc[0:0]
    ref = "bptt-full" if (ok["method"] == "bptt-full").any() else "bptt"
    bptt = ok[ok["method"] == ref].set_index("T")
    table = ok.assign(
        mem_vs_bptt=[r.peak_mem_mb / bptt["peak_mem_mb"].get(r.T, float("nan")) for r in ok.itertuples()],
        time_vs_bptt=[r.sec_per_meta_step / bptt["sec_per_meta_step"].get(r.T, float("nan")) for r in ok.itertuples()],
    )[["method", "T", "sec_per_meta_step", "peak_mem_mb", "increment_mb", "mem_vs_bptt", "time_vs_bptt"]]
    failed = frame[frame["peak_mem_mb"].isna()] if "peak_mem_mb" in frame else frame
    return table.sort_values(["method", "T"]), failed


def meta_cost_md(frame: pd.DataFrame, meta: dict, png: str = "meta_cost.png") -> str:
    from .spaces import arch_id

    table, failed = meta_cost_table(frame)
    student = f"`{arch_id(meta['student'])}`" if isinstance(meta.get("student"), dict) else "not recorded"
    text = ("# Memory and time per meta-step against T\n\n"
            f"Command: `{meta['command']}`  \nHardware: {meta.get('hardware', 'not recorded')}; student {student}, "
            f"B = {meta.get('batch_size', '?')}, teacher: {meta.get('teacher', '?')}; {meta.get('date', '')}.\n"
            "Each measurement in its own process; `mem_vs_bptt`, `time_vs_bptt`: against `bptt-full` (BPTT through all T "
            f"steps) at the same T. Plot: `{png}`.\n\n" + markdown_table(table, ".2f"))
    if len(failed):
        text += "\nFailed measurements:\n\n" + markdown_table(_blank_na(failed[["method", "T", "error"]]))
    return text


def _meta_cost(inputs: Inputs) -> dict:
    frame = inputs.csv("meta_cost.csv", ("method",), ("T",))
    table, _ = meta_cost_table(frame)
    return {"meta_cost.md": meta_cost_md(frame, inputs.json("meta_cost.json", ("command",))),
            "meta_cost.png": draw.meta_cost_figure(table)}


def distributed_md(speed: pd.DataFrame, variance: pd.DataFrame, meta: dict) -> str:
    teacher = variance["teacher"].iloc[0] if "teacher" in variance and len(variance) else "?"
    return (f"# Students per meta-step and processes\n\nCommand: `{meta['command']}` ({meta.get('machine', '?')}, torch "
            f"{meta.get('torch', '?')}, CUDA {'yes' if meta.get('cuda') else 'no'}; {meta.get('date', '')}). "
            + ("The runs used the GPU (nccl for several processes).\n\n" if meta.get("cuda") else "No GPU here: the nccl path is not measured.\n\n")
            + "## Speed (throughput over the timed meta-steps, first step dropped)\n\n"
            + markdown_table(speed.drop(columns=["command"], errors="ignore"), ".3f")
            + "\n\n## Meta-gradient variance of the mean of K students\n\n"
            + markdown_table(variance.drop(columns=["teacher"], errors="ignore"), ".4g")
            + f"\n\nTeacher: `{teacher}`. Variance falls as 1/K if the students' meta-gradients are independent.\n")


DISTRIBUTED_SPEED = ("students_per_step", "processes", "threads_per_process", "meta_steps_per_min", "students_per_min")
DISTRIBUTED_VARIANCE = ("students_per_step", "relative_variance", "variance_vs_k1")


def _distributed(inputs: Inputs) -> dict:
    speed = inputs.csv("distributed.csv", (), DISTRIBUTED_SPEED)
    variance = inputs.csv("distributed_variance.csv", (), DISTRIBUTED_VARIANCE)
    return {"distributed.md": distributed_md(speed, variance, inputs.json("distributed.json", ("command",)))}


def faults_md(frame: pd.DataFrame, meta: dict, csv_name: str) -> str:
    summary = frame.groupby(["scenario", "storage"], sort=False).agg(
        runs=("kills", "size"), kills=("kills", "sum"), lost=("lost", "sum"), duplicated=("duplicated", "sum")).reset_index()
    if "identical_teacher" in frame:
        d = frame[frame["scenario"] == "distill"]
        summary["identical_teacher"] = summary["scenario"].map({"distill": f"{int(d['identical_teacher'].sum())} of {len(d)}"}).fillna("")
    when = "; ".join(str(x) for x in (f"seed {meta['seed']}" if "seed" in meta else None, meta.get("date")) if x)
    return ("# Kill -9 suite\n\n"
            f"Command: `{meta['command']}`{f' ({when})' if when else ''}.\n"
            "Each run SIGKILLs real `gtn-nas` processes at random moments (see `benchmarks/faults.py`); `kills` counts the "
            "processes that were still running when killed.\n\n" + markdown_table(summary, ".3f")
            + (f"\n{meta['caveat']}\n" if meta.get("caveat") else "") + f"\nPer run: `{csv_name}`.\n")


def _faults(stem: str) -> Callable[[Inputs], dict]:
    def build(inputs: Inputs) -> dict:
        frame = inputs.csv(f"{stem}.csv", ("scenario", "storage"), ("kills", "lost", "duplicated"))
        return {f"{stem}.md": faults_md(frame, inputs.json(f"{stem}.json", ("command",)), f"{stem}.csv")}
    return build


def ift_alignment_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean cosine per IFT setting (rows) and student (columns), with the mean and median seconds."""
    table = frame.pivot_table(index="setting", columns="student", values="cosine", aggfunc="mean", sort=False)
    table.insert(0, "mean", table.mean(axis=1))
    table.insert(1, "seconds", frame.groupby("setting", sort=False)["seconds"].median())
    table.columns.name = None
    return table.reset_index()


def ift_alignment_md(frame: pd.DataFrame, meta: dict) -> str:
    teacher = flag(meta["command"], "--teacher", "") or "untrained generator"
    return (f"# IFT against BPTT meta-gradients\n\nCommand: `{meta['command']}`  \nTeacher: {teacher}; "
            f"cosine between ift's and bptt's meta-gradients on the teacher's data parameters, same student/init/batches, "
            f"mean over {frame['draw'].nunique()} draws; `seconds`: median time of one ift meta-gradient.\n\n"
            + markdown_table(ift_alignment_table(frame), ".2f"))


def _ift_alignment(inputs: Inputs) -> dict:
    frame = inputs.csv("ift_alignment.csv", ("student", "setting"), ("cosine", "seconds", "draw"))
    return {"ift_alignment.md": ift_alignment_md(frame, inputs.json("ift_alignment.json", ("command",)))}


# -- architecture search: rank correlation, scatter plots, frontier, search runs ------------------

NAS_KEYS = ("command", "searches", "rank", "ground_truth", "bootstrap")


def nas_commands_md(meta: dict, prefix: str = "") -> str:
    note = f"{meta['note']}\n\n" if meta.get("note") else ""
    return (f"# Commands that made `{prefix}nas_correlation.*` and `{prefix}nas/`\n\n{note}"
            + _command_block(meta["command"]) + "\nwhich ran:\n\n" + _command_block(*meta["searches"], meta["rank"]))


def nas_correlation_md(table: pd.DataFrame, meta: dict, prefix: str = "") -> str:
    from .ranking import to_markdown

    return ("# Proxies against full training: rank correlation and cost\n\n"
            f"Command: `{meta['command']}` (each search and the rank command: `{prefix}nas/COMMANDS.md`). Scatter plots of "
            f"every proxy's score against the ground truth: `{prefix}nas/plots/` (`all.png`: every proxy).\n\n"
            + to_markdown(table, meta["ground_truth"], int(meta["bootstrap"])))


def proxy_frame(runs: pd.DataFrame, ground_truth: pd.DataFrame) -> pd.DataFrame:
    """One search output joined with the ground truth on arch_id, with the spec's depth and norm."""
    both = runs.merge(ground_truth[["arch_id", "val_acc"]], on="arch_id")
    specs = [json.loads(s) for s in both["spec"]]
    return both.assign(depth=[s.get("depth") for s in specs], norm=[s.get("norm") for s in specs])


def _nas(prefix: str) -> Callable[[Inputs], dict]:
    def build(inputs: Inputs) -> dict:
        from .ranking import correlations

        meta = inputs.json(f"{prefix}nas/commands.json", NAS_KEYS)
        table = inputs.csv(f"{prefix}nas_correlation.csv", ("proxy",), ("n",))
        gt = inputs.csv(inputs.in_results(meta["ground_truth"], meta.get("results", "results")), ("arch_id",), ("val_acc",))
        out = {f"{prefix}nas_correlation.md": nas_correlation_md(table, meta, prefix), f"{prefix}nas/COMMANDS.md": nas_commands_md(meta, prefix)}
        order = list(table["proxy"])
        panels = []
        for rel in inputs.glob(f"{prefix}nas/*.csv"):
            frame = proxy_frame(inputs.csv(rel, ("arch_id", "proxy", "spec"), ("score",)), gt)
            name = str(frame["proxy"].iloc[0]) if len(frame) else Path(rel).stem
            rho, tau = correlations(frame["score"].to_numpy(float), frame["val_acc"].to_numpy(float))
            title = f"{name}: ρ = {rho:.2f}, τ = {tau:.2f} (n = {len(frame)})"
            out[f"{prefix}nas/plots/{Path(rel).stem}.png"] = draw.proxy_scatter_figure(frame, name, title)
            panels.append((order.index(name) if name in order else len(order), name, title, frame))
        out[f"{prefix}nas/plots/all.png"] = draw.proxy_panels_figure([p[1:] for p in sorted(panels, key=lambda p: (p[0], p[1]))])
        return out
    return build


FRONTIER_COLUMNS = ("proxy",)
FRONTIER_NUMERIC = ("steps", "val_examples", "seeds", "spearman", "spearman_lo", "spearman_hi", "kendall", "top10",
                    "flops_ratio", "seconds_ratio")


def frontier_groups(frame: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """The points per ground truth they were ranked against (a frontier compares like with like)."""
    if "ground_truth" not in frame:
        return [("", frame)]
    return [(str(gt), g) for gt, g in frame.groupby("ground_truth", sort=False)]


def _setting(v, fmt: str) -> str:
    return "–" if v == 0 else _num(v, fmt)  # zero-cost proxies: no training steps, no validation images


def frontier_table(frame: pd.DataFrame, compact: bool = False) -> pd.DataFrame:
    """Every proxy setting, by proxy then cost, with its 95% interval and whether it is on the Pareto
    front of its ground truth (no other point as cheap in FLOPs or cheaper is as good in ρ or better);
    `compact`: the Pareto points only, fewer columns (the README's block)."""
    parts = []
    for gt, g in frontier_groups(frame):
        front = draw.pareto_front(g["flops_ratio"].to_numpy(float), g["spearman"].to_numpy(float))
        parts.append(g.assign(pareto=["yes" if p else "" for p in front], gt=gt).sort_values(["proxy", "flops_ratio", "val_examples", "steps"]))
    f = pd.concat(parts)
    out = pd.DataFrame({
        "ground truth": f["gt"], "proxy": f["proxy"], "steps": f["steps"].map(lambda v: _setting(v, ".0f")),
        "val. examples": f["val_examples"].map(lambda v: _setting(v, ",.0f")), "seeds": f["seeds"].map(lambda v: _num(v, ".0f")),
        "Spearman ρ [95% CI]": [f"{_num(r.spearman, '.3f')} [{_num(r.spearman_lo, '.2f')}, {_num(r.spearman_hi, '.2f')}]" for r in f.itertuples()],
        "Kendall τ": f["kendall"].map(lambda v: _num(v, ".3f")), "top-10": f["top10"].map(lambda v: _num(v, ".1f")),
        "FLOPs ÷ GT": f["flops_ratio"].map(lambda v: _num(v, ".2e")), "seconds ÷ GT": f["seconds_ratio"].map(lambda v: _num(v, ".2e")),
        "Pareto": f["pareto"]})
    if compact:  # the frontier itself: the settings worth paying for
        out = out[out["Pareto"] == "yes"].drop(columns=["Kendall τ", "top-10", "seconds ÷ GT", "Pareto"])
    return out if "ground_truth" in frame else out.drop(columns=["ground truth"])


def frontier_md(frame: pd.DataFrame, meta: dict, png: str = "nas_frontier.png") -> str:
    gt = f" Ground truth: `{meta['ground_truth']}`." if meta.get("ground_truth") else ""
    tables = [(f"## Against the ground truth: {name}\n\n" if name else "") + markdown_table(frontier_table(g).drop(columns=["ground truth"], errors="ignore"))
              for name, g in frontier_groups(frame)]
    return ("# What does a better ranking cost? Proxy settings against their rank correlation\n\n"
            + ("Runs that trained the scores (resumable, in this order):\n\n" + _command_block(*meta["runs"]) + "\n"
               if meta.get("runs") else "") +
            f"Command (the summary): `{meta['command']}`\n\n"
            "One row per proxy setting (training steps, validation examples scored, seeds averaged; `–`: a zero-cost proxy, "
            "which trains nothing): Spearman ρ and Kendall τ with the ground truth (95% bootstrap interval), overlap of the "
            "top-10, and the proxy's cost ÷ the ground truth's over the same architectures. `Pareto`: no other setting is "
            f"both at most as costly in FLOPs and at least as good in ρ.{gt} Plot: `{png}`.\n\n" + "\n".join(tables))


def _frontier(inputs: Inputs) -> dict:
    frame = inputs.csv("nas_frontier.csv", FRONTIER_COLUMNS, FRONTIER_NUMERIC)
    meta = inputs.json("nas_frontier.json", ("command",))
    return {"nas_frontier.md": frontier_md(frame, meta), "nas_frontier.png": draw.frontier_figure(frame)}


HISTORY_NUMERIC = ("trial", "score", "best_so_far")


def search_md(summary: pd.DataFrame, meta: dict, histories: list[str]) -> str:
    plots = "".join(f"\n- `{h}.csv`: `plots/{h}.png`" for h in histories)
    when = "; ".join(str(meta[k]) for k in ("hardware", "date") if meta.get(k))
    return (f"# Search runs\n\nCommand: `{meta['command']}`{f' ({when})' if when else ''}\n\n" + markdown_table(_blank_na(summary))
            + (f"\nOptimisation history of each search (every trial's score and the best so far):\n{plots}\n" if histories else ""))


def _search(inputs: Inputs) -> dict:
    summary = inputs.csv("search/summary.csv")
    meta = inputs.json("search/summary.json", ("command",))
    # The searches the summary names (other CSVs in search/, e.g. the picks' ground truth, are not histories).
    names = [str(s) for s in summary["search"]] if "search" in summary else []
    out = {}
    for name in names:
        frame = inputs.csv(f"search/{name}.csv", (), HISTORY_NUMERIC).sort_values("trial", kind="stable")
        out[f"search/plots/{name}.png"] = draw.history_figure(frame, name)
    out["search/summary.md"] = search_md(summary, meta, names)
    return out


# -- the registry ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Section:
    """The raw files a group of outputs is made from, and the function that makes them."""

    name: str
    inputs: tuple[str, ...]  # relative to the results folder; a glob must match at least one file
    build: Callable[[Inputs], dict]


SECTIONS = (
    Section("index", ("manifest.json",), _index),
    Section("ground-truth", ("ground_truth/convnet.csv", "ground_truth/convnet.json"), _ground_truth),
    Section("yardstick", ("ground_truth/yardstick.csv", "ground_truth/yardstick.json"), _yardstick),
    Section("teachers", ("teachers/wall_time.csv", "teachers/wall_time.json"), _wall_time("teachers")),
    Section("default-teachers", ("teachers/default/wall_time.csv", "teachers/default/wall_time.json"), _wall_time("teachers/default")),
    Section("ablation", ("teachers/ablation.csv",), _ablation),
    Section("clip-ablation", ("teachers/clip_ablation.csv", "teachers/clip_ablation.json"), _clip_ablation("clip_ablation")),
    # The same ablation on the ift and bptt teachers (a later run; the gm rows above are unchanged).
    Section("clip-ablation-ift-bptt", ("teachers/clip_ablation_ift_bptt.csv", "teachers/clip_ablation_ift_bptt.json"),
            _clip_ablation("clip_ablation_ift_bptt")),
    Section("recalibration", ("teachers/recalibration.csv", "teachers/recalibration.json"), _recalibration("recalibration")),
    Section("recalibration-ift", ("teachers/recalibration_ift.csv", "teachers/recalibration_ift.json"),
            _recalibration("recalibration_ift")),
    Section("teacher-quality", ("teacher_quality/summary.csv", "teacher_quality/full_training.csv", "teacher_quality/command.json"),
            _teacher_quality),
    Section("samples", ("teachers/**/*.pt",), _samples),
    Section("curves", ("teacher_quality/curves.csv", "teacher_quality/curves.json"), _curves),
    Section("meta-speed", ("meta_speed.csv", "meta_speed.json"), _meta_speed),
    Section("meta-cost", ("meta_cost.csv", "meta_cost.json"), _meta_cost),
    Section("nas", ("nas_correlation.csv", "nas/commands.json", "nas/*.csv"), _nas("")),
    Section("default-nas", ("teachers/default/nas_correlation.csv", "teachers/default/nas/commands.json", "teachers/default/nas/*.csv"),
            _nas("teachers/default/")),
    Section("frontier", ("nas_frontier.csv", "nas_frontier.json"), _frontier),
    Section("nas-combination", ("nas_combination.csv", "nas_combination.json"), _nas_combination),
    Section("search", ("search/summary.csv", "search/summary.json"), _search),
    Section("ift-alignment", ("ift_alignment.csv", "ift_alignment.json"), _ift_alignment),
    Section("distributed", ("distributed.csv", "distributed_variance.csv", "distributed.json"), _distributed),
    Section("faults", ("faults.csv", "faults.json"), _faults("faults")),
    Section("faults-distill", ("faults_distill.csv", "faults_distill.json"), _faults("faults_distill")),
)


# -- building and writing -------------------------------------------------------------------------

def _guarded(build: Callable, inputs: Inputs, what: str):
    """Run a renderer; data that parses but cannot be rendered (wrong types, empty tables) is an
    input problem: one line naming the files the renderer read."""
    try:
        return build()
    except (MissingInput, GtnNasError):
        raise
    except (KeyError, ValueError, TypeError, IndexError, ZeroDivisionError, AttributeError) as exc:
        files = ", ".join(str(inputs.root / r) for r in inputs.read) or str(inputs.root)
        raise ReportInputError(f"{files}: cannot render {what} ({type(exc).__name__}: {str(exc)[:160]})") from None


def to_bytes(output) -> bytes:
    return draw.png_bytes(output) if isinstance(output, Figure) else output.encode()


@dataclass
class Report:
    """Rendered outputs (path relative to the output folder → bytes), what was missing, and the
    refreshed README (path, bytes) when one was asked for."""

    files: dict[str, bytes] = field(default_factory=dict)
    missing: list[tuple[str, list[str]]] = field(default_factory=list)
    readme: tuple[Path, bytes] | None = None


def _absent(inputs: Inputs, patterns: tuple[str, ...]) -> list[str]:
    return [p for p in patterns if not (any(inputs.root.glob(p)) if any(ch in p for ch in "*?[") else inputs.exists(p))]


def build_report(results: str | Path, readme: str | Path | None = None, sections: tuple[Section, ...] = SECTIONS,
                 figures: bool = True) -> Report:
    """Render every section whose inputs exist (in memory; nothing is written). Without `figures`,
    PNGs are left out (drawing them is most of the time; `stale` does not compare them)."""
    results = Path(results)
    if not results.is_dir():
        raise ConfigError(f"{results}: no such results folder")
    inputs, rep = Inputs(results), Report()
    for section in sections:
        absent = _absent(inputs, section.inputs)
        if absent:
            rep.missing.append((section.name, absent))
            continue
        inputs.read = []
        try:
            outputs = _guarded(lambda: section.build(inputs), inputs, f"section {section.name}")
            rendered = {rel: _guarded(lambda o=out: to_bytes(o), inputs, rel) for rel, out in outputs.items()
                        if figures or not isinstance(out, Figure)}
        except MissingInput as exc:
            rep.missing.append((section.name, exc.paths))
            continue
        clash = set(rendered) & set(rep.files)
        assert not clash, f"two sections write {clash}"
        rep.files.update(rendered)
    if readme is not None:
        from .readme_blocks import render_readme  # it builds on this module's inputs and tables

        text, missing = render_readme(Path(readme).read_text(), results)
        rep.readme = (Path(readme), text.encode())
        if missing:
            rep.missing.append(("readme", missing))
    return rep


def find_readme(out: str | Path) -> Path | None:
    """The README.md beside the output folder, if it has `<!-- results:NAME -->` blocks."""
    path = Path(out).resolve().parent / "README.md"
    return path if path.is_file() and "<!-- results:" in path.read_text() else None


def _targets(rep: Report, out: Path) -> dict[Path, bytes]:
    targets = {out / rel: data for rel, data in sorted(rep.files.items())}
    if rep.readme is not None:
        targets[rep.readme[0]] = rep.readme[1]
    return targets


def write_report(rep: Report, out: str | Path) -> tuple[list[Path], list[Path]]:
    """Write every output whose bytes differ from the file on disk, atomically: (written, unchanged)."""
    written, unchanged = [], []
    for path, data in _targets(rep, Path(out)).items():
        if path.is_file() and path.read_bytes() == data:
            unchanged.append(path)
            continue
        atomic_write(path, lambda tmp, d=data: tmp.write_bytes(d))
        written.append(path)
    return written, unchanged


def stale(rep: Report, out: str | Path) -> list[Path]:
    """Markdown outputs (and the README) that differ from the files on disk. PNGs are not compared:
    their bytes depend on the matplotlib and FreeType build, not only on the data."""
    return [p for p, data in _targets(rep, Path(out)).items()
            if p.suffix == ".md" and not (p.is_file() and p.read_bytes() == data)]


def write_section(name: str, results: str | Path, out: str | Path | None = None) -> list[Path]:
    """Render the section `name` from `results` and write its outputs under `out` (default:
    `results`): what a benchmark calls right after writing the section's raw files."""
    section = {s.name: s for s in SECTIONS}[name]
    rep = build_report(results, sections=(section,))
    if rep.missing:
        raise ReportInputError(f"{results}: section {name} is missing {', '.join(rep.missing[0][1])}")
    return write_report(rep, results if out is None else out)[0]


def write_outputs(outputs: dict, folder: str | Path) -> list[Path]:
    """Write renderer outputs ({relative path: text or Figure}) under `folder`, atomically (benchmarks)."""
    paths = []
    for rel, out in outputs.items():
        data = to_bytes(out)
        atomic_write(Path(folder) / rel, lambda tmp, d=data: tmp.write_bytes(d))
        paths.append(Path(folder) / rel)
    return paths
