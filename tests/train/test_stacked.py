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
