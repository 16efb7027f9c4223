"""Tables of the GTN-paper study (results/teachers/gtn_mnist/): few-step accuracy per learner and
source, real steps to match each teacher, meta-training curves and the cost of a meta-step."""

from __future__ import annotations

import pandas as pd

from . import Inputs, MissingInput
from .figures import markdown_table

ROOT = "teachers/gtn_mnist"


def _cell(mean: float, sd: float, n: int) -> str:
    return f"{mean:.4f}" if n < 2 or pd.isna(sd) else f"{mean:.4f} ± {sd:.4f}"


def fewstep_table(inputs: Inputs) -> str:
    """Test accuracy (mean ± sd over student seeds) after 4, 8, 16, 32 steps, per learner (the paper's
    design at several widths) and source."""
    f = inputs.csv(f"{ROOT}/summary.csv", ("source", "arch_id"), ("steps", "test_acc", "sd", "n"))
    f = f[f["steps"].isin([4, 8, 16, 32]) & f["arch_id"].str.startswith("gtn-")]
    rows = []
    for (aid, source), g in f.groupby(["arch_id", "source"], sort=False):
        row = {"learner": aid, "source": source}
        for r in g.sort_values("steps").itertuples():
            row[f"{int(r.steps)} steps"] = _cell(r.test_acc, r.sd, int(r.n))
        rows.append(row)
    table = pd.DataFrame(rows).sort_values(["learner", "source"], kind="stable")
    return markdown_table(table.fillna("–"))


def speedup_table(inputs: Inputs) -> str:
    f = inputs.csv(f"{ROOT}/speedup.csv", ("source", "arch_id"), ("teacher_acc_32", "real_best"))
    longest = f["real_budgets"].map(lambda b: str(b).split(",")[-1])
    reached = f["real_steps_to_match"]
    f = f.assign(real_steps_to_match=[f"> {m}" if pd.isna(v) else str(int(v)) for v, m in zip(reached, longest)])
    cols = {
        "arch_id": "learner",
        "source": "teacher",
        "teacher_acc_32": "teacher at 32 steps",
        "real_steps_to_match": "real steps to match",
        "real_best": "real, best of the budgets",
    }
    return markdown_table(f[list(cols)].rename(columns=cols), ".4f")


def curves_table(inputs: Inputs) -> str:
    """Validation accuracy of the in-training monitor (3 students, 2,000 images) every 50 meta-steps."""
    runs = inputs.glob(f"{ROOT}/curves/*.csv")
    cols = {}
    for rel in runs:
        f = inputs.csv(rel, ("meta_step",), ("val_acc",)).dropna(subset=["val_acc"])
        cols[rel.rsplit("/", 1)[-1].removesuffix(".csv")] = f.set_index("meta_step")["val_acc"]
    table = pd.DataFrame(cols)
    table = table[(table.index % 50 == 0) | (table.index == table.index.max())]
    return markdown_table(table.reset_index().rename(columns={"meta_step": "meta-step"}).astype(object).fillna("–"))


def cost_table(inputs: Inputs) -> str:
    f = inputs.csv(f"{ROOT}/meta_cost.csv", ("method",), ("sec_per_meta_step", "peak_mem_mb", "increment_mb"))
    ref = f[f["method"] == "bptt-full"].iloc[0]
    f = f.assign(
        time_vs_bptt=f["sec_per_meta_step"] / ref.sec_per_meta_step,
        memory_vs_bptt=f["increment_mb"] / ref.increment_mb,
    )
    cols = {
        "method": "method",
        "sec_per_meta_step": "s / meta-step (median)",
        "peak_mem_mb": "peak RSS (MB)",
        "increment_mb": "above baseline (MB)",
        "time_vs_bptt": "time ÷ full bptt",
        "memory_vs_bptt": "memory above baseline ÷ full bptt",
    }
    return markdown_table(f[list(cols)].rename(columns=cols), ".2f")


def heldout_table(inputs: Inputs) -> str:
    """On the 10 held-out nets: mean test accuracy and retained share of 2-epoch full training (the
    cache of teacher_quality/), per source and budget; real data tuned per net and budget."""
    f = inputs.csv(f"{ROOT}/per_arch.csv", ("source", "arch_id"), ("steps", "test_acc"))
    full = inputs.csv("teacher_quality/full_training.csv", ("arch_id",), ("test_acc",)).set_index("arch_id")["test_acc"]
    f = f[f["arch_id"].isin(full.index)]
    if f.empty:  # the held-out nets not scored yet: the block waits, as for a missing file
        raise MissingInput([f"{ROOT}/per_arch.csv (held-out rows)"])
    f = f.assign(retained=f["test_acc"] / f["arch_id"].map(full))
    per_arch = f.groupby(["source", "steps", "arch_id"], sort=False)[["test_acc", "retained"]].mean().reset_index()
    rows = []
    for (source, steps), g in per_arch.groupby(["source", "steps"], sort=False):
        rows.append(
            {
                "source": source,
                "steps": int(steps),
                "nets": len(g),
                "test acc (mean)": g["test_acc"].mean(),
                "retained (mean)": g["retained"].mean(),
                "retained (worst net)": g["retained"].min(),
            }
        )
    return markdown_table(pd.DataFrame(rows).sort_values(["steps", "source"], kind="stable"), ".3f")


