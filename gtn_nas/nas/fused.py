"""The fused proxy: a small model from an architecture's cheap features to its full-training accuracy.

Features are what a search can afford per candidate: scores of short trainings (a teacher's or real
data's, after 8, 16 and 32 steps), zero-cost scores (naswot, synflow), parameter count and FLOPs,
and the architecture's encoding (family, depth, width, activation, normalisation, pooling as
numbers and one-hots). The model is gradient boosting with small trees (scikit-learn); it measured
above ridge regression on the same features (results/fused/). A fitted model ships as JSON (the
trees' arrays), so a user loads it without unpickling anything, and predicts with numpy alone.

It is judged only on architectures it never saw: `crossval` folds by architecture, and each fold's
model is fitted on the other folds' rows alone.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..core.atomic import write_csv, write_text
from ..core.errors import ConfigError
from ..core.paths import check_output_file
from ..core.spaces import spec_from_json
from ..core.students import build_student, count_params
from .proxies import per_image_forward_flops

MIN_TRAIN = 10  # fewer architectures than this cannot fit 200 trees of depth 2 to anything useful
ZERO_COST = ("naswot", "synflow", "params")  # proxies whose score does not depend on training steps
# Fixed before any measurement (small trees, strong shrinkage, row subsampling): with 50-300
# training architectures there is no room to tune them on the same data without selection bias.
GBR = {"n_estimators": 200, "max_depth": 2, "learning_rate": 0.05, "subsample": 0.8}
CATEGORICAL = ("family", "activation", "norm", "pooling")
# What the trees fit. Accuracies bunch near 1 above a long tail of nets that barely learn (sigmoid
# nets at 0.1-0.3): fitted as they are, squared loss spends the trees on the tail, and the sum of
# leaves overshoots at the top, so the top prediction is often not among the best nets.
# `log-error` fits -log(1 - accuracy), which spreads the top and compresses the tail, and predicts
# accuracies; `rank` fits each net's quantile among the training nets and predicts quantiles.
# log-error measured best (results/fused/README.md): above accuracy on the 250 ConvNets for every
# feature set with the encoding, its top pick 0.02-0.3 points from the best instead of 0.4-2.1,
# and level with accuracy on the 100 MLPs.
TARGETS = ("accuracy", "log-error", "rank")
DEFAULT_TARGET = "log-error"


def to_target(accuracy: pd.Series, target: str) -> pd.Series:
    if target == "log-error":
        if ((accuracy < 0) | (accuracy > 1)).any():
            raise ConfigError("--target log-error needs accuracies in [0, 1]; use --target accuracy for other scales")
        return -np.log((1.0 - accuracy).clip(lower=1e-6))
    if target == "rank":
        return accuracy.rank(pct=True)
    if target == "accuracy":
        return accuracy
    raise ConfigError(f"--target must be one of {', '.join(TARGETS)}; got {target!r}")


def from_target(raw: np.ndarray, target: str) -> np.ndarray:
    """A prediction in the target's units back to accuracy (rank: the quantile, unchanged)."""
    return 1.0 - np.exp(-raw) if target == "log-error" else raw


def encode(spec: dict) -> dict[str, float]:
    """An architecture as numbers: depth, log2 width, log params and FLOPs, and a one-hot per choice."""
    net = build_student(spec, seed=0)
    out = {
        "depth": float(spec.get("depth", 0)),
        "log2_width": math.log2(max(spec.get("width", 1), 1)),
        "log_params": math.log(count_params(net)),
        "log_flops": math.log(per_image_forward_flops(net)),
    }
    out.update({f"{k}={spec[k]}": 1.0 for k in CATEGORICAL if k in spec})
    return out


def feature_name(proxy: str, steps) -> str:
    if proxy in ZERO_COST or steps is None or (isinstance(steps, float) and math.isnan(steps)):
        return proxy
    return f"{proxy}@{int(steps)}"


def feature_table(scores: pd.DataFrame, specs: dict[str, dict]) -> pd.DataFrame:
    """One row per architecture of `specs`: each proxy's score (mean over seeds) as `proxy@steps`,
    then the encoding. `scores` is long: arch_id, proxy, score and, for trained proxies, steps."""
    steps = scores["steps"] if "steps" in scores else pd.Series(np.nan, index=scores.index)
    named = scores.assign(feature=[feature_name(p, s) for p, s in zip(scores["proxy"], steps)])
    wide = named.groupby(["arch_id", "feature"])["score"].mean().unstack("feature")
    enc = pd.DataFrame({aid: encode(spec) for aid, spec in specs.items()}).T.fillna(0.0)
    return wide.reindex(enc.index).join(enc).rename_axis("arch_id")


