"""Flow matching and diffusion through the real trainers: the regression they compute,
stacked seeds, learning, snapshots, and exact resume."""
import io

import numpy as np
import pytest
import torch

from genbench.config import TrainSettings
from genbench.data import make_splits
from genbench.models import build_model
from genbench.train import fit, make_trainer

TINY_UNET = {"width": 8, "channel_mult": [1, 2], "sample_steps": 4}


@pytest.fixture(scope="module")
def moons():
    s = make_splits("moons", {}, "genbench", 300, 60, 10, 0)
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


def test_flow_regression_is_the_straight_path_and_diffusion_the_noising(digits):
    x, noise = torch.rand(1, 5, 1, 8, 8) * 2 - 1, torch.randn(1, 5, 1, 8, 8)
    u = torch.tensor([[-3.0, -0.5, 0.0, 0.5, 3.0]])
    t_uniform = torch.special.ndtr(u)
    flow = make_trainer(_models("flow-matching", [0], (1, 8, 8), **TINY_UNET), *digits, TrainSettings(epochs=1), [0])
    inputs, t, target = flow.regression(x, noise, u)
    torch.testing.assert_close(t, t_uniform)
    torch.testing.assert_close(inputs[0, 2], 0.5 * noise[0, 2] + 0.5 * x[0, 2])  # u = 0: t = 1/2
    torch.testing.assert_close(target, x - noise)
    ddpm = make_trainer(_models("ddpm", [0], (1, 8, 8), **TINY_UNET), *digits, TrainSettings(epochs=1), [0])
    inputs, t, target = ddpm.regression(x, noise, u)
    assert t.tolist() == [[int(1000 * p) for p in t_uniform[0].tolist()]] and t[0, 2] == 500
    ab = ddpm.models[0].alphas_cumprod[500]
    torch.testing.assert_close(inputs[0, 2], ab.sqrt() * x[0, 2] + (1 - ab).sqrt() * noise[0, 2])
    torch.testing.assert_close(target, noise)


def test_stacked_mlp_flow_seeds_train_exactly_like_separate_runs(moons):
    settings = TrainSettings(epochs=2, batch_size=64, lr=1e-3, lr_schedule="cosine", warmup_frac=0.1)
    together = _models("mlp-flow", [3, 4], (2,), hidden=32, n_res=2)
    hist_together = fit(together, *moons, settings, [3, 4])
    alone = _models("mlp-flow", [4], (2,), hidden=32, n_res=2)
    hist_alone = fit(alone, *moons, settings, [4])[0]
    assert list(hist_alone[0]) == ["epoch", "loss", "holdout_loss"]
    for row_t, row_a in zip(hist_together[1], hist_alone):
        assert row_t == pytest.approx(row_a, rel=1e-4, abs=1e-6)
    for p_t, p_a in zip(together[1].parameters(), alone[0].parameters()):
        torch.testing.assert_close(p_t, p_a, rtol=1e-4, atol=1e-5)


def test_mlp_flow_learns_and_its_holdout_draws_are_fixed(moons):
    models = _models("mlp-flow", [0], (2,), hidden=32, n_res=2)
    trainer = make_trainer(models, *moons, TrainSettings(epochs=12, batch_size=64, lr=3e-3), [0])
    for _ in range(12):
        trainer.run_epoch()
    history = trainer.histories[0]
    assert history[-1]["loss"] < 0.8 * history[0]["loss"]
    assert history[-1]["holdout_loss"] < history[0]["holdout_loss"]
    with torch.no_grad():  # no training in between: the same hold-out draws give the same loss
        assert float(trainer.validate()["holdout_loss"][0]) == pytest.approx(history[-1]["holdout_loss"], rel=1e-6)


@pytest.mark.parametrize("name", ["flow-matching", "ddpm"])
def test_image_models_learn_on_digits_and_snapshot_in_range(name, digits):
    model = _models(name, [0], (1, 8, 8), **TINY_UNET)[0]
    trainer = make_trainer([model], *digits, TrainSettings(epochs=4, batch_size=32, lr=2e-3), [0])
    for _ in range(4):
        trainer.run_epoch()
    history = trainer.histories[0]
    assert history[-1]["loss"] < 0.8 * history[0]["loss"]
    assert history[-1]["holdout_loss"] < history[0]["holdout_loss"]
    shots = trainer.images(16)[0]["samples"]
    assert shots.shape == (16, 1, 8, 8) and -1 <= shots.min() and shots.max() <= 1
    np.testing.assert_array_equal(trainer.images(16)[0]["samples"], shots)  # fixed noise, deterministic sampler


def _roundtrip(state):
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)


@pytest.mark.parametrize("name,shape,params,seeds", [
    ("mlp-flow", (2,), {"hidden": 16, "n_res": 1}, [5, 6]),
    ("flow-matching", (1, 8, 8), TINY_UNET, [7]),
    ("ddpm", (1, 8, 8), TINY_UNET, [7]),
])
def test_resuming_from_a_checkpoint_continues_exactly(name, shape, params, seeds, moons, digits):
    data = moons if shape == (2,) else digits
    settings = TrainSettings(epochs=3, batch_size=64, lr=1e-3, lr_schedule="cosine", warmup_frac=0.1)
    straight = _models(name, seeds, shape, **params)
    expected = fit(straight, *data, settings, seeds)

    first = make_trainer(_models(name, seeds, shape, **params), *data, settings, seeds)
    first.run_epoch()
    state = _roundtrip(first.state_dict())
    torch.manual_seed(12345)  # whatever happened in between must not matter
    resumed_models = _models(name, [s + 100 for s in seeds], shape, **params)  # replaced by the checkpoint's
    resumed = make_trainer(resumed_models, *data, settings, seeds)
    resumed.load_state_dict(state)
    while resumed.epoch < settings.epochs:
        resumed.run_epoch()
    resumed.finish()
    assert resumed.histories == expected
    for a_model, b_model in zip(straight, resumed_models):
        for a, b in zip(a_model.state_dict().values(), b_model.state_dict().values()):
            torch.testing.assert_close(a, b, rtol=0, atol=0)
