"""Proxies: cheap scores that should rank architectures the way full training does.

Every training proxy builds the student from a fixed seed, takes `steps` plain SGD steps with the
export recipe (`training.sgd_steps`), and scores the student's accuracy on the real 10k validation
split. They differ only in the data they train on:

- `teacher`: the teacher's synthetic batches with its learned lr[t] and momentum[t] (and the
  gradient clip its calibration chose, if any). The data is generated once per run; step t uses
  batch t mod T, so `steps > T` makes further passes over it.
- `real`: random real training batches of the same batch size, with one learning rate tuned per run.
- `subset`: a fixed, class-balanced random real subset of the same size as the synthetic set
  (T x B images, row i of the whole set labelled i mod 10, so every batch of consecutive rows is
  balanced like the teacher's, whose labels restart at each batch), trained the same number of steps in
  batches (reshuffled each pass), with its own tuned learning rate.
- `params`: the parameter count; no training.
- `synflow`, `naswot`: zero-cost scores of the untrained network (`zero_cost.py`); naswot reads
  one batch of real training images (the pool below, drawn by seed).

All architectures of a run see the same batches and the same initialisation seed, so differences in
score come from the architectures, not from data order.

Learning-rate tuning (`real`, `subset`): each lr of a small grid trains `tune_archs` architectures
drawn by seed from the space (excluding the ones to be ranked when they are known), scored on a
2,000-image holdout of the *training* split that no proxy trains on, so the validation split that
proxies are ranked on never chooses the lr. The chosen lr and the tuning cost are recorded.
`max_grad_norm` clips the real/subset students' gradients (in tuning and scoring alike), so real
data can be given the same recipe a calibrated teacher uses.

Cost: `seconds` is the proxy's wall time for one architecture; `flops` counts it with
torch.utils.flop_counter:  flops = 3 F (steps B) + F N_val,  F = forward FLOPs of one image
(backward counted as twice the forward). One-off costs (teacher data generation, lr tuning, the
teacher's distillation time) are in `Proxy.setup`, reported beside the per-architecture costs.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from ..core.data import MNIST, Split
from ..core.errors import ConfigError
from ..core.flops import forward_flops
from ..core.spaces import Space, arch_id
from ..core.students import accuracy, build_student, count_params
from ..core.training import real_batches, train_student

PROXIES = ("teacher", "real", "subset", "params", "synflow", "naswot", "fused")
ZERO_COST = ("params", "synflow", "naswot")
TUNE_HOLDOUT = 2000  # training images held out for lr tuning (never trained on by real/subset)
HOLDOUT_SEED = 7


@dataclass(frozen=True)
class ProxySettings:
    """What a proxy run is; stored in the study so that resumed and extra workers must agree."""

    kind: str = "teacher"
    steps: int = 32
    batch_size: int | None = None  # None: the teacher's batch size, else 128
    momentum: float = 0.5  # real/subset (the teacher brings its own)
    lr: float | None = None  # real/subset: fixed lr; None tunes it on lr_grid
    lr_grid: tuple[float, ...] = (0.01, 0.03, 0.1, 0.3)
    tune_archs: int = 2
    seed: int = 0
    teacher: str | None = None  # checkpoint path
    val_examples: int | None = None  # score on this many validation images (a subset fixed by seed); None: all 10k
    seeds: int = 1  # mean score over this many student initialisations (seed, seed+1, ...) on the same data
    max_grad_norm: float | None = None  # real/subset: clip each step's gradient norm (the teacher brings its own)
    # real/subset: momenta and gradient clips (None: no clip) tuned with the lr on the holdout, for a
    # real-data baseline tuned on a grid like the teachers' calibration (lr x momentum x clip)
    momentum_grid: tuple[float, ...] | None = None
    clip_grid: tuple[float | None, ...] | None = None
    fused_model: str | None = None  # fused: the model (gtn-nas fuse); its parts run with these settings

    def validate(self) -> ProxySettings:
        if self.val_examples is not None and not 1 <= self.val_examples <= 10_000:
            raise ConfigError(f"--val-examples must be in [1, 10000]; got {self.val_examples}")
        if self.seeds < 1:
            raise ConfigError(f"--proxy-seeds must be >= 1; got {self.seeds}")
        if self.kind not in PROXIES:
            raise ConfigError(f"--proxy must be one of {', '.join(PROXIES)}; got {self.kind!r}")
        if self.kind == "teacher" and not self.teacher:
            raise ConfigError("--proxy teacher needs --teacher CHECKPOINT")
        if (self.kind == "fused") != bool(self.fused_model):
            raise ConfigError("--proxy fused and --fused-model MODEL.json go together")
        if self.steps < 1 or (self.batch_size is not None and self.batch_size < 1):
            raise ConfigError("--steps and --batch-size must be >= 1")
        if not 0 <= self.momentum < 1:
            raise ConfigError(f"--momentum must be in [0, 1); got {self.momentum}")
        # A NaN or non-positive lr trains nothing yet scores chance (0.1) or 0.0 without a word
        positive = lambda x: math.isfinite(x) and x > 0  # noqa: E731
        if self.lr is not None and not positive(self.lr):
            raise ConfigError(f"--lr must be a finite number > 0; got {self.lr}")
        if not self.lr_grid or not all(positive(x) for x in self.lr_grid):
            raise ConfigError(
                f"--lr-grid must list finite numbers > 0; got {','.join(map(str, self.lr_grid)) or 'none'}"
            )
        if self.max_grad_norm is not None and not positive(self.max_grad_norm):
            raise ConfigError(f"--max-grad-norm must be a finite number > 0; got {self.max_grad_norm}")
        if self.max_grad_norm is not None and self.kind not in ("real", "subset"):
            raise ConfigError(
                "--max-grad-norm applies to --proxy real or subset (a teacher brings its calibrated clip)"
            )
        self._validate_grids(positive)
        return self

    def _validate_grids(self, positive) -> None:
        grids = {"--momentum": self.momentum_grid, "--max-grad-norm": self.clip_grid}
        for flag, grid in grids.items():
            if grid is not None and self.kind not in ("real", "subset"):
                raise ConfigError(f"a {flag} grid applies to --proxy real or subset (a teacher brings its recipe)")
            if grid is not None and not grid:
                raise ConfigError(f"{flag} must list at least one value")
        if self.momentum_grid and not all(0 <= m < 1 for m in self.momentum_grid):
            raise ConfigError(f"--momentum must be in [0, 1); got {','.join(map(str, self.momentum_grid))}")
        if self.clip_grid and not all(c is None or positive(c) for c in self.clip_grid):
            raise ConfigError(
                f"--max-grad-norm must list finite numbers > 0 or none; got {','.join(map(str, self.clip_grid))}"
            )
        if self.clip_grid is not None and self.max_grad_norm is not None:
            raise ConfigError("give --max-grad-norm one clip or a grid of them, not both")

    def recipes(self) -> list[tuple[float, float, float | None]]:
        """The (lr, momentum, clip) settings tuning tries, in the order ties are broken (smaller lr,
        then the grids' order)."""
        lrs = (self.lr,) if self.lr is not None else tuple(sorted(self.lr_grid))
        momenta = self.momentum_grid or (self.momentum,)
        clips = self.clip_grid or (self.max_grad_norm,)
        return [(lr, m, c) for lr in lrs for m in momenta for c in clips]

    def key(self) -> dict:
        """The settings that define the proxy's scores, as given (`lr` None: tuned once per study)."""
        d = asdict(self)
        d["teacher"] = teacher_digest(self.teacher) if self.teacher else None
        d["fused_model"] = teacher_digest(self.fused_model) if self.fused_model else None
        d["lr_grid"] = list(self.lr_grid)
        for grid in ("momentum_grid", "clip_grid"):
            if d[grid] is None:
                del d[grid]
            else:
                d[grid] = list(d[grid])
        for name, default in (("val_examples", None), ("seeds", 1), ("max_grad_norm", None), ("fused_model", None)):
            if d[name] == default:  # studies made before these options existed keep their key
                del d[name]
        return d


def teacher_digest(path: str | Path) -> str:
    """A teacher's identity in a study: its checkpoint's bytes, not its path. A moved results folder
    still resumes its studies; a recalibrated or retrained teacher at the same path is a new proxy."""
    try:
        return "sha256:" + hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]
    except OSError:
        return str(Path(path).resolve())  # unreadable: loading the teacher reports it