def _mean_at(f: pd.DataFrame, source: str, arch: str, steps: int = 32) -> float:
    g = f[(f["source"] == source) & (f["arch_id"] == arch) & (f["steps"] == steps)]
    return float(g["test_acc"].iloc[0]) if len(g) else float("nan")


def targets_table(inputs: Inputs) -> str:
    """Issue 32's accuracy targets on the paper's learner, per width: each teacher's 32-step test error
    against the best real recipe's (target: at most 2/3) and its gap to the fitted start (target: at
    least +1 point)."""
    f = inputs.csv(f"{ROOT}/summary.csv", ("source", "arch_id"), ("steps", "test_acc"))
    f = f[f["arch_id"].str.startswith("gtn-")]
    rows = []
    for arch in dict.fromkeys(f["arch_id"]):
        real = max(_mean_at(f, "real random", arch), _mean_at(f, "real balanced", arch))
        start = _mean_at(f, "teacher:fitted-start-s0", arch)
        for source in dict.fromkeys(f.loc[f["source"].str.startswith("teacher:"), "source"]):
            if source == "teacher:fitted-start-s0":
                continue
            acc = _mean_at(f, source, arch)
            if acc != acc:  # not scored on this learner
                continue
            rows.append(
                {
                    "learner": arch,
                    "teacher": source,
                    "test acc at 32": acc,
                    "best real at 32": real,
                    "error ÷ real's (target ≤ 0.667)": (1 - acc) / (1 - real),
                    "− fitted start, points (target ≥ +1)": 100 * (acc - start),
                }
            )
    return markdown_table(pd.DataFrame(rows), ".3f")


def headline_table(inputs: Inputs) -> str:
    """The root README's GTN rows: the paper's learner at full width (never seen in meta-training),
    32 steps of each source; then the independent reader's check of the exported bptt data."""
    f = inputs.csv(f"{ROOT}/summary.csv", ("source", "arch_id"), ("steps", "test_acc", "sd", "n"))
    f = f[(f["arch_id"] == "gtn-c64-c128-f256") & (f["steps"] == 32)]
    rows = [{"source (32 steps, base_fc 64/128/256)": r.source, "test accuracy": _cell(r.test_acc, r.sd, int(r.n))}
            for r in f.itertuples()]  # fmt: skip
    if inputs.exists(f"{ROOT}/npz_check_bptt.json"):
        check = inputs.json(f"{ROOT}/npz_check_bptt.json", ("test_acc", "sd", "seeds"))
        rows.append(
            {
                "source (32 steps, base_fc 64/128/256)": "teacher:bptt's .npz, base_fc written without gtn-nas",
                "test accuracy": _cell(check["test_acc"]["32"], check["sd"]["32"], check["seeds"]),
            }
        )
    return markdown_table(pd.DataFrame(rows))


def carry_over_table(inputs: Inputs) -> str:
    """Per carry-over run (results/teachers/carry_over/summary.csv): held-out retained accuracy and
    the 60-ConvNet rho, a teacher's paired differences against both controls of its seed and real."""
    f = inputs.csv("teachers/carry_over/summary.csv", ("variant", "seed"), ("heldout_retained",))
    cols = {
        "variant": "run",
        "seed": "seed",
        "heldout_retained": "held-out retained",
        "heldout_minus_bptt-start": "held-out − bptt-start (± SE)",
        "heldout_minus_start": "held-out − start (± SE)",
        "convnet60_rho": "60-ConvNet ρ [95% CI]",
        "rho_minus_bptt-start": "ρ − bptt-start's",
        "rho_minus_start": "ρ − start's",
        "rho_minus_real": "ρ − real's",
    }
    return markdown_table(f[list(cols)].rename(columns=cols).fillna(""), ".3f")


GTN_BLOCKS = {
    "gtn-carry-over": carry_over_table,  # README block name -> renderer (registered in readme_blocks.README_BLOCKS)
    "gtn-mnist-fewstep": fewstep_table,
    "gtn-mnist-speedup": speedup_table,
    "gtn-mnist-curves": curves_table,
    "gtn-mnist-cost": cost_table,
    "gtn-mnist-heldout": heldout_table,
    "gtn-mnist-targets": targets_table,
    "gtn-mnist-headline": headline_table,
}
