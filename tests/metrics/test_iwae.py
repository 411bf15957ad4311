"""The importance-weighted likelihood bound (IWAE) against a VAE whose likelihood is known
in closed form: a linear-Gaussian decoder with its exact posterior as the encoder."""
import math

import numpy as np
import pytest
import torch
from torch import nn

from genbench.metrics.density import mixture_log_density
from genbench.metrics.likelihood import iwae_log_likelihood, iwae_test_log_likelihood, mean_test_iwae
from genbench.models import build_model
from genbench.models.base import VAE

SIGMA2 = 0.25  # decoder variance: beta / 2 with the `sum` reduction


class LinearGaussianVAE(VAE):
    """x = W z + b + sigma eps, z ~ N(0, I): p(x) = N(b, W W^T + sigma^2 I). With W's
    columns orthogonal the posterior N(M^-1 W^T (x - b) / sigma^2, M^-1), M = I + W^T W /
    sigma^2, is diagonal, so the encoder's heads can be it exactly."""

    def __init__(self):
        super().__init__(nn.Identity(), 2, 2, nn.Linear(2, 2), (2,), "gaussian", 2 * SIGMA2, "sum")
        angle = 0.6
        rotation = torch.tensor([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
        self.w, self.b = rotation @ torch.diag(torch.tensor([1.2, 0.7])), torch.tensor([0.5, -1.0])
        cov = torch.linalg.inv(torch.eye(2) + self.w.T @ self.w / SIGMA2)
        gain = cov @ self.w.T / SIGMA2
        with torch.no_grad():
            self.decoder.weight.copy_(self.w)
            self.decoder.bias.copy_(self.b)
            self.fc_mu.weight.copy_(gain)
            self.fc_mu.bias.copy_(-gain @ self.b)
            self.fc_logvar.weight.zero_()
            self.fc_logvar.bias.copy_(torch.log(torch.diagonal(cov)))

    def log_density(self, x):
        return torch.distributions.MultivariateNormal(self.b, self.w @ self.w.T + SIGMA2 * torch.eye(2)).log_prob(x)


@pytest.fixture
def points():
    return torch.randn(200, 2, generator=torch.Generator().manual_seed(0)) * 1.5 + torch.tensor([0.5, -1.0])


@torch.no_grad()
def test_with_the_exact_posterior_every_k_gives_the_true_likelihood(points):
    vae = LinearGaussianVAE()
    assert vae.decoder_variance() == SIGMA2
    truth = vae.log_density(points)
    for k in (1, 10, 1000):
        got = iwae_log_likelihood(vae, points, k, torch.Generator().manual_seed(k))
        torch.testing.assert_close(got, truth, atol=1e-4, rtol=0)


@torch.no_grad()
def test_with_a_wrong_posterior_the_bound_tightens_with_k(points):
    vae = LinearGaussianVAE()
    vae.fc_logvar.bias.add_(1.0)  # posterior too wide and off-centre
    vae.fc_mu.bias.add_(0.3)
    truth = float(vae.log_density(points).mean())
    bound = {k: float(iwae_log_likelihood(vae, points, k, torch.Generator().manual_seed(0)).mean())
             for k in (1, 10, 1000)}
    assert bound[1] < bound[10] < bound[1000] and truth - bound[1] > 0.5  # K = 1: the ELBO, well below
    assert bound[1000] == pytest.approx(truth, abs=0.02)


def test_the_metric_for_vaes_the_oracle_and_models_without_a_bound():
    centres, std = np.array([[1.0, 0.0], [-1.0, 0.0]]), 0.2
    test = np.random.default_rng(0).normal(size=(120, 2)).astype(np.float32)
    assert iwae_test_log_likelihood(None, test, True, (centres, std)) == pytest.approx(
        float(mixture_log_density(test, centres, std).mean()))
    assert iwae_test_log_likelihood(None, test, True, None) is None
    assert iwae_test_log_likelihood(build_model("mlp-gan", (2,), {}), test, False, None) is None
    assert iwae_test_log_likelihood(build_model("mlp-flow", (2,), {"hidden": 8, "n_res": 1}), test, False, None) is None
    torch.manual_seed(0)
    vae = build_model("mlp-vae", (2,), {"hidden": 16, "latent": 4, "n_res": 1})
    # study 000's loss weighting (squared error and KL each averaged, beta 0.2) is the ELBO
    # of a decoder with variance beta * D / (2 J).
    assert vae.decoder_variance() == pytest.approx(0.2 * 2 / (2 * 4))
    got = iwae_test_log_likelihood(vae, test, False, None)
    assert got == mean_test_iwae(vae, test) and math.isfinite(got)  # fixed draws: a function of the model
    assert mean_test_iwae(vae, test, k=1) < got
