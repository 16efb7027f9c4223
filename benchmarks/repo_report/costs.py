"""Cost pages: meta-step speed and memory, distributed distillation, fault injection, IFT alignment."""

from __future__ import annotations

import json
from collections.abc import Callable

import pandas as pd

from . import figures as draw
from .figures import markdown_table
from .inputs import Inputs, _blank_na, flag


def meta_speed_md(frame: pd.DataFrame, meta: dict) -> str:
    frame = frame.assign(
        variant=frame["variant"] if "variant" in frame else "default"
    )  # files before --variant: defaults only
    cols = [
        "method",
        "code",
        "variant",
        "students",
        "threads",
        "sec_per_meta_step",
        "meta_steps_per_min",
        "speedup_vs_0.1_same_students",
        "speedup_vs_0.1_as_shipped",
        "options",
    ]
    students = len(json.loads(frame["per_student"].iloc[0])) if "per_student" in frame and len(frame) else "?"
    repeats = meta.get("repeats") or flag(meta["command"], "--repeats", 2)
    return (
        f"# Meta-steps per minute: gtn-nas 0.1 against the current code\n\nCommand: `{meta['command']}`  \n"
        f"Hardware: {meta.get('hardware', 'not recorded')}, T={meta.get('T', 32)}, "
        f"B={meta.get('batch_size', 128)}, each row "
        f"its own process; mean over {students} students of the median of {repeats} meta-steps.\n"
        "`speedup_vs_0.1_same_students`: against 0.1 on the same students and threads; "
        "`speedup_vs_0.1_as_shipped`: against 0.1 "
        "on its own distillation students (what a default run costs). `variant`: the code's default method options, or "
        "other options of the current code (`--variant`).\n\n" + markdown_table(_blank_na(frame[cols]), ".2f")
    )


def _meta_speed(inputs: Inputs) -> dict:
    frame = inputs.csv(
        "meta_speed.csv",
        ("method", "code", "students", "options"),
        (
            "threads",
            "sec_per_meta_step",
            "meta_steps_per_min",
            "speedup_vs_0.1_same_students",
            "speedup_vs_0.1_as_shipped",
        ),
    )
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
    from gtn_nas.api import arch_id

    table, failed = meta_cost_table(frame)
    student = f"`{arch_id(meta['student'])}`" if isinstance(meta.get("student"), dict) else "not recorded"
    text = (
        "# Memory and time per meta-step against T\n\n"
        f"Command: `{meta['command']}`  \nHardware: {meta.get('hardware', 'not recorded')}; student {student}, "
        f"B = {meta.get('batch_size', '?')}, teacher: {meta.get('teacher', '?')}; {meta.get('date', '')}.\n"
        "Each measurement in its own process; `mem_vs_bptt`, `time_vs_bptt`: against `bptt-full` (BPTT through all T "
        f"steps) at the same T. Plot: `{png}`.\n\n" + markdown_table(table, ".2f")
    )
    if len(failed):
        text += "\nFailed measurements:\n\n" + markdown_table(_blank_na(failed[["method", "T", "error"]]))
    return text


def _meta_cost(inputs: Inputs) -> dict:
    frame = inputs.csv("meta_cost.csv", ("method",), ("T",))
    table, _ = meta_cost_table(frame)
    return {
        "meta_cost.md": meta_cost_md(frame, inputs.json("meta_cost.json", ("command",))),
        "meta_cost.png": draw.meta_cost_figure(table),
    }


def distributed_md(speed: pd.DataFrame, variance: pd.DataFrame, meta: dict) -> str:
    teacher = variance["teacher"].iloc[0] if "teacher" in variance and len(variance) else "?"
    return (
        f"# Students per meta-step and processes\n\nCommand: `{meta['command']}` ({meta.get('machine', '?')}, torch "
        f"{meta.get('torch', '?')}, CUDA {'yes' if meta.get('cuda') else 'no'}; {meta.get('date', '')}). "
        + (
            "The runs used the GPU (nccl for several processes).\n\n"
            if meta.get("cuda")
            else "No GPU here: the nccl path is not measured.\n\n"
        )
        + "## Speed (throughput over the timed meta-steps, first step dropped)\n\n"
        + markdown_table(speed.drop(columns=["command"], errors="ignore"), ".3f")
        + "\n\n## Meta-gradient variance of the mean of K students\n\n"
        + markdown_table(variance.drop(columns=["teacher"], errors="ignore"), ".4g")
        + f"\n\nTeacher: `{teacher}`. Variance falls as 1/K if the students' meta-gradients are independent.\n"
    )


DISTRIBUTED_SPEED = ("students_per_step", "processes", "threads_per_process", "meta_steps_per_min", "students_per_min")
DISTRIBUTED_VARIANCE = ("students_per_step", "relative_variance", "variance_vs_k1")


