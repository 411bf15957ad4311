import pytest
import torch
from torch import nn

from genbench.models import build_model
from genbench.train.stacked import Stacked


def test_stacked_model_computes_each_seeds_own_function():
    models = []
    for seed in range(3):
        torch.manual_seed(seed)
        models.append(build_model("mlp-vae", (2,), {"hidden": 16, "latent": 4}))
    stacked = Stacked(models)
    x, eps = torch.randn(3, 9, 2), torch.randn(3, 9, 4)
    recon, mu, logvar = stacked(x, eps)
    for i, model in enumerate(models):
        want = model(x[i], eps[i])
        for got, ref in zip((recon[i], mu[i], logvar[i]), want):
            torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-6)


def test_write_back_returns_trained_weights_to_each_seed():
    models = [nn.Sequential(nn.Linear(2, 3), nn.LayerNorm(3), nn.ReLU()) for _ in range(2)]
    stacked = Stacked(models)
    with torch.no_grad():
        for p in stacked.parameters():
            p.add_(1.0)
    before = [m[0].weight.clone() for m in models]
    stacked.write_back()
    for m, old in zip(models, before):
        torch.testing.assert_close(m[0].weight, old + 1.0)
    x = torch.randn(2, 5, 2)
    torch.testing.assert_close(stacked(x)[1], models[1](x[1]))


def test_layers_without_a_seed_twin_are_refused():
    with pytest.raises(ValueError, match="no seed-batched twin for BatchNorm1d"):
        Stacked([nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2)) for _ in range(2)])


def _in_place(net):
    return [type(m).__name__ for m in net.modules() if getattr(m, "inplace", False)]


def test_activations_after_a_seed_twin_work_in_place_and_the_originals_do_not():
    models = []
    for seed in range(2):
        torch.manual_seed(seed)
        models.append(build_model("mlp-gan", (2,), {}))
    gen, disc = Stacked([m.generator for m in models]), Stacked([m.discriminator for m in models])
    # Every LeakyReLU of study 000's GAN follows a Linear: G has 1 + 2 blocks x 2, D 1 + 4 x 2.
    assert _in_place(gen.net) == ["LeakyReLU"] * 5 and _in_place(disc.net) == ["LeakyReLU"] * 9
    assert all(_in_place(m) == [] for m in models)


def test_activations_whose_input_may_be_used_again_stay_out_of_place():
    shared = nn.ReLU()

    class Reuses(nn.Sequential):  # a Sequential subclass may read its layers' outputs again
        pass

    def net():
        return nn.Sequential(
            nn.ReLU(), nn.Linear(2, 4),            # first in its Sequential: its input is the caller's
            shared, nn.Linear(4, 4), shared,       # one module at two places
            nn.LeakyReLU(-0.5),                    # after an activation; a negative slope
            nn.Linear(4, 4), nn.LeakyReLU(0.2),    # this one alone can work in place
            Reuses(nn.Linear(4, 4), nn.ReLU()),
        )

    assert _in_place(Stacked([net(), net()]).net) == ["LeakyReLU"]


def test_in_place_activations_train_bit_identically(monkeypatch):
    from genbench.config import TrainSettings
    from genbench.data import make_splits
    from genbench.train import fit
    from genbench.train import stacked as stacked_module

    splits = make_splits("moons", {}, "genbench", 300, 60, 10, 0)
    settings = TrainSettings(epochs=2, batch_size=64, lr=1e-3)

    def train(name):
        models = []
        for seed in (3, 4):
            torch.manual_seed(seed)
            models.append(build_model(name, (2,), {}))
        return fit(models, splits.train, splits.holdout, settings, [3, 4]), models

    for name in ("mlp-gan", "mlp-vae"):
        history, models = train(name)
        with monkeypatch.context() as patch:
            patch.setattr(stacked_module, "_activate_in_place", lambda net: None)
            history_out_of_place, models_out_of_place = train(name)
        assert history == history_out_of_place
        for a, b in zip(models, models_out_of_place):
            for p, q in zip(a.parameters(), b.parameters()):
                assert torch.equal(p, q)
