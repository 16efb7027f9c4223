"""How well does a proxy rank architectures the way full training does, and at what cost?

For each proxy (a `search` output CSV: arch_id, proxy, score, seconds, flops, ...) against a
ground-truth CSV (arch_id, val_acc, seconds, train_flops), over the n architectures both hold:

- Spearman rho and Kendall tau-b (scipy.stats) between score and val_acc, over all n and over the
  top half by ground truth (the ceil(n/2) best), where the search actually has to decide;
- top-k overlap |top_k(score) ∩ top_k(val_acc)| / k for k = 5, 10 (NaN when n < k);
- regret = max val_acc − val_acc[argmax score]: what trusting the proxy's pick costs;
- bootstrap 95% intervals (percentile; architectures resampled with replacement, seeded);
- cost ratio = Σ proxy seconds / Σ ground-truth seconds, and the same in FLOPs; the one-off cost
  (teacher distillation seconds, data generation or lr tuning) is reported beside it and
  amortised over the n architectures: (Σ proxy + one-off) / Σ ground truth.

Ties are broken by arch_id, so top-k sets and the pick are deterministic.

A combined proxy "a+b" (`combine_runs`) scores each architecture by the mean of its ranks under a
and b: no weights to tune, and proxies whose errors differ correct each other (a teacher's data and
the zero-cost naswot do: results/nas_combination.md). Its cost is the sum of theirs.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ..core.errors import ConfigError

GT_COLUMNS = ("arch_id", "val_acc")
RUN_COLUMNS = ("arch_id", "proxy", "score")
TOP_KS = (5, 10)


def _read_csv(path: str | Path, required: tuple[str, ...], what: str) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such {what} CSV")
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not a readable CSV ({str(exc).splitlines()[0]})") from None
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise ConfigError(f"{path}: a {what} CSV needs column(s) {', '.join(missing)}")
    return frame


def load_ground_truth(path: str | Path) -> pd.DataFrame:
    return _read_csv(path, GT_COLUMNS, "ground-truth").drop_duplicates("arch_id")


def load_runs(paths: list[str | Path]) -> list[tuple[str, str, pd.DataFrame]]:
    """(label, source file, rows) per proxy; labels shared by several files get the file stem."""
    found = []
    for p in paths:
        frame = _read_csv(p, RUN_COLUMNS, "search-output")
        for name, rows in frame.groupby("proxy", sort=False):
            found.append((str(name), str(p), rows.drop_duplicates("arch_id")))
    counts = pd.Series([f[0] for f in found]).value_counts()
    return [(f"{name} [{Path(src).stem}]" if counts[name] > 1 else name, src, rows) for name, src, rows in found]


ONE_OFF = ("setup_seconds", "setup_flops", "distill_seconds")


def combine_runs(runs: list[tuple[str, str, pd.DataFrame]], combos: list[str]) -> list[tuple[str, str, pd.DataFrame]]:
    """A run per combination "a+b[+c...]" of proxy labels: over the architectures every part scored,
    score = mean over parts of the architecture's rank / n (ties averaged; 1 = best of n); seconds,
    FLOPs and one-off costs summed over the parts."""
    by_label = {label: (src, rows) for label, src, rows in runs}
    out = []
    for combo in combos:
        parts = combo.split("+")
        unknown = [p for p in parts if p not in by_label]
        if len(parts) < 2 or unknown:
            raise ConfigError(f"--combine {combo!r}: give two or more of {', '.join(by_label)} joined by '+'")
        frames = [by_label[p][1].set_index("arch_id") for p in parts]
        ids = frames[0].index
        for f in frames[1:]:
            ids = ids.intersection(f.index)
        # Sums of average ranks (multiples of 0.5) are exact: equal sums tie exactly, as they should
        # (means of rank(pct=True) broke such ties by float noise).
        total = sum(f.loc[ids, "score"].astype(float).rank() for f in frames)
        rows = pd.DataFrame({"arch_id": ids, "proxy": combo, "score": (total / (len(frames) * len(ids))).to_numpy()})
        for col in ("seconds", "flops"):
            if all(col in f for f in frames):
                rows[col] = sum(f.loc[ids, col].astype(float).to_numpy() for f in frames)
        for col in ONE_OFF:
            rows[col] = sum(_one_off(f, col) for f in frames)
        out.append((combo, " + ".join(by_label[p][0] for p in parts), rows))
    return out


# -- metrics --------------------------------------------------------------------------------------


def _order(values: pd.Series, ids: pd.Series) -> list[str]:
    """ids sorted by value, best first; ties by id."""
    return [a for _, a in sorted(zip(-values.to_numpy(), ids.to_numpy()))]


def top_k_overlap(frame: pd.DataFrame, k: int) -> float:
    if len(frame) < k:
        return float("nan")
    by_proxy = _order(frame["score"], frame["arch_id"])[:k]
    by_gt = _order(frame["val_acc"], frame["arch_id"])[:k]
    return len(set(by_proxy) & set(by_gt)) / k


def regret(frame: pd.DataFrame) -> tuple[float, str]:
    """(best val_acc − val_acc of the proxy's top pick, the pick's arch_id)."""
    pick = _order(frame["score"], frame["arch_id"])[0]
    return float(frame["val_acc"].max() - frame.set_index("arch_id").at[pick, "val_acc"]), pick


def top_half(frame: pd.DataFrame) -> pd.DataFrame:
    keep = _order(frame["val_acc"], frame["arch_id"])[: math.ceil(len(frame) / 2)]
    return frame[frame["arch_id"].isin(keep)]


def correlations(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(Spearman rho, Kendall tau-b); NaN when either side is constant or n < 3."""
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan"), float("nan")
    from scipy import stats  # here, not at the top: 0.7 s of import every worker process would pay

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(stats.spearmanr(x, y).statistic), float(stats.kendalltau(x, y).statistic)


