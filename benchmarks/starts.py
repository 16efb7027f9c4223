"""Each shipped teacher against its own start: is the distillation worth more than the fit?

For each shipped teacher results/teachers/METHOD.pt, its start is the same teacher config (decoder,
fit, recipe) with 0 meta-steps, calibrated as its method is (ift, gm: yes; bptt: no). Per teacher:

1. distill the start (results/teachers/starts/METHOD-start.pt, not committed; skipped when complete);
2. score the 60 ConvNets of results/ground_truth/convnet.csv at 32 steps, with the command that made
   the teacher's own results/nas/METHOD.csv;
3. held-out retained accuracy of the start and of the teacher (rank_ablation.heldout_retained).

`--real` scores the same 60 ConvNets with the real-data baselines tuned on a grid like the teachers'
calibration (lr x momentum x clip on the training-split holdout; random batches `real-grid` and
class-balanced batches `subset-grid`, at the teachers' batch size). `--summarise` ranks teachers,
starts and baselines against the ground truth with paired bootstrap intervals (teacher − its start,
each − real, each − the grid-tuned baselines) and writes summary.{csv,json} beside them.

    GTN_NAS_THREADS=1 python benchmarks/starts.py --only ift bptt
    GTN_NAS_THREADS=1 python benchmarks/starts.py --only gm ift bptt --distill-only   # checkpoints alone
    GTN_NAS_THREADS=1 python benchmarks/starts.py --real
    python benchmarks/starts.py --summarise
"""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import subprocess
import time
from pathlib import Path

import pandas as pd
import torch
from rank_ablation import heldout_retained, search_command

from common import GROUND_TRUTH, LONG_GROUND_TRUTH, metadata, parser, write_json, write_outputs
from gtn_nas.api import DistillConfig, load_mnist
from gtn_nas.api.lab import distill_loop as distill
from gtn_nas.api.lab import load_checkpoint

ROOT = Path(__file__).resolve().parent.parent
METHODS = ("ift", "bptt", "gm")
OUT = Path("results/teachers/starts")


# The teachers' calibration grid: lr 0.05 x (0.25 ... 8), momentum 0 or 0.9 (or the teacher's 0.5), clip none or 1.
GRID = ["--lr-grid", "0.0125,0.025,0.05,0.1,0.2,0.4", "--momentum", "0,0.5,0.9", "--max-grad-norm", "none,1"]
BASELINES = {
    "real-grid": ["--proxy", "real", "--batch-size", "128", *GRID],
    "subset-grid": ["--proxy", "subset", "--teacher", "results/teachers/ift.pt", *GRID],
    # Class-balanced real images with the recipe the fitted ift start calibrated to (lr 0.05 x 4,
    # momentum 0.9, clip 1): the start's smooth generated images against real ones, same recipe.
    "real-recipe": [
        "--proxy",
        "real",
        "--batch-size",
        "128",
        "--lr",
        "0.2",
        "--momentum",
        "0.9",
        "--max-grad-norm",
        "1",
    ],
    "subset-recipe": [
        "--proxy",
        "subset",
        "--teacher",
        "results/teachers/ift.pt",
        "--lr",
        "0.2",
        "--momentum",
        "0.9",
        "--max-grad-norm",
        "1",
    ],
}


# The cheap end of the frontier (<= 1/50 of the ground truth's FLOPs: 8 steps, 1,000 validation
# images; 16 steps is 1/42): the ift start and balanced real images under its recipe.
CHEAP = {
    "ift-start": ["--teacher", str(OUT / "ift-start.pt")],
    "subset-recipe": BASELINES["subset-recipe"],
}


def cheap() -> None:
    for name, flags in CHEAP.items():
        for steps in (8, 16):
            out = OUT / "cheap" / f"{name}-T{steps}.csv"
            cmd = search_command(out, *flags)
            cmd[cmd.index("--steps") + 1] = str(steps)
            cmd[-3:-3] = ["--val-examples", "1000"]
            if not out.exists():
                print("$", shlex.join(cmd), flush=True)
                subprocess.run(cmd, check=True, cwd=ROOT)
            write_json(OUT / "cheap" / f"{name}-T{steps}.json", {"command": shlex.join(cmd)})


