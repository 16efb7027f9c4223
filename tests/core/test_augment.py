"""Differentiable siamese augmentation: each family is the transformation it claims, keeps the
background, and passes gradients to the images exactly."""

import pytest
import torch

from gtn_nas.core import augment as dsa

DT = torch.float64


def images(groups=2, n=3, seed=0):
    return torch.randn(groups, n, 1, 28, 28, generator=torch.Generator().manual_seed(seed), dtype=DT)


def draw(family, values):
    return dsa.Draw(family, torch.tensor(values, dtype=DT))


@pytest.mark.parametrize("family", dsa.FAMILIES)
def test_every_family_is_differentiable_in_the_images(family):
    d = draw(family, torch.rand(1, dsa.N_VALUES[family], generator=torch.Generator().manual_seed(1), dtype=DT).tolist())
    x = images(1, 2).requires_grad_()
    assert torch.autograd.gradcheck(lambda t: dsa.apply(t, d), (x,), eps=1e-6, atol=1e-6)


def test_a_crop_of_whole_pixels_is_a_shift_that_uncovers_background():
    x = images(1, 2)
    u = 0.5 + (2 / 28) / (2 * dsa.SHIFT)  # a shift of 2 pixels along x; none along y
    y = dsa.apply(x, draw("crop", [[u, 0.5]]))
    torch.testing.assert_close(y[..., :26], x[..., 2:])
    torch.testing.assert_close(y[..., 26:], torch.full_like(y[..., 26:], dsa.BACKGROUND))


def test_middle_values_are_the_identity_for_geometric_families():
    x = images()
    for family, u in (("crop", [0.5, 0.5]), ("rotate", [0.5])):
        torch.testing.assert_close(dsa.apply(x, draw(family, [u, u])), x)
    unit = (1 - 1 / dsa.SCALE) / (dsa.SCALE - 1 / dsa.SCALE)  # the value that gives scale 1
    torch.testing.assert_close(dsa.apply(x, draw("scale", [[unit, unit]] * 2)), x)


def test_each_group_gets_its_own_transformation():
    x = images(2, 3)
    x[1] = x[0]
    y = dsa.apply(x, draw("rotate", [[0.1], [0.9]]))
    assert not torch.allclose(y[0], y[1])
    torch.testing.assert_close(y[0], dsa.apply(x[:1], draw("rotate", [[0.1]]))[0])


def test_cutout_blanks_a_half_side_square_to_background():
    x = images(1, 2) + 10  # no pixel is background before
    y = dsa.apply(x, draw("cutout", [[0.5, 0.5]]))
    hole = y == dsa.BACKGROUND
    assert int(hole[0, 0].sum()) == 14 * 14 and torch.equal(hole[0, 0], hole[0, 1])
    torch.testing.assert_close(y[~hole], x[~hole])


def test_color_is_brightness_then_contrast_about_each_images_mean():
    x = images(1, 2)
    y = dsa.apply(x, draw("color", [[0.75, 1.0]]))  # brightness +0.25, contrast x1.5
    mean = x.mean(dim=(2, 3, 4), keepdim=True)
    torch.testing.assert_close(y, (x - mean) * 1.5 + mean + 0.25)


def test_draws_come_from_the_generator():
    a = dsa.draw(10, torch.Generator().manual_seed(3))
    b = dsa.draw(10, torch.Generator().manual_seed(3))
    assert a.family == b.family and torch.equal(a.values, b.values) and a.values.shape == (10, dsa.N_VALUES[a.family])