def training_rows(features: pd.DataFrame, truth: pd.Series) -> tuple[pd.DataFrame, pd.Series]:
    """The architectures with both features and ground truth, checked."""
    common = features.index.intersection(truth.dropna().index)
    if len(common) < MIN_TRAIN:
        raise ConfigError(
            f"a fused proxy needs at least {MIN_TRAIN} architectures with ground truth; got {len(common)}"
        )
    x = features.loc[common]
    missing = x.columns[x.isna().any()].tolist()
    if missing:
        raise ConfigError(f"features missing for some architectures: {', '.join(missing[:5])}")
    return x, truth.loc[common]


@dataclass(frozen=True)
class FusedModel:
    """Gradient-boosted regression trees as plain arrays: prediction = init + lr * sum of tree values."""

    columns: list[str]
    init: float
    learning_rate: float
    trees: list[dict]  # children_left, children_right, feature, threshold, value
    target: str = "accuracy"  # what the trees fit (TARGETS); models written before it fitted accuracy

    def predict(self, features: pd.DataFrame) -> np.ndarray:
        missing = [c for c in self.columns if c not in features and "=" not in c]
        if missing:
            raise ConfigError(f"the fused model needs features the candidates lack: {', '.join(missing[:5])}")
        x = features.reindex(columns=self.columns)
        x = bounded(x.fillna({c: 0.0 for c in self.columns if "=" in c}).to_numpy(float))  # absent one-hot: 0
        raw = self.init + self.learning_rate * sum(_tree_predict(t, x) for t in self.trees)
        return from_target(raw, self.target)

    def to_json(self) -> str:
        return json.dumps({"kind": "gradient_boosting", **self.__dict__})

    @classmethod
    def load(cls, path: str | Path) -> FusedModel:
        try:
            raw = json.loads(Path(path).read_text())
            target = raw.get("target", "accuracy")
            if target not in TARGETS:
                raise ValueError(f"unknown target {target!r}")
            return cls(raw["columns"], float(raw["init"]), float(raw["learning_rate"]), raw["trees"], target)
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ConfigError(f"cannot read fused model {path}: {e}") from None


# The trees compare features in float32 (scikit-learn's). A score beyond its range, such as naswot's
# -inf for a net whose kernel matrix is singular, keeps its place in the order at the range's end.
F32_MAX = float(np.finfo(np.float32).max)


def bounded(x: np.ndarray) -> np.ndarray:
    return np.clip(x, -F32_MAX, F32_MAX)


def _tree_predict(tree: dict, x: np.ndarray) -> np.ndarray:
    left, right = np.asarray(tree["children_left"]), np.asarray(tree["children_right"])
    feat, thr, value = np.asarray(tree["feature"]), np.asarray(tree["threshold"]), np.asarray(tree["value"])
    node = np.zeros(len(x), dtype=int)
    for _ in range(len(left)):  # at most one move per level; leaves have left == -1
        inner = left[node] != -1
        if not inner.any():
            break
        go_left = x[np.arange(len(x)), np.where(inner, feat[node], 0)] <= thr[node]
        node = np.where(inner, np.where(go_left, left[node], right[node]), node)
    return value[node]


def fit(features: pd.DataFrame, truth: pd.Series, seed: int = 0, target: str = DEFAULT_TARGET) -> FusedModel:
    """Fit on every architecture with features and ground truth (the model that ships)."""
    from sklearn.ensemble import GradientBoostingRegressor  # the fit alone needs scikit-learn

    x, y = training_rows(features, truth)
    y = to_target(y, target)
    model = GradientBoostingRegressor(**GBR, random_state=seed).fit(bounded(x.to_numpy(float)), y.to_numpy(float))
    trees = []
    for est in model.estimators_[:, 0]:
        t = est.tree_
        keys = ("children_left", "children_right", "feature", "threshold")
        trees.append({**{k: getattr(t, k).tolist() for k in keys}, "value": t.value[:, 0, 0].tolist()})
    init = float(model.init_.constant_.ravel()[0]) if hasattr(model.init_, "constant_") else float(y.mean())
    return FusedModel(list(x.columns), init, GBR["learning_rate"], trees, target)


def folds(ids: pd.Index, k: int, seed: int) -> list[tuple[pd.Index, pd.Index]]:
    """k (train, test) splits of architecture ids: every id in exactly one test fold."""
    if k < 2 or k > len(ids):
        raise ConfigError(f"--folds must be between 2 and the {len(ids)} architectures; got {k}")
    order = np.random.default_rng(seed).permutation(len(ids))
    parts = np.array_split(order, k)
    return [(ids.delete(p), ids[p]) for p in parts]


