"""WGAN-GP and SNGAN keep dcgan's shapes: parameter counts written out layer by layer,
the critic's score of an image independent of its batch, spectral norm on every
discriminator layer, and the papers' training settings as the models' defaults."""
import pytest
import torch
from torch import nn

import genbench
from genbench.config import load_preset, resolve
from genbench.errors import GenbenchError
from genbench.models import build_model, count_parameters
from genbench.models.base import GAN
from genbench.train.stacked import can_stack


def conv(c_in, c_out, k):  # dcgan's convolutions have no bias
    return c_in * c_out * k * k


def norm(c):  # BatchNorm, or the layer norm (GroupNorm with one group) that replaces it: a scale and shift per channel
    return 2 * c


def generator(latent, channels, size):
    if size == 32:  # 4x4 from the code, three doublings: 256, 128, 64 maps
        return (conv(latent, 256, 4) + norm(256) + conv(256, 128, 4) + norm(128) + conv(128, 64, 4) + norm(64)
                + conv(64, channels, 4))
    return conv(latent, 128, 7) + norm(128) + conv(128, 64, 4) + norm(64) + conv(64, channels, 4)  # 28: 7x7, two


def discriminator(channels, size, normalised):
    n = norm if normalised else (lambda c: 0)
    if size == 32:
        return conv(channels, 64, 4) + conv(64, 128, 4) + n(128) + conv(128, 256, 4) + n(256) + conv(256, 1, 4)
    return conv(channels, 64, 4) + conv(64, 128, 4) + n(128) + conv(128, 1, 7)


@pytest.mark.parametrize("shape", [(3, 32, 32), (1, 28, 28)])
@pytest.mark.parametrize("name,params,normalised", [
    ("dcgan", {}, True), ("wgan-gp", {}, True), ("wgan-gp", {"critic_norm": "none"}, False), ("sngan", {}, False)])
def test_the_new_gans_keep_dcgans_shapes(shape, name, params, normalised):
    gan = build_model(name, shape, params)
    assert count_parameters(gan.generator) == generator(64, shape[0], shape[1])
    assert count_parameters(gan.discriminator) == discriminator(shape[0], shape[1], normalised)


def test_study000_sizes_for_the_mlp_wgan_gp():
    gan = build_model("mlp-wgan-gp", (2,), {})
    assert (count_parameters(gan.generator), count_parameters(gan.discriminator)) == (4_386, 14_617)
    assert can_stack(gan.generator) and can_stack(gan.discriminator) and gan.gp_weight == 10.0


def _layers(module, kind):
    return [m for m in module.modules() if isinstance(m, kind)]


@pytest.mark.parametrize("name,params", [("wgan-gp", {}), ("wgan-gp", {"critic_norm": "none"}), ("sngan", {})])
def test_critic_scores_each_image_on_its_own(name, params):
    """The gradient penalty is per image, so a critic's score must not depend on the
    rest of the batch: no BatchNorm. (dcgan's BatchNorm discriminator fails this.)"""
    torch.manual_seed(0)
    gan = build_model(name, (1, 28, 28), params).train()
    assert not _layers(gan.discriminator, nn.BatchNorm2d)
    assert len(_layers(gan.discriminator, nn.GroupNorm)) == (1 if params == {} and name == "wgan-gp" else 0)
    x = torch.randn(6, 1, 28, 28)
    with torch.nn.utils.parametrize.cached():  # one power iteration for both calls: the same weights
        torch.testing.assert_close(gan.discriminator(x)[:2], gan.discriminator(x[:2]), rtol=1e-4, atol=1e-5)
    dcgan = build_model("dcgan", (1, 28, 28), {}).train()
    assert not torch.allclose(dcgan.discriminator(x)[:2], dcgan.discriminator(x[:2]))


