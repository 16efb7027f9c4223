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
    "mlp100_trained": "100 MLPs, 1k val., 2 seeds",
    "conv_mlp350": "250 ConvNets + 100 MLPs pooled",
}
# the runs that compared what the trees fit (fused_proxy.py --compare-targets)
TARGET_RUNS = ("conv250_2seeds", "mlp100_trained", "conv_mlp350")


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


def target_table(inputs: Inputs) -> str:
    numeric = ("rho_mean", "rho_sd", "regret_points", "regret_points_max", "minus_accuracy")
    numeric += ("minus_accuracy_lo", "minus_accuracy_hi", "mdd")
    frames = [
        inputs.csv(f"{ROOT}/{d}/targets.csv", ("features", "target"), numeric).assign(run=VALS[d]) for d in TARGET_RUNS
    ]
    f = pd.concat(frames, ignore_index=True)
    f["ρ"] = [f"{m:.3f} ± {s:.3f}" for m, s in zip(f["rho_mean"], f["rho_sd"])]
    f["regret, points (max)"] = [f"{m:.2f} ({x:.2f})" for m, x in zip(f["regret_points"], f["regret_points_max"])]
    f["− accuracy target [95% CI]"] = [
        "–" if t == "accuracy" else f"{d:+.3f} [{lo:+.3f}, {hi:+.3f}] (±{m:.3f})"
        for t, d, lo, hi, m in zip(
            f["target"], f["minus_accuracy"], f["minus_accuracy_lo"], f["minus_accuracy_hi"], f["mdd"]
        )
    ]
    keep = ["run", "features", "target", "ρ", "regret, points (max)", "− accuracy target [95% CI]"]
    return markdown_table(f[keep])


def pooled_table(inputs: Inputs) -> str:
    """The pooled run's out-of-fold rho within each space beside the single-space runs' rho."""
    pooled = inputs.csv(f"{ROOT}/conv_mlp350/models.csv", ("features", "model"), ("rho_mean", "rho_conv", "rho_mlp"))
    alone = {
        d: inputs.csv(f"{ROOT}/{d}/models.csv", ("features", "model"), ("rho_mean",)).set_index(["features", "model"])
        for d in ("conv250_2seeds", "mlp100_trained")
    }
    out = pooled.assign(
        conv_alone=[alone["conv250_2seeds"]["rho_mean"].get(k) for k in zip(pooled["features"], pooled["model"])],
        mlp_alone=[alone["mlp100_trained"]["rho_mean"].get(k) for k in zip(pooled["features"], pooled["model"])],
    )
    cols = {
        "features": "features",
        "model": "model",
        "rho_mean": "ρ over all 350",
        "rho_conv": "ρ within ConvNets, pooled fit",
        "conv_alone": "ρ, ConvNets' own fit",
        "rho_mlp": "ρ within MLPs, pooled fit",
        "mlp_alone": "ρ, MLPs' own fit",
    }
    return markdown_table(out.rename(columns=cols)[list(cols.values())].astype(object).fillna("–"), ".3f")


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
    "fused-targets": target_table,
    "fused-pooled": pooled_table,
    "fused-curve": curve_table,
    "fused-cost": cost_table,
}
