"""Image training through the shared loops: digits (8x8, bundled with scikit-learn) keep
these fast; every convolutional code path of the 28-64 pixel models is the same."""
import io

import numpy as np
import pytest
import torch

from genbench.config import TrainSettings
from genbench.data import make_splits
from genbench.models import build_model
from genbench.train import fit, make_trainer


@pytest.fixture(scope="module")
def digits():
    s = make_splits("digits", {}, "genbench", 512, 128, None, 0)
    return s.train, s.holdout


def _model(name, seed=0, **params):
    torch.manual_seed(seed)
    return build_model(name, (1, 8, 8), params)


SMALL = {"dcgan": {"latent": 8, "ngf": 8, "ndf": 8}, "conv-vae": {"latent": 4, "width": 8},
         "linear-gan": {"latent": 8, "g_hidden": [32], "d_hidden": [32]}, "linear-vae": {"hidden": [32], "latent": 4}}


@pytest.mark.parametrize("name", list(SMALL))
def test_image_models_learn_on_digits(name, digits):
    model = _model(name, **SMALL[name])
    history = fit([model], *digits, TrainSettings(epochs=6, batch_size=64, lr=2e-3), [0])[0]
    assert len(history) == 6 and all(np.isfinite(v) for row in history for v in row.values())
    if model.family == "vae":
        assert history[-1]["loss"] < 0.8 * history[0]["loss"]
        assert history[-1]["holdout_loss"] < history[0]["holdout_loss"]
    else:
        assert 0 < history[-1]["d_real"] < 1 and "holdout_d_loss" in history[-1]
    assert not model.training and next(model.parameters()).device.type == "cpu"


def _roundtrip(state):
    """Through bytes, as a checkpoint file is written and read (weights_only)."""
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)


@pytest.mark.parametrize("name", ["dcgan", "linear-gan", "conv-vae"])  # BatchNorm; Dropout (global RNG); VAE noise
def test_resuming_from_a_checkpoint_continues_exactly(name, digits):
    settings = TrainSettings(epochs=4, batch_size=64, lr=1e-3, lr_schedule="cosine", warmup_frac=0.1)
    straight = _model(name, **SMALL[name])
    expected = fit([straight], *digits, settings, [7])[0]

    first = make_trainer([_model(name, **SMALL[name])], *digits, settings, [7])
    first.run_epoch()
    first.run_epoch()
    state = _roundtrip(first.state_dict())
    torch.manual_seed(12345)  # whatever happened in between must not matter
    resumed_model = _model(name, seed=99, **SMALL[name])  # fresh weights, replaced by the checkpoint's
    resumed = make_trainer([resumed_model], *digits, settings, [7])
    resumed.load_state_dict(state)
    while resumed.epoch < settings.epochs:
        resumed.run_epoch()
    resumed.finish()
    assert resumed.histories[0] == expected
    for a, b in zip(straight.state_dict().values(), resumed_model.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_several_d_steps_per_g_step(digits):
    model = _model("linear-gan", **SMALL["linear-gan"])
    trainer = make_trainer([model], *digits, TrainSettings(epochs=1, batch_size=64, d_steps=2, lr=1e-3, lr_d=5e-4), [0])
    trainer.run_epoch()
    steps = lambda opt: int(next(iter(opt.state.values()))["step"])
    assert steps(trainer.optimizers["discriminator"]) == 8  # 512 images / 64
    assert steps(trainer.optimizers["generator"]) == 4
    assert trainer.optimizers["discriminator"].param_groups[0]["lr"] == 5e-4
    assert np.isfinite(trainer.histories[0][0]["g_loss"])


def test_bf16_channels_last_trains_like_fp32(digits):
    losses = {}
    for precision, layout in (("fp32", False), ("bf16", True)):
        model = _model("conv-vae", **SMALL["conv-vae"])
        settings = TrainSettings(epochs=3, batch_size=64, lr=2e-3, precision=precision, channels_last=layout)
        losses[precision] = [row["holdout_loss"] for row in fit([model], *digits, settings, [0])[0]]
    # bf16 rounds activations to 8 bits of mantissa: same curve within a few percent.
    assert losses["bf16"] == pytest.approx(losses["fp32"], rel=0.05)
    assert losses["bf16"][-1] < losses["bf16"][0]


def test_snapshots_are_fixed_latent_samples_and_reconstruction_pairs(digits):
    trainer = make_trainer([_model("conv-vae", **SMALL["conv-vae"])], *digits,
                           TrainSettings(epochs=1, batch_size=64), [3])
    first = trainer.images(16)[0]
    assert first["samples"].shape == (16, 1, 8, 8) and first["recon"].shape == (16, 1, 8, 8)
    again = trainer.images(16)[0]
    np.testing.assert_array_equal(first["samples"], again["samples"])  # same latents, no training between
    # Rows alternate: 8 hold-out images, then their reconstructions.
    real = digits[1][:8].astype(np.float32) / 255 * 2 - 1  # gaussian conv-vae: pixels in [-1, 1]
    np.testing.assert_allclose(first["recon"][:8], real, atol=1e-6)