def baselines() -> None:
    for name, flags in BASELINES.items():
        out = OUT / "nas" / f"{name}.csv"
        cmd = search_command(out, *flags)
        if not out.exists():
            print("$", shlex.join(cmd), flush=True)
            subprocess.run(cmd, check=True, cwd=ROOT)
        write_json(OUT / "runs" / f"{name}.json", {"baseline": name, "search_command": shlex.join(cmd)})


def start_config(method: str) -> DistillConfig:
    """The shipped teacher's own config with 0 meta-steps."""
    ckpt = load_checkpoint(ROOT / f"results/teachers/{method}.pt")
    return dataclasses.replace(DistillConfig.from_dict(ckpt["config"]), meta_steps=0)


def one(method: str, distill_only: bool = False) -> None:
    ckpt = OUT / f"{method}-start.pt"
    cfg = start_config(method)
    t0 = time.perf_counter()
    if not (ckpt.exists() and load_checkpoint(ckpt)["complete"]):
        distill(cfg, load_mnist(), torch.device("cpu"), ckpt, resume=ckpt.exists())
    wall = time.perf_counter() - t0
    if distill_only:  # the checkpoint alone (it is not committed), for other benchmarks to score
        print(f"{ckpt}: {wall:.0f} s", flush=True)
        return
    nas = OUT / "nas" / f"{method}-start.csv"
    cmd = search_command(nas, "--teacher", str(ckpt))
    if not nas.exists():
        print("$", shlex.join(cmd), flush=True)
        subprocess.run(cmd, check=True, cwd=ROOT)
    held = {
        "start": heldout_retained(ckpt),
        "teacher": heldout_retained(ROOT / f"results/teachers/{method}.pt"),
    }
    saved = load_checkpoint(ckpt)
    record = {
        "method": method,
        "config": cfg.to_dict(),
        "distill_wall_s": wall,
        "elapsed_s": float(saved["elapsed"]),  # the fit and the calibration
        "calibration": {k: v for k, v in (saved.get("calibration") or {}).items() if k != "table"},
        "heldout_retained_start": float(held["start"]["retained"].mean()),
        "heldout_retained_teacher": float(held["teacher"]["retained"].mean()),
        "heldout_min_start": float(held["start"]["retained"].min()),
        "heldout_min_teacher": float(held["teacher"]["retained"].min()),
        "search_command": shlex.join(cmd),
        "threads": os.environ.get("GTN_NAS_THREADS"),
    }
    write_json(OUT / "runs" / f"{method}.json", record)
    print(json.dumps({k: v for k, v in record.items() if k != "config"}), flush=True)


