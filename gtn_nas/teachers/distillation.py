"""The distillation loop: train a teacher with one meta-gradient method.

Each meta-step samples K fresh students (`students_per_step`; architecture from the distillation
space, random init; `student_draws.py`), asks the objective for the teacher's meta-gradient
through the method (`objectives/`, `methods/`), and takes an Adam step on the teacher
(`meta_optimizer.py`). Checkpoints and metrics are `checkpoints.py`'s. After the last meta-step, a
teacher may have its inner lr/momentum calibrated (`calibration.py`; by default for ift and gm,
whose meta-gradients cannot reach them).
"""

from __future__ import annotations

import contextlib
import math
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch

from ..core.checkpoint import load_checkpoint
from ..core.data import MNIST
from ..core.device import peak_memory_mb
from ..core.distributed import RankFailure, World
from ..core.errors import ConfigError
from ..core.interrupts import interrupts_deferred
from ..core.spaces import load_space
from .calibration import calibrate_distilled
from .checkpoints import restore_run, save_run
from .config import DEFAULT_CALIBRATE, DistillConfig
from .fit import start_from_real
from .generator import Teacher
from .meta_optimizer import clipped_step, meta_optimizer, optimised
from .methods import MetaContext, make_method
from .objectives import MetaStep, make_objective
from .quality import evaluate_teacher, fresh_students
from .student_draws import meta_context, step_seed

# Meta-steps with a non-finite meta-loss (a diverged student) are skipped, up to this many in a row.
MAX_SKIPPED_IN_A_ROW = 5
# Options that keep state inside one process, so torchrun cannot spread them.
ONE_PROCESS = {"update_per_match": "gm update_per_match steps the teacher inside a student's unroll",
               "warm_steps": "ift warm_steps keeps each rank's students across meta-steps"}  # fmt: skip


