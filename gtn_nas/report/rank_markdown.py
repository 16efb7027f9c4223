"""The Markdown of a `gtn-nas rank` table (`nas.ranking.rank_all`): one row per proxy, then the
paired comparisons with their intervals and minimal detectable differences."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd


def _num(v, fmt: str = ".3f") -> str:
    return "n/a" if v is None or (isinstance(v, float) and not math.isfinite(v)) else format(v, fmt)


def _ci(r: pd.Series, key: str) -> str:
    return f"{_num(r.get(key))} [{_num(r.get(key + '_lo'), '.2f')}, {_num(r.get(key + '_hi'), '.2f')}]"


def paired_markdown(table: pd.DataFrame) -> list[str]:
    """The paired comparisons of a `rank_all` table, as Markdown lines (none if it has none)."""
    rows = table[table["pair"].notna()] if "pair" in table else table.iloc[:0]
    if rows.empty:
        return []
    detect = rows["detect"].iloc[0] if "detect" in rows else None
    if "mdd" not in rows:  # a table written before the MDD was reported: its columns as they were
        return _paired_markdown_without_mdd(rows)
    lines = [
        "",
        "Paired comparisons: ρ(a) − ρ(b) over the architectures both scored, with a 95% interval from the same "
        "bootstrap resamples for both; p = share of resamples where a's ρ does not exceed b's. MDD: the minimal "
        "detectable difference of this design (two-sided 5% test, 80% power: 2.8 bootstrap standard errors); a "
        'difference inside ±MDD is as likely missed as found, so "no difference detectable at ±MDD" is all a '
        "non-significant row says. "
        + (
            "A side listing runs a1;a2 is one run per distillation seed: the mean of the seeds' differences, "
            "its MDD that of architectures × seeds."
            if "seeds" in rows and rows["seeds"].notna().any()
            else "One run per proxy: variance between distillation seeds is not in it."
        ),
        "",
        "| a − b | n | Δρ [95% CI] | p | MDD (80% power) |" + (f" architectures for ±{detect:g} |" if detect else ""),
        "|---|---|---|---|---|" + ("---|" if detect else ""),
    ]
    return lines + [
        f"| {r['proxy']} | {int(r['n'])} | {_ci(r, 'spearman')} | {_num(r.get('p_not_above'), '.3f')} "
        f"| ±{_num(r.get('mdd'), '.3f')} |" + (f" {_num(r.get('n_needed'), '.0f')} |" if detect else "")
        for _, r in rows.iterrows()
    ]


def _paired_markdown_without_mdd(rows: pd.DataFrame) -> list[str]:
    lines = [
        "",
        "Paired comparisons: ρ(a) − ρ(b) over the architectures both scored, with a 95% interval from the same "
        "bootstrap resamples for both; p = share of resamples where a's ρ does not exceed b's.",
        "",
        "| a − b | n | Δρ [95% CI] | p |",
        "|---|---|---|---|",
    ]
    return lines + [
        f"| {r['proxy']} | {int(r['n'])} | {_ci(r, 'spearman')} | {_num(r.get('p_not_above'), '.3f')} |"
        for _, r in rows.iterrows()
    ]


def to_markdown(table: pd.DataFrame, ground_truth: str | Path, n_boot: int) -> str:
    pairs = paired_markdown(table)
    table = table[table["pair"].isna()] if "pair" in table else table
    head = (
        "| proxy | n | Spearman ρ [95% CI] | Kendall τ [95% CI] | ρ top 50% [95% CI] | τ top 50% | top-5 | top-10 "
        "| regret (pick) | cost ÷ GT (s) | cost ÷ GT (FLOPs) | one-off s (distillation) | amortised ÷ GT (s) |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for _, r in table.iterrows():
        cells = [
            r["proxy"],
            int(r.get("n", 0)),
            _ci(r, "spearman"),
            _ci(r, "kendall"),
            _ci(r, "spearman_top50"),
            _num(r.get("kendall_top50")),
            _num(r.get("top5_overlap"), ".1f"),
            _num(r.get("top10_overlap"), ".1f"),
            f"{_num(r.get('regret'), '.4f')} ({r.get('pick', '')})",
            _num(r.get("cost_ratio"), ".2e"),
            _num(r.get("flops_ratio"), ".2e"),
            f"{_num(r.get('setup_seconds'), '.0f')} ({_num(r.get('distill_seconds'), '.0f')})",
            _num(r.get("amortised_cost_ratio"), ".2e"),
        ]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    notes = [
        "",
        f"Ground truth: `{ground_truth}`. Correlations between proxy score and ground-truth validation accuracy "
        f"(scipy Spearman ρ, Kendall τ-b); intervals: {n_boot} bootstrap resamples of the architectures "
        "(percentile 95%).",
        "Top 50%: the ⌈n/2⌉ best architectures by ground truth. Top-k: share of the proxy's k best among the true "
        "k best. Regret: best ground-truth accuracy minus that of the proxy's top pick.",
        "Cost: total proxy time (or FLOPs, torch.utils.flop_counter) over the same architectures ÷ ground-truth "
        "training time (or FLOPs). One-off: data generation or lr tuning seconds, and the teacher's distillation "
        "seconds in brackets; amortised ratio adds both to the proxy's total (distillation FLOPs are not recorded, "
        "so the FLOPs ratio excludes them).",
    ]
    return "\n".join(lines + notes + pairs) + "\n"
