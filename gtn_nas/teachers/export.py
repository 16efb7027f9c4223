"""Export a teacher's synthetic dataset as a framework-neutral .npz.

Keys: images float32 [T*B,1,28,28] (student input space), labels int64 [T*B], lr float32 [T],
momentum float32 [T], batch_size int, mean/std floats (a real pixel p in [0,1] enters a student as
(p - mean) / std). Recipe: step t trains on rows [t*B, (t+1)*B) with plain SGD(lr[t], momentum[t]).
A soft-label teacher adds soft_labels float32 [T*B,10]: the cross-entropy targets (labels is then
their argmax, for readers that want one class per image). A teacher whose calibration chose to
clip the students' gradients adds max_grad_norm float: before each step, scale the gradient to at
most that global L2 norm (torch.nn.utils.clip_grad_norm_).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.atomic import atomic_write
from ..core.data import MEAN, STD
from .checkpoints import load_teacher

KEYS = ("images", "labels", "lr", "momentum", "batch_size", "mean", "std")


def teacher_arrays(teacher, noise_seed: int = 0) -> dict[str, np.ndarray]:
    d = teacher.dataset(noise_seed)
    soft = d["labels"].dim() == 2
    extra = {"soft_labels": d["labels"].cpu().numpy().astype(np.float32)} if soft else {}
    if teacher.max_grad_norm is not None:
        extra["max_grad_norm"] = np.float64(teacher.max_grad_norm)
    return {
        "images": d["images"].cpu().numpy().astype(np.float32),
        "labels": (d["labels"].argmax(1) if soft else d["labels"]).cpu().numpy().astype(np.int64),
        **extra,
        "lr": d["lr"].cpu().numpy().astype(np.float32),
        "momentum": d["momentum"].cpu().numpy().astype(np.float32),
        "batch_size": np.int64(teacher.cfg.batch_size),
        "mean": np.float64(MEAN),
        "std": np.float64(STD),
    }


def export_npz(teacher_path: str | Path, out: str | Path, noise_seed: int = 0, device="cpu") -> int:
    teacher, _ = load_teacher(teacher_path, device)
    arrays = teacher_arrays(teacher, noise_seed)

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:  # a file handle keeps numpy from appending another .npz
            np.savez(fh, **arrays)

    atomic_write(out, write)
    return len(arrays["labels"])