def bootstrap(x: np.ndarray, y: np.ndarray, n_boot: int, seed: int) -> tuple[tuple[float, float], tuple[float, float]]:
    """95% percentile intervals ((rho_lo, rho_hi), (tau_lo, tau_hi)) over resampled architectures."""
    if len(x) < 3 or n_boot < 1:
        nan = (float("nan"), float("nan"))
        return nan, nan
    rng = np.random.default_rng(seed)
    draws = np.array([correlations(x[i], y[i]) for i in rng.integers(0, len(x), (n_boot, len(x)))])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # all-NaN columns (every resample constant) stay NaN
        lo, hi = np.nanpercentile(draws, 2.5, axis=0), np.nanpercentile(draws, 97.5, axis=0)
    return (float(lo[0]), float(hi[0])), (float(lo[1]), float(hi[1]))


def _one_off(rows: pd.DataFrame, column: str) -> float:
    return float(rows[column].iloc[0]) if column in rows and len(rows) and pd.notna(rows[column].iloc[0]) else 0.0


def _ratio(num: float, den: float) -> float:
    return num / den if den and math.isfinite(den) else float("nan")


def cost(rows: pd.DataFrame, gt: pd.DataFrame) -> dict:
    """Proxy ÷ ground-truth cost over the same architectures, with one-off costs beside and amortised."""
    n = len(rows)
    sec = float(rows["seconds"].sum()) if "seconds" in rows else float("nan")
    flops = float(rows["flops"].sum()) if "flops" in rows else float("nan")
    gt_sec = float(gt["seconds"].sum()) if "seconds" in gt else float("nan")
    gt_flops = float(gt["train_flops"].sum()) if "train_flops" in gt else float("nan")
    setup_s, setup_f, distill = (
        _one_off(rows, "setup_seconds"),
        _one_off(rows, "setup_flops"),
        _one_off(rows, "distill_seconds"),
    )
    return {
        "cost_ratio": _ratio(sec, gt_sec),
        "flops_ratio": _ratio(flops, gt_flops),
        "distill_seconds": distill,
        "distill_seconds_per_arch": distill / n if n else float("nan"),
        "setup_seconds": setup_s,
        "setup_flops": setup_f,
        "amortised_cost_ratio": _ratio(sec + setup_s + distill, gt_sec),
        # Distillation FLOPs are not recorded in teacher checkpoints: only data generation / lr tuning here.
        "amortised_flops_ratio": _ratio(flops + setup_f, gt_flops),
        "proxy_seconds": sec,
        "proxy_flops": flops,
        "gt_seconds": gt_sec,
        "gt_flops": gt_flops,
    }


