"""Drawing a user's results (`gtn-nas report`): figures (no file reading; the callers, `gtn_nas.report.runs` and
this repository's `benchmarks/repo_report`, decide what is drawn from which results file).

Figures are made with matplotlib's object API (`Figure`, no pyplot), so no backend is chosen and
no global state is touched: the plots work headless and leave a notebook's backend alone. PNGs are
written without the `Software` (matplotlib version) text chunk, so the same data gives the same bytes.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..core.atomic import atomic_write


def figure(**kw) -> Figure:
    return Figure(**kw)


def png_bytes(fig: Figure) -> bytes:
    """The figure as PNG bytes; deterministic for the same figure (no version or date metadata)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120, bbox_inches="tight", metadata={"Software": None})
    return buf.getvalue()


def save_figure(fig: Figure, path: str | Path) -> None:
    data = png_bytes(fig)
    atomic_write(path, lambda tmp: tmp.write_bytes(data))


def pareto_front(cost: np.ndarray, quality: np.ndarray) -> np.ndarray:
    """Boolean mask of the points no other point dominates (cost no higher and quality no lower,
    one of them strictly); NaN points are never on the front."""
    ok = ~(np.isnan(cost) | np.isnan(quality))
    front = np.zeros(len(cost), dtype=bool)
    for i in np.flatnonzero(ok):
        dominated = ok & (cost <= cost[i]) & (quality >= quality[i]) & ((cost < cost[i]) | (quality > quality[i]))
        front[i] = not dominated.any()
    return front


def frontier_figure(df: pd.DataFrame) -> Figure:
    """Spearman ρ against FLOPs ÷ ground truth (log x), one panel per ground truth (column
    `ground_truth`, when present): one line per proxy through its settings in order of cost, marker
    by number of validation examples, 95% intervals as bars, the Pareto front ringed and stepped.
    Points of zero FLOPs (parameter counting) sit at the left edge, labelled."""
    groups = list(df.groupby("ground_truth", sort=False)) if "ground_truth" in df else [("", df)]
    fig = figure(figsize=(7.5 * len(groups), 5))
    axes = np.atleast_1d(fig.subplots(1, len(groups), squeeze=False)).ravel()
    colours = {p: f"C{i % 10}" for i, p in enumerate(sorted(df["proxy"].unique()))}
    markers = ["o", "s", "^", "D", "v", "P", "X", "*"]
    marker_of = {v: markers[i % len(markers)] for i, v in enumerate(sorted(df["val_examples"].unique()))}
    positive = df["flops_ratio"][df["flops_ratio"] > 0]
    floor = float(positive.min()) / 4 if len(positive) else 1e-6
    for ax, (name, g) in zip(axes, groups):
        _frontier_panel(ax, g.assign(x=g["flops_ratio"].clip(lower=floor)), colours, marker_of)
        ax.set_title(f"ground truth: {name}" if name else "", fontsize=10)
    return fig


def _frontier_panel(ax, df: pd.DataFrame, colours: dict, marker_of: dict) -> None:
    for proxy, g in df.groupby("proxy", sort=True):
        g = g.sort_values(["flops_ratio", "val_examples", "steps"])
        ax.plot(g["x"], g["spearman"], color=colours[proxy], alpha=0.6, lw=1, label=proxy)
        ax.vlines(g["x"], g["spearman_lo"], g["spearman_hi"], color=colours[proxy], alpha=0.25, lw=1)
        for v, h in g.groupby("val_examples", sort=True):
            ax.scatter(h["x"], h["spearman"], color=colours[proxy], marker=marker_of[v], s=24, zorder=3)
    for r in df[df["flops_ratio"] <= 0].itertuples():
        ax.annotate(f"{r.proxy} (0 FLOPs)", (r.x, r.spearman), fontsize=7, xytext=(4, 4), textcoords="offset points")
    front = df[pareto_front(df["flops_ratio"].to_numpy(float), df["spearman"].to_numpy(float))].sort_values("x")
    ax.step(front["x"], front["spearman"], where="post", color="black", ls="--", lw=0.8, zorder=2)
    ax.scatter(
        front["x"], front["spearman"], s=110, facecolors="none", edgecolors="black", zorder=4, label="Pareto front"
    )
    for v in sorted(df["val_examples"].unique()):  # marker legend entries
        ax.scatter(
            [], [], color="grey", marker=marker_of[v], label="zero-cost" if v == 0 else f"{int(v):,} val. examples"
        )
    ax.set_xscale("log")
    ax.set_xlabel("FLOPs ÷ ground truth (log)")
    ax.set_ylabel("Spearman ρ with ground truth")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
