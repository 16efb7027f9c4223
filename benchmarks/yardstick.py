"""Is the 1-epoch ground truth a sound yardstick? Its ranking against a longer training.

The ground truth (results/ground_truth/convnet.csv) trains each ConvNet for 1 epoch of Adam at a
constant lr. Here the first `--n` of its architectures (the CSV keeps the seeded random draw order,
so they are a random subset) are trained again for 3 epochs with a cosine schedule and 2 seeds, by
the ordinary resumable `gtn-nas ground-truth` command (several workers can share its storage), and
the two rankings are compared: Spearman and Kendall with a bootstrap interval over architectures.

    python benchmarks/yardstick.py --pick 20                 # writes the architecture list, prints the command
    GTN_NAS_THREADS=1 gtn-nas ground-truth --archs-from results/ground_truth/yardstick_archs.csv \\
        --epochs 3 --schedule cosine --seeds 2 --out results/ground_truth/convnet_3ep.csv   # x workers
    python benchmarks/yardstick.py --compare                 # -> results/ground_truth/yardstick.{csv,json}
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

import common
from gtn_nas.api import write_csv
from gtn_nas.api.lab import bootstrap, correlations, top_k_overlap

DIR = Path("results/ground_truth")


def compare(short: pd.DataFrame, long: pd.DataFrame, n_boot: int) -> tuple[pd.DataFrame, dict]:
    both = short[["arch_id", "val_acc", "seconds", "train_flops"]].merge(
        long[["arch_id", "val_acc", "val_acc_sd", "seconds", "train_flops"]], on="arch_id", suffixes=("_1ep", "_3ep")
    )
    x, y = both["val_acc_1ep"].to_numpy(float), both["val_acc_3ep"].to_numpy(float)
    rho, tau = correlations(x, y)
    (lo, hi), (tlo, thi) = bootstrap(x, y, n_boot, seed=0)
    top = top_k_overlap(both.rename(columns={"val_acc_1ep": "score", "val_acc_3ep": "val_acc"}), 5)
    summary = {
        "n": len(both),
        "spearman": rho,
        "spearman_lo": lo,
        "spearman_hi": hi,
        "kendall": tau,
        "kendall_lo": tlo,
        "kendall_hi": thi,
        "top5_overlap": top,
        "flops_ratio_1ep_vs_3ep": float(both["train_flops_1ep"].sum() / both["train_flops_3ep"].sum()),
        "mean_gain_3ep": float((y - x).mean()),
    }
    return both, summary


def main() -> None:
    ap = common.parser(__doc__)
    ap.add_argument("--pick", type=int, help="write the first N ground-truth architectures to yardstick_archs.csv")
    ap.add_argument("--compare", action="store_true")
    ap.add_argument("--short", type=Path, default=DIR / "convnet.csv")
    ap.add_argument("--long", type=Path, default=DIR / "convnet_3ep.csv")
    common.add_bootstrap(ap)
    args = ap.parse_args()
    short = pd.read_csv(args.short)
    if args.pick:
        write_csv(short.head(args.pick)[["arch_id", "spec"]], DIR / "yardstick_archs.csv")
        print(__doc__.split("\n\n")[-1])
        return
    if args.compare:
        both, summary = compare(short, pd.read_csv(args.long), args.bootstrap)
        write_csv(both, DIR / "yardstick.csv")
        summary["command"] = common.command()
        summary["long_command"] = (
            "GTN_NAS_THREADS=1 gtn-nas ground-truth --archs-from results/ground_truth/yardstick_archs.csv "
            "--epochs 3 --schedule cosine --seeds 2 --out results/ground_truth/convnet_3ep.csv "
            "(two workers sharing its SQLite storage)"
        )
        summary["date"] = common.utc_now()
        common.write_json(DIR / "yardstick.json", summary)
        print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