def rank_proxy(rows: pd.DataFrame, gt: pd.DataFrame, n_boot: int = 1000, seed: int = 0) -> dict:
    """All metrics of one proxy's rows against the ground truth (architectures in both only)."""
    frame = rows[["arch_id", "score"]].merge(gt[["arch_id", "val_acc"]], on="arch_id")
    out: dict = {"n": len(frame), "n_missing": int(len(gt) - len(frame))}
    if len(frame) == 0:
        return out
    x, y = frame["score"].to_numpy(float), frame["val_acc"].to_numpy(float)
    out["spearman"], out["kendall"] = correlations(x, y)
    (out["spearman_lo"], out["spearman_hi"]), (out["kendall_lo"], out["kendall_hi"]) = bootstrap(x, y, n_boot, seed)
    top = top_half(frame)
    tx, ty = top["score"].to_numpy(float), top["val_acc"].to_numpy(float)
    out["n_top50"] = len(top)
    out["spearman_top50"], out["kendall_top50"] = correlations(tx, ty)
    (out["spearman_top50_lo"], out["spearman_top50_hi"]), (out["kendall_top50_lo"], out["kendall_top50_hi"]) = (
        bootstrap(tx, ty, n_boot, seed + 1)
    )
    for k in TOP_KS:
        out[f"top{k}_overlap"] = top_k_overlap(frame, k)
    out["regret"], out["pick"] = regret(frame)
    gt_same = gt[gt["arch_id"].isin(frame["arch_id"])]
    out.update(cost(rows[rows["arch_id"].isin(frame["arch_id"])], gt_same))
    return out


# A paired difference of this many bootstrap standard errors is detected by a two-sided 5% test with
# 80% power (z_0.975 + z_0.80).
MDD_Z = 1.959964 + 0.841621


def paired_difference(x: np.ndarray, y: np.ndarray, truth: np.ndarray, n_boot: int, seed: int) -> dict:
    """rho(x) − rho(y) against the same truth, with its paired bootstrap: each resample draws one set
    of architectures for both proxies, so what they share (the architectures) cancels. `p_not_above`
    is the share of resamples where x's rho does not exceed y's (a one-sided bootstrap p-value);
    `mdd`, the minimal detectable difference of this design (MDD_Z bootstrap standard errors): a
    smaller true difference is more likely missed than found.

    x and y may also be (seeds, n) arrays, one row per distillation seed (y: one row, or one per
    seed): the difference is then the mean over seeds of rho(x_s) − rho(y_s), every resample drawing
    one set of architectures for all seeds, so the MDD is that of the architectures × seeds design."""
    xs, ys = np.atleast_2d(x), np.atleast_2d(y)
    ys = np.repeat(ys, len(xs), axis=0) if len(ys) == 1 else ys
    if len(xs) != len(ys):
        raise ConfigError(f"paired seeds: {len(xs)} against {len(ys)} (give one comparator or one per seed)")
    rho = lambda v, i: correlations(v[i], truth[i])[0]
    diff = lambda i: float(np.mean([rho(a, i) - rho(b, i) for a, b in zip(xs, ys)]))
    n = xs.shape[1]
    out = {"n": n, "spearman": diff(np.arange(n))} | ({"seeds": len(xs)} if len(xs) > 1 else {})
    if n < 3 or n_boot < 1:
        nan = float("nan")
        return {**out, "spearman_lo": nan, "spearman_hi": nan, "p_not_above": nan, "mdd": nan}
    draws = np.array([diff(i) for i in np.random.default_rng(seed).integers(0, n, (n_boot, n))])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lo, hi = np.nanpercentile(draws, [2.5, 97.5])
    return {
        **out,
        "spearman_lo": float(lo),
        "spearman_hi": float(hi),
        "p_not_above": float(np.mean(draws[np.isfinite(draws)] <= 0)),
        "mdd": float(MDD_Z * np.nanstd(draws, ddof=1)),
    }


