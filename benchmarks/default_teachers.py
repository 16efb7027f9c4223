"""Train teachers with the `gtn-nas distill` command, one after another, and record each run's
wall time. `--scale 1` is the default command (its budget: within 15 minutes alone on 2 cores);
`--scale 2` gives every method twice its default meta-steps (the shipped, longer-budget teachers;
at most 45 minutes each alone).

    python benchmarks/default_teachers.py --methods bptt,ift,gm --out-dir results/teachers --scale 2
    -> results/teachers/{M}.pt, {M}.csv, and wall_time.csv / wall_time.md
    python benchmarks/default_teachers.py --methods gm --out-dir results/teachers/default --suffix=-15min \\
        --table results/teachers/default/wall_time.csv      # a 15-minute teacher, redone in place
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pandas as pd

import common
from gtn_nas.api import write_csv
from gtn_nas.api.lab import DEFAULT_META_STEPS, load_checkpoint
from repo_report import flag, read_csv, wall_time_md


def outputs(run: dict) -> list[str]:
    """The checkpoints a recorded run wrote (its --out-dir, methods and --suffix)."""
    cmd = run["command"]
    methods = run.get("methods") or flag(cmd, "--methods", "bptt,ift,gm").split(",")
    return [
        str(Path(flag(cmd, "--out-dir", "results/teachers")) / f"{m}{flag(cmd, '--suffix', '')}.pt") for m in methods
    ]


def main() -> None:
    ap = common.parser(__doc__)
    ap.add_argument("--methods", default="bptt,ift,gm")
    ap.add_argument("--out-dir", type=Path, default=Path("results/teachers"))
    ap.add_argument("--extra", default="", help="extra distill options, e.g. '--meta-steps 900' (then --suffix)")
    ap.add_argument("--suffix", default="")
    ap.add_argument(
        "--scale", type=float, default=1.0, help="meta-steps = scale x the method's default (1: the default command)"
    )
    ap.add_argument(
        "--table", type=Path, help="the wall-time table to add rows to (default: OUT_DIR/wall_time{SUFFIX}.csv)"
    )
    ap.add_argument(
        "--resume",
        action="store_true",
        help="continue each method's checkpoint at its --out (a run that stopped); "
        "the wall time adds the meta-training time the checkpoint had recorded",
    )
    ap.add_argument(
        "--note", default="", help="how the run was made, recorded beside its command (e.g. a pinned checkout)"
    )
    args = ap.parse_args()
    command = common.command()
    table = args.table or args.out_dir / f"wall_time{args.suffix}.csv"
    # Runs accumulate in one table (a rerun replaces its methods' rows): each row keeps its scale,
    # and the JSON lists every command that wrote rows still there.
    previous = json.loads(table.with_suffix(".json").read_text()) if table.with_suffix(".json").exists() else {}
    runs = previous.get("runs") or (
        [{k: previous[k] for k in ("command", "scale", "note") if k in previous}] if previous else []
    )
    rows = (
        [{"scale": previous.get("scale", 1), **r} for r in pd.read_csv(table).to_dict("records")]
        if table.exists()
        else []
    )
    for method in args.methods.split(","):
        out = args.out_dir / f"{method}{args.suffix}.pt"
        steps = [] if args.scale == 1 else ["--meta-steps", str(round(args.scale * DEFAULT_META_STEPS[method]))]
        cmd = ["gtn-nas", "distill", "--method", method, "--out", str(out), "--quiet", *steps, *args.extra.split()]
        before = load_checkpoint(out) if args.resume and out.exists() else None
        if before:
            cmd.append("--resume")
        elif out.exists():
            out.unlink()
        t0 = time.perf_counter()
        run = subprocess.run(cmd, capture_output=True, text=True)
        wall = (
            time.perf_counter() - t0 + (before["elapsed"] if before else 0)
        )  # the stopped part: its meta-steps, evaluations and calibration
        if run.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed: {run.stderr.strip()}")
        print(run.stdout.strip(), flush=True)
        ckpt = load_checkpoint(out)
        last = [m for m in ckpt["metrics"] if m["val_acc"] == m["val_acc"]][-1]
        rows = [r for r in rows if flag(r["command"], "--out", "") != str(out)] + [
            {
                "method": method,
                "scale": args.scale,
                "command": " ".join(cmd),
                "wall_s": round(wall, 1),
                "meta_steps": ckpt["meta_step"],
                "resumed_at_step": before["meta_step"] if before else "",
                "meta_training_s": round(sum(m.get("step_s", 0) for m in ckpt["metrics"]), 1),
                "val_acc_2k_3_students": last["val_acc"],
                "calibration": ""
                if not ckpt.get("calibration")
                else f"lr x{ckpt['calibration']['lr_scale']}, momentum {ckpt['calibration']['momentum']}",
                "final_line": run.stdout.strip().splitlines()[-1],
                "loadavg_1min_at_end": round(os.getloadavg()[0], 2),
                "threads": os.environ.get("GTN_NAS_THREADS", "torch default"),
                "machine": common.hardware(os.environ.get("GTN_NAS_THREADS", "torch default")),
                "date": common.utc_now(),
            }
        ]
        write_csv(pd.DataFrame(rows), table)
    runs.append(
        {
            "command": command,
            "scale": args.scale,
            "methods": args.methods.split(","),
            **({"note": args.note} if args.note else {}),
        }
    )
    # A teacher's row (one per --out: a method under several suffixes keeps several) belongs to the
    # last run that made it; a run left with no rows drops out.
    owner = {out: i for i, r in enumerate(runs) for out in outputs(r)}
    runs = [r for i, r in enumerate(runs) if i in owner.values()]
    meta = common.metadata(scale=args.scale, runs=runs)
    common.write_json(table.with_suffix(".json"), meta)
    common.write_md(table.with_suffix(".md"), wall_time_md(read_csv(table), meta), echo=False)  # as the report does


if __name__ == "__main__":
    main()
