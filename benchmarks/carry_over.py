"""Issue 32, item 5: does the meta-training that made the GTN-paper teacher teach carry over to the
product's distillation space?

Each variant is a `gtn-nas distill --method bptt` run from the product's fitted start
(benchmarks/configs/carry_over/): the GTN recipe (full unroll, intermediate losses, meta-lr 0.02),
the unroll alone at the default meta-lr, and each on weight-normalised students. Its control is the
same fitted start never meta-trained and calibrated, the rank ablation's `start`
(benchmarks/rank_ablation.py; the same generator, fitted with the same seed, so its scores are
reused from results/teachers/rank_ablation/). Per variant and seed, as the rank ablation does: the
60 ConvNets of results/ground_truth/convnet.csv scored at 32 steps, and held-out retained accuracy
(10 nets x 2 student seeds).

    GTN_NAS_THREADS=1 python benchmarks/carry_over.py --only gtn-recipe:0 gtn-recipe-wn:0
    python benchmarks/carry_over.py --summarise
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import pandas as pd
import torch
from rank_ablation import heldout_retained, run, search_command
from rank_stats import GT, ROOT

from gtn_nas.api import write_csv, write_text
from gtn_nas.nas.ranking import load_runs

OUT = Path("results/teachers/carry_over")
CHECKPOINTS = Path("runs/carry_over")  # git-ignored: only the scores are results
START = ROOT / "results/teachers/rank_ablation"  # start-seedS: nas/ and heldout/ scores
VARIANTS = {
    "gtn-unroll": ["--config", "benchmarks/configs/carry_over/gtn-unroll.toml"],
    "gtn-unroll-wn": ["--config", "benchmarks/configs/carry_over/gtn-unroll-wn.toml"],
    "gtn-recipe": ["--config", "benchmarks/configs/carry_over/gtn-recipe.toml"],
    "gtn-recipe-wn": ["--config", "benchmarks/configs/carry_over/gtn-recipe-wn.toml"],
}


def one(variant: str, seed: int, out_dir: Path) -> None:
    name = f"{variant}-seed{seed}"
    ckpt, log = CHECKPOINTS / f"{name}.pt", []
    flags = ["--method", "bptt", "--quiet"]
    cmd = ["gtn-nas", "distill", *flags, *VARIANTS[variant], "--seed", str(seed), "--out", str(ckpt)]
    done = ckpt.exists() and torch.load(ckpt, weights_only=True, map_location="cpu")["complete"]
    wall = None if done else run(cmd + (["--resume"] if ckpt.exists() else []), log)
    nas = out_dir / "nas" / f"{name}.csv"
    if not nas.exists():
        run(search_command(nas, "--teacher", str(ckpt)), log)
    held = heldout_retained(ckpt)
    write_csv(held, out_dir / "heldout" / f"{name}.csv")
    saved = torch.load(ckpt, weights_only=True, map_location="cpu")
    write_csv(pd.DataFrame(saved["metrics"]), out_dir / "curves" / f"{name}.csv")
    record = {
        "variant": variant,
        "seed": seed,
        "distill_command": shlex.join(cmd),
        "distill_wall_s": wall,
        "elapsed_s": float(saved["elapsed"]),
        "heldout_retained": float(held["retained"].mean()),
        "heldout_retained_min": float(held["retained"].min()),
        "commands": log,
    }
    write_text(out_dir / "runs" / f"{name}.json", json.dumps(record, indent=1) + "\n")
    print(json.dumps({k: v for k, v in record.items() if k != "commands"}), flush=True)


def summarise(out_dir: Path) -> None:
    """ρ on the 60 ConvNets with paired intervals against the same seed's start and real data, and
    held-out retained accuracy beside the start's."""
    records = [json.loads(p.read_text()) for p in sorted((out_dir / "runs").glob("*.json"))]
    names = [f"{r['variant']}-seed{r['seed']}" for r in records]
    seeds = sorted({r["seed"] for r in records})
    starts = [str(START / "nas" / f"start-seed{s}.csv") for s in seeds]
    runs = [str(out_dir / "nas" / f"{n}.csv") for n in names] + starts + ["results/nas/real.csv"]
    # each run's label as `gtn-nas rank` names it (the file stem only where two runs share a proxy)
    label = {Path(src).stem: lab for lab, src, _ in load_runs([ROOT / r for r in runs])}
    start = {n: label[f"start-seed{r['seed']}"] for r, n in zip(records, names)}
    paired = []
    for n in names:
        paired += ["--paired", f"{label[n]},{start[n]}", "--paired", f"{label[n]},real"]
    csv = out_dir / "nas_correlation.csv"
    cmd = ["gtn-nas", "rank", "--ground-truth", GT, *runs, "--bootstrap", "1000", "--seed", "0", *paired]
    run([*cmd, "--out-csv", str(csv)], [])
    corr = pd.read_csv(ROOT / csv).set_index("proxy")

    def interval(key: str) -> str:
        r = corr.loc[key]
        return f"{r['spearman']:+.3f} [{r['spearman_lo']:+.2f}, {r['spearman_hi']:+.2f}]"

    rows = []
    for r, n in zip(records, names):
        start_held = pd.read_csv(START / "heldout" / f"start-seed{r['seed']}.csv")
        held = pd.read_csv(out_dir / "heldout" / f"{n}.csv")
        diff = held["retained"].to_numpy() - start_held["retained"].to_numpy()  # same nets and seeds, in order
        rows.append(
            {
                "variant": r["variant"],
                "seed": r["seed"],
                "elapsed_s": round(r["elapsed_s"]),
                "heldout_retained": round(r["heldout_retained"], 4),
                "start_heldout_retained": round(float(start_held["retained"].mean()), 4),
                "heldout_minus_start": round(float(diff.mean()), 4),
                "heldout_minus_start_se": round(float(diff.std(ddof=1) / len(diff) ** 0.5), 4),
                "convnet60_rho": interval(label[n]).lstrip("+"),
                "minus_start": interval(f"{label[n]} − {start[n]}"),
                "minus_real": interval(f"{label[n]} − real"),
            }
        )
    write_csv(pd.DataFrame(rows), out_dir / "summary.csv")
    meta = {"command": "python benchmarks/carry_over.py --summarise", "rank_command": shlex.join(cmd)}
    meta["runs"] = {n: r["commands"] for r, n in zip(records, names)}
    write_text(out_dir / "summary.json", json.dumps(meta, indent=1) + "\n")
    print(pd.DataFrame(rows).to_string(index=False))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", default=[], help="VARIANT:SEED jobs (variants: " + ", ".join(VARIANTS) + ")")
    ap.add_argument("--out-dir", type=Path, default=OUT)
    ap.add_argument("--summarise", action="store_true")
    args = ap.parse_args()
    for job in args.only:
        variant, _, seed = job.partition(":")
        if variant not in VARIANTS or not seed.isdigit():
            sys.exit(f"error: jobs are VARIANT:SEED with VARIANT one of {', '.join(VARIANTS)}; got {job!r}")
        one(variant, int(seed), args.out_dir)
    if args.summarise:
        summarise(args.out_dir)


if __name__ == "__main__":
    main()