def _distributed(inputs: Inputs) -> dict:
    speed = inputs.csv("distributed.csv", (), DISTRIBUTED_SPEED)
    variance = inputs.csv("distributed_variance.csv", (), DISTRIBUTED_VARIANCE)
    return {"distributed.md": distributed_md(speed, variance, inputs.json("distributed.json", ("command",)))}


def faults_md(frame: pd.DataFrame, meta: dict, csv_name: str) -> str:
    summary = (
        frame.groupby(["scenario", "storage"], sort=False)
        .agg(runs=("kills", "size"), kills=("kills", "sum"), lost=("lost", "sum"), duplicated=("duplicated", "sum"))
        .reset_index()
    )
    if "identical_teacher" in frame:
        d = frame[frame["scenario"] == "distill"]
        summary["identical_teacher"] = (
            summary["scenario"].map({"distill": f"{int(d['identical_teacher'].sum())} of {len(d)}"}).fillna("")
        )
    when = "; ".join(str(x) for x in (f"seed {meta['seed']}" if "seed" in meta else None, meta.get("date")) if x)
    return (
        "# Kill -9 suite\n\n"
        f"Command: `{meta['command']}`{f' ({when})' if when else ''}.\n"
        "Each run SIGKILLs real `gtn-nas` processes at random moments (see `benchmarks/faults.py`); `kills` counts the "
        "processes that were still running when killed.\n\n"
        + markdown_table(summary, ".3f")
        + (f"\n{meta['caveat']}\n" if meta.get("caveat") else "")
        + f"\nPer run: `{csv_name}`.\n"
    )


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
    return (
        f"# IFT against BPTT meta-gradients\n\nCommand: `{meta['command']}`  \nTeacher: {teacher}; "
        f"cosine between ift's and bptt's meta-gradients on the teacher's data parameters, same student/init/batches, "
        f"mean over {frame['draw'].nunique()} draws; `seconds`: median time of one ift meta-gradient.\n\n"
        + markdown_table(ift_alignment_table(frame), ".2f")
    )


def _ift_alignment(inputs: Inputs) -> dict:
    frame = inputs.csv("ift_alignment.csv", ("student", "setting"), ("cosine", "seconds", "draw"))
    return {"ift_alignment.md": ift_alignment_md(frame, inputs.json("ift_alignment.json", ("command",)))}


def ift_floor_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean seconds per ift setting over the students, and the default's time ÷ each setting's."""
    mean = frame.groupby("setting", sort=False)["seconds"].mean()
    return pd.DataFrame(
        {
            "setting": mean.index,
            "seconds (mean over students)": mean.to_numpy(),
            "default ÷ setting": (mean["default"] / mean).to_numpy(),
        }
    )


def ift_floor_md(frame: pd.DataFrame, meta: dict, speed: pd.DataFrame | None = None) -> str:
    """The ift floor page; with meta_speed.csv, the speed-up a 3x-over-0.1 target needs beside the bound."""
    table = ift_floor_table(frame)
    bound = float(table.set_index("setting").loc["inner", "default ÷ setting"])
    text = (
        f"# How fast can an ift meta-step get?\n\nCommand: `{meta['command']}`  \n"
        f"Hardware: {meta.get('hardware', 'not recorded')}, {meta.get('threads', '?')} threads, T={meta.get('T', 32)}, "
        f"B={meta.get('batch_size', 128)}; {frame['student'].nunique()} "
        f"students (meta_speed.py's draw), median of {meta.get('repeats', '?')} calls each, the settings interleaved; "
        f"{meta.get('date', '')}.\n`inner`: the {meta.get('T', 32)} inner steps alone, "
        "which every ift meta-step runs before "
        "its solve, so no cheaper inverse can make ift faster than `default ÷ inner`.\n\n"
        + markdown_table(table, ".2f")
        + f"\nUpper bound on the speed-up of any solve over today's default: {bound:.2f}x.\n"
    )
    if speed is not None and {"method", "code", "students", "sec_per_meta_step"} <= set(speed.columns):
        ift = speed[(speed["method"] == "ift") & (speed["students"] == "new students")]
        old, new = ift[ift["code"] != "new"]["sec_per_meta_step"], ift[ift["code"] == "new"]["sec_per_meta_step"]
        if len(old) and len(new):
            need = 3 * float(new.iloc[0]) / float(old.iloc[0])
            text += (
                f"3x the meta-steps per minute of gtn-nas 0.1 (`meta_speed.csv`: {float(old.iloc[0]):.2f} s against "
                f"{float(new.iloc[0]):.2f} s now, same students) needs {need:.2f}x over today's default: "
                f"{'within' if need <= bound else 'beyond'} the bound.\n"
            )
    return text + "\nPer student: `ift_floor.csv`.\n"


def _ift_floor(inputs: Inputs) -> dict:
    frame = inputs.csv("ift_floor.csv", ("student", "setting"), ("seconds",))
    speed = inputs.csv("meta_speed.csv", ("method", "code", "students"), ("sec_per_meta_step",))
    return {"ift_floor.md": ift_floor_md(frame, inputs.json("ift_floor.json", ("command",)), speed)}
