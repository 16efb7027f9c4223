"""Issue 32, item 5: does the meta-training that made the GTN-paper teacher teach carry over to the
product's distillation space?

Each variant is a `gtn-nas distill --method bptt` run from the product's fitted start
(benchmarks/configs/carry_over/): the GTN recipe (full unroll, intermediate losses, meta-lr 0.02),
the unroll alone at the default meta-lr, and each on weight-normalised students. Its controls are the
same fitted start never meta-trained, distilled here with the same seed (CONTROLS): with a bptt
teacher's initial recipe (its own start) and calibrated (the best recipe without meta-training).
Per run, as the rank ablation does: the 60 ConvNets of results/ground_truth/convnet.csv scored at 32
steps, and held-out retained accuracy (10 nets x 2 student seeds).

    GTN_NAS_THREADS=1 python benchmarks/carry_over.py --only start:0 bptt-start:0 gtn-unroll:0
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
from gtn_nas.api.lab import load_runs

OUT = Path("results/teachers/carry_over")
CHECKPOINTS = Path("runs/carry_over")  # git-ignored: only the scores are results
CONFIGS = "benchmarks/configs/carry_over"
VARIANTS = {
    "gtn-unroll": ["--method", "bptt", "--config", f"{CONFIGS}/gtn-unroll.toml"],
    "gtn-unroll-wn": ["--method", "bptt", "--config", f"{CONFIGS}/gtn-unroll-wn.toml"],
    "gtn-unroll-few": ["--method", "bptt", "--config", f"{CONFIGS}/gtn-unroll-few.toml"],
    "gtn-unroll-lr005": ["--method", "bptt", "--config", f"{CONFIGS}/gtn-unroll-lr005.toml"],
    "gtn-recipe": ["--method", "bptt", "--config", f"{CONFIGS}/gtn-recipe.toml"],
    "gtn-recipe-wn": ["--method", "bptt", "--config", f"{CONFIGS}/gtn-recipe-wn.toml"],
}
# Two controls per seed, both the same fitted generator never meta-trained (distilled afresh with
# today's code): `bptt-start`, with the inner lr and momentum a bptt teacher starts from (its own
# start: what meta-training changed), and `start`, calibrated on the lr x momentum x clip grid
# as an ift or gm teacher is (the rank ablation's control: the best recipe without meta-training).
CONTROLS = {
    "bptt-start": ["--method", "bptt", "--meta-steps", "0"],
    "start": ["--method", "ift", "--students-per-step", "4", "--meta-steps", "0"],
}
VARIANTS |= CONTROLS


def one(variant: str, seed: int, out_dir: Path) -> None:
    name = f"{variant}-seed{seed}"
    ckpt, log = CHECKPOINTS / f"{name}.pt", []
    cmd = ["gtn-nas", "distill", "--quiet", *VARIANTS[variant], "--seed", str(seed), "--out", str(ckpt)]
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
    """Per run: held-out retained accuracy and the 60-ConvNet rho; per teacher, paired differences
    (held-out per net and seed, rho by paired bootstrap) against each control of its seed and, for
    rho, against real data."""
    records = [json.loads(p.read_text()) for p in sorted((out_dir / "runs").glob("*.json"))]
    names = {f"{r['variant']}-seed{r['seed']}": r for r in records}
    runs = [str(out_dir / "nas" / f"{n}.csv") for n in names] + ["results/nas/real.csv"]
    # each run's label as `gtn-nas rank` names it (the file stem only where two runs share a proxy)
    label = {Path(src).stem: lab for lab, src, _ in load_runs([ROOT / r for r in runs])}
    controls = {
        n: {c: f"{c}-seed{r['seed']}" for c in CONTROLS} for n, r in names.items() if r["variant"] not in CONTROLS
    }
    paired = [f"{label[n]},{label[c]}" for n, cs in controls.items() for c in cs.values() if c in names]
    paired += [f"{label[n]},real" for n in names]
    csv = out_dir / "nas_correlation.csv"
    cmd = ["gtn-nas", "rank", "--ground-truth", GT, *runs, "--bootstrap", "1000", "--seed", "0"]
    cmd += [arg for pair in paired for arg in ("--paired", pair)]
    run([*cmd, "--out-csv", str(csv)], [])
    corr = pd.read_csv(ROOT / csv).set_index("proxy")

    def interval(key: str, sign: str = "+") -> str:
        if key not in corr.index:
            return ""
        r = corr.loc[key]
        return f"{r['spearman']:{sign}.3f} [{r['spearman_lo']:{sign}.2f}, {r['spearman_hi']:{sign}.2f}]"

    held = {n: pd.read_csv(out_dir / "heldout" / f"{n}.csv")["retained"].to_numpy() for n in names}

    def held_diff(n: str, c: str) -> str:
        if c not in held:
            return ""
        d = held[n] - held[c]  # the same nets and student seeds, in order
        return f"{d.mean():+.3f} ± {d.std(ddof=1) / len(d) ** 0.5:.3f}"

    rows = []
    for n, r in names.items():
        row = {"variant": r["variant"], "seed": r["seed"], "elapsed_s": round(r["elapsed_s"])}
        row |= {"heldout_retained": round(float(held[n].mean()), 4), "convnet60_rho": interval(label[n], "")}
        for c in CONTROLS:
            other = f"{c}-seed{r['seed']}"
            teacher = n in controls and other in names
            row[f"heldout_minus_{c}"] = held_diff(n, other) if teacher else ""
            row[f"rho_minus_{c}"] = interval(f"{label[n]} − {label[other]}") if teacher else ""
        row["rho_minus_real"] = interval(f"{label[n]} − real")
        rows.append(row)
    table = pd.DataFrame(rows).sort_values(["variant", "seed"])
    write_csv(table, out_dir / "summary.csv")
    meta = {"command": "python benchmarks/carry_over.py --summarise", "rank_command": shlex.join(cmd)}
    meta["runs"] = {n: r["commands"] for n, r in names.items()}
    write_text(out_dir / "summary.json", json.dumps(meta, indent=1) + "\n")
    print(table.to_string(index=False))


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
