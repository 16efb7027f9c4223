"""A report of anyone's search runs (`gtn-nas report RUNS... --ground-truth GT.csv --out DIR`).

It knows nothing of this repository's results folder: given search-output CSVs (`gtn-nas search`)
and a ground-truth CSV (`gtn-nas ground-truth`), it writes into DIR

- `ranking.csv`, `ranking.md`: each proxy's Spearman ρ and Kendall τ with bootstrap intervals,
  top-half correlations, top-k overlap, regret and cost (`nas.ranking`);
- `scatter.png`: every proxy's score against the ground truth, one panel each;
- `frontier.csv`, `frontier.png`, when runs of one proxy at several budgets (`steps`) are given:
  ρ against the cost in FLOPs ÷ ground truth, the Pareto front ringed.

Deterministic for the same inputs (bootstrap seed, PNGs without dates).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from ..core.atomic import write_csv, write_text
from ..nas.ranking import load_ground_truth, load_runs, rank_all
from .figures import figure, frontier_figure, save_figure
from .rank_markdown import to_markdown


def report_runs(
    runs: list[str | Path], ground_truth: str | Path, out: str | Path, n_boot: int = 1000, seed: int = 0
) -> list[Path]:
    """Write the report of `runs` against `ground_truth` into `out`; the paths written."""
    out = Path(out)
    table = rank_all(ground_truth, runs, n_boot, seed)
    written = [out / "ranking.csv", out / "ranking.md", out / "scatter.png"]
    write_csv(table, written[0])
    write_text(written[1], to_markdown(table, ground_truth, n_boot))
    gt = load_ground_truth(ground_truth)
    loaded = load_runs(runs)
    save_figure(
        scatter_figure([(label, rows.merge(gt[["arch_id", "val_acc"]], on="arch_id")) for label, _, rows in loaded]),
        written[2],
    )
    frontier = frontier_table(table, loaded)
    if frontier is not None:
        write_csv(frontier, out / "frontier.csv")
        save_figure(frontier_figure(frontier), out / "frontier.png")
        written += [out / "frontier.csv", out / "frontier.png"]
    return written


def frontier_table(table: pd.DataFrame, loaded: list) -> pd.DataFrame | None:
    """One point per run (proxy, budget) when some proxy was run at two or more budgets, else None."""
    rows = []
    for (label, src, frame), (_, r) in zip(loaded, table.iterrows()):
        steps = frame["steps"].dropna().unique() if "steps" in frame else []
        rows.append(
            {
                "proxy": str(frame["proxy"].iloc[0]) if len(frame) else label,
                "run": label,
                "source": src,
                "steps": int(steps[0]) if len(steps) == 1 else 0,
                "val_examples": _val_examples(frame),
                **{k: r[k] for k in ("spearman", "spearman_lo", "spearman_hi", "flops_ratio")},
            }
        )
    df = pd.DataFrame(rows)
    budgets = df[df["steps"] > 0].groupby("proxy")["steps"].nunique()
    return df if len(budgets) and budgets.max() >= 2 else None


def _val_examples(frame: pd.DataFrame) -> int:
    if "val_examples" in frame and frame["val_examples"].notna().any():
        return int(frame["val_examples"].dropna().iloc[0])
    return 0 if "steps" not in frame or frame["steps"].isna().all() else 10_000  # zero-cost, or the full split


def scatter_figure(panels: list[tuple[str, pd.DataFrame]]):
    """Proxy score (x) against ground-truth accuracy (y), a panel per proxy; colour: the net's depth."""
    cols = min(4, len(panels))
    rows = math.ceil(len(panels) / cols)
    fig = figure(figsize=(3.6 * cols, 3.2 * rows))
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    for ax, (label, frame) in zip(axes, panels):
        depth = [json.loads(s).get("depth", 0) for s in frame["spec"]] if "spec" in frame else 0
        ax.scatter(frame["score"], frame["val_acc"], c=depth, cmap="viridis", s=14)
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("proxy score", fontsize=8)
        ax.set_ylabel("ground-truth val. acc.", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig
