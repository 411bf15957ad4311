"""DDPM training (Ho et al. 2020, algorithm 1): predict the noise added at a uniformly
drawn timestep, squared error ("L_simple", eq. 14).

With t uniform on {0, ..., T-1}, eps ~ N(0, I) and x a data point:
x_t = sqrt(abar_t) x + sqrt(1 - abar_t) eps, target eps. The loop, logging, hold-out
loss and snapshots are flow matching's (``train/flow.py``); only the regression differs.
"""
from __future__ import annotations

import torch
from torch import Tensor

from genbench.train.flow import FlowTrainer


class DiffusionTrainer(FlowTrainer):
    """Per epoch: ``loss`` and ``holdout_loss`` (fixed noise and timesteps per seed)."""

    def regression(self, x: Tensor, noise: Tensor, u: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The timestep is floor(T Phi(u)): uniform on {0, ..., T-1} from a standard normal."""
        model = self.models[0]
        t = (torch.special.ndtr(u) * model.timesteps).long().clamp_(max=model.timesteps - 1)
        ab = model.alphas_cumprod[t].view(*t.shape, *[1] * (x.dim() - 2))
        return ab.sqrt() * x + (1 - ab).sqrt() * noise, t, noise
