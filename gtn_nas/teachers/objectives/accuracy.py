"""The accuracy objective (the default): the mean real-data meta-loss of K students of the
distillation space, each by its method's own meta-gradient."""

from __future__ import annotations

from .base import MetaStep


class Accuracy:
    name = "accuracy"

    def meta_gradient(self, step: MetaStep) -> float:
        """The mean meta-gradient of K students drawn from the distillation space; their mean meta-loss."""
        K = step.students
        loss = sum(step.method(step.context(k)).meta_loss for k in step.world.students(K))
        meta_loss = step.world.sum_gradients(step.params, loss) / K
        if K > 1:
            for p in step.params:
                if p.grad is not None:
                    p.grad /= K
        return meta_loss

    def monitor(self, teacher, val, seed: int, device) -> dict:
        return {}
