"""The recipe sweep page (benchmarks/recipe_rank.py): per teacher, how the 32-step recipe moves the
calibration's score, a pool-rank criterion and the 60-ConvNet ranking."""

from __future__ import annotations

from pathlib import Path

from .figures import markdown_table
from .inputs import Inputs

COLUMNS = ("lr", "momentum", "clip", "calib4_acc", "calib16_acc", "pool_rho", "eval_rho", "eval_mean_acc", "seconds")


def _recipe_rank(inputs: Inputs) -> dict:
    parts = [
        "# Recipe sweep: which 32-step recipe ranks the 60 ConvNets best, and which criterion finds it\n\n"
        "Per teacher (its 32 batches unchanged) and recipe (lr, momentum, gradient clip; `none`: no clip): "
        "`calib4_acc`, the mean training-split holdout accuracy of the 4 distillation students the teacher's "
        "calibration draws, from its init seeds (what calibration maximises: at a point of its grid it is the "
        "calibration's own score); `calib16_acc`, the same criterion over 16 students (those 4 first); "
        "`pool_rho`, Spearman ρ between the rank-train ConvNets of `results/ground_truth/rank_pool.csv` and "
        "their holdout accuracy (a criterion calibration could use instead); `eval_rho`, Spearman ρ over the "
        "60 evaluation ConvNets against their 1-epoch ground truth, scored on 2,000 validation images (it "
        "selects nothing; it says which recipe a criterion should have found). `seconds`: one thread, beside "
        "another run on a 2-core machine (the calibration columns were rescored later by `--calib-only`; "
        "`seconds` is the sweep's).\n"
    ]
    for rel in inputs.glob("teachers/recipe_rank/*.csv"):
        frame = inputs.csv(rel, COLUMNS, ("lr", "momentum", "calib4_acc", "calib16_acc", "pool_rho", "eval_rho"))
        frame = frame.sort_values(["clip", "momentum", "lr"], key=lambda c: c.astype(str)).reset_index(drop=True)
        commands = inputs.path(str(Path(rel).with_suffix(".commands.txt"))).read_text().splitlines()
        shown = "".join(f"\n    {c}" for c in commands)
        parts.append(f"\n## {Path(rel).stem}\n\nCommands:\n{shown}\n\n" + markdown_table(frame[list(COLUMNS)], ".3f"))
    return {"teachers/recipe_rank/sweep.md": "".join(parts)}
