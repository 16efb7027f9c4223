"""How close is the IFT meta-gradient to BPTT's? Cosine similarity on the same teacher, student,
initialisation and real batch, per student family and normalisation, for several IFT settings.

BPTT's meta-gradient (the exact one, through all T steps) is restricted to the teacher's data
parameters (generator weights and curriculum noise): IFT does not reach the inner lr/momentum.

    python benchmarks/ift_alignment.py --teacher results/teachers/bptt.pt --out results/ift_alignment.csv
"""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import torch

import common
from gtn_nas.api import DistillConfig, Distiller, arch_id, load_mnist, write_csv
from gtn_nas.api.lab import Bptt, Ift, IftConfig
from gtn_nas.api.lab import load_teacher_checkpoint as load_teacher
from repo_report import ift_alignment_md, read_csv

NEUMANN = {"solver": "neumann", "damping": 0.0}  # gtn-nas 0.1's solver


def cold(**options) -> IftConfig:
    """A fresh student trained all T steps (no warm start: BPTT is compared on the same student), J=2 unless given."""
    return IftConfig(**{"warm_steps": 0, "batches": 2, **options})


SETTINGS = {
    "0.1 default (Neumann K=5, J=2)": cold(neumann_terms=5, **NEUMANN),
    "Neumann K=5, J=8": cold(neumann_terms=5, batches=8, **NEUMANN),
    "Neumann K=5, J=32 (all batches)": cold(neumann_terms=5, batches=32, **NEUMANN),
    "Neumann K=5, settle 20": cold(neumann_terms=5, settle_steps=20, **NEUMANN),
    "identity inverse (Neumann K=0)": cold(neumann_terms=0, **NEUMANN),
    "new default (CG 20, damping 1, J=2)": cold(neumann_terms=20),  # the cold default, pinned
}
STUDENTS = [
    {"family": "conv", "depth": 2, "width": 12, "activation": "relu", "norm": "none", "pooling": "max"},
    {"family": "conv", "depth": 2, "width": 12, "activation": "elu", "norm": "batch", "pooling": "avg"},
    {"family": "conv", "depth": 1, "width": 20, "activation": "tanh", "norm": "layer", "pooling": "avg"},
    {"family": "mlp", "depth": 2, "width": 96, "activation": "relu", "norm": "none"},
    {"family": "mlp", "depth": 2, "width": 96, "activation": "sigmoid", "norm": "batch"},
]


def meta_grad(d: Distiller, method, step: int, spec: dict) -> torch.Tensor:
    d.teacher.zero_grad(set_to_none=True)
    method(d.context(step, spec=spec))
    return torch.cat(
        [(p.grad if p.grad is not None else torch.zeros_like(p)).flatten() for p in d.teacher.data_parameters()]
    )


def main() -> None:
    ap = common.parser(__doc__)
    ap.add_argument("--teacher", type=Path, help="teacher checkpoint (default: an untrained generator)")
    ap.add_argument("--draws", type=int, default=1, help="student inits / batches per architecture")
    common.add_threads(ap, default=2)
    ap.add_argument("--out", type=Path, default=Path("results/ift_alignment.csv"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    d = Distiller(DistillConfig(method="bptt", meta_steps=10**6, eval_every=10**9), load_mnist(), torch.device("cpu"))
    if args.teacher:
        teacher, _ = load_teacher(args.teacher)
        d.teacher.load_state_dict(teacher.state_dict())
        d.teacher.requires_grad_(True)
    rows = []
    for spec in STUDENTS:
        for draw in range(args.draws):
            exact = meta_grad(d, Bptt(), 10_000 + draw, spec)
            for name, cfg in SETTINGS.items():
                t0 = time.perf_counter()
                approx = meta_grad(d, Ift(cfg), 10_000 + draw, spec)
                cos = torch.nn.functional.cosine_similarity(exact, approx, dim=0).item()
                rows.append(
                    {
                        "student": arch_id(spec),
                        "family": spec["family"],
                        "norm": spec["norm"],
                        "draw": draw,
                        "setting": name,
                        "cosine": cos,
                        "norm_ratio": (approx.norm() / exact.norm()).item(),
                        "seconds": time.perf_counter() - t0,
                    }
                )
            print(
                f"{arch_id(spec)} draw {draw}: "
                + ", ".join(f"{r['setting']} {r['cosine']:.2f}" for r in rows[-len(SETTINGS) :]),
                flush=True,
            )
            write_csv(pd.DataFrame(rows), args.out)
    meta = common.metadata()
    common.write_outputs(args.out, meta=meta, indent=None)
    # From the file just written, as `python benchmarks/report.py` renders it.
    md = ift_alignment_md(read_csv(args.out), meta)
    common.write_md(args.out.with_suffix(".md"), md)


if __name__ == "__main__":
    main()
