"""Issue 33: the fused proxy (gtn_nas.nas.fused) on the architectures that have ground truth and scores.

Features per architecture, from committed runs: short-training scores after 8, 16 and 32 steps
(results/nas_frontier/scores.csv: real data, the gm teacher; mean over init seeds; `--val-examples`
picks the validation size they were scored on), naswot and synflow (results/nas/), and the encoding
(gtn_nas.nas.fused.encode). Target: 1-epoch validation accuracy (results/ground_truth/convnet.csv).

Writes to --out-dir:
- models.csv: out-of-fold Spearman rho per model and feature set, mean and SD over `--repeats`
  fold draws (k-fold by architecture);
- paired.csv: the shipped configuration's out-of-fold rho minus each single proxy and rank-sum, with
  paired bootstrap intervals and the minimal detectable difference;
- ablation.csv: one feature set minus another (does a group of features add to the rest?), paired
  over architectures on the fold draws' mean out-of-fold predictions;
- learning_curve.csv: rho against the number of training architectures;
- targets.csv (`--compare-targets`): what the trees fit (accuracy, log-error, rank), per feature set:
  rho, the top prediction's regret, and each target minus accuracy paired over architectures;
- cost.csv: the features' seconds and FLOPs against the ground truth's.

    python benchmarks/fused_proxy.py --out-dir results/fused
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import rankdata, spearmanr
from sklearn.linear_model import Ridge

from gtn_nas.api import write_csv, write_text
from gtn_nas.api.lab import fused, paired_difference

ROOT = Path(__file__).resolve().parents[1]
# (ground truth, frontier scores, folder of zero-cost search outputs) per set of architectures
SETS_OF_ARCHS = {
    "60": ("results/ground_truth/convnet.csv", "results/nas_frontier/scores.csv", "results/nas"),
    "190": ("results/ground_truth/convnet250_new.csv", "results/nas_frontier_250/scores.csv", "results/nas_250"),
    "mlp100": ("results/ground_truth/mlp100.csv", "results/nas_frontier_mlp100/scores.csv", "results/nas_mlp100"),
}
# The ConvNets' `teacher:gm` scores came from gm-noise.pt (the frontier's teacher then); the MLPs'
# frontier names teachers by file stem, so its gm-noise scores are read as the same feature.
RENAME = {"mlp100": {"teacher:gm-noise": "teacher:gm"}}
# `--sets 60 190 --init-seeds 1` is issue 33's 250 ConvNets (results/ground_truth/convnet250.csv): one init seed,
# since the 190's frontier scores have one. Feature sets whose scores have not all run are left out.
ZERO_COST = ("naswot", "synflow")
STEPS = (8, 16, 32)
TRAINED = {"real": "real", "teacher": "teacher:gm"}  # feature group -> frontier proxy


def load(val_examples: int, sets: list[str], init_seeds: int | None) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(features, ground truth, per-arch cost rows) for the architectures of `sets`; trained scores
    averaged over the first `init_seeds` init seeds (None: all there are)."""
    gt = pd.concat([pd.read_csv(ROOT / SETS_OF_ARCHS[k][0]) for k in sets]).drop_duplicates("arch_id")
    gt = gt.set_index("arch_id")
    specs = {aid: json.loads(s) for aid, s in gt["spec"].items()}
    front = pd.concat([read_frontier(k) for k in sets if (ROOT / SETS_OF_ARCHS[k][1]).exists()])  # may not have run
    front = front[(front["val_examples"] == val_examples) & front["steps"].isin(STEPS)]
    front = front[front["proxy"].isin(TRAINED.values())]
    if init_seeds is not None:
        front = front[front["init_seed"] < init_seeds]
    paths = [ROOT / SETS_OF_ARCHS[k][2] / f"{z}.csv" for k in sets for z in ZERO_COST]
    zc = pd.concat([pd.read_csv(p)[["arch_id", "proxy", "score", "seconds", "flops"]] for p in paths])
    scores = pd.concat([front[["arch_id", "proxy", "steps", "score"]], zc[["arch_id", "proxy", "score"]]])
    cost = pd.concat([trajectory_cost(front), zc[["arch_id", "proxy", "seconds", "flops"]]])
    return fused.feature_table(scores, specs), gt, cost


def read_frontier(key: str) -> pd.DataFrame:
    """A set's frontier scores, its proxies renamed to the features' names (RENAME)."""
    front = pd.read_csv(ROOT / SETS_OF_ARCHS[key][1])
    for old, new in RENAME.get(key, {}).items():
        front = front[front["proxy"] != new].replace({"proxy": {old: new}})
    return front


