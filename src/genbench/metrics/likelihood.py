"""True log-likelihoods of the test split, where one exists: a model that can compute its
own density exactly (flows, by integrating the divergence of their velocity along the
ODE: ``FlowMatching.log_likelihood``), a lower bound that tightens to it (VAEs: the
importance-weighted bound of Burda et al. 2016), and for the oracle the data's
closed-form density (Gaussian mixtures). GANs have none: for them only the KDE metrics
apply."""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor

from genbench.metrics.density import mixture_log_density

CHUNK = 2000  # test points per likelihood pass
IWAE_SAMPLES = 1000  # K: posterior samples per test point (Burda et al.'s largest)
IWAE_CHUNK = 50  # test points per IWAE pass: K x this many decoder evaluations at once
IWAE_SEED = 0  # the posterior draws are fixed, so the metric is a function of the model


def has_exact_likelihood(model: Any) -> bool:
    """Whether ``model`` computes log p(x) of its own samples' distribution exactly."""
    return callable(getattr(model, "log_likelihood", None))


def mean_test_log_likelihood(model: torch.nn.Module, test: np.ndarray) -> float:
    """Mean exact log p(x) of the test points under ``model``, in nats per point."""
    model.eval()
    x = torch.as_tensor(np.asarray(test), dtype=torch.float32)
    return float(torch.cat([model.log_likelihood(part) for part in x.split(CHUNK)]).double().mean())


def has_likelihood_bound(model: Any) -> bool:
    """Whether ``model`` is an autoencoder with a decoder density (genbench's VAEs)."""
    return all(callable(getattr(model, name, None)) for name in ("encode", "decoder_log_density"))


def iwae_log_likelihood(model: torch.nn.Module, x: Tensor, k: int, generator: torch.Generator) -> Tensor:
    """The importance-weighted bound on log p(x) per row of ``x`` (Burda et al. 2016, eq. 8):
    log (1/K) sum_k p(x | z_k) p(z_k) / q(z_k | x) with z_k ~ q(z | x). K = 1 is the ELBO;
    it rises towards log p(x) as K grows, and equals it for any K when q is the exact
    posterior."""
    mu, logvar = (t.float() for t in model.encode(x))
    eps = torch.randn(k, *mu.shape, generator=generator, dtype=mu.dtype)
    z = mu + torch.exp(0.5 * logvar) * eps  # (K, n, J)
    out = model.decoder(z.flatten(0, 1)).unflatten(0, z.shape[:2])
    log_px_z = model.decoder_log_density(x, out)  # (K, n)
    log_2pi = math.log(2 * math.pi)
    log_pz = -0.5 * (z.pow(2) + log_2pi).sum(-1)
    log_qz = -0.5 * (eps.pow(2) + logvar + log_2pi).sum(-1)
    return torch.logsumexp(log_px_z + log_pz - log_qz, dim=0) - math.log(k)


@torch.no_grad()
def mean_test_iwae(model: torch.nn.Module, test: np.ndarray, k: int = IWAE_SAMPLES) -> float:
    """Mean IWAE bound over the test points, in nats per point, from fixed draws."""
    model.eval()
    x = torch.as_tensor(np.asarray(test), dtype=torch.float32)
    gen = torch.Generator().manual_seed(IWAE_SEED)
    return float(torch.cat([iwae_log_likelihood(model, part, k, gen) for part in x.split(IWAE_CHUNK)]).double().mean())


def iwae_test_log_likelihood(model: torch.nn.Module | None, test: np.ndarray, real_data: bool,
                             modes: tuple[np.ndarray, float] | None) -> float | None:
    """The oracle's true mean test log-density where the data has a closed form (the
    ceiling every bound sits under); a VAE's IWAE bound; else None."""
    if real_data:
        return float(mixture_log_density(test, *modes).mean()) if modes is not None else None
    if model is not None and has_likelihood_bound(model):
        return mean_test_iwae(model, test)
    return None


def exact_test_log_likelihood(model: torch.nn.Module | None, test: np.ndarray, real_data: bool,
                              modes: tuple[np.ndarray, float] | None) -> float | None:
    """The oracle's true mean test log-density where the data has a closed form; the
    model's exact one where it has one; else None (the metric does not apply)."""
    if real_data:
        return float(mixture_log_density(test, *modes).mean()) if modes is not None else None
    if model is not None and has_exact_likelihood(model):
        return mean_test_log_likelihood(model, test)
    return None
