"""The rank-aware meta-objective: teach students so that their order matches full training's.

Each meta-step of `--objective rank` trains K students of distinct architectures from a *ranking
pool* (architectures whose full-training accuracy a_k is known) on the teacher's data, takes each
one's real-data loss L_k, and minimises a differentiable ranking loss ℓ_rank(L, a), which is low
when the students that train best on the teacher's data (low L) are the ones full training ranks
highest. By the chain rule the meta-gradient is

    dℓ/dλ = Σ_k c_k · dL_k/dλ,   c_k = ∂ℓ/∂L_k,

so each method supplies its own per-student dL_k/dλ (`methods.base.Pending`), weighted by c_k.
With `rank_weight` β the objective is mean_k L_k + β·ℓ_rank (accuracy and rank together).

Loss forms (scores s_k = −L_k; both are invariant to adding a constant to every L_k):

- `pairwise`: over every pair with a_i > a_j, weighted by the ground-truth gap a_i − a_j,
  softplus((L_i − L_j)/τ), with τ the (detached) standard deviation of the L_k: a logistic
  ranking loss that does not care about the scale of the losses either.
- `zscore`: the mean squared difference of the z-scored −L and the z-scored a (Synthetic Petri
  Dish, Rawal et al. 2020), = 2·(1 − Pearson(−L, a)).
"""

from __future__ import annotations

import csv
import hashlib
import json
import random
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from ...core.errors import ConfigError, GtnNasError
from ...core.spaces import arch_id, validate_spec
from ..quality import evaluate_teacher
from .base import MetaStep, composed_gradient

LOSS_FORMS = ("pairwise", "zscore")
POOL_COLUMNS = ("arch_id", "spec", "val_acc")
# One architecture in five (by a hash of its id, so the split does not depend on the file's
# order or size) is kept for model selection (rank-val); the rest give meta-gradients (rank-train).
VAL_SHARE = 5


def rank_loss(losses: torch.Tensor, accs: torch.Tensor, form: str = "pairwise") -> torch.Tensor:
    """ℓ_rank between students' real-data losses (K,) and their ground-truth accuracies (K,)."""
    if form == "zscore":
        s, a = -losses, accs.to(losses)
        zs = (s - s.mean()) / (s.std(unbiased=False) + 1e-8)
        za = (a - a.mean()) / (a.std(unbiased=False) + 1e-8)
        return ((zs - za) ** 2).mean()
    if form == "pairwise":
        tau = losses.detach().std(unbiased=False) + 1e-8
        gap = accs.to(losses)[:, None] - accs.to(losses)[None, :]  # (K, K): a_i − a_j
        weight = gap.clamp(min=0)  # the pairs where i should come first
        margin = (losses[:, None] - losses[None, :]) / tau  # > 0 where i's loss is higher (wrong order)
        return (weight * F.softplus(margin)).sum() / weight.sum().clamp(min=1e-12)
    raise ConfigError(f"--rank-loss must be one of {', '.join(LOSS_FORMS)}; got {form!r}")


def objective_weights(
    losses: list[float], accs: list[float], form: str, rank_weight: float | None
) -> tuple[float, list[float]]:
    """The objective's value and c_k = ∂objective/∂L_k for each student.

    rank_weight None: ℓ_rank alone; β: mean L + β·ℓ_rank."""
    L = torch.tensor(losses, dtype=torch.float64, requires_grad=True)
    a = torch.tensor(accs, dtype=torch.float64)
    value = rank_loss(L, a, form)
    if rank_weight is not None:
        value = L.mean() + rank_weight * value
    (grad,) = torch.autograd.grad(value, L)
    return float(value.detach()), grad.tolist()


@dataclass(frozen=True)
class RankPool:
    """Architectures with known full-training accuracy, split into rank-train and rank-val."""

    train: tuple[tuple[dict, float], ...]  # (spec, val_acc)
    val: tuple[tuple[dict, float], ...]

    @staticmethod
    def load(path: str | Path) -> RankPool:
        rows = _read_pool(Path(path))
        train = tuple((s, a) for s, a in rows if not _is_val(arch_id(s)))
        val = tuple((s, a) for s, a in rows if _is_val(arch_id(s)))
        if len(train) < 2 or len(val) < 2:
            raise ConfigError(
                f"{path}: a ranking pool needs at least 2 rank-train and 2 rank-val architectures; "
                f"it has {len(train)} and {len(val)} (of {len(rows)})"
            )
        return RankPool(train, val)

    def ids(self) -> set[str]:
        return {arch_id(s) for s, _ in self.train + self.val}


def _is_val(aid: str) -> bool:
    return int(hashlib.sha1(aid.encode()).hexdigest(), 16) % VAL_SHARE == 0


def _read_pool(path: Path) -> list[tuple[dict, float]]:
    """(spec, val_acc) per row of a ground-truth CSV (`gtn-nas ground-truth` writes one)."""
    if not path.is_file():
        raise ConfigError(f"--rank-pool {path}: no such file")
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in POOL_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ConfigError(
                f"--rank-pool {path}: missing column(s) {', '.join(missing)} (a `gtn-nas ground-truth` CSV has them)"
            )
        rows = []
        for i, row in enumerate(reader, start=2):
            try:
                spec = validate_spec(json.loads(row["spec"]), f"{path}:{i}")
                acc = float(row["val_acc"])
            except (ValueError, GtnNasError) as exc:
                raise ConfigError(f"--rank-pool {path}: line {i}: {str(exc).splitlines()[0][:160]}") from None
            if not 0.0 <= acc <= 1.0:
                raise ConfigError(f"--rank-pool {path}: line {i}: val_acc must be in [0, 1]; got {acc}")
            rows.append((spec, acc))
    return rows


class Rank:
    """`--objective rank`: K distinct rank-train architectures per meta-step, the ranking loss (or
    mean L + β·ranking loss) between their real-data losses and their ground truth, by the chain
    rule through each student's `Pending` meta-gradient."""

    name = "rank"

    def __init__(self, pool: RankPool, form: str = "pairwise", weight: float | None = None):
        self.pool, self.form, self.weight = pool, form, weight

    def meta_gradient(self, step: MetaStep) -> float:
        chosen = random.Random(step.seed).sample(self.pool.train, step.students)
        pending = {k: step.method.forward(step.context(k, chosen[k][0])) for k in step.world.students(step.students)}
        accs = [a for _, a in chosen]
        return composed_gradient(step, pending, lambda L: objective_weights(L, accs, self.form, self.weight))

    def monitor(self, teacher, val, seed: int, device) -> dict:
        """Spearman ρ between rank-val ground truth and validation accuracy after training on the
        teacher's data (the student recipe of evaluate_teacher): model selection, never a meta-gradient."""
        from scipy.stats import spearmanr

        accs = [evaluate_teacher(teacher, [spec], val, seed, device) for spec, _ in self.pool.val]
        return {"rank_val_rho": float(spearmanr(accs, [a for _, a in self.pool.val]).statistic)}