def trajectory_cost(front: pd.DataFrame) -> pd.DataFrame:
    """Per proxy, architecture and init seed, what a fused proxy pays for its 8-, 16- and 32-step
    scores: one training to 32 steps (the frontier's cumulative row) plus an evaluation at each step
    count. flops(t) = 3 F B t + F n, so F n = flops(t) - 3 F B t with F from two step counts."""
    rows = []
    for (proxy, aid, _), g in front.groupby(["proxy", "arch_id", "init_seed"]):
        g = g.set_index("steps")
        b = 128  # the frontier's batch size (the teachers' and real data's)
        f = (g.loc[32, "flops"] - g.loc[16, "flops"]) / (3 * b * 16)
        evals = sum(g.loc[t, "flops"] - 3 * f * b * t for t in (8, 16))
        seconds = g.loc[32, "train_seconds"] + g["eval_seconds"].sum()
        rows.append({"arch_id": aid, "proxy": proxy, "seconds": seconds, "flops": g.loc[32, "flops"] + evals})
    return pd.DataFrame(rows)


def columns(features: pd.DataFrame, groups: tuple[str, ...]) -> list[str]:
    """The feature columns of named groups: real / teacher (8, 16, 32 steps), zc, enc."""
    out = []
    for g in groups:
        if g in TRAINED:
            out += [f"{TRAINED[g]}@{s}" for s in STEPS]
        elif g == "zc":
            out += list(ZERO_COST)
        elif g == "enc":
            out += [c for c in features if c not in out and "@" not in c and c not in ZERO_COST]
    return out


def ridge_crossval(x: pd.DataFrame, y: pd.Series, k: int, seed: int) -> pd.Series:
    # naswot is -inf for nets whose kernel matrix is singular (23 of the 100 MLPs): held at the
    # column's finite extreme, it keeps its place in the order and standardises like the rest.
    finite = x.replace([np.inf, -np.inf], np.nan)
    x = x.clip(lower=finite.min(), upper=finite.max(), axis=1)
    pred = pd.Series(np.nan, index=x.index)
    for train, test in fused.folds(x.index, k, seed):
        mu, sd = x.loc[train].mean(), x.loc[train].std().replace(0, 1)
        model = Ridge(alpha=1.0).fit(((x.loc[train] - mu) / sd).to_numpy(), y.loc[train].to_numpy())
        pred.loc[test] = model.predict(((x.loc[test] - mu) / sd).to_numpy())
    return pred


SETS = {
    "encoding only": ("enc",),
    "zero-cost + encoding": ("zc", "enc"),
    "real + zero-cost + encoding": ("real", "zc", "enc"),
    "teacher + zero-cost + encoding": ("teacher", "zc", "enc"),
    "teacher + real + zero-cost + encoding": ("teacher", "real", "zc", "enc"),
    "teacher only": ("teacher",),
    "real only": ("real",),
}
SHIPPED = "teacher + real + zero-cost + encoding"


def available(features) -> list[str]:
    """The feature sets every architecture has all the features of (trained scores may be missing
    for a set of architectures whose frontier run has not finished)."""
    ok = lambda cols: all(c in features for c in cols) and features[cols].notna().all().all()  # noqa: E731
    return [name for name, groups in SETS.items() if ok(columns(features, groups))]


def shipped(features) -> str:
    """The richest feature set there is: every group, else zero-cost + encoding."""
    return SHIPPED if SHIPPED in available(features) else "zero-cost + encoding"


def within(draws: list[pd.Series], truth: pd.Series, family: pd.Series) -> dict:
    """With several families of architectures pooled (ConvNets and MLPs), rho within each: a search
    runs in one space, so the ordering between spaces is no help to it."""
    if family.nunique() < 2:
        return {}
    out = {}
    for name in sorted(family.unique()):
        ids = [p.index[(family.loc[p.index] == name).to_numpy()] for p in draws]
        out[f"rho_{name}"] = float(np.mean([spearmanr(p.loc[i], truth.loc[i]).statistic for p, i in zip(draws, ids)]))
    return out


