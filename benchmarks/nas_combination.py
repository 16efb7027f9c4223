"""Does a trained proxy add to a zero-cost one? Each frontier setting rank-averaged with naswot.

For every training proxy of the frontier (`results/nas_frontier/scores.csv`: teachers and real
data after 8..128 steps, 1,000 or 10,000 validation images, one or two initialisations) and the
zero-cost naswot (`results/nas/naswot.csv`), each architecture's score in the combination is the
mean of its two ranks (`gtn_nas.nas.ranking.combine_runs`, as `gtn-nas rank --combine P+naswot`).
Spearman rho against the 1-epoch ground truth (60 nets) and against the 3-epoch yardstick (its 20
nets), alone and combined; and, per setting, the paired bootstrap of the difference between
`teacher:gm+naswot` and `real+naswot`, and between `teacher:gm` and `real` alone (the same resampled
architectures for both; percentile 95%).

Nothing is trained: this reads the frontier's and the correlation benchmark's scores.

    python benchmarks/nas_combination.py
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from scipy.stats import spearmanr

import common
from gtn_nas.api import load_ground_truth
from gtn_nas.api.lab import combine_runs, ranking
from repo_report import nas_combination_md

PAIR = ("teacher:gm", "real")  # the paired comparison: the best teacher against real data


def _rho(score: pd.Series, truth: pd.Series) -> float:
    both = pd.concat([score, truth], axis=1, join="inner")
    return float(spearmanr(both.iloc[:, 0], both.iloc[:, 1]).statistic)


def combined(score: pd.Series, zero: pd.Series) -> pd.Series:
    runs = [("p", "", score.rename("score").reset_index()), ("naswot", "", zero.rename("score").reset_index())]
    [(_, _, rows)] = combine_runs(runs, ["p+naswot"])
    return rows.set_index("arch_id")["score"]


def paired_difference(
    a: pd.Series, b: pd.Series, truth: pd.Series, n_boot: int, seed: int
) -> tuple[float, float, float]:
    """rho(a) - rho(b) over the same architectures, and its paired bootstrap 95% interval."""
    frame = pd.concat([a, b, truth], axis=1, join="inner").to_numpy(float)
    out = ranking.paired_difference(frame[:, 0], frame[:, 1], frame[:, 2], n_boot, seed)
    return out["spearman"], out["spearman_lo"], out["spearman_hi"]


def main() -> None:
    ap = common.parser(__doc__)
    ap.add_argument("--scores", type=Path, default=Path("results/nas_frontier/scores.csv"))
    ap.add_argument("--naswot", type=Path, default=Path("results/nas/naswot.csv"))
    common.add_ground_truth(ap)
    common.add_long_ground_truth(ap)
    common.add_bootstrap(ap)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--out", type=Path, default=Path("results/nas_combination"), help="writes OUT.csv, OUT.json, OUT.md"
    )
    args = ap.parse_args()
    truth = load_ground_truth(args.ground_truth).set_index("arch_id")["val_acc"]
    long = load_ground_truth(args.long_ground_truth).set_index("arch_id")["val_acc"]
    zero = pd.read_csv(args.naswot).drop_duplicates("arch_id").set_index("arch_id")["score"]
    raw = pd.read_csv(args.scores)
    rows, scored = [], {}  # (proxy, steps, val, seed) -> (score alone, score with naswot)
    for (proxy, steps, val, seed), g in raw.groupby(["proxy", "steps", "val_examples", "init_seed"], sort=True):
        score = g.drop_duplicates("arch_id").set_index("arch_id")["score"]
        both = combined(score, zero)
        rows.append(
            {
                "proxy": proxy,
                "steps": steps,
                "val_examples": val,
                "init_seed": seed,
                "n": len(score),
                "rho_alone": _rho(score, truth),
                "rho_with_naswot": _rho(both, truth),
                "rho_alone_3ep": _rho(score, long),
                "rho_with_naswot_3ep": _rho(both, long),
            }
        )
        scored[(proxy, steps, val, seed)] = score, both
    frame = pd.DataFrame(rows)
    diffs = []
    for (proxy, steps, val, seed), (score, both) in scored.items():
        other = scored.get((PAIR[1], steps, val, seed))
        if proxy != PAIR[0] or other is None:
            continue
        d, lo, hi = paired_difference(both, other[1], truth, args.bootstrap, args.seed)
        a, a_lo, a_hi = paired_difference(score, other[0], truth, args.bootstrap, args.seed)
        diffs.append(
            {
                "steps": steps,
                "val_examples": val,
                "init_seed": seed,
                "diff": d,
                "diff_lo": lo,
                "diff_hi": hi,
                "diff_alone": a,
                "diff_alone_lo": a_lo,
                "diff_alone_hi": a_hi,
            }
        )
    frame = frame.merge(
        pd.DataFrame(diffs).assign(proxy=PAIR[0]), on=["proxy", "steps", "val_examples", "init_seed"], how="left"
    )
    meta = common.metadata(
        bootstrap=args.bootstrap,
        seed=args.seed,
        pair=list(PAIR),
        naswot=str(args.naswot),
        scores=str(args.scores),
        ground_truth=str(args.ground_truth),
        long_ground_truth=str(args.long_ground_truth),
    )
    common.write_outputs(args.out, frame, meta)
    common.write_md(args.out.with_suffix(".md"), nas_combination_md(frame, meta))


if __name__ == "__main__":
    main()
