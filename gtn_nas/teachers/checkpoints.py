"""A distillation run on disk: the checkpoint (written atomically, read with weights_only=True)
and the metrics CSV beside it; reading a teacher back for use."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..core.atomic import write_csv
from ..core.checkpoint import load_checkpoint, save_checkpoint
from ..core.errors import CheckpointError, GtnNasError
from .config import DistillConfig
from .generator import Teacher
from .meta_optimizer import resume_schedule

# The metrics CSV's columns (rank_val_rho too with --objective rank); a run of 0 meta-steps has the header alone.
METRIC_COLUMNS = ["meta_step", "meta_loss", "val_acc", "elapsed_s", "peak_mem_mb", "step_s"]


def metrics_path(ckpt: Path) -> Path:
    return Path(ckpt).with_suffix(".csv")


def save_run(path: Path, d) -> None:
    """Distiller `d`'s state at `path`, and its metrics beside it."""
    method_state = d.method.state_dict() if hasattr(d.method, "state_dict") else {}
    save_checkpoint(
        path,
        {
            "method": d.cfg.method,
            "config": d.cfg.to_dict(),
            "teacher": d.teacher.state_dict(),
            "optimizer": d.opt.state_dict(),
            "meta_step": d.step,
            "elapsed": d.elapsed,
            "metrics": d.metrics,
            "complete": d.step >= d.cfg.meta_steps and not d.needs_calibration,
            "calibration": d.calibration or {},
            "start_calibration": d.start_calibration or {},
            "method_state": method_state,
        },
    )
    write_csv(pd.DataFrame(d.metrics, columns=None if d.metrics else METRIC_COLUMNS), metrics_path(path))


def check_resumable(ckpt: dict, cfg: DistillConfig, path: Path) -> None:
    """--resume continues a run only under its own options (--meta-steps may grow)."""
    if DistillConfig.from_dict(ckpt["config"]).to_dict() | {"meta_steps": 0} != cfg.to_dict() | {"meta_steps": 0}:
        raise CheckpointError(
            f"{path}: --resume with options that differ from the checkpoint's (only --meta-steps may change)"
        )


def restore_run(d, ckpt: dict, path: Path) -> None:
    """Put distiller `d` where the checkpoint left it: teacher, optimiser and its schedule, counters,
    metrics, calibrations and the method's own state."""
    check_resumable(ckpt, d.cfg, path)
    d.teacher.load_state_dict(ckpt["teacher"])
    d.teacher.max_grad_norm = recipe_clip(ckpt)
    d.opt.load_state_dict(ckpt["optimizer"])
    d.step, d.elapsed, d.metrics = ckpt["meta_step"], ckpt["elapsed"], list(ckpt["metrics"])
    d.calibration = ckpt.get("calibration") or None
    d.start_calibration, d.started = ckpt.get("start_calibration") or None, True
    if hasattr(d.method, "load_state_dict"):
        d.method.load_state_dict(ckpt.get("method_state") or {})
    resume_schedule(d.opt, d.sched, d.cfg.meta_lr, d.step)


def recipe_clip(ckpt: dict) -> float | None:
    """The students' gradient clip a checkpoint's teacher trains with: its last calibration's."""
    return (ckpt.get("calibration") or ckpt.get("start_calibration") or {}).get("max_grad_norm")


def load_teacher(path: str | Path, device="cpu") -> tuple[Teacher, dict]:
    """A frozen teacher and its checkpoint dict; any file that is not one is a CheckpointError line.

    (torch's weights-only unpickler raises KeyError/IndexError on some non-checkpoint files.)
    """
    try:
        ckpt = load_checkpoint(path, map_location=device)
        cfg = DistillConfig.from_dict(ckpt["config"])
        teacher = Teacher(cfg.teacher).to(device)
        teacher.load_state_dict(ckpt["teacher"])
        teacher.max_grad_norm = recipe_clip(ckpt)
    except GtnNasError:
        raise
    except (TypeError, KeyError, RuntimeError) as exc:
        raise CheckpointError(
            f"{path}: teacher checkpoint does not match this gtn-nas version ({str(exc).splitlines()[0][:120]})"
        ) from None
    except Exception as exc:  # noqa: BLE001  (any other failure means: not a teacher we can read)
        raise CheckpointError(
            f"{path}: not a gtn-nas teacher checkpoint ({type(exc).__name__} while unpickling)"
        ) from None
    teacher.requires_grad_(False)
    return teacher, ckpt
