"""True log-likelihoods of the test split, where one exists: a model that can compute its
own density exactly (flows, by integrating the divergence of their velocity along the
ODE: ``FlowMatching.log_likelihood``), and for the oracle the data's closed-form density
(Gaussian mixtures). VAEs bound theirs (IWAE) and GANs have none: for them only the KDE
metrics apply."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from genbench.metrics.density import mixture_log_density

CHUNK = 2000  # test points per likelihood pass


def has_exact_likelihood(model: Any) -> bool:
    """Whether ``model`` computes log p(x) of its own samples' distribution exactly."""
    return callable(getattr(model, "log_likelihood", None))


def mean_test_log_likelihood(model: torch.nn.Module, test: np.ndarray) -> float:
    """Mean exact log p(x) of the test points under ``model``, in nats per point."""
    model.eval()
    x = torch.as_tensor(np.asarray(test), dtype=torch.float32)
    return float(torch.cat([model.log_likelihood(part) for part in x.split(CHUNK)]).double().mean())


def exact_test_log_likelihood(model: torch.nn.Module | None, test: np.ndarray, real_data: bool,
                              modes: tuple[np.ndarray, float] | None) -> float | None:
    """The oracle's true mean test log-density where the data has a closed form; the
    model's exact one where it has one; else None (the metric does not apply)."""
    if real_data:
        return float(mixture_log_density(test, *modes).mean()) if modes is not None else None
    if model is not None and has_exact_likelihood(model):
        return mean_test_log_likelihood(model, test)
    return None