class Distiller:
    def __init__(self, cfg: DistillConfig, data: MNIST, device: torch.device, world: World = World()):
        self.cfg, self.data, self.device, self.world = cfg.validate(), data, device, world
        _check_world(cfg, world)
        self.space = load_space(cfg.space)
        self.method = make_method(cfg.method, cfg.method_options)
        self.teacher = Teacher(cfg.teacher, seed=cfg.seed).to(device)
        params = self.teacher.parameters() if self.method.learns_hyper else self.teacher.data_parameters()
        self.opt, self.sched = meta_optimizer(params, cfg.meta_lr, cfg.meta_steps)
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
        self.started, t0 = True, time.perf_counter()
        if self.cfg.teacher.init == "real":
            cfg = self.cfg
            self.fit_error = start_from_real(self.teacher, self.data.train, cfg.teacher, cfg.seed, self.device)
            self.world.share_from_main(list(self.teacher.parameters()))  # ranks must start identical
            self.elapsed += time.perf_counter() - t0
        if self.cfg.calibrate_start:
            # Every rank calibrates (deterministic, the same on each): the clip is no tensor to share.
            self.start_calibration = self._calibrated()
            self.elapsed += self.start_calibration["seconds"]

    def context(self, step: int, k: int = 0, spec: dict | None = None) -> MetaContext:
        return meta_context(self, step, k, spec)

    def _apply_update(self) -> float:
        """Clip and apply the accumulated teacher gradient (the meta-step's schedule is not advanced)."""
        return clipped_step(self.opt, self.cfg.grad_clip, self.step)

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
            if any(p.grad is not None for p in optimised(self.opt)):
                self._apply_update()  # nothing left when the method updated the teacher itself
            with warnings.catch_warnings():  # a skipped first step calls the schedule before the optimiser
                warnings.simplefilter("ignore", UserWarning)
                self.sched.step()
            self.step += 1
            self.elapsed += time.perf_counter() - start
            mem, step_s = round(peak_memory_mb(self.device), 1), round(time.perf_counter() - start, 4)
            row = dict(meta_step=self.step, meta_loss=meta_loss, val_acc=float("nan"),
                       elapsed_s=round(self.elapsed, 3), peak_mem_mb=mem, step_s=step_s)  # fmt: skip
            self.metrics.append(row)
        return row

    def _meta_step(self) -> MetaStep:
        """This meta-step as the objective sees it."""
        context = lambda k, spec=None: self.context(self.step, k, spec)  # noqa: E731
        return MetaStep(self.step, step_seed(self.cfg.seed, self.step), self.cfg.students_per_step, context,
                        self.method, self.world, optimised(self.opt), self.device)  # fmt: skip

    def _skip(self, meta_loss: float) -> None:
        """Drop a meta-step whose student diverged on the teacher's data (an unnormalised deep net
        at the teacher's lr can overflow): its meta-gradient says nothing about the teacher, and one
        such draw late in a long run should not end it. The row keeps the NaN; a teacher whose
        students keep diverging has diverged itself."""
        finite = (i for i, r in enumerate(reversed(self.metrics)) if math.isfinite(r["meta_loss"]))
        in_a_row = next(finite, len(self.metrics)) + 1
        if in_a_row > MAX_SKIPPED_IN_A_ROW:
            raise ConfigError(f"meta-step {self.step}: the meta-loss diverged ({meta_loss}) {in_a_row} meta-steps "
                              "in a row; lower --meta-lr")  # fmt: skip
        self.opt.zero_grad(set_to_none=True)

    def save(self, path: Path) -> None:
        save_run(path, self)

    def restore(self, ckpt: dict, path: Path) -> None:
        restore_run(self, ckpt, path)

    def final_summary(self) -> dict:
        """Validation accuracy (full 10k split) of freshly trained students, one per eval architecture."""
        return fresh_students(self.teacher, self.eval_specs, self.data.val, self.cfg.seed, self.device)

    def calibrate(self) -> dict:
        """Set the teacher's inner lr scale, momentum and gradient clip by `calibration.calibrate_distilled`."""
        self.calibration = self._calibrated()
        self.elapsed += self.calibration["seconds"]
        return self.calibration

    def _calibrated(self) -> dict:
        cfg = self.cfg
        return calibrate_distilled(self.teacher, cfg.seed, self.space, self.data.train, cfg.calibration, self.device)

    @property
    def calibrates(self) -> bool:
        return DEFAULT_CALIBRATE[self.cfg.method] if self.cfg.calibrate is None else self.cfg.calibrate

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
                due = self.step % self.cfg.checkpoint_every == 0 or self.step == self.cfg.meta_steps
                if self.world.is_main and due:
                    self.save(out)
                if on_step:
                    on_step(row)
        except (KeyboardInterrupt, RankFailure) as exc:
            if self.step > 0 and self.world.is_main:
                self.save(out)  # the last completed meta-step; --resume continues from it
            if isinstance(exc, RankFailure):
                raise RankFailure(f"{exc}; {out} holds meta-step {self.step}: rerun with --resume") from None
            raise
        if self.world.is_main and (self.needs_calibration or self.step == 0):
            if self.needs_calibration:
                self.calibrate()
            self.save(out)


def _check_world(cfg: DistillConfig, world: World) -> None:
    if world.size > cfg.students_per_step:
        raise ConfigError(
            f"--students-per-step ({cfg.students_per_step}) must be at least the number of processes ({world.size})"
        )
    for option, why in ONE_PROCESS.items():
        if world.size > 1 and cfg.method_options.get(option):
            raise ConfigError(f"{why}; it runs in one process only")


def distill(
    cfg: DistillConfig, data: MNIST, device, out: Path, resume: bool = False, on_step=None, world: World = World()
) -> Distiller:
    """Train (or, with `resume`, continue training) a teacher and save it at `out`."""
    d = Distiller(cfg, data, device, world)
    if resume and Path(out).exists():
        d.restore(load_checkpoint(out, map_location=device), Path(out))
    d.run(Path(out), on_step)
    return d
