"""Differentiable siamese augmentation (DSA; Zhao & Bilen 2021, arXiv 2102.08259).

Gradient matching compares a class's gradients on synthetic and on real images. DSA transforms both
batches by the *same* randomly drawn transformation before the gradients are taken, so the teacher
learns images whose gradients match under the changes a network should not care about (a shift, a
small rotation), rather than images that match only one network's view of the exact pixels. That
is what is meant to carry a teacher to architectures it never saw.

As in DSA's default mode, one family of transformations is drawn per call and its parameters per
group (here a class): every image of a group, synthetic or real, gets the same transformation.
MNIST drops DSA's flips (digits are not mirror-symmetric) and saturation (grey images). Every
transformation is differentiable in the images and works in the students' normalised pixel space;
what a transformation uncovers is filled with the background (a 0 pixel), not with 0 = the mean.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .data import MEAN, STD

# DSA's ranges: brightness +-0.5 and contrast x[0.5, 1.5] (normalised units), shifts up to 1/8 of
# the side, a cutout of half the side, scale in [1/1.2, 1.2] per axis, rotation +-15 degrees.
BRIGHTNESS, CONTRAST, SHIFT, CUTOUT, SCALE, DEGREES = 1.0, 1.0, 0.125, 0.5, 1.2, 15.0
N_VALUES = {"color": 2, "crop": 2, "cutout": 2, "scale": 2, "rotate": 1}  # uniform values per group
FAMILIES = tuple(N_VALUES)
BACKGROUND = -MEAN / STD  # a black pixel, normalised


@dataclass(frozen=True)
class Draw:
    """One drawn transformation: its family and, per group, uniform [0, 1) values that set it."""

    family: str
    values: torch.Tensor  # (groups, N_VALUES[family])

    def __getitem__(self, groups) -> Draw:
        return Draw(self.family, self.values[groups])


def draw(groups: int, gen: torch.Generator) -> Draw:
    family = FAMILIES[int(torch.randint(len(FAMILIES), (1,), generator=gen))]
    return Draw(family, torch.rand(groups, N_VALUES[family], generator=gen))


def apply(x: torch.Tensor, d: Draw) -> torch.Tensor:
    """x: (groups, n, C, H, W), group g transformed by d's values[g]; the same shape back."""
    u = d.values.to(x.device, x.dtype)
    if d.family == "color":
        mean = x.mean(dim=(2, 3, 4), keepdim=True)  # per image, as DSA's contrast
        b, c = ((u[:, 0] - 0.5) * BRIGHTNESS).view(-1, 1, 1, 1, 1), (u[:, 1] * CONTRAST + 0.5).view(-1, 1, 1, 1, 1)
        return (x - mean) * c + mean + b  # brightness, then contrast about the brightened mean
    if d.family == "cutout":
        return _cutout(x, u)
    return _warp(x, _theta(d.family, u))


def _theta(family: str, u: torch.Tensor) -> torch.Tensor:
    """(groups, 2, 3) affine maps from output to input coordinates ([-1, 1] on each axis)."""
    theta = torch.zeros(len(u), 2, 3, dtype=u.dtype, device=u.device)
    if family == "crop":
        theta[:, 0, 0] = theta[:, 1, 1] = 1
        theta[:, :, 2] = (u * 2 - 1) * SHIFT * 2  # a fraction f of the side is 2f in these coordinates
    elif family == "scale":
        s = u * (SCALE - 1 / SCALE) + 1 / SCALE
        theta[:, 0, 0], theta[:, 1, 1] = s[:, 0], s[:, 1]
    else:  # rotate
        a = (u[:, 0] - 0.5) * 2 * math.radians(DEGREES)
        theta[:, 0, 0], theta[:, 0, 1], theta[:, 1, 0], theta[:, 1, 1] = a.cos(), -a.sin(), a.sin(), a.cos()
    return theta


def _warp(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    G, n = x.shape[:2]
    flat = x.reshape(G * n, *x.shape[2:]) - BACKGROUND  # zero padding then means background
    grid = F.affine_grid(theta.repeat_interleave(n, 0), list(flat.shape), align_corners=False)
    return (F.grid_sample(flat, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + BACKGROUND).view_as(
        x
    )


def _cutout(x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    H, W = x.shape[-2:]
    h, w = int(H * CUTOUT), int(W * CUTOUT)
    cy, cx = (u[:, 0] * H).long(), (u[:, 1] * W).long()  # the square's centre; it may hang over an edge
    inside_r, inside_c = _span(H, cy, h), _span(W, cx, w)  # (G, H), (G, W)
    hole = (inside_r[:, :, None] & inside_c[:, None, :]).view(len(u), 1, 1, H, W)
    return torch.where(hole, torch.full_like(x, BACKGROUND), x)


def _span(n: int, centre: torch.Tensor, size: int) -> torch.Tensor:
    """(groups, n): whether each of n positions lies in the size-long span around each centre."""
    i = torch.arange(n, device=centre.device)[None]
    start = (centre - size // 2)[:, None]
    return (i >= start) & (i < start + size)
