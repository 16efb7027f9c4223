"""The distillation loop: train a teacher with one meta-gradient method.

Each meta-step samples K fresh students (`students_per_step`; architecture from the distillation
space, random init), asks the method for each one's meta-gradient, averages them and takes an Adam
step on the teacher (cosine decay to 0.1x, as in the GTN paper). Every random choice of meta-step s
is drawn from generators seeded by (seed, s, k), so a resumed run continues exactly as an
uninterrupted one would. After the last meta-step, a teacher may have its inner lr/momentum
calibrated (`calibration.py`; by default for ift and gm, whose meta-gradients cannot reach them).
"""

from __future__ import annotations

import contextlib
import math
import random
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import torch

from ..core.atomic import write_csv
from ..core.checkpoint import load_checkpoint, save_checkpoint
from ..core.data import MNIST
from ..core.device import peak_memory_mb
from ..core.distributed import RankFailure, World
from ..core.errors import CheckpointError, ConfigError, GtnNasError
from ..core.interrupts import interrupts_deferred
from ..core.spaces import load_space
from ..core.students import Functional, build_student
from .calibration import calibrate_distilled
from .config import DEFAULT_CALIBRATE, DistillConfig
from .fit import fit_generator, real_pixels
from .generator import Teacher
from .methods import MetaContext, make_method
from .objectives import MetaStep, make_objective
from .quality import evaluate_teacher

# The metrics CSV's columns (rank_val_rho too with --objective rank); a run of 0 meta-steps has the header alone.
METRIC_COLUMNS = ["meta_step", "meta_loss", "val_acc", "elapsed_s", "peak_mem_mb", "step_s"]
# Meta-steps with a non-finite meta-loss (a diverged student) are skipped, up to this many in a row.
MAX_SKIPPED_IN_A_ROW = 5


def step_seed(seed: int, step: int) -> int:
    return seed * 1_000_003 + step


