"""The README's result tables: `<!-- results:NAME -->` blocks refilled from the results folder.

Each block is a function of the raw files under results/ (read through `repo_report.Inputs`), so
the README quotes exactly what the benchmarks wrote; `python benchmarks/report.py` refills them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from . import (
    COMBINATION_NUMERIC,
    DISTRIBUTED_SPEED,
    DISTRIBUTED_VARIANCE,
    FRONTIER_COLUMNS,
    FRONTIER_NUMERIC,
    QUALITY_NUMERIC,
    Inputs,
    MissingInput,
    _guarded,
    combination_pivot,
    frontier_table,
    ift_alignment_table,
    ift_floor_table,
)
from .figures import markdown_table
from .fused import FUSED_BLOCKS
from .gtn_mnist import GTN_BLOCKS
from .headline import readme_headline
from .rank_study import same_runs
from .teachers import _clip_text

# -- blocks --------------------------------------------------------------------------------


def _readme_speed(inputs: Inputs) -> str:
    f = inputs.csv("meta_speed.csv", ("method", "code", "students"), ("sec_per_meta_step",))
    f = f.assign(variant=f["variant"] if "variant" in f else "default")
    rows = []
    for method, g in f.groupby("method", sort=False):
        old_own = g[(g["code"] != "new") & (g["students"] == "0.1 students")]["sec_per_meta_step"].iloc[0]
        old_new = g[(g["code"] != "new") & (g["students"] == "new students")]["sec_per_meta_step"].iloc[0]
        for r in g[g["code"] == "new"].itertuples():
            rows.append(
                {
                    "method": method if r.variant == "default" else f"{method}, {r.variant}",
                    "0.1, its students (s)": old_own,
                    "0.1, new students (s)": old_new,
                    "new (s)": r.sec_per_meta_step,
                    "speed-up, same students": old_new / r.sec_per_meta_step,
                    "speed-up vs 0.1 as shipped": old_own / r.sec_per_meta_step,
                }
            )
    return markdown_table(pd.DataFrame(rows), ".2f")


def _readme_memory(inputs: Inputs) -> str:
    f = inputs.csv("meta_cost.csv", ("method",), ("T", "peak_mem_mb", "sec_per_meta_step")).dropna(
        subset=["peak_mem_mb"]
    )
    mem = f.pivot(index="T", columns="method", values="peak_mem_mb")
    sec = f.pivot(index="T", columns="method", values="sec_per_meta_step")
    out = pd.DataFrame({"T": mem.index})
    for m in mem.columns:
        out[f"{m} MB"] = [f"{v:.0f}" if pd.notna(v) else "–" for v in mem[m]]
    for m in ("ift", "gm", "bptt"):
        if m in mem and "bptt-full" in mem:
            out[f"{m} ÷ bptt-full"] = (mem[m] / mem["bptt-full"]).to_numpy()
    for m in sec.columns:
        out[f"{m} s"] = sec[m].to_numpy()
    return markdown_table(out, ".2f")


def _readme_ablation(inputs: Inputs) -> str:
    f = inputs.csv(
        "teachers/ablation.csv",
        ("variant", "what"),
        ("seed", "budget_s", "meta_steps", "retained_raw", "retained_calibrated"),
    )
    cols = {
        "variant": "variant",
        "what": "what it changes",
        "seed": "seed",
        "budget_s": "budget (s)",
        "meta_steps": "meta-steps in budget",
        "retained_raw": "retained",
        "retained_calibrated": "retained, calibrated",
    }
    f = f.assign(budget_s=f["budget_s"].round().astype(int), seed=f["seed"].astype(int))
    return markdown_table(f[list(cols)].rename(columns=cols), ".3f").replace("| nan |", "| – |")


GRID_NAMES = {"uncalibrated": "none (uncalibrated)", "before": "lr × momentum", "after": "lr × momentum × clip"}


def _readme_clip_ablation(rel: str) -> Callable[[Inputs], str]:
    def block(inputs: Inputs) -> str:
        f = inputs.csv(
            rel,
            ("teacher", "grid"),
            ("lr_scale", "retained_mean", "retained_min", "nas_spearman_10k", "nas_spearman_1k", "nas_at_chance"),
        )
        table = pd.DataFrame(
            {
                "teacher": f["teacher"],
                "calibration grid": f["grid"].map(GRID_NAMES),
                "chose": [
                    f"lr ×{r.lr_scale:g}, "
                    + ("no clip" if _clip_text(r.max_grad_norm) == "none" else f"clip {_clip_text(r.max_grad_norm)}")
                    for r in f.itertuples()
                ],
                "held-out retained (mean)": f["retained_mean"],
                "held-out retained (worst)": f["retained_min"],
                "NAS ρ (10k val.)": f["nas_spearman_10k"],
                "NAS ρ (1k val.)": f["nas_spearman_1k"],
                "ConvNets at chance": f["nas_at_chance"].astype(int),
            }
        )
        return markdown_table(table, ".3f")

    return block


def _readme_wall_times(rel: str) -> Callable[[Inputs], str]:
    def block(inputs: Inputs) -> str:
        f = inputs.csv(rel, ("method",), ("wall_s", "meta_training_s"))
        cols = {
            "method": "method",
            "meta_steps": "meta-steps",
            "wall_s": "wall time (s)",
            "meta_training_s": "meta-training (s)",
            "val_acc_2k_3_students": "val. acc. (3 distillation students)",
            "calibration": "calibration",
            "loadavg_1min_at_end": "load avg. at end",
        }
        cols = {k: v for k, v in cols.items() if k in f}
        f = f.assign(wall_s=f["wall_s"].round().astype(int), meta_training_s=f["meta_training_s"].round().astype(int))
        return markdown_table(
            f[list(cols)].rename(columns=cols).astype(object).fillna(""), ".3f"
        )  # object: "" in a float column

    return block


def _readme_distributed(inputs: Inputs) -> str:
    f = inputs.csv("distributed.csv", (), DISTRIBUTED_SPEED)
    v = inputs.csv("distributed_variance.csv", (), DISTRIBUTED_VARIANCE)
    cols = {
        "students_per_step": "K",
        "processes": "processes",
        "threads_per_process": "threads each",
        "meta_steps_per_min": "meta-steps / min",
        "students_per_min": "students / min",
    }
    var = v[list(DISTRIBUTED_VARIANCE)].rename(
        columns={
            "students_per_step": "K",
            "relative_variance": "variance ÷ |mean|²",
            "variance_vs_k1": "variance ÷ K=1's",
        }
    )
    return markdown_table(f[list(cols)].rename(columns=cols), ".2f") + "\n" + markdown_table(var, ".3f")


def _readme_quality(inputs: Inputs) -> str:
    f = inputs.csv("teacher_quality/summary.csv", ("source",), QUALITY_NUMERIC)
    cols = {
        "source": "data for the 32 steps",
        "test_acc_mean": "test acc. (mean)",
        "test_acc_sd_over_seeds": "s.d. over seeds",
        "worst_arch_acc": "worst arch",
        "retained_mean": "retained (mean)",
        "retained_min": "retained (worst)",
        "spearman_vs_full": "Spearman vs full training",
    }
    return markdown_table(f[list(cols)].rename(columns=cols), ".3f")


def _readme_nas(inputs: Inputs) -> str:
    f = inputs.csv(
        "nas_correlation.csv",
        ("proxy",),
        (
            "spearman",
            "spearman_lo",
            "spearman_hi",
            "kendall",
            "spearman_top50",
            "top10_overlap",
            "regret",
            "flops_ratio",
        ),
    )
    f = f[f["pair"].isna()] if "pair" in f else f  # paired comparisons are in nas_correlation.md
    out = pd.DataFrame(
        {
            "proxy": f["proxy"],
            "Spearman ρ [95% CI]": [
                f"{r.spearman:.2f} [{r.spearman_lo:.2f}, {r.spearman_hi:.2f}]" for r in f.itertuples()
            ],
            "Kendall τ": f["kendall"],
            "ρ, top 50%": f["spearman_top50"],
            "top-10": f["top10_overlap"],
            "regret": f["regret"],
            "FLOPs ÷ GT": f["flops_ratio"],
        }
    )
    return markdown_table(out, ".3f")


def _readme_ift_alignment(inputs: Inputs) -> str:
    return markdown_table(
        ift_alignment_table(inputs.csv("ift_alignment.csv", ("student", "setting"), ("cosine", "seconds"))), ".2f"
    )


def _readme_ift_floor(inputs: Inputs) -> str:
    return markdown_table(ift_floor_table(inputs.csv("ift_floor.csv", ("student", "setting"), ("seconds",))), ".2f")


def _readme_frontier(inputs: Inputs) -> str:
    return markdown_table(
        frontier_table(inputs.csv("nas_frontier.csv", FRONTIER_COLUMNS, FRONTIER_NUMERIC), compact=True)
    )


def _readme_frontier_steps(inputs: Inputs) -> str:
    """Spearman ρ of every training proxy at each budget (1,000 validation images, one seed, the
    first ground truth): where each proxy stands at equal cost, the teachers included."""
    f = inputs.csv("nas_frontier.csv", FRONTIER_COLUMNS, FRONTIER_NUMERIC)
    first = f["ground_truth"].iloc[0] if "ground_truth" in f else None
    f = f[(f["steps"] > 0) & (f["val_examples"] == f.loc[f["steps"] > 0, "val_examples"].min()) & (f["seeds"] == 1)]
    if first is not None:
        f = f[f["ground_truth"] == first]
    table = f.pivot_table(index="proxy", columns="steps", values="spearman", sort=False)
    flops = f.groupby("steps")["flops_ratio"].first()
    table.columns = [f"{c} steps (FLOPs ÷ GT {flops[c]:.3f})" for c in table.columns]
    return markdown_table(table.reset_index(), ".2f")


def _readme_search(inputs: Inputs) -> str:
    numeric = ("trials", "archs", "pick_val_acc", "proxy_seconds", "setup_seconds", "distill_seconds")
    f = inputs.csv("search/summary.csv", ("search", "proxy", "pick"), numeric)
    fmt = lambda col, spec: f[col].map(lambda v: f"{v:{spec}}") if col in f else "–"  # noqa: E731 (older summaries lack some)
    table = pd.DataFrame(
        {
            "search": f["search"],
            "proxy": f["proxy"],
            "distinct nets trained": f["archs"].astype(int),
            "pick": f["pick"],
            "pick's ground truth (val. acc.)": fmt("pick_val_acc", ".4f"),
            "regret (points)": fmt("regret_points", ".2f"),
            "proxy s": f["proxy_seconds"].round().astype(int),
            "one-off s (lr tuning, data or fused ground truth)": (
                f["setup_seconds"] + f.get("fit_gt_seconds", 0.0)
            ).map(lambda v: f"{v:.1f}"),
            "cost ÷ ground truth": fmt("cost_vs_gt", ".3f"),
            "distillation s": f["distill_seconds"].round().astype(int),
        }
    )
    return markdown_table(table)


def _readme_nas_combination(inputs: Inputs) -> str:
    f = inputs.csv("nas_combination.csv", ("proxy",), COMBINATION_NUMERIC)
    return markdown_table(combination_pivot(f, 1000, 0))


def _readme_rank_ablation(inputs: Inputs) -> str:
    f = inputs.csv(
        "teachers/rank_ablation/summary.csv", ("variant", "convnet60_rho"), ("seed", "meta_steps", "heldout_retained")
    )
    cols = {
        "variant": "variant",
        "seed": "seed",
        "meta_steps": "meta-steps",
        "elapsed_s": "distillation s",
        "heldout_retained": "held-out retained",
        "rank_val_rho_last": "rank-val ρ (last)",
        "convnet60_rho": "60-ConvNet ρ [95% CI]",
        "minus_start": "Δρ − its start",
        "minus_real": "Δρ − real",
    }
    f = f.assign(seed=f["seed"].astype(int), meta_steps=f["meta_steps"].astype(int))
    cols["same"] = "same run as"
    f = f.assign(same=same_runs(inputs, f))
    return markdown_table(f[list(cols)].rename(columns=cols).astype(object).fillna("–"), ".3f")


def _readme_rank_pooled(inputs: Inputs) -> str:
    f = inputs.csv("teachers/rank_ablation/pooled.csv", ("variant", "control"), ("mean_delta_rho", "lo", "hi"))
    return markdown_table(
        pd.DataFrame(
            {
                "variant": f["variant"],
                "against": f["control"],
                "seeds": f["seeds"].astype(str),
                "mean Δρ over seeds [95% CI]": [
                    f"{r.mean_delta_rho:+.3f} [{r.lo:+.2f}, {r.hi:+.2f}]" for r in f.itertuples()
                ],
                "p(Δ ≤ 0)": f["p_not_above"].map(lambda v: f"{v:.3f}"),
            }
        )
    )


def _readme_starts(inputs: Inputs) -> str:
    f = inputs.csv("teachers/starts/summary.csv", ("method", "rho_start"), ())
    if "fit_steps" in f:
        f["fit_steps"] = f["fit_steps"].map(lambda v: v if pd.isna(v) else str(int(v)))
    cols = {
        "method": "teacher",
        "fit_steps": "fit steps",
        "heldout_start": "held-out: start",
        "heldout_teacher": "held-out: teacher",
        "rho_start": "ρ: start",
        "rho_teacher": "ρ: teacher",
        "teacher_minus_start": "Δρ teacher − start",
        "start_minus_real": "Δρ start − real",
        "rho3ep_start": "3-epoch ρ: start",
        "rho3ep_teacher": "3-epoch ρ: teacher",
    }
    cols = {k: v for k, v in cols.items() if k in f}
    return markdown_table(f[list(cols)].rename(columns=cols).astype(object).fillna("–"), ".3f")


def _readme_chaos(inputs: Inputs) -> str:
    rows = inputs.json("faults_chaos.json", ("rows",))["rows"]
    table = pd.DataFrame(
        {
            "job": [r["job"] for r in rows],
            "storage": [r["storage"] for r in rows],
            "kills": [r["kills"] for r in rows],
            "runs ended by themselves (exit codes)": [
                f"{r['runs_ended']} ({', '.join(f'{k}: {v}' for k, v in sorted(r['exit_codes'].items()))})"
                for r in rows
            ],
            "untruthful exits": [r["untruthful_exits"] for r in rows],
            "rows lost": [r["rows_lost"] for r in rows],
            "duplicated": [r["duplicated"] for r in rows],
            "left RUNNING": [r["left_running"] for r in rows],
            "trials failed (reclaimed)": [r["failed_trials"] for r in rows],
            "work redone (s)": [r["work_redone_s"] for r in rows],
        }
    )
    return markdown_table(table, ".1f")


README_BLOCKS: dict[str, Callable[[Inputs], str]] = {
    "speed": _readme_speed,
    "memory": _readme_memory,
    "ablation": _readme_ablation,
    "clip-ablation": _readme_clip_ablation("teachers/clip_ablation.csv"),
    "clip-ablation-ift-bptt": _readme_clip_ablation("teachers/clip_ablation_ift_bptt.csv"),
    "default-teachers": _readme_wall_times("teachers/default/wall_time.csv"),
    "long-teachers": _readme_wall_times("teachers/wall_time.csv"),
    "distributed": _readme_distributed,
    "quality": _readme_quality,
    "nas": _readme_nas,
    "ift-alignment": _readme_ift_alignment,
    "ift-floor": _readme_ift_floor,
    "frontier": _readme_frontier,
    "frontier-steps": _readme_frontier_steps,
    "nas-combination": _readme_nas_combination,
    "search": _readme_search,
    "rank-ablation": _readme_rank_ablation,
    "rank-pooled": _readme_rank_pooled,
    "starts": _readme_starts,
    "headline": readme_headline,
    "chaos": _readme_chaos,
    **GTN_BLOCKS,
    **FUSED_BLOCKS,
}
BLOCK = re.compile(r"<!-- results:([\w-]+) -->.*?<!-- /results:\1 -->", flags=re.S)


def render_readme(text: str, results: str | Path) -> tuple[str, list[str]]:
    """`text` with every `<!-- results:NAME -->` ... `<!-- /results:NAME -->` block refilled from the
    results folder; a block whose inputs are missing (or whose name is unknown) is left as it is
    and listed. A corrupt input raises ReportInputError."""
    inputs, missing = Inputs(results), []

    def fill(m: re.Match) -> str:
        name = m.group(1)
        if name not in README_BLOCKS:
            missing.append(f"README block {name}: no such block (known: {', '.join(README_BLOCKS)})")
            return m.group(0)
        inputs.read = []
        try:
            table = _guarded(lambda: README_BLOCKS[name](inputs), inputs, f"README block {name}")
        except MissingInput as exc:
            missing.append(f"README block {name}: {', '.join(exc.paths)}")
            return m.group(0)
        return f"<!-- results:{name} -->\n{table.rstrip()}\n<!-- /results:{name} -->"

    return BLOCK.sub(fill, text), missing
