"""The root README's one table (at most 12 rows): the shipped teachers, their starts, real data at
equal tuning, the best zero-cost proxy and the rank-sum combinations, all on the 60 ConvNets at 32
steps. The rank study's variants are tabled in results/teachers/README.md (its
rank-ablation block)."""

from __future__ import annotations

import pandas as pd

from . import Inputs
from .figures import markdown_table

HEADLINE_PROXIES = {  # nas_correlation.csv label -> teacher_quality/summary.csv source
    "teacher:ift": "teacher:ift",
    "teacher:gm": "teacher:gm",
    "teacher:bptt": "teacher:bptt",
    "real": "real (calibrated like teachers)",
    "naswot": None,
    "teacher:gm+naswot": None,
    "real+naswot": None,
}
# Of the real-data baselines in teachers/starts/summary.csv, those the headline keeps: each under the
# ift start's recipe (the equal-tuning comparison for a start); the grid-tuned ones rank lower.
HEADLINE_REAL = {
    "subset-recipe": "class-balanced real, the ift start's recipe",
    "real-recipe": "real, the ift start's recipe",
}


def readme_headline(inputs: Inputs) -> str:
    """The shipped teachers beside real data: 60-ConvNet ρ at 32 steps, held-out retained accuracy, cost;
    then each teacher's start and real data under the start's recipe."""
    nas = inputs.csv("nas_correlation.csv", ("proxy",), ("spearman", "spearman_lo", "spearman_hi", "flops_ratio"))
    nas = nas[nas["pair"].isna()].set_index("proxy") if "pair" in nas else nas.set_index("proxy")
    quality = inputs.csv("teacher_quality/summary.csv", ("source",), ("retained_mean",)).set_index("source")
    rows = []
    for label, source in HEADLINE_PROXIES.items():
        r = nas.loc[label]
        held = quality.at[source, "retained_mean"] if source in quality.index else None
        rows.append(
            {
                "proxy": label,
                "60-ConvNet ρ at 32 steps [95% CI]": f"{r.spearman:.2f} [{r.spearman_lo:.2f}, {r.spearman_hi:.2f}]",
                "held-out retained": "–" if held is None else f"{held:.3f}",
                "FLOPs ÷ ground truth": f"{r.flops_ratio:.3f}",
            }
        )
    rows += _headline_starts(inputs)
    return markdown_table(pd.DataFrame(rows))


def _headline_starts(inputs: Inputs) -> list[dict]:
    """Each shipped teacher's start (its config, 0 meta-steps) and the real-data baselines tuned like
    the teachers (results/teachers/starts)."""
    if not inputs.exists("teachers/starts/summary.csv"):
        return []
    f = inputs.csv("teachers/starts/summary.csv", ("method", "rho_start"), ())
    rows = []
    for r in f.itertuples():
        if r.method not in ("ift", "gm", "bptt", *HEADLINE_REAL):
            continue
        held = getattr(r, "heldout_start", None)
        rows.append(
            {
                "proxy": f"{r.method} start (its config, 0 meta-steps)"
                if r.method in ("ift", "gm", "bptt")
                else HEADLINE_REAL[r.method],
                "60-ConvNet ρ at 32 steps [95% CI]": r.rho_start,
                "held-out retained": "–" if held is None or pd.isna(held) else f"{held:.3f}",
                "FLOPs ÷ ground truth": "0.074",
            }
        )
    return rows