def crossval(
    features: pd.DataFrame,
    truth: pd.Series,
    k: int = 10,
    seed: int = 0,
    train_size: int | None = None,
    target: str = DEFAULT_TARGET,
) -> pd.Series:
    """Out-of-fold predictions: each architecture predicted by a model fitted without it (and, with
    `train_size`, on that many architectures drawn from the other folds); a `rank` target ranks
    each fold's training nets alone."""
    x, y = training_rows(features, truth)
    rng = np.random.default_rng(seed + 1)
    pred = pd.Series(np.nan, index=x.index)
    for train, test in folds(x.index, k, seed):
        if train_size is not None:
            train = train[rng.permutation(len(train))[:train_size]]
        pred.loc[test] = fit(x.loc[train], y.loc[train], seed, target).predict(x.loc[test])
    return pred


@dataclass(frozen=True)
class FusedFit:
    """A fused proxy fitted on every training architecture, and its out-of-fold judgement."""

    model: FusedModel
    predictions: pd.DataFrame  # arch_id, val_acc, predicted (out of fold)
    rho: float
    rho_lo: float
    rho_hi: float


def fit_from_files(
    score_paths: list[str | Path],
    ground_truth: str | Path | list[str | Path],
    folds_k: int = 10,
    seed: int = 0,
    n_boot: int = 1000,
    target: str = DEFAULT_TARGET,
) -> FusedFit:
    """Features from search-output CSVs (arch_id, proxy, score[, steps]) for the ground truth's
    architectures (its `spec` column), cross-validated by architecture, then refitted on all. Several
    ground-truth files (e.g. one per search space) are one training set; an architecture in more
    than one counts once, from the first."""
    from .ranking import RUN_COLUMNS, _read_csv, bootstrap, correlations, load_ground_truth

    paths = ground_truth if isinstance(ground_truth, list | tuple) else [ground_truth]
    label = ", ".join(map(str, paths))  # for messages
    gt = pd.concat([_with_specs(load_ground_truth(p), p) for p in paths]).drop_duplicates("arch_id")
    gt = gt.set_index("arch_id")
    specs = {aid: spec_from_json(s, f"{label}: {aid}") for aid, s in gt["spec"].items()}
    scores = pd.concat([_read_csv(p, RUN_COLUMNS, "search-output") for p in score_paths], ignore_index=True)
    if not scores["arch_id"].isin(gt.index).any():
        raise ConfigError(
            f"{label} has none of the {scores['arch_id'].nunique()} scored architectures "
            f"(e.g. {scores['arch_id'].iloc[0]})"
        )
    features = feature_table(scores, specs)
    features = features[features.drop(columns=[c for c in features if "=" in c]).notna().any(axis=1)]
    pred = crossval(features, gt["val_acc"], folds_k, seed, target=target)
    truth = gt.loc[pred.index, "val_acc"].to_numpy(float)
    rho = correlations(pred.to_numpy(float), truth)[0]
    (lo, hi), _ = bootstrap(pred.to_numpy(float), truth, n_boot, seed)
    frame = pd.DataFrame({"arch_id": pred.index, "val_acc": truth, "predicted": pred.to_numpy(float)})
    return FusedFit(fit(features, gt["val_acc"], seed, target), frame, rho, lo, hi)


def fit_to_file(
    score_paths: list[str | Path],
    ground_truth: str | Path | list[str | Path],
    out: str | Path,
    folds_k: int,
    seed: int,
    n_boot: int,
    target: str = DEFAULT_TARGET,
) -> FusedFit:
    """`fit_from_files`, the model written to `out` (.json) and its out-of-fold predictions beside it
    (.csv); a bad path is refused before any fitting."""
    if Path(out).suffix != ".json":
        raise ConfigError(f"--out must be a .json file (the model; its predictions go beside it); got {out}")
    check_output_file(out, "--out")
    to_target(pd.Series([0.5]), target)  # a bad target is refused before any fitting
    result = fit_from_files(score_paths, ground_truth, folds_k, seed, n_boot, target)
    write_text(out, result.model.to_json() + "\n")
    write_csv(result.predictions, Path(out).with_suffix(".csv"))
    return result


def _with_specs(gt: pd.DataFrame, path) -> pd.DataFrame:
    """The ground truth, refused unless it has a spec column (the encoding needs the architectures)."""
    if "spec" not in gt:
        raise ConfigError(f"{path}: the ground truth needs a 'spec' column (JSON architectures) for the encoding")
    return gt
