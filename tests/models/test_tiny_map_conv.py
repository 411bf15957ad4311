import pytest
import torch
from torch import nn

from genbench.models import build_model
from genbench.models.tf28 import TinyMapConv2d
from genbench.train.stacked import can_stack
from tests.models.layer_checks import assert_computes_as


@pytest.mark.parametrize("shape,k,stride,pad", [((3, 256, 4, 4), 5, 2, 2), ((2, 8, 7, 5), 3, 2, 1), ((2, 4, 6, 6), 5, 1, 0),
                                               ((2, 3, 3, 2), 3, 2, 3)])  # last: some windows all padding
@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_tiny_map_conv_matches_conv2d_forward_and_backward(shape, k, stride, pad, layout):
    torch.manual_seed(0)
    plain = nn.Conv2d(shape[1], 6, k, stride=stride, padding=pad).double()
    tiny = TinyMapConv2d(shape[1], 6, k, stride=stride, padding=pad).double()
    tiny.load_state_dict(plain.state_dict())
    tiny.to(memory_format=layout)
    assert list(tiny.state_dict()) == list(plain.state_dict())
    assert_computes_as(plain, tiny, torch.randn(shape, dtype=torch.float64).contiguous(memory_format=layout))


def test_without_bias_and_refusing_what_it_does_not_compute():
    plain, tiny = nn.Conv2d(2, 3, 3, bias=False), TinyMapConv2d(2, 3, 3, bias=False)
    tiny.load_state_dict(plain.state_dict())
    x = torch.randn(1, 2, 4, 4)
    torch.testing.assert_close(tiny(x), plain(x))
    for kwargs in ({"groups": 2}, {"dilation": 2}, {"padding": "same"}, {"padding_mode": "reflect"}):
        with pytest.raises(ValueError, match="supports groups=1"):
            TinyMapConv2d(2, 4, 3, **kwargs)


def test_dcgan_tf28_uses_it_only_on_its_4x4_map():
    d = build_model("dcgan-tf28", (1, 28, 28), {}).discriminator
    convs = [m for m in d.modules() if isinstance(m, nn.Conv2d)]
    assert [type(m) is TinyMapConv2d for m in convs] == [False, False, False, True]
    assert convs[-1].in_channels == 256 and convs[-1].out_channels == 512


def test_a_subclassed_torch_layer_is_not_stacked():
    assert can_stack(nn.Sequential(nn.Linear(2, 3), nn.ReLU()))
    assert not can_stack(nn.Sequential(TinyMapConv2d(1, 2, 3), nn.Flatten(), nn.Linear(2, 1)))


def test_under_spectral_norm_autocast_and_odd_batches_it_behaves_as_conv2d():
    torch.manual_seed(0)
    plain = nn.utils.parametrizations.spectral_norm(nn.Conv2d(4, 3, 5, stride=2, padding=2).double())
    tiny = nn.utils.parametrizations.spectral_norm(TinyMapConv2d(4, 3, 5, stride=2, padding=2).double())
    tiny.load_state_dict(plain.state_dict())  # the same weight and power-iteration vectors
    x = torch.randn(2, 4, 4, 4, dtype=torch.float64)
    assert_computes_as(plain, tiny, x)  # one power iteration each: the weight is read once per forward
    plain, tiny = nn.Conv2d(4, 3, 5, stride=2, padding=2), TinyMapConv2d(4, 3, 5, stride=2, padding=2)
    tiny.load_state_dict(plain.state_dict())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert tiny(x.float()).dtype == plain(x.float()).dtype == torch.bfloat16
    for odd in (torch.randn(4, 4, 4), torch.randn(0, 4, 4, 4)):  # unbatched; empty batch
        torch.testing.assert_close(tiny(odd), plain(odd))
