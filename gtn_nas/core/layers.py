"""Weight-normalised layers and mean-only batch norm: the GTN paper's learner layers.

Such et al. (2020) meta-train through learners whose every convolution and linear layer is
weight-normalised (Salimans & Kingma 2016, w = g · v / ‖v‖ per output unit) and followed by a
batch norm that only subtracts the batch mean and adds a learned bias (no division by the
deviation, no scale). They report that weight normalisation made meta-training markedly more
stable: the output scale of a layer is one parameter per unit (g), not the norm of a weight row
that each inner SGD step moves, so the learner's effective step size barely depends on the data.

Both layers are plain modules of parameters, so `torch.func.functional_call` runs them with any
parameter dict (students are stepped functionally). Mean-only batch norm, like every norm here,
uses the statistics of the batch it is given and keeps no running state (`students.py`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _row_norms(v: torch.Tensor) -> torch.Tensor:
    """‖v_i‖ of each output unit i (dimension 0), shaped to broadcast against v."""
    return v.flatten(1).norm(dim=1).view(-1, *([1] * (v.dim() - 1)))


def _init_weight_norm(layer: nn.Module) -> None:
    # Kaiming-normal directions as in the paper's code; g = ‖v‖ so the layer starts as the plain one.
    nn.init.kaiming_normal_(layer.weight)
    layer.weight_g = nn.Parameter(_row_norms(layer.weight.detach()).flatten().clone())


def _normalised(weight: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    return weight * (g.view(-1, *([1] * (weight.dim() - 1))) / _row_norms(weight))


class WeightNormLinear(nn.Linear):
    """Linear layer with weight `g · v / ‖v‖` (v = `weight`, g = `weight_g`, one per output)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        super().__init__(in_features, out_features, bias=bias)
        _init_weight_norm(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, _normalised(self.weight, self.weight_g), self.bias)


class WeightNormConv2d(nn.Conv2d):
    """2-d convolution with weight `g · v / ‖v‖` per output channel (v = `weight`, g = `weight_g`)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, padding: int = 0, bias: bool = True):
        super().__init__(in_channels, out_channels, kernel_size, padding=padding, bias=bias)
        _init_weight_norm(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, _normalised(self.weight, self.weight_g), self.bias)


class MeanOnlyBatchNorm(nn.Module):
    """x − batch mean + bias, per feature (dimension 1): mean-only batch norm (Salimans & Kingma),
    the companion of weight normalisation. Statistics over the batch (and the spatial dimensions
    of 4-d inputs), in training and evaluation alike: no running state."""

    def __init__(self, features: int):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dims = [0] + list(range(2, x.dim()))
        shape = [1, -1] + [1] * (x.dim() - 2)
        return x - x.mean(dim=dims, keepdim=True) + self.bias.view(shape)
