"""One setting of the frontier's trained scores as search-output CSVs, and the zero-cost searches
of the same nets joined per proxy, so that `gtn-nas rank` can rank and pair them like any search
(issue 33: teacher − real on the 250 ConvNets, with the minimal detectable difference of that
design; `benchmarks/families.py`: the same per family).

    python benchmarks/frontier_runs.py --steps 32 --val-examples 1000 --init-seeds 0 1 \
        --out-dir results/nas_frontier_250/runs
    gtn-nas rank --ground-truth results/ground_truth/convnet250.csv results/nas_frontier_250/runs/*.csv \
        --paired teacher:gm,real --detect 0.05 --out-csv results/nas_frontier_250/paired.csv
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

import common
from gtn_nas.api import write_csv

SCORES = ("results/nas_frontier/scores.csv", "results/nas_frontier_250/scores.csv")  # the 60, the 190
ZERO_COST = tuple(f"results/{d}/{p}.csv" for p in ("naswot", "synflow") for d in ("nas", "nas_250"))


def setting(scores: pd.DataFrame, steps: int, val_examples: int, init_seeds: list[int]) -> pd.DataFrame:
    """The rows of one setting, one per (proxy, architecture) scored at every one of `init_seeds`
    (their mean score, their summed cost), with a search output's columns."""
    f = scores[(scores["steps"] == steps) & (scores["val_examples"] == val_examples)]
    f = f[f["init_seed"].isin(init_seeds)].drop_duplicates(["proxy", "arch_id", "init_seed"])
    f = f.assign(seconds=f["train_seconds"] + f["eval_seconds"])
    g = f.groupby(["proxy", "arch_id"]).agg(
        score=("score", "mean"),
        seconds=("seconds", "sum"),
        flops=("flops", "sum"),
        params=("params", "first"),
        n=("init_seed", "nunique"),
    )
    g = g[g["n"] == len(init_seeds)].reset_index().assign(steps=steps)
    return g[["arch_id", "proxy", "score", "seconds", "flops", "params", "steps"]]


def main() -> None:
    ap = common.parser(__doc__)
    ap.add_argument("--scores", nargs="+", default=list(SCORES))
    ap.add_argument("--steps", type=int, default=32)
    ap.add_argument("--val-examples", type=int, default=1000)
    ap.add_argument("--init-seeds", type=int, nargs="+", default=[0], help="student initialisations averaged")
    ap.add_argument("--proxies", nargs="+", default=["teacher:gm", "real"], help="the 250's trained proxies")
    ap.add_argument("--zero-cost", nargs="*", default=list(ZERO_COST), help="search outputs joined per proxy")
    ap.add_argument("--out-dir", type=Path, required=True)
    args = ap.parse_args()
    rows = setting(pd.concat([pd.read_csv(p) for p in args.scores]), args.steps, args.val_examples, args.init_seeds)
    for proxy, f in rows[rows["proxy"].isin(args.proxies)].groupby("proxy"):
        out = args.out_dir / f"{proxy.replace(':', '-')}-T{args.steps}.csv"
        write_csv(f, out)
        print(f"wrote {out}: {len(f)} architectures")
    zero = pd.concat([pd.read_csv(p) for p in args.zero_cost]) if args.zero_cost else pd.DataFrame()
    for proxy, f in zero.groupby("proxy") if len(zero) else ():
        out = args.out_dir / f"{proxy}.csv"  # the 60's and the 190's searches as one run
        write_csv(f.drop_duplicates("arch_id"), out)
        print(f"wrote {out}: {f['arch_id'].nunique()} architectures")
    common.write_json(args.out_dir / "command.json", {"command": common.command(), "date": common.utc_now()})


if __name__ == "__main__":
    main()