def test_sngan_normalises_every_discriminator_layer_to_spectral_norm_one():
    torch.manual_seed(0)
    gan = build_model("sngan", (1, 28, 28), {}).train()
    convs = _layers(gan.discriminator, nn.Conv2d)
    assert len(convs) == 3 and all(torch.nn.utils.parametrize.is_parametrized(c, "weight") for c in convs)
    with torch.no_grad():
        for c in convs:
            c.parametrizations.weight.original.mul_(20.0)  # whatever the raw weights' scale
    x = torch.randn(4, 1, 28, 28)
    for _ in range(30):  # each training-mode forward runs one power iteration
        gan.discriminator(x)
    for c in convs:
        top = torch.linalg.matrix_norm(c.weight.detach().flatten(1), ord=2)
        assert top == pytest.approx(1.0, abs=0.02)
        assert torch.linalg.matrix_norm(c.parametrizations.weight.original.detach().flatten(1), ord=2) > 3
    # The power iteration's vectors are state, so checkpoints and model.pt carry them.
    keys = gan.state_dict().keys()
    assert sum(k.endswith("parametrizations.weight.0._u") for k in keys) == 3
    assert sum(k.endswith("parametrizations.weight.0._v") for k in keys) == 3


def test_bad_parameters_give_one_line_errors():
    with pytest.raises(GenbenchError, match="unknown critic_norm 'batch'; choose one of: layer, none"):
        build_model("wgan-gp", (1, 28, 28), {"critic_norm": "batch"})
    with pytest.raises(GenbenchError, match="gp_weight must be a number >= 0 .* got -1"):
        build_model("mlp-wgan-gp", (2,), {"gp_weight": -1})
    with pytest.raises(GenbenchError, match="'sngan' takes square CxHxW images, the dataset gives 2"):
        build_model("sngan", (2,), {})


def _study(models):
    raw = load_preset("toy2d")
    raw.update(datasets={"moons": {}}, train_overrides={}, models=models, published={})
    return resolve(raw)


def test_the_papers_training_settings_are_the_models_defaults():
    config = _study({"mlp-wgan-gp": {"train": {"epochs": 2}}, "mlp-gan": {"train": {"epochs": 2}}})
    wgan = config.train_settings("moons", "mlp-wgan-gp")
    assert (wgan.lr, wgan.betas, wgan.d_steps) == (1e-4, (0.0, 0.9), 5)  # Gulrajani et al., algorithm 1
    plain = config.train_settings("moons", "mlp-gan")
    assert (plain.lr, plain.betas, plain.d_steps) == (1e-3, (0.9, 0.999), 1)  # TrainSettings' own
    mine = _study({"mlp-wgan-gp": {"train": {"epochs": 2, "lr": 3e-4}}}).train_settings("moons", "mlp-wgan-gp")
    assert (mine.lr, mine.betas, mine.d_steps) == (3e-4, (0.0, 0.9), 5)  # the study's value wins, the rest stay
    raw = load_preset("toy2d")
    raw.update(datasets={"digits": {}}, train_overrides={}, published={}, metrics=[],
               models={"sngan": {"train": {"epochs": 1}}})
    sn = resolve(raw).train_settings("digits", "sngan")
    assert (sn.lr, sn.betas, sn.d_steps) == (2e-4, (0.5, 0.999), 1)  # Miyato et al., Table 1, setting C


class TinyGAN(GAN):
    family = "gan"

    def __init__(self, data_shape):
        super().__init__(nn.Linear(2, 2), nn.Sequential(nn.Linear(2, 1), nn.Flatten(0)), 2, data_shape)


def test_registering_bad_training_defaults_is_refused():
    with pytest.raises(GenbenchError, match=r"register_model\('t'\).train_defaults.lr=-1: Input should be greater"):
        genbench.register_model("t", TinyGAN, train_defaults={"lr": -1})
    with pytest.raises(GenbenchError, match=r"unknown key \"register_model\('t'\).train_defaults.critic_steps\""):
        genbench.register_model("t", TinyGAN, train_defaults={"critic_steps": 5})
    with pytest.raises(GenbenchError, match="train_defaults cannot set epochs"):
        genbench.register_model("t", TinyGAN, train_defaults={"epochs": 5})
