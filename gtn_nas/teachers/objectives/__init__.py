"""Meta-objectives, selected by name: `accuracy`, `rank`, `twin` (one module each, one protocol:
`base.Objective`). The rank and twin objectives measured no better than accuracy
(results/teachers/README.md)."""

from __future__ import annotations

from ...core.data import Split
from .accuracy import Accuracy
from .base import MetaStep, Objective, composed_gradient
from .rank import LOSS_FORMS, Rank, RankPool, objective_weights, rank_loss
from .twin import Twin, twin_loss, twin_weights

OBJECTIVES = ("accuracy", "rank", "twin")


def make_objective(cfg, train: Split) -> Objective:
    """The objective a DistillConfig names (validated), built with what it needs: the ranking pool,
    the real training split."""
    if cfg.objective == "rank":
        return Rank(RankPool.load(cfg.rank_pool), cfg.rank_loss, cfg.rank_weight)
    if cfg.objective == "twin":
        return Twin(train, cfg.twin_steps)
    return Accuracy()


__all__ = [
    "OBJECTIVES",
    "LOSS_FORMS",
    "Accuracy",
    "MetaStep",
    "Objective",
    "Rank",
    "RankPool",
    "Twin",
    "composed_gradient",
    "make_objective",
    "objective_weights",
    "rank_loss",
    "twin_loss",
    "twin_weights",
]