def per_image_forward_flops(net: torch.nn.Module) -> float:
    """F: forward FLOPs per image. Counted on a batch of 2, since batch norm needs > 1 value per channel."""
    return forward_flops(net, batch=2) / 2


Batch = tuple[torch.Tensor, torch.Tensor, float, float]


def train_and_score(
    spec: dict, batches: list[Batch], val: Split, seed: int, device, max_grad_norm: float | None = None
) -> dict:
    """Train a fresh student on `batches` (export recipe, gradients clipped to `max_grad_norm`) and score it
    on `val`."""
    start = time.perf_counter()
    net = train_student(spec, seed, batches, device, max_grad_norm)
    score = accuracy(net, None, val.x, val.y)
    seconds = time.perf_counter() - start
    examples = sum(len(b[1]) for b in batches)
    f = per_image_forward_flops(net)
    return {
        "score": score,
        "seconds": seconds,
        "flops": int(3 * f * examples + f * len(val)),
        "params": count_params(net),
    }


@dataclass
class Proxy:
    """Scores one architecture at a time; `name` goes into outputs (e.g. `teacher:ift`)."""

    name: str
    settings: ProxySettings
    val: Split
    device: torch.device
    batches: list[Batch] = field(default_factory=list)
    setup: dict = field(default_factory=dict)  # one-off costs and choices (lr, seconds, flops, ...)
    max_grad_norm: float | None = None  # the recipe's gradient clip (None: none)
    scored: int = 0  # architectures scored by this process

    def score(self, spec: dict) -> dict:
        """The mean over `settings.seeds` student initialisations (same data); cost summed."""
        self.scored += 1
        runs = [self._score_once(spec, self.settings.seed + i) for i in range(self.settings.seeds)]
        return {
            "score": sum(r["score"] for r in runs) / len(runs),
            "seconds": sum(r["seconds"] for r in runs),
            "flops": sum(r["flops"] for r in runs),
            "params": runs[0]["params"],
        }

    def _score_once(self, spec: dict, seed: int) -> dict:
        if self.settings.kind in ZERO_COST:
            return self._zero_cost(spec, seed)
        return train_and_score(spec, self.batches, self.val, seed, self.device, self.max_grad_norm)

    def _zero_cost(self, spec: dict, seed: int) -> dict:
        from .zero_cost import naswot, synflow

        start = time.perf_counter()
        net = build_student(spec, seed, "cpu")
        n, f = count_params(net), per_image_forward_flops(net)
        if self.settings.kind == "params":
            score, flops = float(n), 0
        elif self.settings.kind == "synflow":
            score, flops = synflow(spec, seed), int(3 * f)  # one image, forward and backward
        else:
            x = self.batches[0][0]
            score, flops = naswot(spec, seed, x), int(f * len(x))
        return {"score": score, "seconds": time.perf_counter() - start, "flops": flops, "params": n}


