"""WGAN-GP and hinge (SNGAN) training through the real trainers: the losses and the
gradient penalty against closed forms, stacked seeds equal to seeds alone, the critic
steps per generator step, learning, and exact resume (spectral norm's vectors included)."""
import io
import math

import numpy as np
import pytest
import torch
from torch import nn

from genbench.config import TrainSettings
from genbench.data import make_splits
from genbench.metrics.mmd import mmd2_unbiased
from genbench.models import build_model
from genbench.models.base import GAN
from genbench.train import fit, make_trainer

TINY = {"latent": 8, "ngf": 8, "ndf": 8}
WGAN = {"lr": 1e-4, "betas": (0.0, 0.9), "d_steps": 5}


@pytest.fixture(scope="module")
def moons():
    s = make_splits("moons", {}, "genbench", 320, 64, 10, 0)
    return s.train, s.holdout


@pytest.fixture(scope="module")
def digits():
    s = make_splits("digits", {}, "genbench", 256, 64, None, 0)
    return s.train, s.holdout


def _models(name, seeds, shape, **params):
    out = []
    for seed in seeds:
        torch.manual_seed(seed)
        out.append(build_model(name, shape, params))
    return out


class LinearCriticGAN(GAN):
    """A critic D(x) = w . x + c: its gradient is w everywhere, so the penalty is (|w| - 1)^2."""

    trainer = "wgan-gp"

    def __init__(self, w, gp_weight=10.0):
        critic = nn.Sequential(nn.Linear(2, 1), nn.Flatten(-2))
        with torch.no_grad():
            critic[0].weight.copy_(torch.tensor([w]))
            critic[0].bias.fill_(0.5)
        super().__init__(nn.Sequential(nn.Linear(2, 2)), critic, 2, (2,))
        self.gp_weight = gp_weight


def test_critic_loss_and_penalty_against_closed_forms(moons):
    models = [LinearCriticGAN([3.0, 4.0]), LinearCriticGAN([0.6, 0.0])]  # |w| = 5 and 0.6, trained stacked
    trainer = make_trainer(models, *moons, TrainSettings(epochs=1), [0, 1])
    real, fake = torch.randn(2, 16, 2), torch.randn(2, 16, 2) + 1.0
    values = trainer.discriminator_loss(real, fake)
    torch.testing.assert_close(values["gp"], torch.tensor([16.0, 0.16]))
    w = torch.tensor([[3.0, 4.0], [0.6, 0.0]])
    wasserstein = ((real - fake).mean(1) * w).sum(1)  # E D(x) - E D(G(z)); the bias cancels
    torch.testing.assert_close(values["wasserstein"], wasserstein)
    torch.testing.assert_close(values["critic_loss"], -wasserstein + 10 * torch.tensor([16.0, 0.16]))
    torch.testing.assert_close(trainer.generator_loss(fake), -((fake * w[:, None]).sum(2) + 0.5).mean(1))


def test_penalty_of_a_nonlinear_critic_at_the_interpolates_drawn(moons):
    """D(x) = |x|^2 / 2 has gradient x, so the penalty is the mean of (|x_hat| - 1)^2 over
    x_hat = eps x + (1 - eps) G(z), with eps = Phi(u) from the seed's own stream."""

    class Half(nn.Module):
        def __init__(self):
            super().__init__()
            self.unused = nn.Parameter(torch.zeros(()))  # something for the critic's optimiser

        def forward(self, x):
            return 0.5 * x.pow(2).sum(-1)

    model = LinearCriticGAN([1.0, 0.0])
    model.discriminator = Half()
    trainer = make_trainer([model], *moons, TrainSettings(epochs=1), [4])
    real, fake = torch.randn(1, 32, 2), torch.randn(1, 32, 2)
    stream = torch.Generator().manual_seed(10_004)
    stream.set_state(trainer.streams.generators[0].get_state())
    eps = torch.special.ndtr(torch.randn(32, generator=stream))[None, :, None]
    x_hat = eps * real + (1 - eps) * fake
    expected = (x_hat.norm(dim=2) - 1).pow(2).mean(1)
    torch.testing.assert_close(trainer.gradient_penalty(real, fake), expected)


def test_hinge_losses_at_known_scores(digits):
    trainer = make_trainer(_models("sngan", [0], (1, 8, 8), **TINY), *digits, TrainSettings(epochs=1), [0])
    scores = {}
    trainer.disc = lambda x: scores[id(x)]
    real, fake = torch.zeros(1, 4, 1, 8, 8), torch.zeros(1, 4, 1, 8, 8)
    scores[id(real)] = torch.tensor([[2.0, 0.5, -1.0, 1.0]])  # relu(1 - s): 0, 0.5, 2, 0
    scores[id(fake)] = torch.tensor([[-2.0, 0.0, 1.0, -0.5]])  # relu(1 + s): 0, 1, 2, 0.5
    values = trainer.discriminator_loss(real, fake)
    assert values["d_loss"].item() == pytest.approx(2.5 / 4 + 3.5 / 4)
    assert values["real_score"].item() == pytest.approx(0.625) and values["fake_score"].item() == pytest.approx(-0.375)
    assert trainer.generator_loss(fake).item() == pytest.approx(0.375)
    undecided = torch.zeros(1, 4)  # a discriminator that scores everything 0 is at the hinge's 2
    scores[id(real)] = scores[id(fake)] = undecided
    assert trainer.discriminator_loss(real, fake)["d_loss"].item() == pytest.approx(2.0)


