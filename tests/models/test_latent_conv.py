import pytest
import torch
from torch import nn

from genbench.models import build_model
from genbench.models.dcgan import LatentConvTranspose2d
from tests.models.layer_checks import assert_computes_as


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_latent_conv_matches_conv_transpose_forward_and_backward(bias, layout):
    torch.manual_seed(0)
    plain = nn.ConvTranspose2d(6, 5, (7, 4), 1, 0, bias=bias).double()
    latent = LatentConvTranspose2d(6, 5, (7, 4), 1, 0, bias=bias).double()
    latent.load_state_dict(plain.state_dict())
    latent.to(memory_format=layout)
    assert list(latent.state_dict()) == list(plain.state_dict())
    out = assert_computes_as(plain, latent, torch.randn(3, 6, 1, 1, dtype=torch.float64))
    assert out.is_contiguous(memory_format=layout)


def test_a_larger_map_runs_the_transposed_convolution_and_what_it_does_not_compute_is_refused():
    plain, latent = nn.ConvTranspose2d(2, 3, 3, 2, 0), LatentConvTranspose2d(2, 3, 3, 2, 0)
    latent.load_state_dict(plain.state_dict())
    x = torch.randn(1, 2, 4, 4)
    torch.testing.assert_close(latent(x), plain(x))
    for kwargs in ({"groups": 2}, {"dilation": 2}, {"padding": 1}, {"output_padding": 1, "stride": 2}):
        with pytest.raises(ValueError, match="supports groups=1"):
            LatentConvTranspose2d(2, 4, 3, **kwargs)


@pytest.mark.parametrize("name", ["dcgan", "conv-vae", "sngan", "wgan-gp"])
def test_the_dcgan_generator_stacks_start_with_it(name):
    net = build_model(name, (1, 28, 28), {})
    net = net.generator if hasattr(net, "generator") else net.decoder
    first = next(m for m in net.modules() if isinstance(m, nn.ConvTranspose2d))
    assert type(first) is LatentConvTranspose2d and first.kernel_size == (7, 7)


def test_under_spectral_norm_autocast_and_unbatched_input_it_behaves_as_conv_transpose():
    torch.manual_seed(0)
    plain = nn.utils.parametrizations.spectral_norm(nn.ConvTranspose2d(6, 5, 4, 1, 0).double())
    latent = nn.utils.parametrizations.spectral_norm(LatentConvTranspose2d(6, 5, 4, 1, 0).double())
    latent.load_state_dict(plain.state_dict())
    z = torch.randn(3, 6, 1, 1, dtype=torch.float64)
    assert_computes_as(plain, latent, z)  # one power iteration each: the weight is read once per forward
    plain, latent = nn.ConvTranspose2d(6, 5, 4, 1, 0), LatentConvTranspose2d(6, 5, 4, 1, 0)
    latent.load_state_dict(plain.state_dict())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert latent(z.float()).dtype == plain(z.float()).dtype == torch.bfloat16
    torch.testing.assert_close(latent(z[0].float()), plain(z[0].float()))  # unbatched