def architectures_needed(n: int, mdd: float, detect: float) -> float:
    """Architectures for a minimal detectable difference of `detect`, when n of them give `mdd`: the
    standard error of a paired difference shrinks as 1/√n (the architectures are the unit resampled)."""
    if not (math.isfinite(mdd) and detect > 0):
        return float("nan")
    return float(math.ceil(n * (mdd / detect) ** 2))


def paired_rows(
    loaded: list[tuple[str, str, pd.DataFrame]],
    pairs: list[str],
    gt: pd.DataFrame,
    n_boot: int,
    seed: int,
    detect: float | None = None,
) -> list[dict]:
    """A row per pair "a,b" of proxy labels: rho(a) − rho(b) over the architectures both scored; with
    `detect`, the architectures needed to detect a difference of that size. Either side may list one
    run per distillation seed, "a1;a2,b1;b2" (or "a1;a2,b" against one comparator): the mean over
    seeds of the paired differences, over the architectures every run scored."""
    by_label = {label: rows for label, _, rows in loaded}
    out = []
    for pair in pairs:
        sides = [side.split(";") for side in pair.split(",")]
        if len(sides) != 2 or any(p not in by_label for side in sides for p in side):
            raise ConfigError(f"--paired {pair!r}: give two of {', '.join(by_label)} joined by ',' (seeds by ';')")
        if len(sides[1]) not in (1, len(sides[0])):
            raise ConfigError(f"--paired {pair!r}: give one comparator, or one per seed of the first side")
        scores = [by_label[p].set_index("arch_id")["score"].rename(i) for i, p in enumerate(sides[0] + sides[1])]
        both = pd.concat([*scores, gt.set_index("arch_id")["val_acc"]], axis=1, join="inner").to_numpy(float)
        k = len(sides[0])
        row = {
            "proxy": " − ".join(";".join(side) for side in sides),
            "source": "paired",
            "pair": pair,
            "n_missing": len(gt) - len(both),
            **paired_difference(both[:, :k].T, both[:, k:-1].T, both[:, -1], n_boot, seed),
        }
        if detect is not None:
            row |= {"detect": detect, "n_needed": architectures_needed(row["n"], row["mdd"], detect)}
        out.append(row)
    return out


def rank_all(
    ground_truth: str | Path,
    runs: list[str | Path],
    n_boot: int = 1000,
    seed: int = 0,
    combine: list[str] | tuple[str, ...] = (),
    paired: list[str] | tuple[str, ...] = (),
    detect: float | None = None,
) -> pd.DataFrame:
    """A row of metrics per proxy (and per combination); then a row per paired comparison, whose
    `pair` column is set and whose spearman columns hold the difference and its interval."""
    if not runs:
        raise ConfigError("rank: give at least one search-output CSV")
    gt = load_ground_truth(ground_truth)
    loaded = load_runs(runs)
    loaded += combine_runs(loaded, list(combine))
    rows = [{"proxy": label, "source": src, **rank_proxy(frame, gt, n_boot, seed)} for label, src, frame in loaded]
    return pd.DataFrame(rows + paired_rows(loaded, list(paired), gt, n_boot, seed, detect))