def summarise() -> None:
    from gtn_nas.api.lab import load_runs

    found = [json.loads(p.read_text()) for p in sorted((OUT / "runs").glob("*.json"))]
    records = [r for r in found if "method" in r]
    extra = [r["baseline"] for r in found if "baseline" in r]
    files = {"real": "results/nas/real.csv"} | {b: str(OUT / "nas" / f"{b}.csv") for b in extra}
    for r in records:
        files |= {
            r["method"]: f"results/nas/{r['method']}.csv",
            f"{r['method']}-start": str(OUT / "nas" / f"{r['method']}-start.csv"),
        }
    # the labels `gtn-nas rank` gives them (a name shared by several files gets the file's stem)
    label = {key: name for key, (name, _, _) in zip(files, load_runs(list(files.values())))}
    paired = []
    for r in records:
        m = r["method"]
        for other in [f"{m}-start", "real", *extra]:
            paired += ["--paired", f"{label[m]},{label[other]}"]
        for other in ["real", *extra]:
            paired += ["--paired", f"{label[f'{m}-start']},{label[other]}"]
    cmd = ["gtn-nas", "rank", "--ground-truth", str(GROUND_TRUTH), *files.values()]
    cmd += ["--bootstrap", "1000", "--seed", "0", *paired]
    cmd += ["--out-csv", str(OUT / "nas_correlation.csv"), "--out-md", str(OUT / "nas_correlation.md")]
    # The yardstick: the same scores against 3-epoch full training of 20 of the 60 ConvNets.
    long = [*cmd[:3], str(LONG_GROUND_TRUTH), *cmd[4:-4]]
    long += ["--out-csv", str(OUT / "yardstick.csv"), "--out-md", str(OUT / "yardstick.md")]
    runs = [cmd, long]
    cheap_runs = sorted(str(f) for f in (OUT / "cheap").glob("*.csv"))
    if cheap_runs:
        runs.append(["gtn-nas", "rank", "--ground-truth", str(GROUND_TRUTH), *cheap_runs, "--bootstrap", "1000"])
        runs[-1] += ["--seed", "0", "--out-csv", str(OUT / "cheap.csv"), "--out-md", str(OUT / "cheap.md")]
    for c in runs:
        print("$", shlex.join(c), flush=True)
        subprocess.run(c, check=True, cwd=ROOT)
    corr = pd.read_csv(ROOT / OUT / "nas_correlation.csv").set_index("proxy")
    corr3 = pd.read_csv(ROOT / OUT / "yardstick.csv").set_index("proxy")

    def interval(a: str, b: str | None = None, sign: str = "+", table=corr) -> str:
        r = table.loc[label[a] if b is None else f"{label[a]} − {label[b]}"]
        return f"{r['spearman']:{sign}.3f} [{r['spearman_lo']:{sign}.2f}, {r['spearman_hi']:{sign}.2f}]"

    rows = []
    for r in records:
        m, start = r["method"], f"{r['method']}-start"
        rows.append(
            {
                "method": m,
                "init": r["config"]["teacher"]["init"],
                "fit_steps": str(r["config"]["teacher"]["fit_steps"]),
                "start_calibration": recipe(r["calibration"]),
                "heldout_start": round(r["heldout_retained_start"], 4),
                "heldout_teacher": round(r["heldout_retained_teacher"], 4),
                "rho_start": interval(start, sign=""),
                "rho_teacher": interval(m, sign=""),
                "teacher_minus_start": interval(m, start),
                "rho3ep_start": interval(start, sign="", table=corr3),
                "rho3ep_teacher": interval(m, sign="", table=corr3),
                "rho3ep_teacher_minus_start": interval(m, start, table=corr3),
                "rho3ep_start_minus_real": interval(start, "real", table=corr3),
                "start_minus_real": interval(start, "real"),
                "teacher_minus_real": interval(m, "real"),
                **{f"start_minus_{b}": interval(start, b) for b in extra},
                **{f"teacher_minus_{b}": interval(m, b) for b in extra},
            }
        )
    for b in ["real", *extra]:
        rows.append({"method": b, "rho_start": interval(b, sign=""), "rho3ep_start": interval(b, sign="", table=corr3)})
    threads = records[0]["threads"] if records else None  # the runs' (this step times nothing)
    meta = metadata(
        threads,
        rank_command=shlex.join(cmd),
        yardstick_command=shlex.join(long),
        runs={r["method"]: r["search_command"] for r in records},
    )
    meta["baselines"] = {r["baseline"]: r["search_command"] for r in found if "baseline" in r}
    meta["cheap"] = [json.loads(f.with_suffix(".json").read_text())["command"] for f in map(Path, cheap_runs)]
    if cheap_runs:
        meta["cheap_rank_command"] = shlex.join(runs[-1])
    meta["command"] = "python benchmarks/starts.py --summarise"
    write_outputs(OUT / "summary", pd.DataFrame(rows), meta)
    print(pd.DataFrame(rows).to_string(index=False))


def recipe(c: dict) -> str:
    if not c:
        return "none"
    clip = "no clip" if c["max_grad_norm"] is None else f"clip {c['max_grad_norm']:g}"
    return f"lr x{c['lr_scale']:g}, momentum {c['momentum']}, {clip}"


def main() -> None:
    ap = parser(__doc__)
    ap.add_argument("--only", nargs="*", default=[], choices=METHODS, help="shipped teachers whose start to build")
    ap.add_argument("--real", action="store_true", help="score the grid-tuned real-data baselines")
    ap.add_argument("--cheap", action="store_true", help="the ift start and subset-recipe at 8 and 16 steps, 1k images")
    ap.add_argument("--summarise", action="store_true")
    ap.add_argument("--distill-only", action="store_true", help="with --only: build the starts' checkpoints alone")
    args = ap.parse_args()
    if os.environ.get("GTN_NAS_THREADS"):  # as the gtn-nas commands it runs take it
        torch.set_num_threads(int(os.environ["GTN_NAS_THREADS"]))
    for method in args.only:
        one(method, args.distill_only)
    if args.real:
        baselines()
    if args.cheap:
        cheap()
    if args.summarise:
        summarise()


if __name__ == "__main__":
    main()
