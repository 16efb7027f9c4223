"""The root README's one table: the shipped teachers, their starts, real data tuned like them, and
the rank study's variants distilled at two seeds or more, all on the 60 ConvNets at 32 steps."""

from __future__ import annotations

import pandas as pd

from gtn_nas.report.figures import markdown_table

from . import Inputs

HEADLINE_PROXIES = {  # nas_correlation.csv label -> teacher_quality/summary.csv source
    "teacher:ift": "teacher:ift",
    "teacher:gm": "teacher:gm",
    "teacher:bptt": "teacher:bptt",
    "real": "real (calibrated like teachers)",
    "naswot": None,
    "teacher:gm+naswot": None,
    "real+naswot": None,
}


def readme_headline(inputs: Inputs) -> str:
    """The shipped teachers beside real data: 60-ConvNet ρ at 32 steps, held-out retained accuracy, cost;
    then the rank-objective study's rows (ift from the same fitted start: the start, accuracy, rank)."""
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
    rows += _headline_starts(inputs) + _headline_rank_study(inputs)
    return markdown_table(pd.DataFrame(rows))


def _headline_starts(inputs: Inputs) -> list[dict]:
    """Each shipped teacher's start (its config, 0 meta-steps) and the real-data baselines tuned like
    the teachers (results/teachers/starts)."""
    if not inputs.exists("teachers/starts/summary.csv"):
        return []
    f = inputs.csv("teachers/starts/summary.csv", ("method", "rho_start"), ())
    names = {
        "real-grid": "real, lr × momentum × clip tuned",
        "subset-grid": "class-balanced real, lr × momentum × clip tuned",
        "subset-recipe": "class-balanced real, the ift start's recipe",
        "real-recipe": "real, the ift start's recipe",
    }
    rows = []
    for r in f.itertuples():
        if r.method == "real":
            continue
        held = getattr(r, "heldout_start", None)
        rows.append(
            {
                "proxy": f"{r.method} start (its config, 0 meta-steps)"
                if r.method in ("ift", "gm", "bptt")
                else names.get(r.method, r.method),
                "60-ConvNet ρ at 32 steps [95% CI]": r.rho_start,
                "held-out retained": "–" if held is None or pd.isna(held) else f"{held:.3f}",
                "FLOPs ÷ ground truth": "0.074",
            }
        )
    return rows


def _headline_rank_study(inputs: Inputs) -> list[dict]:
    """The rank study's variants distilled at two seeds or more (ift unless named, 240 students from one
    start per seed), each as its seeds' ρ and mean held-out accuracy; single-seed variants and the
    derived recipe swaps stay in results/teachers/README.md."""
    if not inputs.exists("teachers/rank_ablation/summary.csv"):
        return []
    ab = inputs.csv("teachers/rank_ablation/summary.csv", ("variant", "convnet60_rho"), ("seed", "heldout_retained"))
    if "derived" in ab:
        ab = ab[~ab["derived"].astype(bool)]
    rows = []
    for variant, g in ab.groupby("variant", sort=False):
        if len(g) < 2:
            continue
        seeds = ", ".join(f"s{int(r.seed)} {r.convnet60_rho.split(' ')[0]}" for r in g.itertuples())
        method = variant.split("-", 1)[0] if variant.startswith(("bptt-", "gm-")) else "ift"
        rows.append(
            {
                "proxy": f"rank study: {method} {variant}",
                "60-ConvNet ρ at 32 steps [95% CI]": seeds,
                "held-out retained": f"{g['heldout_retained'].mean():.3f}",
                "FLOPs ÷ ground truth": "0.074",
            }
        )
    return rows
