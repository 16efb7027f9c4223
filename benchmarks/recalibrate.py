"""Recalibrate shipped teachers in place with the current calibration grid, and record what changed.

Calibration never feeds back into distillation, so a recalibrated teacher is the one a fresh
`gtn-nas distill` with this grid would have produced from the same meta-training (same students,
seed and training-split holdout; `gtn_nas.teachers.recalibration.recalibrate`). `--clips none` gives
back the teacher calibrated without clipping.

    python benchmarks/recalibrate.py results/teachers/gm.pt results/teachers/default/gm-15min.pt
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch

import common
from gtn_nas.api import CalibrationConfig, load_mnist
from gtn_nas.api.lab import load_checkpoint, recalibrate
from repo_report import recalibration_md


def _choice(c: dict) -> str:
    clip = "no clip" if c.get("max_grad_norm") is None else f"clip {c['max_grad_norm']}"
    return f"lr x{c['lr_scale']}, momentum {c['momentum']}, {clip}"


def main() -> None:
    ap = common.parser(__doc__)
    ap.add_argument("teachers", nargs="+", type=Path)
    ap.add_argument("--clips", default="none,1")
    ap.add_argument(
        "--out", type=Path, default=Path("results/teachers/recalibration"), help="writes OUT.csv, OUT.json, OUT.md"
    )
    args = ap.parse_args()
    clips = common.clips(args.clips)
    data, rows = load_mnist(), []
    for path in args.teachers:
        c = recalibrate(path, path, data, CalibrationConfig(max_grad_norms=clips))
        rows.append(
            {
                "teacher": str(path),
                "previous": _choice(c.get("previous", {"lr_scale": 1.0, "momentum": "teacher"})),
                "now": _choice(c),
                "holdout_acc_previous": c.get("previous", {}).get("holdout_acc"),
                "holdout_acc_now": c["holdout_acc"],
                "settings": len(c["table"]),
                "seconds": c["seconds"],
                "elapsed_s_now": float(load_checkpoint(path)["elapsed"]),
            }
        )
        print(rows[-1], flush=True)
    frame = pd.DataFrame(rows)
    meta = common.metadata(clips=args.clips, threads=torch.get_num_threads())
    common.write_outputs(args.out, frame, meta)
    common.write_md(args.out.with_suffix(".md"), recalibration_md(frame, meta), echo=False)


if __name__ == "__main__":
    main()
