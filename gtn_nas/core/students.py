"""Students: build an `nn.Module` from an architecture spec, and run it functionally.

Normalisation: batch norm never keeps running statistics (`track_running_stats=False`), so a
student always normalises with the statistics of the batch it is given. This is deliberate:
inner training is functional and short (32 steps), running statistics would leak state across
inner steps and be barely warmed up at evaluation. Students are therefore evaluated on batches
of real data (1,000 images), whose statistics they use, as in dataset condensation.
Instance norm is GroupNorm(width, width), layer norm GroupNorm(1, width) for ConvNets. `weight`
is the GTN paper's normalisation (`layers.py`): every convolution and linear layer, the output
layer included, weight-normalised, each hidden layer followed by mean-only batch norm.

The `gtn` family is the GTN paper's MNIST learner (`base_fc` of uber-research/GTN's `models.py`):
two 3x3 convolutions (`conv1`, `conv2` channels), each followed by max-pool 3/2, mean-only batch
norm and LeakyReLU(0.1), then a hidden layer of `fc` units (mean-only BN, LeakyReLU(0.1)) and the
10-way output, all weight-normalised with Kaiming-normal directions.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call

from .layers import MeanOnlyBatchNorm, WeightNormConv2d, WeightNormLinear
from .spaces import validate_spec

ACT = {
    "relu": nn.ReLU,
    "leaky_relu": lambda: nn.LeakyReLU(0.1),
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "silu": nn.SiLU,
}


def _conv_norm(kind: str, width: int) -> nn.Module:
    return {
        "none": nn.Identity,
        "batch": lambda: nn.BatchNorm2d(width, track_running_stats=False),
        "instance": lambda: nn.GroupNorm(width, width),
        "layer": lambda: nn.GroupNorm(1, width),
        "weight": lambda: MeanOnlyBatchNorm(width),
    }[kind]()


def _mlp_norm(kind: str, width: int) -> nn.Module:
    return {
        "none": nn.Identity,
        "batch": lambda: nn.BatchNorm1d(width, track_running_stats=False),
        "layer": lambda: nn.LayerNorm(width),
        "weight": lambda: MeanOnlyBatchNorm(width),
    }[kind]()


def _linear(norm: str, cin: int, cout: int, hidden: bool) -> nn.Module:
    """A linear layer; weight-normalised under norm "weight", where a hidden layer's bias is left to
    the mean-only batch norm after it (a bias before a mean subtraction has no effect)."""
    if norm == "weight":
        return WeightNormLinear(cin, cout, bias=not hidden)
    return nn.Linear(cin, cout)


def _conv(norm: str, cin: int, cout: int) -> nn.Module:
    if norm == "weight":
        return WeightNormConv2d(cin, cout, 3, padding=1, bias=False)
    return nn.Conv2d(cin, cout, 3, padding=1)


def _convnet(spec: dict) -> nn.Sequential:
    layers: list[nn.Module] = []
    channels, size = 1, 28
    for _ in range(spec["depth"]):
        layers += [
            _conv(spec["norm"], channels, spec["width"]),
            _conv_norm(spec["norm"], spec["width"]),
            ACT[spec["activation"]](),
        ]
        if spec["pooling"] != "none":
            layers.append(nn.MaxPool2d(2) if spec["pooling"] == "max" else nn.AvgPool2d(2))
            size //= 2
        channels = spec["width"]
    return nn.Sequential(*layers, nn.Flatten(), _linear(spec["norm"], channels * size * size, 10, hidden=False))


def _mlp(spec: dict) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Flatten()]
    features = 28 * 28
    for _ in range(spec["depth"]):
        layers += [
            _linear(spec["norm"], features, spec["width"], hidden=True),
            _mlp_norm(spec["norm"], spec["width"]),
            ACT[spec["activation"]](),
        ]
        features = spec["width"]
    return nn.Sequential(*layers, _linear(spec["norm"], features, 10, hidden=False))


def _gtn(spec: dict) -> nn.Sequential:
    layers: list[nn.Module] = []
    channels = 1
    for width in (spec["conv1"], spec["conv2"]):  # 28 -> 14 -> 7
        layers += [
            WeightNormConv2d(channels, width, 3, padding=1, bias=False),
            nn.MaxPool2d(3, 2, padding=1),
            MeanOnlyBatchNorm(width),
            nn.LeakyReLU(0.1),
        ]
        channels = width
    return nn.Sequential(
        *layers,
        nn.Flatten(),
        WeightNormLinear(channels * 7 * 7, spec["fc"], bias=False),
        MeanOnlyBatchNorm(spec["fc"]),
        nn.LeakyReLU(0.1),
        WeightNormLinear(spec["fc"], 10),
    )


BUILDERS = {"conv": _convnet, "mlp": _mlp, "gtn": _gtn}


def build_student(spec: dict, seed: int, device: torch.device | str = "cpu") -> nn.Module:
    """The network a spec describes, initialised deterministically from `seed`.

    PyTorch initialises layers from the global RNG; we fork it so that building a student never
    changes the caller's random state.
    """
    spec = validate_spec(spec)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = BUILDERS[spec["family"]](spec)
    return net.to(device)


def count_params(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


class Functional:
    """A module seen as a pure function of a dict of parameters: `f(params, x) -> logits`."""

    def __init__(self, net: nn.Module):
        self.net = net

    def init_params(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in self.net.named_parameters()}

    def __call__(self, params: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        return functional_call(self.net, params, (x,))


@torch.no_grad()
def correct(
    f, params: dict[str, torch.Tensor] | None, x: torch.Tensor, y: torch.Tensor, batch: int = 1000
) -> torch.Tensor:
    """Per example, whether `f(params, x)` (or an nn.Module `f` when params is None) classifies it
    right; in batches of real data."""
    hits = []
    for i in range(0, len(y), batch):
        xb = x[i : i + batch]
        logits = f(xb) if params is None else f(params, xb)
        hits.append(logits.argmax(1) == y[i : i + batch])
    return torch.cat(hits) if hits else torch.zeros(0, dtype=torch.bool)


def accuracy(f, params: dict[str, torch.Tensor] | None, x: torch.Tensor, y: torch.Tensor, batch: int = 1000) -> float:
    """Accuracy of `f(params, x)` (or of an nn.Module `f` when params is None)."""
    return correct(f, params, x, y, batch).sum().item() / max(len(y), 1)