# -- building proxies -------------------------------------------------------------------------


def teacher_name(ckpt: dict) -> str:
    """`teacher:<method>`, or `teacher:pixels-<method>` for a pixel-set teacher."""
    kind = ckpt["config"]["teacher"]["kind"]
    return f"teacher:{ckpt['method']}" if kind == "generator" else f"teacher:pixels-{ckpt['method']}"


def teacher_batches(teacher, steps: int, seed: int) -> tuple[list[Batch], dict]:
    """The teacher's data, generated once (its FLOPs counted): step t is batch t mod T."""
    start = time.perf_counter()
    with FlopCounterMode(display=False) as counter:
        d = teacher.dataset(noise_seed=seed)
    T, B = teacher.cfg.inner_steps, teacher.cfg.batch_size
    per_step = [
        (d["images"][t * B : (t + 1) * B], d["labels"][t * B : (t + 1) * B], float(d["lr"][t]), float(d["momentum"][t]))
        for t in range(T)
    ]
    cost = {"setup_seconds": time.perf_counter() - start, "setup_flops": int(counter.get_total_flops())}
    return [per_step[t % T] for t in range(steps)], cost


def split_pool(train: Split) -> tuple[Split, Split]:
    """(tuning holdout, training pool): a fixed permutation of the training split, cut once.

    The holdout is 2,000 images, or a quarter of a small (test-sized) training split.
    """
    g = torch.Generator().manual_seed(HOLDOUT_SEED)
    idx = torch.randperm(len(train), generator=g).to(train.y.device)
    n = min(TUNE_HOLDOUT, len(train) // 4)
    hold, pool = idx[:n], idx[n:]
    return Split(train.x[hold], train.y[hold]), Split(train.x[pool], train.y[pool])


def balanced_subset(pool: Split, n: int, batch_size: int, seed: int) -> Split:
    """n real images whose row i has label i mod 10, drawn by seed. (A teacher's labels restart at
    every batch — `distillation.real_pixels` follows that layout exactly; here consecutive batches
    are balanced within one image per class, which is what the proxy needs.)"""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 10
    rows = torch.empty(n, dtype=torch.long)
    for c in range(10):
        members = torch.nonzero(pool.y.cpu() == c).squeeze(1)
        want = int((labels == c).sum())
        if want > len(members):
            raise ConfigError(f"subset proxy: {n} images need {want} of class {c}, the pool has {len(members)}")
        rows[labels == c] = members[torch.randperm(len(members), generator=g)[:want]]
    rows = rows.to(pool.y.device)
    return Split(pool.x[rows], pool.y[rows])


def subset_batches(subset: Split, steps: int, batch_size: int, lr: float, momentum: float, seed: int) -> list[Batch]:
    """`steps` batches over a fixed subset: the first pass in the teacher's layout, later passes reshuffled."""
    g = torch.Generator().manual_seed(seed + 1)
    per_pass = max(len(subset) // batch_size, 1)
    out, order = [], torch.arange(len(subset))
    for t in range(steps):
        if t and t % per_pass == 0:
            order = torch.randperm(len(subset), generator=g)
        rows = order[(t % per_pass) * batch_size : (t % per_pass + 1) * batch_size].to(subset.y.device)
        out.append((subset.x[rows], subset.y[rows], lr, momentum))
    return out


def tune_recipe(make_batches, specs: list[dict], holdout: Split, settings: ProxySettings, device) -> dict:
    """argmax over `settings.recipes()` of the mean holdout accuracy of `specs`; ties go to the
    earlier setting (the smaller lr). Only the lr varies unless momentum or clip grids are given;
    then the table's keys name all three."""
    start, flops, table = time.perf_counter(), 0, {}
    for lr, momentum, clip in settings.recipes():
        batches = make_batches(lr, momentum)
        results = [train_and_score(s, batches, holdout, settings.seed, device, clip) for s in specs]
        accs = [r["score"] for r in results]
        table[(lr, momentum, clip)] = sum(accs) / len(accs) if all(map(math.isfinite, accs)) else -1.0
        flops += sum(r["flops"] for r in results)
    best = max(table, key=table.get)  # max keeps the first of equal scores
    grids = settings.momentum_grid is not None or settings.clip_grid is not None
    name = (lambda k: f"lr={k[0]},momentum={k[1]},clip={k[2]}") if grids else (lambda k: str(k[0]))
    return {
        "lr": best[0],
        "momentum": best[1],
        "max_grad_norm": best[2],
        "lr_table": {name(k): round(v, 4) for k, v in table.items()},
        "tune_archs": [arch_id(s) for s in specs],
        "setup_seconds": time.perf_counter() - start,
        "setup_flops": flops,
    }


def tuning_archs(space: Space | None, exclude: set[str], n: int, seed: int) -> list[dict]:
    """n architectures for lr tuning: drawn by seed, preferring ones not being ranked."""
    if space is None:
        raise ConfigError("lr tuning needs a search space (--space) to draw tuning architectures from; or pass --lr")
    others = [a for a in space.archs if arch_id(a) not in exclude] or list(space.archs)
    return Space(space.name, space.source, tuple(others)).sample(n, seed=seed + 4242)


def make_proxy(
    settings: ProxySettings,
    data: MNIST,
    device: torch.device,
    space: Space | None = None,
    exclude: set[str] = frozenset(),
    teacher=None,
) -> Proxy:
    """Build a proxy; `teacher` is (Teacher, checkpoint dict) as returned by distillation.load_teacher."""
    s = settings.validate()
    if s.val_examples is not None:  # a cheaper score: the same images for every architecture
        data = MNIST(data.train, data.val.subset(s.val_examples, seed=s.seed), data.test)
    if s.kind in ("params", "synflow"):
        return Proxy(s.kind, s, data.val, device, setup={"setup_seconds": 0.0, "setup_flops": 0})
    if s.kind == "naswot":  # one real batch (Mellor et al. use 128 images) from the training pool
        _, pool = split_pool(data.train)
        batch = next(real_batches(pool, 1, s.batch_size or 128, 0.0, 0.0, s.seed))
        return Proxy(
            "naswot",
            s,
            data.val,
            device,
            [batch],
            {"setup_seconds": 0.0, "setup_flops": 0, "batch_size": len(batch[1])},
        )
    if s.kind == "teacher":
        t, ckpt = teacher
        if s.batch_size not in (None, t.cfg.batch_size):
            raise ConfigError(
                f"--batch-size {s.batch_size}: a teacher proxy trains on the teacher's batches of {t.cfg.batch_size}"
            )
        batches, cost = teacher_batches(t, s.steps, s.seed)
        setup = {
            **cost,
            "distill_seconds": float(ckpt.get("elapsed", float("nan"))),
            "batch_size": t.cfg.batch_size,
            "teacher_steps": t.cfg.inner_steps,
            "lr": sum(b[2] for b in batches) / len(batches),
            "max_grad_norm": t.max_grad_norm,
        }
        return Proxy(teacher_name(ckpt), s, data.val, device, batches, setup, max_grad_norm=t.max_grad_norm)
    B = s.batch_size or (teacher[0].cfg.batch_size if teacher else 128)
    holdout, pool = split_pool(data.train)
    if s.kind == "real":
        make = lambda lr, m: list(real_batches(pool, s.steps, B, lr, m, s.seed))
    else:
        # The synthetic set's size: the teacher's T x B when there is one, else steps x B.
        n = (teacher[0].cfg.inner_steps if teacher else s.steps) * B
        subset = balanced_subset(pool, n, B, s.seed)
        make = lambda lr, m: subset_batches(subset, s.steps, B, lr, m, s.seed)
    if s.lr is not None and len(s.recipes()) == 1:
        setup = {"lr": s.lr, "momentum": s.momentum, "max_grad_norm": s.max_grad_norm}
        setup.update(setup_seconds=0.0, setup_flops=0)
    else:
        setup = tune_recipe(make, tuning_archs(space, set(exclude), s.tune_archs, s.seed), holdout, s, device)
    setup["batch_size"] = B
    clip = setup.pop("max_grad_norm")
    if clip is not None:
        setup["max_grad_norm"] = clip
    return Proxy(s.kind, s, data.val, device, make(setup["lr"], setup["momentum"]), setup, max_grad_norm=clip)