def test_stacked_mlp_wgan_gp_seeds_train_exactly_like_separate_runs(moons):
    settings = TrainSettings(epochs=2, batch_size=64, lr_schedule="cosine", warmup_frac=0.1, **WGAN)
    together = _models("mlp-wgan-gp", [3, 4], (2,))
    hist_together = fit(together, *moons, settings, [3, 4])
    alone = _models("mlp-wgan-gp", [4], (2,))
    hist_alone = fit(alone, *moons, settings, [4])[0]
    assert list(hist_alone[0]) == ["epoch", "critic_loss", "g_loss", "wasserstein", "gp", "holdout_critic_loss",
                                   "holdout_wasserstein"]
    for row_t, row_a in zip(hist_together[1], hist_alone):
        assert row_t == pytest.approx(row_a, rel=1e-4, abs=1e-6)
    for p_t, p_a in zip(together[1].parameters(), alone[0].parameters()):
        torch.testing.assert_close(p_t, p_a, rtol=1e-4, atol=1e-5)


def test_five_critic_steps_per_generator_step(moons):
    trainer = make_trainer(_models("mlp-wgan-gp", [0], (2,)), *moons, TrainSettings(epochs=1, batch_size=32, **WGAN),
                           [0])
    trainer.run_epoch()
    steps = lambda opt: int(next(iter(opt.state.values()))["step"])
    assert steps(trainer.optimizers["discriminator"]) == 10 and steps(trainer.optimizers["generator"]) == 2
    assert trainer.optimizers["discriminator"].param_groups[0]["betas"] == (0.0, 0.9)


@pytest.mark.slow
def test_compiled_wgan_gp_trains_like_eager(moons):
    """compile: true (or auto on a long run) compiles the generator; the critic's step,
    whose penalty needs a double backward that AOTAutograd cannot run, stays eager."""
    settings = dict(epochs=2, batch_size=64, **WGAN)
    eager = fit(_models("mlp-wgan-gp", [0], (2,)), *moons, TrainSettings(**settings), [0])[0]
    compiled = fit(_models("mlp-wgan-gp", [0], (2,)), *moons, TrainSettings(compile=True, **settings), [0])[0]
    assert compiled[-1]["gp"] > 0
    for row_c, row_e in zip(compiled, eager):
        assert row_c == pytest.approx(row_e, rel=1e-3, abs=1e-5)


@pytest.mark.slow
def test_mlp_wgan_gp_learns_moons(moons):
    """The critic learns slopes near 1 (the penalty falls several-fold) and the generator's
    samples move towards the data (short runs of study 000's tiny generator end in
    different places from seed to seed, so only a clear fall is asked of the MMD)."""
    train, holdout = moons
    torch.manual_seed(0)
    model = build_model("mlp-wgan-gp", (2,), {})
    before = mmd2_unbiased(model.sample(400, torch.Generator().manual_seed(1)).numpy(), train)
    settings = TrainSettings(epochs=60, batch_size=32, lr=1e-3, betas=(0.5, 0.9), d_steps=5, lr_schedule="cosine")
    history = fit([model], train, holdout, settings, [0])[0]
    after = mmd2_unbiased(model.sample(400, torch.Generator().manual_seed(1)).numpy(), train)
    assert after < 0.75 * before
    assert history[-1]["gp"] < history[0]["gp"] / 3
    assert all(math.isfinite(v) for row in history for v in row.values())


@pytest.mark.parametrize("name", ["wgan-gp", "sngan"])
def test_image_gans_learn_on_digits(name, digits):
    model = _models(name, [0], (1, 8, 8), **TINY)[0]
    settings = TrainSettings(epochs=3, batch_size=32, **({"lr": 1e-3, "betas": (0.0, 0.9), "d_steps": 5}
                                                        if name == "wgan-gp" else {"lr": 2e-4, "betas": (0.5, 0.999)}))
    history = fit([model], *digits, settings, [0])[0]
    assert all(math.isfinite(v) for row in history for v in row.values())
    if name == "wgan-gp":
        assert history[-1]["wasserstein"] > 0 and "holdout_wasserstein" in history[-1]
    else:  # the discriminator separates the classes past the hinge's start at 2
        assert history[-1]["real_score"] > history[-1]["fake_score"] and history[-1]["d_loss"] < 2.0


def _roundtrip(state):
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)


@pytest.mark.parametrize("name,shape,params,seeds", [
    ("mlp-wgan-gp", (2,), {}, [5, 6]),
    ("wgan-gp", (1, 8, 8), TINY, [7]),
    ("sngan", (1, 8, 8), TINY, [7]),  # spectral norm's power-iteration vectors are trainer state
])
def test_resuming_from_a_checkpoint_continues_exactly(name, shape, params, seeds, moons, digits):
    data = moons if shape == (2,) else digits
    settings = TrainSettings(epochs=3, batch_size=64, lr=1e-3, betas=(0.0, 0.9), d_steps=2, lr_schedule="cosine",
                             warmup_frac=0.1)
    straight = _models(name, seeds, shape, **params)
    expected = fit(straight, *data, settings, seeds)
    first = make_trainer(_models(name, seeds, shape, **params), *data, settings, seeds)
    first.run_epoch()
    state = _roundtrip(first.state_dict())
    torch.manual_seed(12345)
    resumed_models = _models(name, [s + 100 for s in seeds], shape, **params)  # replaced by the checkpoint's
    resumed = make_trainer(resumed_models, *data, settings, seeds)
    resumed.load_state_dict(state)
    while resumed.epoch < settings.epochs:
        resumed.run_epoch()
    resumed.finish()
    assert resumed.histories == expected
    for a_model, b_model in zip(straight, resumed_models):
        a_state, b_state = a_model.state_dict(), b_model.state_dict()
        assert a_state.keys() == b_state.keys()
        for key in a_state:
            torch.testing.assert_close(a_state[key], b_state[key], rtol=0, atol=0)
    if name == "sngan":
        assert any(key.endswith("_u") for key in straight[0].state_dict())
