import math

import pytest
import torch

from genbench.config import TrainSettings
from genbench.data import make_splits
from genbench.models import build_model
from genbench.train import fit
from genbench.train.gan import d_loss, g_loss
from genbench.train.loop import make_scheduler
from genbench.train.vae import vae_loss


def _data():
    s = make_splits("moons", {}, "genbench", 300, 60, 10, 0)
    return s.train, s.holdout


def _models(name, seeds, shape=(2,), **params):
    out = []
    for seed in seeds:
        torch.manual_seed(seed)
        out.append(build_model(name, shape, params))
    return out


@pytest.mark.parametrize("name", ["mlp-vae", "mlp-gan"])
def test_stacked_seeds_train_exactly_like_separate_runs(name):
    train, holdout = _data()
    settings = TrainSettings(epochs=2, batch_size=64, lr=1e-3, lr_schedule="cosine", warmup_frac=0.1)
    together = _models(name, [3, 4], hidden=32) if name == "mlp-vae" else _models(name, [3, 4])
    hist_together = fit(together, train, holdout, settings, [3, 4])
    for i, seed in enumerate([3, 4]):
        alone = _models(name, [seed], hidden=32) if name == "mlp-vae" else _models(name, [seed])
        hist_alone = fit(alone, train, holdout, settings, [seed])[0]
        for row_t, row_a in zip(hist_together[i], hist_alone):
            assert row_t == pytest.approx(row_a, rel=1e-4, abs=1e-6)
        for p_t, p_a in zip(together[i].parameters(), alone[0].parameters()):
            torch.testing.assert_close(p_t, p_a, rtol=1e-4, atol=1e-5)


def test_vae_history_has_the_studys_columns_and_loss_falls():
    train, holdout = _data()
    models = _models("mlp-vae", [0], hidden=32)
    history = fit(models, train, holdout, TrainSettings(epochs=15, batch_size=64, lr=3e-3), [0])[0]
    assert list(history[0]) == ["epoch", "recon", "kl", "loss", "holdout_loss"]
    assert history[-1]["loss"] < 0.5 * history[0]["loss"]
    assert history[-1]["holdout_loss"] < history[0]["holdout_loss"]


def test_gan_history_columns():
    train, holdout = _data()
    history = fit(_models("mlp-gan", [0]), train, holdout, TrainSettings(epochs=2), [0])[0]
    assert list(history[0]) == ["epoch", "d_loss", "g_loss", "d_real", "d_fake", "holdout_d_loss"]
    assert 0 < history[0]["d_real"] < 1 and 0 < history[0]["d_fake"] < 1


def test_vae_loss_against_closed_form():
    model = build_model("mlp-vae", (2,), {"beta": 0.5})
    x = torch.zeros(1, 4, 2)
    out = vae_loss(model, x, x + 1.0, torch.ones(1, 4, 3), torch.zeros(1, 4, 3))
    # recon: mean of 1^2; KL per dim with mu=1, sigma=1: 0.5 * mu^2 = 0.5
    assert out["recon"].item() == pytest.approx(1.0)
    assert out["kl"].item() == pytest.approx(0.5)
    assert out["loss"].item() == pytest.approx(1.0 + 0.5 * 0.5)


def test_gan_losses_at_an_undecided_discriminator():
    zeros = torch.zeros(1, 8)
    assert d_loss(zeros, zeros).item() == pytest.approx(2 * math.log(2))
    assert g_loss(zeros).item() == pytest.approx(math.log(2))


def test_cosine_schedule_warms_up_then_decays_to_zero():
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    sched = make_scheduler(opt, TrainSettings(epochs=1, lr_schedule="cosine", warmup_frac=0.1), total_steps=100)
    lrs = []
    for _ in range(100):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert lrs[55] == pytest.approx(0.5, abs=0.02) and lrs[-1] < 1e-3


def test_a_nan_between_finiteness_checks_is_named_at_its_own_step_and_seed(monkeypatch):
    """Values are checked every FINITE_CHECK_EVERY steps and at the epoch's end (a sync each,
    not one per step), yet the error names the first non-finite value's own step and seed."""
    from genbench.errors import TrainingDiverged
    from genbench.train import make_trainer
    from genbench.train.loop import FINITE_CHECK_EVERY, Trainer

    train, holdout = _data()  # 300 examples: 75 steps of 4 per epoch
    settings = TrainSettings(epochs=2, batch_size=4, lr=1e-3)
    trainer = make_trainer(_models("mlp-vae", [5, 6, 7], hidden=16), train, holdout, settings, [5, 6, 7])
    checked, original_check = [], Trainer.check_finite

    def counted(self, steps):
        checked.append([step for step, _ in steps])
        return original_check(self, steps)

    monkeypatch.setattr(Trainer, "check_finite", counted)
    trainer.run_epoch()
    assert [len(c) for c in checked] == [FINITE_CHECK_EVERY, FINITE_CHECK_EVERY, 75 - 2 * FINITE_CHECK_EVERY]
    assert [s for c in checked for s in c] == list(range(1, 76))

    original_batch, calls = trainer.train_batch, []

    def seed_6_blows_up_at_step_40(x):
        values = original_batch(x)
        calls.append(1)
        if len(calls) in (40, 41):  # two bad steps: the first is named
            values["kl"] = values["kl"].clone()
            values["kl"][1] = math.inf if len(calls) == 40 else math.nan
        return values

    trainer.train_batch = seed_6_blows_up_at_step_40
    with pytest.raises(TrainingDiverged) as caught:
        trainer.run_epoch()
    exc = caught.value
    assert (exc.loss, exc.value, exc.epoch, exc.step, exc.seed) == ("kl", math.inf, 2, 40, 6)
    assert len(calls) == 2 * FINITE_CHECK_EVERY  # stopped at the check after step 40
    assert "seed 6: kl became inf at epoch 2, step 40" in str(exc)
