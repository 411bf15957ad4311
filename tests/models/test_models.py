import pytest
import torch

from genbench.errors import GenbenchError
from genbench.models import MODELS, build_model, count_parameters


def linear(n_in, n_out):
    return n_in * n_out + n_out


def conv(c_in, c_out, k, bias=True):
    return c_in * c_out * k * k + (c_out if bias else 0)


def test_study000_parameter_counts():
    vae = build_model("mlp-vae", (2,), {})
    gan = build_model("mlp-gan", (2,), {})
    assert count_parameters(vae) == 208_690
    assert count_parameters(gan.generator) == 4_386
    assert count_parameters(gan.discriminator) == 14_617


# Expected sizes written out layer by layer from the studies' descriptions.
IMAGE_COUNTS = {
    "linear-gan": (linear(100, 128) + linear(128, 256) + linear(256, 512) + linear(512, 784),
                   linear(784, 512) + linear(512, 256) + linear(256, 128) + linear(128, 1)),
    "dcgan28": (linear(100, 12544) + conv(256, 128, 3) + conv(128, 64, 3) + conv(64, 32, 3) + conv(32, 1, 3),
                conv(1, 32, 3) + conv(32, 64, 3) + conv(64, 128, 3) + conv(128, 256, 3) + linear(12544, 1)),
    "dcgan-tf28": (linear(100, 6272) + conv(128, 64, 5) + conv(64, 1, 5),
                   conv(1, 64, 5) + conv(64, 128, 5) + conv(128, 256, 5) + conv(256, 512, 5) + linear(512 * 4, 1)),
    # PyTorch's DCGAN tutorial at nz=100: G 3,576,704 and D 2,765,568 parameters.
    "dcgan64": (3_576_704, 2_765_568),
}


@pytest.mark.parametrize("name", list(IMAGE_COUNTS))
def test_gan_parameter_counts_match_the_studies_layers(name):
    gan = build_model(name, MODELS.get(name).example_shape, {})
    assert (count_parameters(gan.generator), count_parameters(gan.discriminator)) == IMAGE_COUNTS[name]


def test_vae_parameter_counts_match_the_studies_layers():
    heads = lambda features, latent: 2 * linear(features, latent)
    assert count_parameters(build_model("linear-vae", (1, 28, 28), {})) == (
        linear(784, 512) + linear(512, 128) + heads(128, 16) + linear(16, 128) + linear(128, 512) + linear(512, 784))
    assert count_parameters(build_model("mlp-vae64", (3, 64, 64), {})) == (
        linear(12288, 512) + linear(512, 512) + heads(512, 16) + linear(16, 512) + linear(512, 512) + linear(512, 12288))
    assert count_parameters(build_model("conv-vae-tf28", (1, 28, 28), {})) == (
        conv(1, 32, 3) + conv(32, 64, 3) + linear(3136, 512) + linear(512, 256) + heads(256, 10)
        + linear(10, 256) + linear(256, 512) + linear(512, 3136) + conv(64, 64, 3) + conv(64, 1, 3))
    assert count_parameters(build_model("conv-vae28", (1, 28, 28), {})) == (
        conv(1, 32, 3) + conv(32, 64, 3) + conv(64, 128, 3) + conv(128, 256, 3) + heads(12544, 16)
        + linear(16, 12544) + conv(256, 128, 3) + conv(128, 64, 3) + conv(64, 32, 3) + conv(32, 1, 3))


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (3, 64, 64)])
def test_radford_dcgan_and_conv_vae_fit_28_32_and_64_pixels(shape):
    gan = build_model("dcgan", shape, {})
    vae = build_model("conv-vae", shape, {"latent": 8})
    assert gan.sample(2).shape == (2, *shape)
    assert gan.discriminator(torch.zeros(2, *shape)).shape == (2,)
    assert vae.reconstruct(torch.zeros(2, *shape)).shape == (2, *shape)
    assert gan.latent_dim == 64


@pytest.mark.parametrize("name", list(MODELS))
def test_every_model_samples_reproducibly_in_its_value_range(name):
    shape = MODELS.get(name).example_shape
    model = build_model(name, shape, {}).eval()
    x = model.sample(5, generator=torch.Generator().manual_seed(0))
    assert x.shape == (5, *shape)
    torch.testing.assert_close(x, model.sample(5, generator=torch.Generator().manual_seed(0)))
    # Gaussian VAE decoders give unclipped means; every other model keeps to its range.
    if model.value_range and (model.family != "vae" or model.likelihood == "bernoulli"):
        lo, hi = model.value_range
        assert lo <= x.min() and x.max() <= hi
    if model.family == "vae":
        mu, logvar = model.encode(x)
        assert mu.shape == logvar.shape == (5, model.latent_dim)
        assert model.decode(mu).shape == model.reconstruct(x).shape == (5, *shape)


def test_vae_encode_decode_shapes_and_widths_are_configurable():
    vae = build_model("mlp-vae", (2,), {"hidden": 16, "latent": 3, "n_res": 1, "activation_name": "silu"})
    mu, logvar = vae.encode(torch.zeros(5, 2))
    assert mu.shape == logvar.shape == (5, 3)
    assert vae.decode(mu).shape == (5, 2)
    assert vae.reconstruct(torch.zeros(5, 2)).shape == (5, 2)
    # Linear(2,16)+LN(16)+1 block(2x(16x16+16))+2 heads(16x3+3)+Linear(3,16)+LN+block+Linear(16,2)
    assert count_parameters(vae) == 48 + 32 + 544 + 102 + 64 + 32 + 544 + 34


def test_bad_model_parameters_and_shapes_give_one_line_errors():
    with pytest.raises(GenbenchError, match="model 'mlp-gan' has no parameter 'width'.*g_hidden"):
        build_model("mlp-gan", (2,), {"width": 3})
    with pytest.raises(GenbenchError, match="unknown activation 'gelu2'"):
        build_model("mlp-vae", (2,), {"activation_name": "gelu2"})
    with pytest.raises(GenbenchError, match="'dcgan28' takes Cx28x28 images, the dataset gives 3x32x32"):
        build_model("dcgan28", (3, 32, 32), {})
    with pytest.raises(GenbenchError, match="4 or 7 times a power of two.*48x48"):
        build_model("dcgan", (3, 48, 48), {})
    with pytest.raises(GenbenchError, match="unknown likelihood 'poisson'"):
        build_model("conv-vae", (1, 28, 28), {"likelihood": "poisson"})
