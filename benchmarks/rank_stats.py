"""Summaries of the rank ablation's runs (benchmarks/rank_ablation.py): pooled paired differences
over seeds, and where a ranking errs by ConvNet family."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from gtn_nas.api.lab import correlations

ROOT = Path(__file__).resolve().parent.parent
GT = "results/ground_truth/convnet.csv"


def pooled(
    out_dir: Path,
    names: list[str],
    control: Callable[[str], str],
    fresh: dict[str, int] | None = None,
    n_boot: int = 1000,
) -> pd.DataFrame:
    """Per variant run at two seeds or more: the mean over seeds of ρ(variant) − ρ(its control) on the
    60 ConvNets, with a paired bootstrap (every resample draws one set of architectures for all
    teachers), so the seeds' evidence adds up where each seed's interval alone is wide. `control` maps
    a variant to its control's variant. Variants against `start` are also compared with the start
    recalibrated with a clip where it chose none. `fresh` maps a variant to the first seed run after
    it was picked out of the others: its later seeds are also pooled alone, a confirmation the pick
    could not have chosen."""
    gt = pd.read_csv(ROOT / GT).set_index("arch_id")["val_acc"]
    scores = {n: pd.read_csv(out_dir / "nas" / f"{n}.csv").set_index("arch_id")["score"] for n in names}
    ids = sorted(set(gt.index).intersection(*[set(v.index) for v in scores.values()]))
    truth = gt.loc[ids].to_numpy()
    arrays = {n: v.loc[ids].to_numpy() for n, v in scores.items()}
    draws = np.random.default_rng(0).integers(0, len(ids), (n_boot, len(ids)))
    clipped = lambda s: f"start-clip1-seed{s}" if f"start-clip1-seed{s}" in arrays else f"start-seed{s}"
    rows = []
    for variant in dict.fromkeys(n.rsplit("-seed", 1)[0] for n in names):
        seeds = [n.rsplit("-seed", 1)[1] for n in names if n.rsplit("-seed", 1)[0] == variant]
        controls = {control(variant): lambda s, variant=variant: f"{control(variant)}-seed{s}"}
        if control(variant) == "start" and variant != "start-clip1":
            controls["start, clip-recalibrated where it chose none"] = clipped
        if variant in (fresh or {}):
            first = fresh[variant]
            later = lambda s, variant=variant, first=first: f"{control(variant)}-seed{s}" if int(s) >= first else ""
            controls[f"{control(variant)}, seeds >= {first} only (run after the pick)"] = later
        for name, start_of in controls.items():
            pairs = [(f"{variant}-seed{s}", start_of(s)) for s in seeds]
            pairs = [(a, b) for a, b in pairs if b in arrays and a != b]
            if len(pairs) >= 2:
                rows.append({"variant": variant, "control": name, **_pooled_delta(pairs, arrays, truth, draws)})
    return pd.DataFrame(rows)


def _pooled_delta(pairs: list[tuple[str, str]], arrays: dict, truth, draws) -> dict:
    """Mean over (teacher, control) pairs of ρ(teacher) − ρ(control), its interval and one-sided p."""
    rho = lambda name, i: correlations(arrays[name][i], truth[i])[0]
    delta = lambda i: float(np.mean([rho(a, i) - rho(b, i) for a, b in pairs]))
    boots = np.array([delta(i) for i in draws])
    return {
        "seeds": " ".join(a.rsplit("-seed", 1)[1] for a, _ in pairs),
        "mean_delta_rho": round(delta(np.arange(len(truth))), 4),
        "lo": round(float(np.percentile(boots, 2.5)), 4),
        "hi": round(float(np.percentile(boots, 97.5)), 4),
        "p_not_above": round(float(np.mean(boots <= 0)), 4),
    }


FAMILY_KEYS = ("pooling", "depth")
# Real data on the same 60 ConvNets at 32 steps, beside the teachers: is a family's rank shift the
# teacher's data or 32 steps of training?
REAL_RUNS = {
    "real (random batches, lr tuned)": "results/nas/real.csv",
    "class-balanced real, the ift start's recipe": "results/teachers/starts/nas/subset-recipe.csv",
}


def families(runs: dict[tuple[str, int | None], Path]) -> pd.DataFrame:
    """Where a run's ranking errs, by family: per (variant, seed) run of `runs` (its scores' CSV) and
    value of each FAMILY_KEYS key, the mean rank (1 = worst) of those ConvNets among the 60 by the
    ground truth and by the run's scores, and the shift between them (proxy − truth; negative: the
    proxy ranks that family too low)."""
    gt = pd.read_csv(ROOT / GT).set_index("arch_id")
    spec = gt["spec"].map(json.loads)
    family = pd.DataFrame({k: spec.map(lambda s, k=k: s[k]) for k in FAMILY_KEYS})
    rows = []
    for (variant, seed), path in runs.items():
        score = pd.read_csv(path).set_index("arch_id")["score"]
        f = pd.DataFrame({"truth": gt["val_acc"], "score": score}).dropna()
        ranks = f.rank()
        for key in FAMILY_KEYS:
            for value, ids in family.loc[f.index].groupby(key).groups.items():
                truth, proxy = ranks.loc[ids, "truth"].mean(), ranks.loc[ids, "score"].mean()
                rows.append(
                    {
                        "variant": variant,
                        "seed": seed,
                        "key": key,
                        "value": str(value),
                        "n": len(ids),
                        "truth_rank": round(truth, 2),
                        "proxy_rank": round(proxy, 2),
                        "rank_shift": round(proxy - truth, 2),
                        "mean_score": round(float(f.loc[ids, "score"].mean()), 4),
                    }
                )
    return pd.DataFrame(rows).astype({"seed": "Int64"})
