import pytest
import torch
import torch.nn.functional as F

from gtn_nas.teachers.generator import Generator, UpsampleConv


@pytest.mark.parametrize("cin,cout,size", [(32, 32, 7), (32, 1, 14), (3, 5, 4)])
def test_upsample_conv_is_nearest_upsampling_then_convolution(cin, cout, size):
    g = torch.Generator().manual_seed(cout)
    layer = UpsampleConv(cin, cout).double()
    x = torch.randn(6, cin, size, size, generator=g, dtype=torch.float64, requires_grad=True)
    direction = torch.randn(6, cout, 2 * size, 2 * size, generator=g, dtype=torch.float64)

    fused = layer(x)
    reference = F.conv2d(F.interpolate(x, scale_factor=2, mode="nearest"), layer.weight, layer.bias, padding=1)
    assert fused.shape == reference.shape
    torch.testing.assert_close(fused, reference, rtol=0, atol=1e-12)
    # and the same gradients: the teacher is trained through it
    got = torch.autograd.grad((fused * direction).sum(), [x, layer.weight, layer.bias])
    want = torch.autograd.grad((reference * direction).sum(), [x, layer.weight, layer.bias])
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-10)


def test_upsample_generator_keeps_the_parameter_names_of_saved_teachers():
    # gtn-nas 0.1's decoder was Sequential(Upsample, Conv2d, BatchNorm2d, LeakyReLU, Upsample, Conv2d)
    keys = {k for k in Generator(8, 16, "upsample").state_dict() if k.startswith("conv.")}
    assert keys == {"conv.1.weight", "conv.1.bias", "conv.2.weight", "conv.2.bias", "conv.5.weight", "conv.5.bias"}
