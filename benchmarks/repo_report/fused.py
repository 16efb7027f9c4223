"""Tables of the fused proxy's study (results/fused/, benchmarks/fused_proxy.py): out-of-fold rho per
model and feature set, paired differences against single proxies, the learning curve and the cost."""

from __future__ import annotations

import pandas as pd

from . import Inputs
from .figures import markdown_table

ROOT = "fused"
VALS = {"val1k": "1,000", "val10k": "10,000"}


def _both(inputs: Inputs, name: str, columns: tuple[str, ...], numeric: tuple[str, ...]) -> pd.DataFrame:
    """The table of both runs (scores on 1,000 and 10,000 validation images), labelled."""
    frames = [inputs.csv(f"{ROOT}/{d}/{name}", columns, numeric).assign(val=v) for d, v in VALS.items()]
    return pd.concat(frames, ignore_index=True)


def models_table(inputs: Inputs) -> str:
    f = _both(inputs, "models.csv", ("features", "model"), ("rho_mean", "rho_sd"))
    f["rho"] = [f"{m:.3f} ± {s:.3f}" for m, s in zip(f["rho_mean"], f["rho_sd"])]
    wide = f.pivot_table(index=["features", "model"], columns="val", values="rho", aggfunc="first", sort=False)
    wide.columns = [f"ρ, scores on {c} val. images" for c in wide.columns]
    return markdown_table(wide.reset_index())


def paired_table(inputs: Inputs) -> str:
    f = _both(inputs, "paired.csv", ("fused_minus",), ("single_rho", "spearman", "spearman_lo", "spearman_hi", "mdd"))
    f["fused − it [95% CI]"] = [
        f"{d:+.3f} [{lo:+.2f}, {hi:+.2f}]" for d, lo, hi in zip(f["spearman"], f["spearman_lo"], f["spearman_hi"])
    ]
    cols = {"val": "val. images", "fused_minus": "single proxy or rank-sum", "single_rho": "its ρ"}
    out = f.rename(columns=cols)[[*cols.values(), "fused − it [95% CI]", "mdd"]]
    return markdown_table(out.rename(columns={"mdd": "detectable at 80%"}), ".3f")


def curve_table(inputs: Inputs) -> str:
    f = _both(inputs, "learning_curve.csv", ("train_archs",), ("rho_mean", "rho_sd"))
    f["rho"] = [f"{m:.3f} ± {s:.3f}" for m, s in zip(f["rho_mean"], f["rho_sd"])]
    wide = f.pivot_table(index="train_archs", columns="val", values="rho", aggfunc="first", sort=False)
    wide.columns = [f"ρ, scores on {c} val. images" for c in wide.columns]
    return markdown_table(wide.reset_index().rename(columns={"train_archs": "training architectures"}))


def cost_table(inputs: Inputs) -> str:
    f = _both(inputs, "cost.csv", ("features",), ("seconds_ratio", "flops_ratio"))
    wide = f.pivot_table(index="features", columns="val", values="flops_ratio", aggfunc="first", sort=False)
    wide.columns = [f"FLOPs ÷ ground truth, {c} val. images" for c in wide.columns]
    return markdown_table(wide.reset_index(), ".4f")


FUSED_BLOCKS = {
    "fused-models": models_table,
    "fused-paired": paired_table,
    "fused-curve": curve_table,
    "fused-cost": cost_table,
}
