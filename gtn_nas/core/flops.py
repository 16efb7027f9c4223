"""FLOP counts (wall time is noisy on shared machines; FLOPs are not)."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def forward_flops(net: nn.Module, batch: int = 1) -> int:
    """FLOPs of one forward pass of `batch` MNIST images (counted by torch.utils.flop_counter)."""
    # Counted on 2 images and halved: batch norm refuses a batch of one.
    x = torch.zeros(2, 1, 28, 28, device=next(net.parameters()).device)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        net(x)
    return int(counter.get_total_flops()) * batch // 2


def training_flops(net: nn.Module, examples: int) -> int:
    """Forward + backward FLOPs to train on `examples` images (backward counted as 2x forward)."""
    return 3 * forward_flops(net) * examples
