"""The one interface every meta-gradient method implements.

A method is called once per student of a meta-step with a `MetaContext`. It accumulates the
meta-gradient into the teacher parameters' `.grad` (by `backward()`), and returns the meta-loss it
minimised and the student parameters it ended with. The distillation loop owns the optimiser step.

Methods whose meta-loss is the student's real-data loss L (bptt, ift) also split the call in two:
`forward(ctx)` trains the student and returns a `Pending` whose `backward(c)` accumulates c·dL/dλ.
The rank objective needs that split: its weights c_k = ∂ℓ_rank/∂L_k depend on every student's L.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import torch

from ...core.data import Split
from ...core.inner import Params
from ..generator import Teacher


@dataclass
class MetaContext:
    teacher: Teacher
    f: object  # students.Functional: f(params, x) -> logits
    params0: Params  # the freshly initialised student's parameters (detached)
    noise: torch.Tensor | None  # (T, B, nz) when the teacher needs fresh noise, else None
    meta_x: torch.Tensor  # a real training batch for the meta-loss (bptt, ift)
    meta_y: torch.Tensor
    real: Split  # the real training split (gm samples its per-class batches from it)
    class_index: list[torch.Tensor]  # indices of each class in `real`
    gen: torch.Generator  # this meta-step's random stream (CPU), for any sampling a method does
    # Applies the teacher gradient accumulated so far (clip + optimiser step, then zero it), for
    # methods that update the teacher several times in one meta-step (gm's update_per_match).
    update: Callable[[], None] | None = None
    # Which of the meta-step's students this is (0..K-1), and how to rebuild it (its architecture
    # and init seed): for methods that keep a student across meta-steps (ift's warm_steps).
    student: int = 0
    spec: dict | None = None
    seed: int = 0


@dataclass
class MetaResult:
    meta_loss: float
    params: Params


@dataclass
class Pending:
    """A student's real-data loss L, its meta-gradient not yet taken: `backward(c)` accumulates
    c · dL/dλ into the teacher's `.grad` (once; c = 1 is the plain accuracy objective)."""

    meta_loss: float
    params: Params
    backward: Callable[[float], None]

    def result(self) -> MetaResult:
        return MetaResult(self.meta_loss, self.params)


class MetaGradient(Protocol):
    name: str
    learns_hyper: bool  # whether the meta-gradient reaches the inner lr and momentum

    def __call__(self, ctx: MetaContext) -> MetaResult: ...
