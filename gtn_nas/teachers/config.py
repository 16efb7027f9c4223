"""A distillation's settings: DistillConfig, each method's defaults, and the checks that need them all.

The defaults are the variants that measured best (results/teachers/README.md); `config_file.py`
reads the same dataclass from a TOML file, `distillation.py` runs it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from dataclasses import dataclass, field

from ..core.errors import ConfigError
from ..core.spaces import load_space
from .calibration import CalibrationConfig
from .generator import TeacherConfig
from .methods import METHODS, make_method, resolve_options
from .objectives import LOSS_FORMS, OBJECTIVES, RankPool


@dataclass(frozen=True)
class DistillConfig:
    method: str = "ift"
    teacher: TeacherConfig = TeacherConfig()
    method_options: dict = field(default_factory=dict)
    meta_steps: int | None = None  # None: the method's 15-minute budget (DEFAULT_META_STEPS)
    meta_lr: float | None = None  # None: DEFAULT_META_LR, or FINE_TUNE_META_LR for a generator fitted to real images
    meta_batch: int = 256
    space: str = "distill"
    seed: int = 0
    grad_clip: float = 5.0
    eval_every: int = 25
    eval_students: int = 3
    eval_examples: int = 2000
    checkpoint_every: int = 25
    students_per_step: int = 1
    calibrate: bool | None = None  # None: the method's default (DEFAULT_CALIBRATE)
    # Calibrate the fitted start too, before the first meta-step, so that meta-training's students
    # train with the recipe (lr, momentum, clip) that will score the teacher rather than the initial one.
    calibrate_start: bool = False
    calibration: CalibrationConfig = CalibrationConfig()  # the grid (its seed is the distillation's + 777)
    # accuracy: mean real-data loss of the students; rank: a ranking loss between the students'
    # real-data losses and their ground-truth accuracies (`objectives/rank.py`), K students from
    # the ranking pool `rank_pool` (a ground-truth CSV) per meta-step.
    objective: str = "accuracy"
    rank_pool: str | None = None
    rank_loss: str = "pairwise"
    rank_weight: float | None = None  # with objective rank: None = the rank loss alone, β = mean L + β·rank
    # twin: each student's real-data loss pulled to its twin's, the same net trained `twin_steps`
    # steps on real data (`objectives/twin.py`).
    twin_steps: int = 128

    def __post_init__(self):
        if self.meta_steps is None:
            object.__setattr__(self, "meta_steps", DEFAULT_META_STEPS.get(self.method, 300))
        # Every method option is stored, defaults included, so a checkpoint says what it was trained
        # with even after a default changes (bad options are left for validate() to report).
        if self.method in METHODS:
            with contextlib.suppress(ConfigError):
                object.__setattr__(self, "method_options", resolve_options(self.method, self.method_options))
        if self.teacher.generator is None and self.method in DEFAULT_GENERATOR:
            object.__setattr__(
                self, "teacher", dataclasses.replace(self.teacher, generator=DEFAULT_GENERATOR[self.method])
            )
        if self.teacher.init is None:
            fits = self.teacher.kind == "generator" and self.teacher.curriculum  # a code per image to fit
            object.__setattr__(
                self,
                "teacher",
                dataclasses.replace(self.teacher, init=DEFAULT_INIT.get(self.method, "noise") if fits else "noise"),
            )
        if self.meta_lr is None:
            fitted = self.teacher.kind == "generator" and self.teacher.init == "real"
            object.__setattr__(self, "meta_lr", FINE_TUNE_META_LR if fitted else DEFAULT_META_LR)

    def validate(self) -> DistillConfig:
        if self.method not in METHODS:
            raise ConfigError(f"--method must be one of {', '.join(METHODS)}; got {self.method!r}")
        if self.meta_steps < 0:  # 0: the start alone (fitted, calibrated as its method is), a control
            raise ConfigError(f"--meta-steps must be >= 0; got {self.meta_steps}")
        for name in (
            "meta_batch",
            "eval_every",
            "eval_students",
            "eval_examples",
            "checkpoint_every",
            "students_per_step",
        ):
            if getattr(self, name) < 1:
                flag = "--students-per-step" if name == "students_per_step" else name  # the others live in --config
                raise ConfigError(f"{flag} must be >= 1; got {getattr(self, name)}")
        self._validate_objective()
        # math.isfinite: an infinite meta-lr is "> 0" yet turns the teacher to NaN on its first step
        if not (math.isfinite(self.meta_lr) and self.meta_lr > 0):
            raise ConfigError(f"--meta-lr must be a finite number > 0; got {self.meta_lr}")
        if not (math.isfinite(self.grad_clip) and self.grad_clip > 0):
            raise ConfigError(f"the meta-gradient clip must be a finite number > 0; got {self.grad_clip}")
        self.teacher.validate()
        load_space(self.space)  # a bad --space (or config `space`) is one line before any work
        if self.teacher.soft_labels and self.method == "gm":
            raise ConfigError(
                "[teacher] soft_labels needs a method whose meta-gradient reaches the labels (bptt or ift); "
                "gm matches class by class"
            )
        make_method(self.method, self.method_options)  # fails early on bad options
        # The method configs cannot see the unroll length. Their defaults (bptt's window 8, gm's 8
        # matches) are exempt: larger than a short unroll, they mean "every step" (a CLI flag that
        # merely repeats a default is checked by the CLI, which knows what was given).
        defaults = dataclasses.asdict(METHODS[self.method][1]())
        changed = {k: v for k, v in self.method_options.items() if v != defaults.get(k)}
        check_step_options(self.method, changed, self.teacher.inner_steps)
        return self

    def _validate_objective(self) -> None:
        if self.objective not in OBJECTIVES:
            raise ConfigError(f"--objective must be one of {', '.join(OBJECTIVES)}; got {self.objective!r}")
        if self.objective != "rank" and self.rank_weight is not None:
            raise ConfigError("--rank-weight applies to --objective rank only")
        if self.objective == "accuracy":
            return
        if self.method == "gm":
            raise ConfigError(
                f"--objective {self.objective} needs a method whose meta-loss is each student's real-data loss "
                "(bptt or ift); gm matches gradients and has none"
            )
        if self.objective == "twin":
            if isinstance(self.twin_steps, bool) or not isinstance(self.twin_steps, int) or self.twin_steps < 1:
                raise ConfigError(f"twin_steps must be >= 1; got {self.twin_steps}")
            return
        if self.rank_pool is None:
            raise ConfigError(
                "--objective rank needs --rank-pool CSV (ground truth of the ranking pool, "
                "e.g. results/ground_truth/rank_pool_144.csv)"
            )
        if self.students_per_step < 2:
            raise ConfigError(
                "--objective rank needs --students-per-step >= 2 (a ranking of one student is empty); "
                f"got {self.students_per_step}"
            )
        if self.rank_loss not in LOSS_FORMS:
            raise ConfigError(f"--rank-loss must be one of {', '.join(LOSS_FORMS)}; got {self.rank_loss!r}")
        if self.rank_weight is not None and not (math.isfinite(self.rank_weight) and self.rank_weight >= 0):
            raise ConfigError(f"--rank-weight must be a finite number >= 0; got {self.rank_weight}")
        pool = RankPool.load(self.rank_pool)
        if len(pool.train) < self.students_per_step:
            raise ConfigError(
                f"--rank-pool {self.rank_pool}: {len(pool.train)} rank-train architectures, fewer than "
                f"--students-per-step ({self.students_per_step})"
            )

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @staticmethod
    def from_dict(d: dict) -> DistillConfig:
        # Options added since a checkpoint was written: it was trained without them.
        d = {**d, "teacher": TeacherConfig(**d["teacher"])}
        if "calibration" in d:  # tuples come back from a checkpoint or TOML as lists
            d["calibration"] = CalibrationConfig(
                **{k: tuple(v) if isinstance(v, list) else v for k, v in d["calibration"].items()}
            )
        d["method_options"] = {**OPTIONS_ADDED_OFF.get(d.get("method", "ift"), {}), **d.get("method_options", {})}
        return DistillConfig(**d)


# Each default below is the variant that measured best; the measurements and the runs that led to
# them are in results/teachers/README.md (the ablation) and results/teachers/default/.
# The generator decoder each method taught best with, at equal wall-clock budgets.
DEFAULT_GENERATOR = {"bptt": "upsample", "ift": "upsample", "gm": "convt"}
# Generators start fitted to real images: their students already keep ~0.91 of full-training
# accuracy, which meta-training from noise did not reach in the same time.
DEFAULT_INIT = {"bptt": "real", "ift": "real", "gm": "real"}
DEFAULT_META_LR = 0.01
# A fitted generator is fine-tuned: 0.01 undid the fit within tens of meta-steps, 0.001 kept it.
FINE_TUNE_META_LR = 0.001
# Calibrate the inner lr/momentum/clip afterwards where the meta-gradient cannot reach them and it
# measured better (ift, gm); bptt learns its own and calibration did not help it.
DEFAULT_CALIBRATE = {"bptt": False, "ift": True, "gm": True}
# Meta-steps that fit the default budget: <= 15 minutes on 2 CPU cores at T=32, B=128, the fit and
# the calibration included, with room for a slower hour (wall times in results/teachers/default/).
DEFAULT_META_STEPS = {"bptt": 800, "ift": 240, "gm": 400}


# Method options added after teachers were shipped, with the value that means "as before" (the
# shipped ift teachers predate warm_mode).
OPTIONS_ADDED_OFF = {"ift": {"warm_mode": "advance"}}


# Method options counted in inner steps (by method: field -> CLI flag); none may exceed --inner-steps.
STEP_OPTIONS = {
    "bptt": {
        "window": "[method] window",
        "truncate": "[method] truncate",
        "checkpoint_every": "[method] checkpoint_every",
    },
    "gm": {"match_steps": "[method] match_steps"},
    "ift": {"warm_steps": "[method] warm_steps"},
}


def check_step_options(method: str, options: dict, inner_steps: int) -> None:
    """A window, truncation, checkpoint block or match count longer than the unroll is a mistake
    (it silently meant "all steps"): one line naming the flag."""
    for name, flag in STEP_OPTIONS.get(method, {}).items():
        if name in options and options[name] > inner_steps:
            raise ConfigError(f"{flag} ({options[name]}) must be at most --inner-steps ({inner_steps})")
