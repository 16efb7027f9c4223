"""The figures and tables only this repository's report draws (the package keeps those a user's
`gtn-nas report` draws: `gtn_nas.report.figures`, re-exported here so that `draw.*` names them all)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

from gtn_nas.api.lab import MEAN, STD, figure, frontier_figure, pareto_front, png_bytes, save_figure  # noqa: F401

DEPTH_COLOURS = {1: "tab:blue", 2: "tab:orange", 3: "tab:green"}
NORM_MARKERS = {"none": "o", "batch": "s", "instance": "^", "layer": "D"}


def markdown_table(df: pd.DataFrame, floatfmt: str = ".4f") -> str:
    """A GitHub Markdown table (no extra dependency such as tabulate)."""

    def cell(v):
        return format(v, floatfmt) if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(map(str, df.columns)) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def meta_cost_figure(df: pd.DataFrame) -> Figure:
    """Peak memory and seconds per meta-step versus T, one line per method (log-log)."""
    fig = figure(figsize=(10, 4))
    axes = fig.subplots(1, 2)
    for method, g in df.dropna(subset=["peak_mem_mb"]).groupby("method"):
        g = g.sort_values("T")
        axes[0].plot(g["T"], g["peak_mem_mb"], marker="o", label=method)
        axes[1].plot(g["T"], g["sec_per_meta_step"], marker="o", label=method)
    for ax, label in zip(axes, ["peak memory (MB)", "seconds per meta-step (median)"]):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("inner steps T")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    return fig


def sample_grid_figure(images: torch.Tensor, labels: torch.Tensor, title: str, per_class: int = 8) -> Figure:
    """`per_class` images of each digit (rows = classes 0-9), shown as pixels (x * std + mean).

    `labels` are class indices, or per-image label distributions (soft labels: the most likely class).
    The tiles are one mosaic in one axes: 80 small axes would take seconds to draw.
    """
    if labels.ndim == 2:
        labels = labels.argmax(1)
    size, pad = images.shape[-1], 2
    mosaic = np.ones((10 * (size + pad), per_class * (size + pad)))
    for c in range(10):
        idx = torch.nonzero(labels == c).squeeze(1)[:per_class]
        for j, i in enumerate(idx.tolist()):
            tile = (images[i, 0] * STD + MEAN).clamp(0, 1).cpu().numpy()
            mosaic[c * (size + pad) : c * (size + pad) + size, j * (size + pad) : j * (size + pad) + size] = tile
    fig = figure(figsize=(per_class * 0.6 + 0.6, 6.6))
    ax = fig.subplots()
    ax.imshow(mosaic, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_yticks([c * (size + pad) + size / 2 for c in range(10)], [str(c) for c in range(10)])
    ax.set_xticks([])
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    ax.set_title(title, fontsize=10)
    return fig


def proxy_scatter(ax, frame: pd.DataFrame, title: str, log_x: bool = False) -> None:
    """Proxy score (x) against ground-truth accuracy (y) of the rows of `frame` (score, val_acc and
    the spec's depth and norm). Colour: depth; marker: normalisation, where the failure modes show
    (deep or unnormalised nets a proxy scores low)."""
    for depth, colour in DEPTH_COLOURS.items():
        for norm, marker in NORM_MARKERS.items():
            sel = frame[(frame["depth"] == depth) & (frame["norm"] == norm)]
            if len(sel):
                ax.scatter(sel["score"], sel["val_acc"], s=16, c=colour, marker=marker, label=f"d{depth} {norm}")
    if log_x:
        ax.set_xscale("log")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)


def proxy_scatter_figure(frame: pd.DataFrame, name: str, title: str) -> Figure:
    fig = figure(figsize=(5, 4))
    ax = fig.subplots()
    proxy_scatter(ax, frame, title, log_x=name in ("params", "synflow"))
    ax.legend(fontsize=6, ncol=3, loc="lower right")
    ax.set_xlabel(f"{name} score" if name != "params" else "parameters")
    ax.set_ylabel("ground-truth validation accuracy")
    fig.tight_layout()
    return fig


def proxy_panels_figure(panels: list[tuple[str, str, pd.DataFrame]]) -> Figure:
    """One `proxy_scatter` panel per (name, title, frame), four to a row, one shared legend."""
    cols = min(4, len(panels))
    rows = math.ceil(len(panels) / cols)
    fig = figure(figsize=(3.6 * cols, 3.2 * rows + 0.6))
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    for ax, (name, title, frame) in zip(axes, panels):
        proxy_scatter(ax, frame, title, log_x=name in ("params", "synflow"))
        ax.set_xlabel(f"{name} score", fontsize=8)
        ax.set_ylabel("ground-truth val. acc.", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    handles = {}
    for ax in axes[: len(panels)]:
        for h, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, h)
    order = sorted(handles, key=lambda s: (s[1], list(NORM_MARKERS).index(s.split()[1])))
    fig.legend([handles[k] for k in order], order, loc="lower center", ncol=min(len(order), 8), fontsize=7)
    fig.tight_layout(rect=(0, 0.06 if rows == 1 else 0.04, 1, 1))
    return fig


def curves_figure(df: pd.DataFrame) -> Figure:
    """Test accuracy against inner step per source: mean over architectures and seeds, shaded ± s.d."""
    fig = figure(figsize=(6.5, 4.2))
    ax = fig.subplots()
    for i, (source, g) in enumerate(df.groupby("source", sort=False)):
        stats = g.groupby("step")["test_acc"].agg(["mean", "std"]).fillna(0.0)
        real = source.startswith("real")
        colour = "black" if real else f"C{i}"
        ax.plot(stats.index, stats["mean"], marker="o", ms=3, color=colour, ls="--" if real else "-", label=source)
        ax.fill_between(
            stats.index, stats["mean"] - stats["std"], stats["mean"] + stats["std"], color=colour, alpha=0.15, lw=0
        )
    ax.set_xlabel("inner step")
    ax.set_ylabel("test accuracy (mean ± s.d. over architectures)")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    return fig


def history_figure(df: pd.DataFrame, title: str) -> Figure:
    """Optuna-style optimisation history: each trial's score and the best score so far."""
    fig = figure(figsize=(6, 3.8))
    ax = fig.subplots()
    ax.scatter(df["trial"], df["score"], s=12, color="C0", alpha=0.7, label="trial score")
    ax.step(df["trial"], df["best_so_far"], where="post", color="C3", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel("score")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    return fig


def agreement_figure(x: pd.Series, y: pd.Series, xlabel: str, ylabel: str, title: str) -> Figure:
    """Scatter of two measurements of the same architectures, with the line y = x."""
    fig = figure(figsize=(4.5, 4.2))
    ax = fig.subplots()
    ax.scatter(x, y, s=14, alpha=0.8)
    lo, hi = float(min(x.min(), y.min())), float(max(x.max(), y.max()))
    ax.plot([lo, hi], [lo, hi], color="grey", lw=0.8, ls="--")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    return fig
