"""Tables of the fused proxy's study (results/fused/, benchmarks/fused_proxy.py): out-of-fold rho per
model and feature set, paired differences against single proxies and between feature sets, the
learning curve and the cost."""

from __future__ import annotations

import pandas as pd

from . import Inputs
from .figures import markdown_table

ROOT = "fused"
# run folder -> its label: the architectures and the validation images its trained scores used
VALS = {
    "val1k": "60 nets, 1k val.",
    "val10k": "60 nets, 10k val.",
    "conv250": "250 nets, 1k val., 1 seed",
    "conv250_2seeds": "250 nets, 1k val., 2 seeds",
}


def _both(inputs: Inputs, name: str, columns: tuple[str, ...], numeric: tuple[str, ...]) -> pd.DataFrame:
    """The table of every run, labelled."""
    frames = [inputs.csv(f"{ROOT}/{d}/{name}", columns, numeric).assign(val=v) for d, v in VALS.items()]
    return pd.concat(frames, ignore_index=True)


def models_table(inputs: Inputs) -> str:
    f = _both(inputs, "models.csv", ("features", "model"), ("rho_mean", "rho_sd"))
    f["rho"] = [f"{m:.3f} ± {s:.3f}" for m, s in zip(f["rho_mean"], f["rho_sd"])]
    wide = f.pivot_table(index=["features", "model"], columns="val", values="rho", aggfunc="first", sort=False)
    wide.columns = [f"ρ, {c}" for c in wide.columns]
    return markdown_table(wide.reset_index().fillna("–"))


def paired_table(inputs: Inputs) -> str:
    f = _both(inputs, "paired.csv", ("fused_minus",), ("single_rho", "spearman", "spearman_lo", "spearman_hi", "mdd"))
    f["fused − it [95% CI]"] = [
        f"{d:+.3f} [{lo:+.2f}, {hi:+.2f}]" for d, lo, hi in zip(f["spearman"], f["spearman_lo"], f["spearman_hi"])
    ]
    cols = {"val": "run", "fused_minus": "single proxy or rank-sum", "single_rho": "its ρ"}
    out = f.rename(columns=cols)[[*cols.values(), "fused − it [95% CI]", "mdd"]]
    return markdown_table(out.rename(columns={"mdd": "detectable at 80%"}), ".3f")


def ablation_table(inputs: Inputs) -> str:
    numeric = ("spearman", "spearman_lo", "spearman_hi", "mdd", "draw_sd")
    f = _both(inputs, "ablation.csv", ("features", "minus"), numeric)
    f["A − B [95% CI]"] = [
        f"{d:+.3f} [{lo:+.3f}, {hi:+.3f}]" for d, lo, hi in zip(f["spearman"], f["spearman_lo"], f["spearman_hi"])
    ]
    cols = {"val": "run", "features": "feature set A", "minus": "feature set B"}
    out = f.rename(columns=cols)[[*cols.values(), "A − B [95% CI]", "mdd", "draw_sd"]]
    return markdown_table(out.rename(columns={"mdd": "detectable at 80%", "draw_sd": "SD over fold draws"}), ".3f")


def curve_table(inputs: Inputs) -> str:
    f = _both(inputs, "learning_curve.csv", ("train_archs",), ("rho_mean", "rho_sd"))
    f["rho"] = [f"{m:.3f} ± {s:.3f}" for m, s in zip(f["rho_mean"], f["rho_sd"])]
    wide = f.pivot_table(index="train_archs", columns="val", values="rho", aggfunc="first", sort=False)
    wide.columns = [f"ρ, {c}" for c in wide.columns]
    out = wide.reset_index().rename(columns={"train_archs": "training architectures"})
    return markdown_table(out.fillna("–"))


def cost_table(inputs: Inputs) -> str:
    f = _both(inputs, "cost.csv", ("features",), ("seconds_ratio", "flops_ratio"))
    wide = f.pivot_table(index="features", columns="val", values="flops_ratio", aggfunc="first", sort=False)
    wide.columns = [f"FLOPs ÷ ground truth, {c}" for c in wide.columns]
    return markdown_table(wide.reset_index().astype(object).fillna("–"), ".4f")


FUSED_BLOCKS = {
    "fused-models": models_table,
    "fused-paired": paired_table,
    "fused-ablation": ablation_table,
    "fused-curve": curve_table,
    "fused-cost": cost_table,
}
