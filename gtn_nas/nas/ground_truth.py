"""Ground truth: full training of architectures on real MNIST, shared through an Optuna storage.

Each architecture is trained from scratch with `FullTraining` for every seed on the 50k training
split (or its first `train_examples`), and scored on the 10k validation split; test accuracy is
recorded separately for final reporting. Results live in the Optuna study (the source of truth,
so several workers and resumed runs agree) and are written to a CSV after every architecture.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..core.atomic import write_csv
from ..core.data import MNIST, N_VAL
from ..core.errors import ConfigError
from ..core.flops import training_flops
from ..core.spaces import spec_from_json
from ..core.students import accuracy, build_student, count_params
from ..core.training import FullTraining, train_full
from .workqueue import WorkQueue

TRAIN_SPLIT = 60_000 - N_VAL  # examples in data.load_mnist's training split (the rest is validation)

COLUMNS = [
    "arch_id",
    "spec",
    "family",
    "params",
    "val_acc",
    "val_acc_sd",
    "test_acc",
    "test_acc_sd",
    "seconds",
    "train_flops",
    "epochs",
    "n_seeds",
    "val_accs",
]


@dataclass(frozen=True)
class GroundTruthConfig:
    training: FullTraining = FullTraining()
    seeds: tuple[int, ...] = (0, 1)
    train_examples: int | None = None  # None: the whole 50k split

    def __post_init__(self):
        if not self.seeds:  # no seed trained nothing and failed inside evaluate_arch
            raise ConfigError("ground truth needs at least one seed (--seeds >= 1)")
        # A subset larger than the split silently trained on all of it under a name that says otherwise
        n = self.train_examples
        if n is not None and not 1 <= n <= TRAIN_SPLIT:
            raise ConfigError(f"--train-examples must be in [1, {TRAIN_SPLIT}] (the training split); got {n}")

    def study_name(self, source: str) -> str:
        """The study of this setting over `source` (the API passes a digest of the architectures)."""
        n = self.train_examples or "all"
        sched = (
            "" if self.training.schedule == "constant" else f"-{self.training.schedule}"
        )  # older studies keep their names
        return f"ground-truth-{source}-e{self.training.epochs}{sched}-s{len(self.seeds)}-n{n}"


def evaluate_arch(spec: dict, data: MNIST, cfg: GroundTruthConfig, device) -> dict:
    """Train `spec` once per seed; mean and spread of validation and test accuracy."""
    train = data.train if cfg.train_examples is None else data.train.subset(cfg.train_examples, seed=0)
    vals, tests, start = [], [], time.perf_counter()
    for seed in cfg.seeds:
        net = build_student(spec, seed, device)
        train_full(net, train, cfg.training, seed=seed)
        net.eval()
        vals.append(accuracy(net, None, data.val.x, data.val.y))
        tests.append(accuracy(net, None, data.test.x, data.test.y))
    sd = lambda xs: statistics.stdev(xs) if len(xs) > 1 else 0.0
    return {
        "params": count_params(net),
        "val_acc": statistics.fmean(vals),
        "val_acc_sd": sd(vals),
        "test_acc": statistics.fmean(tests),
        "test_acc_sd": sd(tests),
        "seconds": time.perf_counter() - start,
        "train_flops": training_flops(net, len(train) * cfg.training.epochs * len(cfg.seeds)),
        "epochs": cfg.training.epochs,
        "n_seeds": len(cfg.seeds),
        "val_accs": json.dumps(vals),
    }


def ground_truth_frame(queue: WorkQueue) -> pd.DataFrame:
    rows = []
    for t in queue.completed():
        spec = spec_from_json(t.user_attrs["spec"])
        rows.append(
            {
                "arch_id": t.user_attrs["arch_id"],
                "spec": t.user_attrs["spec"],
                "family": spec["family"],
                **{k: t.user_attrs[k] for k in COLUMNS[3:]},
            }
        )
    return pd.DataFrame(rows, columns=COLUMNS)


def run_ground_truth(
    queue: WorkQueue,
    data: MNIST,
    cfg: GroundTruthConfig,
    out: Path,
    device,
    max_archs: int | None = None,
    progress=None,
) -> pd.DataFrame:
    """Work through the queue until it is empty (or `max_archs` are done by this worker)."""
    if cfg.train_examples is not None and cfg.train_examples > len(data.train):  # `data` may be a cut-down MNIST
        raise ConfigError(
            f"--train-examples {cfg.train_examples} exceeds the {len(data.train)} training examples loaded"
        )

    def score(spec):
        result = evaluate_arch(spec, data, cfg, device)
        return result["val_acc"], result

    def done(aid, result):
        write_csv(ground_truth_frame(queue), out)
        if progress is not None:
            progress(aid, result)

    queue.run(score, max_archs, done)
    frame = ground_truth_frame(queue)
    write_csv(frame, out)
    return frame