def model_table(
    features, truth, k: int, repeats: int, family: pd.Series | None = None, target: str = fused.DEFAULT_TARGET
) -> tuple[pd.DataFrame, dict[str, list[pd.Series]]]:
    """Out-of-fold rho per feature set and model (and within each family, when several are pooled);
    and per feature set, gradient boosting's out-of-fold predictions of every fold draw (the paired
    comparisons reuse them)."""
    family = family if family is not None else pd.Series("all", index=truth.index)
    rows, preds = [], {}
    for name in available(features):
        x = features[columns(features, SETS[name])]
        for model in ("gradient boosting", "ridge"):
            if model == "gradient boosting":
                draws = [fused.crossval(x, truth, k, r, target=target) for r in range(repeats)]
            else:
                draws = [ridge_crossval(x, truth, k, r) for r in range(repeats)]
            rhos = [spearmanr(p, truth.loc[p.index]).statistic for p in draws]
            if model == "gradient boosting":
                preds[name] = draws
            rows.append(
                {
                    "features": name,
                    "model": model,
                    "rho_mean": np.mean(rhos),
                    "rho_sd": np.std(rhos, ddof=1),
                    "repeats": repeats,
                    "folds": k,
                    "n": len(x),
                    **within(draws, truth, family),
                }
            )
    return pd.DataFrame(rows), preds


# Does a group of features add to the others? (the richer set first)
ABLATIONS = [
    ("teacher + zero-cost + encoding", "real + zero-cost + encoding"),
    ("teacher + real + zero-cost + encoding", "real + zero-cost + encoding"),
    ("teacher + real + zero-cost + encoding", "teacher + zero-cost + encoding"),
    ("teacher + zero-cost + encoding", "zero-cost + encoding"),
    ("real + zero-cost + encoding", "zero-cost + encoding"),
    ("zero-cost + encoding", "encoding only"),
]


def mean_prediction(draws: list[pd.Series], index: pd.Index) -> np.ndarray:
    """The mean of fold draws' out-of-fold predictions, in `index`'s order."""
    return pd.concat(draws, axis=1).mean(axis=1).loc[index].to_numpy(float)


def ablation_table(preds: dict[str, list[pd.Series]], truth, n_boot: int) -> pd.DataFrame:
    """Feature set A - feature set B, paired over architectures: each set's prediction is the mean of
    its fold draws' out-of-fold predictions (every one from a model that never saw the architecture),
    so the fold-draw noise is averaged before the bootstrap resamples architectures. `draw_sd` is the
    SD of the difference over single fold draws, the noise that averaging removes."""
    rows = []
    for a, b in ABLATIONS:
        if a not in preds or b not in preds:
            continue
        index = preds[a][0].index
        y = truth.loc[index].to_numpy(float)
        d = paired_difference(mean_prediction(preds[a], index), mean_prediction(preds[b], index), y, n_boot, seed=0)
        per_draw = [
            spearmanr(pa.loc[index], y).statistic - spearmanr(pb.loc[index], y).statistic
            for pa, pb in zip(preds[a], preds[b])
        ]
        rows.append({"features": a, "minus": b, **d, "draw_sd": np.std(per_draw, ddof=1), "draws": len(per_draw)})
    return pd.DataFrame(rows)


def paired_table(features, truth, pred: pd.Series, n_boot: int) -> pd.DataFrame:
    y = truth.loc[pred.index].to_numpy(float)
    f = features.loc[pred.index]
    have = [c for c in ("teacher:gm@32", "real@32", "naswot", "synflow") if c in f and f[c].notna().all()]
    singles = {c: f[c].to_numpy(float) for c in have}
    if "teacher:gm@32" in have:
        singles["rank-sum teacher:gm@32 + naswot"] = rankdata(f["teacher:gm@32"]) + rankdata(f["naswot"])
    singles["rank-sum naswot + synflow"] = rankdata(f["naswot"]) + rankdata(f["synflow"])
    rows = []
    for name, other in singles.items():
        d = paired_difference(pred.to_numpy(float), other, y, n_boot, seed=0)
        rows.append({"fused_minus": name, "single_rho": spearmanr(other, y).statistic, **d})
    return pd.DataFrame(rows)


