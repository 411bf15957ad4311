import pytest
import torch
from torch import nn

from genbench.models import build_model
from genbench.models.tf28 import UnfoldConv2d
from genbench.train.stacked import can_stack


@pytest.mark.parametrize("shape,k,stride,pad", [((3, 256, 4, 4), 5, 2, 2), ((2, 8, 7, 5), 3, 2, 1), ((2, 4, 6, 6), 5, 1, 0)])
@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_unfold_conv_matches_conv2d_forward_and_backward(shape, k, stride, pad, layout):
    torch.manual_seed(0)
    plain = nn.Conv2d(shape[1], 6, k, stride=stride, padding=pad).double()
    unfold = UnfoldConv2d(shape[1], 6, k, stride=stride, padding=pad).double()
    unfold.load_state_dict(plain.state_dict())
    unfold.to(memory_format=layout)
    assert list(unfold.state_dict()) == list(plain.state_dict())
    x = torch.randn(shape, dtype=torch.float64).contiguous(memory_format=layout)
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    ya, yb = plain(xa), unfold(xb)
    torch.testing.assert_close(yb, ya)
    grad = torch.randn_like(ya)
    ya.backward(grad)
    yb.backward(grad)
    torch.testing.assert_close(xb.grad, xa.grad)
    torch.testing.assert_close(unfold.weight.grad, plain.weight.grad)
    torch.testing.assert_close(unfold.bias.grad, plain.bias.grad)


def test_without_bias_and_refusing_what_it_does_not_compute():
    plain, unfold = nn.Conv2d(2, 3, 3, bias=False), UnfoldConv2d(2, 3, 3, bias=False)
    unfold.load_state_dict(plain.state_dict())
    x = torch.randn(1, 2, 4, 4)
    torch.testing.assert_close(unfold(x), plain(x))
    for kwargs in ({"groups": 2}, {"dilation": 2}, {"padding": "same"}, {"padding_mode": "reflect"}):
        with pytest.raises(ValueError, match="supports groups=1"):
            UnfoldConv2d(2, 4, 3, **kwargs)


def test_dcgan_tf28_uses_it_only_on_its_4x4_map():
    d = build_model("dcgan-tf28", (1, 28, 28), {}).discriminator
    convs = [m for m in d.modules() if isinstance(m, nn.Conv2d)]
    assert [type(m) is UnfoldConv2d for m in convs] == [False, False, False, True]
    assert convs[-1].in_channels == 256 and convs[-1].out_channels == 512


def test_a_subclassed_torch_layer_is_not_stacked():
    assert can_stack(nn.Sequential(nn.Linear(2, 3), nn.ReLU()))
    assert not can_stack(nn.Sequential(UnfoldConv2d(1, 2, 3), nn.Flatten(), nn.Linear(2, 1)))