class Distiller:
    def __init__(self, cfg: DistillConfig, data: MNIST, device: torch.device, world: World = World()):
        self.cfg, self.data, self.device, self.world = cfg.validate(), data, device, world
        if world.size > cfg.students_per_step:
            raise ConfigError(
                f"--students-per-step ({cfg.students_per_step}) must be at least the number of processes ({world.size})"
            )
        if world.size > 1 and cfg.method_options.get("update_per_match"):
            raise ConfigError(
                "gm update_per_match steps the teacher inside a student's unroll; it runs in one process only"
            )
        if world.size > 1 and cfg.method_options.get("warm_steps"):
            raise ConfigError(
                "ift warm_steps keeps each rank's students across meta-steps; it runs in one process only"
            )
        self.space = load_space(cfg.space)
        self.method = make_method(cfg.method, cfg.method_options)
        self.teacher = Teacher(cfg.teacher, seed=cfg.seed).to(device)
        params = self.teacher.parameters() if self.method.learns_hyper else self.teacher.data_parameters()
        self.opt = torch.optim.Adam(params, lr=cfg.meta_lr, betas=(0.9, 0.999))
        horizon = max(cfg.meta_steps, 1)
        decay = lambda s: 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(s, horizon) / horizon))
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, decay)
        self.class_index = [torch.nonzero(data.train.y == c).squeeze(1) for c in range(10)]
        self.eval_specs = self.space.sample(cfg.eval_students, seed=cfg.seed + 12345)
        self.objective = make_objective(cfg, data.train)
        self.val_small = data.val.subset(min(cfg.eval_examples, len(data.val)), seed=0)
        self.step, self.elapsed, self.metrics, self.calibration = 0, 0.0, [], None
        self.fit_error, self.started, self.start_calibration = None, False, None

    def start(self) -> None:
        """Start a teacher from real images (`--init real`), once, before its first meta-step; the
        fit counts in `elapsed`. A teacher restored from a checkpoint is past it."""
        if self.started:
            return
        self.started = True
        if self.cfg.teacher.init == "real":
            t0 = time.perf_counter()
            self.fit_error = self._start_from_real()
            self.world.share_from_main(list(self.teacher.parameters()))  # ranks must start identical
            self.elapsed += time.perf_counter() - t0
        if self.cfg.calibrate_start:
            # Every rank calibrates (deterministic, the same on each): the clip is no tensor to share.
            self.start_calibration = self._calibrated()
            self.elapsed += self.start_calibration["seconds"]

    def _start_from_real(self) -> float | None:
        """Set a pixel teacher to real images, or fit a generator to them; the fit's MSE (or None)."""
        images = real_pixels(self.data.train, self.cfg.teacher, self.cfg.seed).to(self.device)
        if self.cfg.teacher.kind == "pixels":
            self.teacher.set_pixels(images)
            return None
        return fit_generator(self.teacher, images, self.cfg.teacher.fit_steps, seed=self.cfg.seed)

    @property
    def calibrates(self) -> bool:
        return DEFAULT_CALIBRATE[self.cfg.method] if self.cfg.calibrate is None else self.cfg.calibrate

    # -- one meta-step -------------------------------------------------------------------
    def context(self, step: int, k: int = 0, spec: dict | None = None) -> MetaContext:
        """Student k of meta-step `step`: a draw from the distillation space unless `spec` is given."""
        s = step_seed(self.cfg.seed, step) + 7_919 * k * 1_000_003_000  # k = 0: the one-student stream
        gen = torch.Generator().manual_seed(s)
        spec = random.Random(s).choice(self.space.archs) if spec is None else spec
        f = Functional(build_student(spec, s, self.device))
        idx = torch.randint(len(self.data.train), (self.cfg.meta_batch,), generator=gen).to(self.device)
        noise = self.teacher.sample_noise(gen) if self.teacher.needs_noise else None
        return MetaContext(
            self.teacher,
            f,
            f.init_params(),
            noise,
            self.data.train.x[idx],
            self.data.train.y[idx],
            self.data.train,
            self.class_index,
            gen,
            update=self._apply_update,
            student=k,
            spec=spec,
            seed=s,
        )

    def _apply_update(self) -> float:
        """Clip and apply the accumulated teacher gradient (the meta-step's schedule is not advanced)."""
        norm = torch.nn.utils.clip_grad_norm_(
            [p for g in self.opt.param_groups for p in g["params"]], self.cfg.grad_clip
        )
        if not torch.isfinite(norm):
            raise ConfigError(f"meta-step {self.step}: the meta-gradient diverged; lower --meta-lr")
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        return float(norm)

    def meta_step(self) -> dict:
        self.start()
        start = time.perf_counter()
        # With gm update_per_match the method updates the teacher itself, partway through the
        # step: a Ctrl-C there would save a half-updated teacher under the previous step's number.
        inside = bool(self.cfg.method_options.get("update_per_match"))
        with interrupts_deferred() if inside else contextlib.nullcontext():
            row = self._update(start)
        if self.world.is_main and (self.step % self.cfg.eval_every == 0 or self.step == self.cfg.meta_steps):
            # Monitoring only (students scored on validation, never used for a choice), so it runs
            # after the step is recorded: a Ctrl-C here loses the score (NaN), not the row. Its time
            # counts in elapsed_s, the wall clock, but not in step_s.
            val_acc = evaluate_teacher(self.teacher, self.eval_specs, self.val_small, self.cfg.seed, self.device)
            row.update(self.objective.monitor(self.teacher, self.val_small, self.cfg.seed, self.device))
            self.elapsed += time.perf_counter() - start - row["step_s"]
            row.update(val_acc=val_acc, elapsed_s=round(self.elapsed, 3))
        return row

    def _update(self, start: float) -> dict:
        """The meta-gradient, the teacher update, the counter and the metrics row."""
        self.opt.zero_grad(set_to_none=True)
        meta_loss = self.objective.meta_gradient(self._meta_step())
        if not math.isfinite(meta_loss):
            self._skip(meta_loss)
        with interrupts_deferred():  # the update, the counter and the row change together or not at all
            if any(p.grad is not None for g in self.opt.param_groups for p in g["params"]):
                self._apply_update()  # nothing left when the method updated the teacher itself
            with warnings.catch_warnings():  # a skipped first step calls the schedule before the optimiser
                warnings.simplefilter("ignore", UserWarning)
                self.sched.step()
            self.step += 1
            self.elapsed += time.perf_counter() - start
            row = {
                "meta_step": self.step,
                "meta_loss": meta_loss,
                "val_acc": float("nan"),
                "elapsed_s": round(self.elapsed, 3),
                "peak_mem_mb": round(peak_memory_mb(self.device), 1),
                "step_s": round(time.perf_counter() - start, 4),
            }
            self.metrics.append(row)
        return row

    def _meta_step(self) -> MetaStep:
        """This meta-step as the objective sees it."""
        return MetaStep(
            index=self.step,
            seed=step_seed(self.cfg.seed, self.step),
            students=self.cfg.students_per_step,
            context=lambda k, spec=None: self.context(self.step, k, spec),
            method=self.method,
            world=self.world,
            params=[p for g in self.opt.param_groups for p in g["params"]],
            device=self.device,
        )

    def _skip(self, meta_loss: float) -> None:
        """Drop a meta-step whose student diverged on the teacher's data (an unnormalised deep net
        at the teacher's lr can overflow): its meta-gradient says nothing about the teacher, and one
        such draw late in a long run should not end it. The row keeps the NaN; a teacher whose
        students keep diverging has diverged itself."""
        trailing = next(
            (i for i, r in enumerate(reversed(self.metrics)) if math.isfinite(r["meta_loss"])), len(self.metrics)
        )
        if trailing + 1 > MAX_SKIPPED_IN_A_ROW:
            raise ConfigError(
                f"meta-step {self.step}: the meta-loss diverged ({meta_loss}) {trailing + 1} meta-steps in a row; "
                "lower --meta-lr"
            )
        self.opt.zero_grad(set_to_none=True)

    # -- persistence ---------------------------------------------------------------------
    def save(self, path: Path) -> None:
        save_checkpoint(
            path,
            {
                "method": self.cfg.method,
                "config": self.cfg.to_dict(),
                "teacher": self.teacher.state_dict(),
                "optimizer": self.opt.state_dict(),
                "meta_step": self.step,
                "elapsed": self.elapsed,
                "metrics": self.metrics,
                "complete": self.step >= self.cfg.meta_steps and not self.needs_calibration,
                "calibration": self.calibration or {},
                "start_calibration": self.start_calibration or {},
                "method_state": self.method.state_dict() if hasattr(self.method, "state_dict") else {},
            },
        )
        write_csv(pd.DataFrame(self.metrics, columns=None if self.metrics else METRIC_COLUMNS), metrics_path(path))

    def restore(self, ckpt: dict, path: Path) -> None:
        if DistillConfig.from_dict(ckpt["config"]).to_dict() | {"meta_steps": 0} != self.cfg.to_dict() | {
            "meta_steps": 0
        }:
            raise CheckpointError(
                f"{path}: --resume with options that differ from the checkpoint's (only --meta-steps may change)"
            )
        self.teacher.load_state_dict(ckpt["teacher"])
        self.started = True
        self.opt.load_state_dict(ckpt["optimizer"])
        self.step, self.elapsed, self.metrics = ckpt["meta_step"], ckpt["elapsed"], list(ckpt["metrics"])
        self.calibration = ckpt.get("calibration") or None
        self.start_calibration = ckpt.get("start_calibration") or None
        if hasattr(self.method, "load_state_dict"):
            self.method.load_state_dict(ckpt.get("method_state") or {})
        self.teacher.max_grad_norm = recipe_clip(ckpt)
        self.sched.last_epoch = self.step
        for g in self.opt.param_groups:
            g["lr"] = self.cfg.meta_lr * self.sched.lr_lambdas[0](self.step)

    def final_summary(self) -> dict:
        """Validation accuracy (full 10k split) of freshly trained students, one per eval architecture."""
        accs = [
            evaluate_teacher(self.teacher, [spec], self.data.val, self.cfg.seed + 1 + i, self.device)
            for i, spec in enumerate(self.eval_specs)
        ]
        return {"mean": sum(accs) / len(accs), "min": min(accs), "max": max(accs), "n": len(accs)}

    def calibrate(self) -> dict:
        """Set the teacher's inner lr scale, momentum and gradient clip by `calibration.calibrate_distilled`."""
        self.calibration = self._calibrated()
        self.elapsed += self.calibration["seconds"]
        return self.calibration

    def _calibrated(self) -> dict:
        return calibrate_distilled(
            self.teacher, self.cfg.seed, self.space, self.data.train, self.cfg.calibration, self.device
        )

    @property
    def needs_calibration(self) -> bool:
        """The final calibration is due: the method calibrates, it has not run, and the teacher is not
        the calibrated start itself (0 meta-steps after a start calibration)."""
        at_start = self.start_calibration is not None and self.step == 0
        return self.calibrates and self.calibration is None and not at_start

    def run(self, out: Path, on_step: Callable[[dict], None] | None = None) -> None:
        """Meta-steps up to cfg.meta_steps (checkpointed, and on Ctrl-C too), then calibration."""
        self.start()  # also for --meta-steps 0: the start is the teacher
        try:
            while self.step < self.cfg.meta_steps:
                row = self.meta_step()
                if self.world.is_main and (
                    self.step % self.cfg.checkpoint_every == 0 or self.step == self.cfg.meta_steps
                ):
                    self.save(out)
                if on_step:
                    on_step(row)
        except (KeyboardInterrupt, RankFailure) as exc:
            if self.step > 0 and self.world.is_main:
                self.save(out)  # the last completed meta-step; --resume continues from it
            if isinstance(exc, RankFailure):
                raise RankFailure(f"{exc}; {out} holds meta-step {self.step}: rerun with --resume") from None
            raise
        if self.needs_calibration and self.world.is_main:
            self.calibrate()
            self.save(out)
        elif self.step == 0 and self.world.is_main:
            self.save(out)


def recipe_clip(ckpt: dict) -> float | None:
    """The students' gradient clip a checkpoint's teacher trains with: its last calibration's."""
    return (ckpt.get("calibration") or ckpt.get("start_calibration") or {}).get("max_grad_norm")


def metrics_path(ckpt: Path) -> Path:
    return Path(ckpt).with_suffix(".csv")


def distill(
    cfg: DistillConfig, data: MNIST, device, out: Path, resume: bool = False, on_step=None, world: World = World()
) -> Distiller:
    """Train (or, with `resume`, continue training) a teacher and save it at `out`."""
    d = Distiller(cfg, data, device, world)
    if resume and Path(out).exists():
        d.restore(load_checkpoint(out, map_location=device), Path(out))
    d.run(Path(out), on_step)
    return d


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
