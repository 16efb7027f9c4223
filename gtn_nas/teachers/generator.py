"""Teachers: learnable sources of synthetic training batches.

A teacher produces, for each inner step t = 0..T-1, a batch of B images with fixed balanced labels
(label i mod 10 for row i), plus that step's SGD learning rate and momentum.

- `generator` (GTN): a conditional generator maps noise + one-hot label to a 1x28x28 image. With a
  learned curriculum (default) the noise of every step is itself a parameter, as in the GTN paper;
  without it, noise is drawn afresh each meta-step (and from a fixed seed at export).
- `pixels` (dataset distillation): the T*B images themselves are the parameters.

With `soft_labels`, every synthetic image also carries learned label logits (initialised near its
one-hot class), and students train on the softmax of those as cross-entropy targets: learned labels
carry more per image than a class index (Bohdal et al. 2020, "Flexible Dataset Distillation").

Images live in the students' input space (normalised MNIST units, where real data has mean 0 and
standard deviation 1). Every synthetic batch is standardised to that mean and deviation: without it
a teacher raises the students' effective learning rate by raising contrast (an easy direction for
methods that cannot learn the lr), and a bounded output (tanh) then saturates and stops learning.
Learning rates are softplus- and momenta sigmoid-parametrised so they stay valid when learned.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..core.errors import ConfigError

GENERATORS = ("convt", "upsample")
# The softplus parametrisation of the inner lr overflows (math.expm1) above ~709; no SGD recipe
# here comes near 100, so larger values are typos, refused before they crash the teacher's build.
MAX_INNER_LR = 100.0


@dataclass(frozen=True)
class TeacherConfig:
    # generator | pixels; a pixel set started from real images added at most 0.6 points over those
    # images untrained, and lost them with longer distillation (results/teachers/README.md)
    kind: str = "generator"
    inner_steps: int = 32
    batch_size: int = 128
    curriculum: bool = True
    noise_dim: int = 32
    hidden: int = 128
    # convt (transposed convolutions) | upsample (nearest upsampling + conv); None: the distillation
    # method's default (config.DEFAULT_GENERATOR), "convt" for a teacher built on its own.
    generator: str | None = None
    inner_lr: float = 0.05  # initial value; learned only by methods that can (bptt)
    inner_momentum: float = 0.5
    soft_labels: bool = False
    # "noise" or "real": a pixel teacher starts from real training images of each row's class (as
    # Zhao et al. initialise their synthetic sets); a generator is first fitted to reproduce such
    # images (`fit.fit_generator`, `fit_steps` Adam steps). The distiller holds the data and
    # does either. None: the distillation method's default (config.DEFAULT_INIT); "noise"
    # for a teacher built on its own.
    init: str | None = None
    fit_steps: int = 300

    def validate(self) -> TeacherConfig:
        if self.kind not in ("generator", "pixels"):
            raise ConfigError(f"[teacher] kind must be generator or pixels; got {self.kind!r}")
        if self.init not in (None, "noise", "real"):
            raise ConfigError(f"[teacher] init must be noise or real; got {self.init!r}")
        if self.init == "real" and self.kind == "generator" and not self.curriculum:
            # the fit needs a fixed latent code per image: fresh noise each meta-step has none
            raise ConfigError(
                '[teacher] init = "real" with a generator needs curriculum = true (a learned noise per image to fit)'
            )
        if self.fit_steps < 0:
            raise ConfigError(f"[teacher] fit_steps must be >= 0; got {self.fit_steps}")
        if self.generator is not None and self.generator not in GENERATORS:
            raise ConfigError(f"[teacher] generator must be one of {', '.join(GENERATORS)}; got {self.generator!r}")
        if self.noise_dim < 1 or self.hidden < 1:
            raise ConfigError("noise_dim and hidden must be >= 1")
        if self.inner_steps < 1 or self.batch_size < 10:
            raise ConfigError("--inner-steps must be >= 1 and --batch-size >= 10 (one example per class)")
        if not (math.isfinite(self.inner_lr) and 0 < self.inner_lr <= MAX_INNER_LR):
            raise ConfigError(
                f"[teacher] inner_lr must be a finite number in (0, {MAX_INNER_LR:g}]; got {self.inner_lr}"
            )
        if not 1e-4 <= self.inner_momentum <= 1 - 1e-4:
            # sigmoid-parametrised so that it stays valid when learned: 0 and 1 are out of reach
            raise ConfigError(f"[teacher] inner_momentum must be in [0.0001, 0.9999]; got {self.inner_momentum}")
        return self


class UpsampleConv(nn.Conv2d):
    """Nearest 2x upsampling followed by a 3x3 convolution (padding 1), computed at the input's
    resolution: each of the four output phases (row, column parity) is a 3x3 convolution of the
    small map with the taps that land on the same input pixel summed, and a pixel shuffle
    interleaves them. Same function and parameters as `nn.Upsample` + `nn.Conv2d`, without the
    4x-larger upsampled copy; with one output channel (the image) ~5x faster forward+backward on
    CPU, where a 1-channel convolution at full resolution is slow (benchmarks/meta_speed.py).
    """

    def __init__(self, cin: int, cout: int):
        super().__init__(cin, cout, 3, padding=1)
        # taps[p, q, i]: high-res tap i (offset i-1) of output parity p reads low-res offset q-1
        taps = torch.zeros(2, 3, 3)
        for p, reads in enumerate(((0, 1, 1), (1, 1, 2))):
            for i, q in enumerate(reads):
                taps[p, q, i] = 1.0
        self.register_buffer("taps", taps, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cout, cin = self.weight.shape[:2]
        w = torch.einsum("api,bqj,ckij->cabkpq", self.taps, self.taps, self.weight).reshape(cout * 4, cin, 3, 3)
        return F.pixel_shuffle(F.conv2d(x, w, self.bias.repeat_interleave(4), padding=1), 2)


class Generator(nn.Module):
    """Noise (nz) + one-hot label -> 1x28x28 image. Batch norm uses batch statistics only.

    Two decoders from the 32x7x7 feature map: `convt` (DCGAN-style stride-2 transposed
    convolutions, 32 -> 16 -> 1 channels) and `upsample` (nearest upsampling + 3x3 convolutions,
    32 -> 32 -> 1; the generator of gtn-nas 0.1). On CPU the `convt` decoder's forward+backward
    over 32 batches of 128 takes 0.26 s against 0.55 s for `upsample` (2 threads; 1.1 s before
    `UpsampleConv`). Which one wins
    depends on the method (results/teachers/ablation.md): `upsample` teaches bptt students far
    better per second despite its cost; gm prefers the cheap `convt` and its extra meta-steps.
    """

    def __init__(self, noise_dim: int, hidden: int, kind: str = "convt"):
        super().__init__()
        self.fc = nn.Sequential(
            nn.Linear(noise_dim + 10, hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, 32 * 7 * 7),
            nn.BatchNorm1d(32 * 7 * 7, track_running_stats=False),
            nn.LeakyReLU(0.2),
        )
        if kind == "convt":
            self.conv = nn.Sequential(
                nn.ConvTranspose2d(32, 16, 4, stride=2, padding=1),
                nn.BatchNorm2d(16, track_running_stats=False),
                nn.LeakyReLU(0.2),
                nn.ConvTranspose2d(16, 1, 4, stride=2, padding=1),
            )
        else:
            self.conv = nn.Sequential(
                # nn.Identity where gtn-nas 0.1 had nn.Upsample: the convolutions keep their indices,
                # so saved teachers' parameter names still match
                nn.Identity(),
                UpsampleConv(32, 32),
                nn.BatchNorm2d(32, track_running_stats=False),
                nn.LeakyReLU(0.2),
                nn.Identity(),
                UpsampleConv(32, 1),
            )

    def forward(self, noise: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        h = self.fc(torch.cat([noise, F.one_hot(labels, 10).to(noise.dtype)], dim=1))  # (B, 32*7*7)
        return self.conv(h.view(-1, 32, 7, 7))  # (B, 1, 28, 28), standardised by Teacher.batch


def _inv_softplus(x: float) -> float:
    return math.log(math.expm1(x))


def _logit(p: float) -> float:
    p = min(max(p, 1e-4), 1 - 1e-4)
    return math.log(p / (1 - p))


class Teacher(nn.Module):
    def __init__(self, cfg: TeacherConfig, seed: int = 0):
        super().__init__()
        self.cfg = cfg.validate()
        T, B = cfg.inner_steps, cfg.batch_size
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            if cfg.kind == "generator":
                self.generator = Generator(cfg.noise_dim, cfg.hidden, cfg.generator or "convt")
                if cfg.curriculum:
                    self.noise = nn.Parameter(torch.randn(T, B, cfg.noise_dim))
            else:
                self.pixels = nn.Parameter(torch.randn(T, B, 1, 28, 28))
        self.raw_lr = nn.Parameter(torch.full((T,), _inv_softplus(cfg.inner_lr)))
        self.raw_momentum = nn.Parameter(torch.full((T,), _logit(cfg.inner_momentum)))
        self.register_buffer("labels", torch.arange(B) % 10, persistent=False)
        # Part of the recipe, not learned: calibration may choose to clip the students' gradients
        # (`training.sgd_steps`); kept in the checkpoint's `calibration`, not in the state dict.
        self.max_grad_norm: float | None = None
        if cfg.soft_labels:
            # softmax of the initial logits puts 0.9 on the image's class: nearer one-hot, the softmax
            # saturates and Adam's meta-lr-sized steps would take hundreds of meta-steps to move it
            self.label_logits = nn.Parameter(
                F.one_hot(self.labels, 10).float().repeat(T, 1, 1) * math.log(0.9 * 9 / 0.1)
            )

    @property
    def needs_noise(self) -> bool:
        """True when batches are made from fresh noise that the caller must supply."""
        return self.cfg.kind == "generator" and not self.cfg.curriculum

    def sample_noise(self, gen: torch.Generator) -> torch.Tensor:
        """(T, B, nz) noise for a non-curriculum generator, drawn from `gen` (on CPU, for determinism)."""
        shape = (self.cfg.inner_steps, self.cfg.batch_size, self.cfg.noise_dim)
        return torch.randn(shape, generator=gen).to(self.raw_lr.device)

    def batch(self, t: int, noise: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Images (B, 1, 28, 28) and targets of inner step t, differentiable w.r.t. the teacher:
        class indices (B,), or with soft labels class probabilities (B, 10)."""
        if self.cfg.kind == "pixels":
            x = self.pixels[t]
        else:
            x = self.generator(self.noise[t] if self.cfg.curriculum else noise[t], self.labels)
        y = F.softmax(self.label_logits[t], dim=1) if self.cfg.soft_labels else self.labels
        return (x - x.mean()) / (x.std() + 1e-6), y

    @torch.no_grad()
    def set_pixels(self, images: torch.Tensor) -> None:
        """Start a pixel teacher from `images` (T*B, 1, 28, 28), row i of each batch of class i mod 10."""
        self.pixels.copy_(images.reshape(self.pixels.shape))

    def lr(self) -> torch.Tensor:
        """(T,) inner learning rates."""
        return F.softplus(self.raw_lr)

    def momentum(self) -> torch.Tensor:
        """(T,) inner momenta."""
        return torch.sigmoid(self.raw_momentum)

    def hyper_parameters(self) -> list[nn.Parameter]:
        return [self.raw_lr, self.raw_momentum]

    def data_parameters(self) -> list[nn.Parameter]:
        hyper = {id(p) for p in self.hyper_parameters()}
        return [p for p in self.parameters() if id(p) not in hyper]

    @torch.no_grad()
    def dataset(self, noise_seed: int = 0) -> dict[str, torch.Tensor]:
        """The whole synthetic dataset: images (T*B,1,28,28), labels (T*B,) or with soft labels
        (T*B, 10) probabilities, lr (T,), momentum (T,)."""
        noise = self.sample_noise(torch.Generator().manual_seed(noise_seed)) if self.needs_noise else None
        xs, ys = zip(*(self.batch(t, noise) for t in range(self.cfg.inner_steps)))
        return {
            "images": torch.cat(xs),
            "labels": torch.cat(ys),
            "lr": self.lr().clone(),
            "momentum": self.momentum().clone(),
        }
