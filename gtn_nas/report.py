"""Reports: Markdown tables and plots.

Figures are made with matplotlib's object API (`Figure`, no pyplot), so no backend is chosen and
no global state is touched: the plots work headless and leave a notebook's backend alone.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch
from matplotlib.figure import Figure

from .atomic import atomic_write
from .data import MEAN, STD


def figure(**kw) -> Figure:
    return Figure(**kw)


def markdown_table(df: pd.DataFrame, floatfmt: str = ".4f") -> str:
    """A GitHub Markdown table (no extra dependency such as tabulate)."""
    def cell(v):
        return format(v, floatfmt) if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(map(str, df.columns)) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def _save(fig, path: Path) -> None:
    atomic_write(path, lambda tmp: fig.savefig(tmp, format=Path(path).suffix.lstrip(".") or "png", dpi=120, bbox_inches="tight"))


def plot_meta_cost(df: pd.DataFrame, path: Path) -> None:
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
    _save(fig, path)


def plot_sample_grid(images: torch.Tensor, labels: torch.Tensor, title: str, path: Path, per_class: int = 8) -> None:
    """`per_class` images of each digit (rows = classes), shown as pixels (x * std + mean)."""
    fig = figure(figsize=(per_class * 0.8, 8))
    axes = fig.subplots(10, per_class)
    for c in range(10):
        idx = torch.nonzero(labels == c).squeeze(1)[:per_class]
        for j in range(per_class):
            ax = axes[c, j]
            ax.axis("off")
            if j < len(idx):
                ax.imshow((images[idx[j], 0] * STD + MEAN).clamp(0, 1).cpu().numpy(), cmap="gray", vmin=0, vmax=1)
    fig.suptitle(title)
    _save(fig, path)


def plot_scatter(x, y, xlabel: str, ylabel: str, title: str, path: Path) -> None:
    fig = figure(figsize=(4.5, 4))
    ax = fig.subplots()
    ax.scatter(x, y, s=14, alpha=0.8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    _save(fig, path)
