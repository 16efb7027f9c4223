"""Issue 33, item 2: each proxy's ranking within each family of the larger ConvNet set (pooling,
depth, normalisation, width; `--keys` for others, e.g. the MLPs' activation), with intervals and
the paired teacher − real difference per family.

Reads search-output CSVs (e.g. from benchmarks/frontier_runs.py and the zero-cost searches) and a
ground truth with a spec column; trains nothing. Writes OUT (CSV) and OUT.json (the command).

    python benchmarks/families.py --ground-truth results/ground_truth/convnet250.csv \
        --runs results/nas_frontier_250/runs/*.csv results/nas/naswot.csv results/nas_250/naswot.csv \
        results/nas/synflow.csv results/nas_250/synflow.csv --paired teacher:gm,real \
        --out results/nas_frontier_250/families.csv
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pandas as pd

import common
from gtn_nas.api import rank, write_csv

KEYS = ("pooling", "depth", "norm", "width")


def family_table(
    gt_csv: Path, runs: list[str], paired: list[str], n_boot: int, keys: tuple[str, ...] = KEYS
) -> pd.DataFrame:
    """One row per (family key, value, proxy or pair): n, Spearman ρ [95% CI] within the family,
    and for pairs the paired difference with the design's minimal detectable difference. Keys the
    architectures do not have (an MLP has no pooling) are skipped."""
    gt = pd.read_csv(gt_csv)
    specs = gt["spec"].map(json.loads)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for key in [k for k in keys if specs.map(lambda s, k=k: k in s).all()]:
            for value in sorted(specs.map(lambda s, k=key: s[k]).unique(), key=str):
                sub = Path(tmp) / f"{key}-{value}.csv"
                gt[specs.map(lambda s, k=key, v=value: s[k] == v)].to_csv(sub, index=False)
                table = rank(sub, runs, n_boot=n_boot, paired=paired)
                rows.append(table.assign(family=key, value=str(value)))
    out = pd.concat(rows, ignore_index=True)
    keep = ["family", "value", "proxy", "pair", "n", "spearman", "spearman_lo", "spearman_hi", "mdd"]
    return out[[c for c in keep if c in out]]


def main() -> None:
    ap = common.parser(__doc__)
    ap.add_argument("--ground-truth", type=Path, required=True)
    ap.add_argument("--runs", nargs="+", required=True)
    ap.add_argument("--paired", nargs="*", default=[])
    ap.add_argument("--keys", nargs="+", default=list(KEYS), help="the spec keys that make families")
    common.add_bootstrap(ap)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    table = family_table(args.ground_truth, args.runs, args.paired, args.bootstrap, tuple(args.keys))
    write_csv(table, args.out)
    common.write_json(args.out.with_suffix(".json"), {"command": common.command(), "date": common.utc_now()})
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
