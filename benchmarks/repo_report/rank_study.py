"""Rank-study pages: the rank and twin objectives against accuracy and their starts (the ablation,
its rank shifts by family, which rows are the same run) and the cost of a rank meta-step."""

from __future__ import annotations

import pandas as pd

from .figures import markdown_table
from .inputs import Inputs


def same_runs(inputs: Inputs, frame: pd.DataFrame, folder: str = "teachers/rank_ablation") -> list[str]:
    """Per row of a rank-ablation summary, the row it is the same run as ("" for the first of each
    group): identical scores on every one of the 60 ConvNets and the same held-out retention. Such
    rows are one measurement under several names; the shortest name stands for the group."""
    keys = []
    for r in frame.itertuples():
        scores = inputs.csv(f"{folder}/nas/{r.variant}-seed{int(r.seed)}.csv", ("arch_id", "score"), ("score",))
        keys.append((tuple(scores.sort_values("arch_id")["score"].round(6)), r.heldout_retained))
    named = {}
    for k, r in sorted(zip(keys, frame.itertuples()), key=lambda kr: (len(kr[1].variant), kr[1].variant)):
        named.setdefault(k, r.variant)
    return ["" if named[k] == r.variant else f"= {named[k]}" for k, r in zip(keys, frame.itertuples())]


def _rank_ablation(inputs: Inputs) -> dict:
    frame = inputs.csv("teachers/rank_ablation/summary.csv", ("variant", "convnet60_rho"), ("seed", "heldout_retained"))
    frame = frame.assign(same_run_as=same_runs(inputs, frame))
    meta = inputs.json("teachers/rank_ablation/summary.json", ("command", "rank_command"))
    pooled = None
    if inputs.exists("teachers/rank_ablation/pooled.csv"):
        pooled = inputs.csv("teachers/rank_ablation/pooled.csv", ("variant", "control"), ("mean_delta_rho", "lo", "hi"))
    out = {"teachers/rank_ablation/summary.md": rank_ablation_md(frame, meta, pooled)}
    if inputs.exists("teachers/rank_ablation/families.csv"):
        families = inputs.csv(
            "teachers/rank_ablation/families.csv", ("variant", "key", "value"), ("n", "rank_shift", "mean_score")
        )
        out["teachers/rank_ablation/families.md"] = rank_families_md(families)
    return out


def rank_families_md(table: pd.DataFrame) -> str:
    """One row per run: the rank shift of each family (columns key=value) and the mean score."""
    table = table.assign(seed=table["seed"].map(lambda s: "–" if pd.isna(s) else str(int(s))))
    wide = table.pivot_table(index=["variant", "seed"], columns=["key", "value"], values="rank_shift", sort=False)
    wide.columns = [f"{k}={v}" for k, v in wide.columns]
    score = table[table["key"] == "pooling"].groupby(["variant", "seed"], sort=False)["mean_score"].mean()
    wide["mean score"] = score.round(3)
    head = (
        "# Rank shift by family on the 60 ConvNets (`python benchmarks/rank_ablation.py --summarise`)\n\n"
        "Mean rank (1 = worst of 60) of each family by the run's 32-step scores minus its mean rank by the "
        "ground truth: negative, the proxy ranks that family too low. `mean score`: mean validation "
        "accuracy after 32 steps (n per family: `families.csv`).\n\n"
    )
    return head + markdown_table(wide.reset_index(), ".2f")


def rank_ablation_md(frame: pd.DataFrame, meta: dict, pooled: pd.DataFrame | None = None) -> str:
    tail = ""
    if pooled is not None and len(pooled):
        tail = (
            "\nPooled over seeds (`pooled.csv`): the mean over the seeds of ρ(variant) − ρ(its control) on the 60 "
            "ConvNets, one bootstrap of the architectures shared by every teacher (1000 resamples, 95% interval; "
            "`p_not_above`: share of resamples where the mean difference is ≤ 0).\n\n" + markdown_table(pooled, ".4f")
        )
    return (
        "# Rank objective against accuracy and against the start\n\n"
        f"Command: `{meta['command']}`, after the runs it lists (`runs/*.json`: each run's exact commands). "
        f"Every teacher: `gtn-nas distill --method ift` from the same fitted start per seed, "
        f"{meta.get('meta_steps', '?')} meta-steps of {meta.get('students_per_step', '?')} students unless its "
        "row says otherwise (`bptt-*`: `--method bptt`, 200 meta-steps of 4, the default bptt run's 800 students; "
        "`start`: 0 meta-steps, the fitted and calibrated generator alone). `heldout_retained`: test accuracy after "
        "32 steps on the teacher's data ÷ full-training test accuracy, 10 held-out nets x 2 student seeds. "
        "`rank_val_rho_last`: Spearman ρ on the pool's rank-val nets at the last monitoring step (model selection "
        "only). `convnet60_rho`: Spearman ρ with the 1-epoch ground truth of the 60 ConvNets at 32 steps, and "
        "`minus_start`, `minus_real`: paired differences of ρ over the same bootstrap resamples, 95% intervals "
        f"(`{meta['rank_command']}`; `nas_correlation.md`). `same_run_as`: a row whose 60 scores and held-out "
        "retention equal another's to the last digit is the same run under another name, and counts once.\n\n"
        + markdown_table(frame, ".4f")
        + tail
    )


def _rank_cost(inputs: Inputs) -> dict:
    frame = inputs.csv("teachers/rank_cost.csv", ("method", "objective"), ("sec_per_meta_step", "time_vs_accuracy"))
    meta = inputs.json("teachers/rank_cost.json", ("command",))
    text = (
        "# A rank or twin meta-step against an accuracy meta-step on the same students\n\n"
        f"Command: `{meta['command']}`  \nHardware: {meta.get('hardware', 'not recorded')}; {meta.get('date', '')}. "
        f"K = {meta.get('k', '?')} students of the ranking pool per meta-step, the same students, seeds and "
        "batches for every objective, interleaved; median seconds over the timed meta-steps (the first dropped). "
        + (
            f"twin: each student's target is its real-data twin after {meta['twin_steps']} real SGD steps (no "
            "graph kept). "
            if "twin_steps" in meta
            else ""
        )
        + "`saved_for_backward_mb`: bytes autograd saved for backward during a student's forward and backward "
        "(accuracy: the largest student's) or during all K forwards (rank, twin: the weights need every student's "
        "loss first) — what bptt's kept unrolls hold at once; for ift an upper bound, as its meta-loss graph is "
        "freed "
        "within forward.\n\n" + markdown_table(frame, ".3f")
    )
    return {"teachers/rank_cost.md": text}
