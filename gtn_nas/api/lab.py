"""Building blocks for experiments: what `benchmarks/` (and your own studies) use beyond the
workflows of `gtn_nas.api`. Training a student on given batches, a teacher's recipe, the
meta-gradient methods and meta-objectives as objects, checkpoints, ranking statistics and figures.

These names are public and tested through the package's own tests, but they are lower-level than
`gtn_nas.api`: they take tensors and loaded objects rather than paths and configs, and they do
not validate their arguments as the workflows do.
"""

from __future__ import annotations

# Students and training.
from ..core.atomic import atomic_write
from ..core.checkpoint import load_checkpoint, save_checkpoint
from ..core.data import MEAN, STD, Split
from ..core.inner import InnerState, train_steps
from ..core.spaces import spec_to_json
from ..core.students import accuracy, build_student, correct, count_params
from ..core.training import real_batches, sgd_steps, train_full, train_student

# Proxies and ranking.
from ..nas import fused, ranking
from ..nas.proxies import (
    balanced_subset,
    make_proxy,
    per_image_forward_flops,
    split_pool,
    subset_batches,
    teacher_name,
)
from ..nas.proxies import teacher_batches as proxy_teacher_batches  # batches the proxy trains on, FLOPs counted
from ..nas.ranking import (
    bootstrap,
    combine_runs,
    correlations,
    load_runs,
    paired_difference,
    rank_proxy,
    top_k_overlap,
)
from ..nas.storage import driver_url
from ..report.figures import figure, frontier_figure, pareto_front, png_bytes, save_figure

# Teachers: checkpoints, the distillation loop, methods and objectives, calibration, quality.
from ..teachers.calibration import grid_search, inv_softplus
from ..teachers.checkpoints import load_teacher as load_teacher_checkpoint  # (teacher, checkpoint dict)
from ..teachers.config import DEFAULT_META_STEPS
from ..teachers.config_file import config_toml
from ..teachers.distillation import distill as distill_loop  # the Distiller, on loaded data and a device
from ..teachers.export import teacher_arrays
from ..teachers.fit import balanced_real_steps
from ..teachers.methods import Bptt, Ift, IftConfig
from ..teachers.objectives.rank import RankPool, objective_weights
from ..teachers.objectives.twin import twin_loss, twin_weights
from ..teachers.quality import score_teacher
from ..teachers.quality import teacher_batches as teacher_recipe  # [(x, y)], lrs, momenta of a teacher
from ..teachers.recalibration import recalibrate

__all__ = [
    "DEFAULT_META_STEPS",
    "MEAN",
    "STD",
    "Bptt",
    "Ift",
    "IftConfig",
    "InnerState",
    "RankPool",
    "Split",
    "accuracy",
    "atomic_write",
    "balanced_real_steps",
    "balanced_subset",
    "bootstrap",
    "build_student",
    "combine_runs",
    "config_toml",
    "correct",
    "correlations",
    "count_params",
    "distill_loop",
    "driver_url",
    "figure",
    "frontier_figure",
    "fused",
    "grid_search",
    "inv_softplus",
    "load_checkpoint",
    "load_runs",
    "load_teacher_checkpoint",
    "make_proxy",
    "objective_weights",
    "paired_difference",
    "pareto_front",
    "per_image_forward_flops",
    "png_bytes",
    "proxy_teacher_batches",
    "rank_proxy",
    "ranking",
    "real_batches",
    "recalibrate",
    "save_checkpoint",
    "save_figure",
    "score_teacher",
    "sgd_steps",
    "spec_to_json",
    "split_pool",
    "subset_batches",
    "teacher_arrays",
    "teacher_name",
    "teacher_recipe",
    "top_k_overlap",
    "train_full",
    "train_steps",
    "train_student",
    "twin_loss",
    "twin_weights",
]
