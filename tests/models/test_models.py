import pytest
import torch

from genbench.errors import GenbenchError
from genbench.models import MODELS, build_model, count_parameters


def test_study000_parameter_counts():
    vae = build_model("mlp-vae", 2, {})
    gan = build_model("mlp-gan", 2, {})
    assert count_parameters(vae) == 208_690
    assert count_parameters(gan.generator) == 4_386
    assert count_parameters(gan.discriminator) == 14_617


@pytest.mark.parametrize("name", list(MODELS))
def test_every_model_samples(name):
    model = build_model(name, 2, {})
    x = model.sample(17, generator=torch.Generator().manual_seed(0))
    assert x.shape == (17, 2)
    y = model.sample(17, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(x, y)


def test_vae_encode_decode_shapes_and_widths_are_configurable():
    vae = build_model("mlp-vae", 2, {"hidden": 16, "latent": 3, "n_res": 1, "activation_name": "silu"})
    mu, logvar = vae.encode(torch.zeros(5, 2))
    assert mu.shape == logvar.shape == (5, 3)
    assert vae.decode(mu).shape == (5, 2)
    assert vae.reconstruct(torch.zeros(5, 2)).shape == (5, 2)
    # Linear(2,16)+LN(16)+1 block(2x(16x16+16))+2 heads(16x3+3)+Linear(3,16)+LN+block+Linear(16,2)
    assert count_parameters(vae) == 48 + 32 + 544 + 102 + 64 + 32 + 544 + 34


def test_bad_model_parameters_name_the_valid_ones():
    with pytest.raises(GenbenchError, match="model 'mlp-gan' has no parameter 'width'.*g_hidden"):
        build_model("mlp-gan", 2, {"width": 3})
    with pytest.raises(GenbenchError, match="unknown activation 'gelu2'"):
        build_model("mlp-vae", 2, {"activation_name": "gelu2"})
