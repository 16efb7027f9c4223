"""The one interface every meta-objective implements, and the chain rule the composed ones share.

An objective turns one meta-step into a meta-gradient: it chooses the step's students, asks the
method for each one's meta-gradient, accumulates their combination into the teacher parameters'
`.grad` and returns the objective's value (NaN: the step is skipped). The distillation loop owns
the rest (the optimiser step, the schedule, checkpoints). `monitor` adds columns to the metrics
rows that are scored on validation (monitoring only, never a meta-gradient).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import torch

from ...core.distributed import World
from ..methods import MetaContext, MetaGradient, Pending


@dataclass
class MetaStep:
    """What an objective sees of one meta-step."""

    index: int  # the meta-step's number (0-based)
    seed: int  # the seed of its random choices (the architectures a rank objective samples)
    students: int  # K
    context: Callable[..., MetaContext]  # (k, spec=None) -> student k (its architecture drawn or given)
    method: MetaGradient
    world: World
    params: list[torch.Tensor]  # the teacher parameters the optimiser steps
    device: torch.device


class Objective(Protocol):
    name: str

    def meta_gradient(self, step: MetaStep) -> float: ...

    def monitor(self, teacher, val, seed: int, device) -> dict: ...


def composed_gradient(
    step: MetaStep, pending: dict[int, Pending], weights_of: Callable[[list[float]], tuple[float, list[float]]]
) -> float:
    """Σ_k c_k·dL_k/dλ over this rank's `pending` students, (value, c) = weights_of(L_1..L_K) from every
    rank's losses (the chain rule: c_k = ∂objective/∂L_k); the value. NaN (the step is skipped) when a
    student or a target diverged: every rank sees the same values, so all skip together."""
    mine = {k: p.meta_loss for k, p in pending.items()}
    losses = step.world.gather(step.students, mine, step.device)
    if not all(math.isfinite(x) for x in losses):
        return float("nan")
    value, weights = weights_of(losses)
    if not math.isfinite(value):
        return float("nan")
    for k, p in pending.items():
        p.backward(weights[k])
    step.world.sum_gradients(step.params, 0.0)
    return value