def target_table(
    features, truth, k: int, repeats: int, n_boot: int, family: pd.Series, known: dict | None = None
) -> pd.DataFrame:
    """What the trees should fit (fused.TARGETS), per feature set: out-of-fold rho (mean, SD over fold
    draws), the regret of the top prediction (points below the best net; each prediction from a model
    that never saw that net), and each target minus `accuracy`, paired over architectures on the fold
    draws' mean predictions. `known`: {target: model_table's predictions}, reused rather than refitted."""
    known = known or {}
    rows = []
    for name in available(features):
        x = features[columns(features, SETS[name])]
        draws = {
            t: known[t][name]
            if name in known.get(t, {})
            else [fused.crossval(x, truth, k, r, target=t) for r in range(repeats)]
            for t in fused.TARGETS
        }
        index = draws["accuracy"][0].index
        y = truth.loc[index]
        mean = {t: mean_prediction(d, index) for t, d in draws.items()}
        for t, ds in draws.items():
            rhos = [spearmanr(p, truth.loc[p.index]).statistic for p in ds]
            regrets = [100 * (y.max() - y.loc[p.idxmax()]) for p in ds]
            d = paired_difference(mean[t], mean["accuracy"], y.to_numpy(float), n_boot, seed=0)
            rows.append(
                {
                    "features": name,
                    "target": t,
                    "rho_mean": np.mean(rhos),
                    "rho_sd": np.std(rhos, ddof=1),
                    "regret_points": np.mean(regrets),
                    "regret_points_max": np.max(regrets),
                    **within(ds, truth, family),
                    "minus_accuracy": d["spearman"],
                    "minus_accuracy_lo": d["spearman_lo"],
                    "minus_accuracy_hi": d["spearman_hi"],
                    "mdd": d["mdd"],
                    "repeats": repeats,
                }
            )
    return pd.DataFrame(rows)


def learning_curve(features, truth, sizes, k: int, repeats: int, target: str = fused.DEFAULT_TARGET) -> pd.DataFrame:
    x = features[columns(features, SETS[shipped(features)])]
    rows = []
    for n in sizes:
        if n > len(x) * (k - 1) // k:
            continue
        rhos = [
            spearmanr(p := fused.crossval(x, truth, k, r, train_size=n, target=target), truth.loc[p.index]).statistic
            for r in range(repeats)
        ]
        rows.append({"train_archs": n, "rho_mean": np.mean(rhos), "rho_sd": np.std(rhos, ddof=1), "repeats": repeats})
    return pd.DataFrame(rows)


def cost_table(cost: pd.DataFrame, gt: pd.DataFrame, features: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for name in available(features):
        groups = SETS[name]
        proxies = [TRAINED[g] for g in groups if g in TRAINED] + (list(ZERO_COST) if "zc" in groups else [])
        c = cost[cost["proxy"].isin(proxies)]
        rows.append(
            {
                "features": name,
                "seconds_ratio": c["seconds"].sum() / gt["seconds"].sum(),
                "flops_ratio": c["flops"].sum() / gt["train_flops"].sum(),
            }
        )
    return pd.DataFrame(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out-dir", type=Path, required=True)
    ap.add_argument("--val-examples", type=int, default=10000, choices=(1000, 10000))
    ap.add_argument("--sets", nargs="+", default=["60"], choices=list(SETS_OF_ARCHS), help="sets of architectures")
    ap.add_argument("--init-seeds", type=int, help="average trained scores over this many init seeds (default: all)")
    ap.add_argument("--folds", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument("--target", default=fused.DEFAULT_TARGET, choices=fused.TARGETS, help="what the trees fit")
    ap.add_argument("--compare-targets", action="store_true", help="also write targets.csv: every target compared")
    args = ap.parse_args()
    features, gt, cost = load(args.val_examples, args.sets, args.init_seeds)
    truth = gt["val_acc"]
    models, preds = model_table(features, truth, args.folds, args.repeats, gt["family"], args.target)
    out = args.out_dir
    write_csv(models, out / "models.csv")
    write_csv(paired_table(features, truth, preds[shipped(features)][0], args.bootstrap), out / "paired.csv")
    write_csv(ablation_table(preds, truth, args.bootstrap), out / "ablation.csv")
    write_csv(
        learning_curve(features, truth, (10, 25, 50, 100, 200), args.folds, args.repeats, args.target),
        out / "learning_curve.csv",
    )
    if args.compare_targets:
        known = {args.target: preds}  # model_table fitted this target already
        table = target_table(features, truth, args.folds, args.repeats, args.bootstrap, gt["family"], known)
        write_csv(table, out / "targets.csv")
    write_csv(cost_table(cost, gt, features), out / "cost.csv")
    write_text(out / "command.json", json.dumps({"command": shlex.join(["python", *sys.argv])}, indent=1) + "\n")
    print(models.to_string(index=False))


if __name__ == "__main__":
    main()
