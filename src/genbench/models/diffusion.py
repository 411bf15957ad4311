"""Denoising diffusion (Ho et al. 2020) sampled with DDIM (Song et al. 2021).

Forward process: x_t = sqrt(abar_t) x + sqrt(1 - abar_t) eps over T = 1000 steps with
betas linear from 1e-4 to 0.02 (Ho et al., sec. 4), abar_t = prod_{s<=t} (1 - beta_s).
The network predicts eps (``train/diffusion.py`` regresses it). Sampling is DDIM with
eta = 0: deterministic, so ``generate(z)`` is a function of the noise like every other
model's, in ``sample_steps`` steps on "trailing" timesteps T-1, ..., T/steps - 1 (Lin et
al. 2024: the first step starts from pure noise at T-1, which "leading" spacing misses).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from genbench.models.base import GenerativeModel, check_image_shape
from genbench.models.flow import check_steps
from genbench.models.unet import UNet


def linear_alphas_cumprod(timesteps: int, beta_start: float, beta_end: float) -> Tensor:
    """abar_t for t = 0 .. T-1 (computed in float64: a product of 1000 factors)."""
    betas = torch.linspace(beta_start, beta_end, timesteps, dtype=torch.float64)
    return torch.cumprod(1 - betas, dim=0).float()


def ddim_timesteps(timesteps: int, steps: int) -> list[int]:
    """``steps`` timesteps from T-1 down, evenly spaced, ending at T/steps - 1."""
    return [timesteps * (steps - k) // steps - 1 for k in range(steps)]


class DDPM(GenerativeModel):
    """An eps-prediction network ``eps_net(x, t)`` (t in [0, 1): the timestep over T) and
    its DDIM sampler. Image samples, and the clean image predicted at each DDIM step, are
    clipped to [-1, 1] (as the DDPM and DDIM reference samplers do)."""

    family = "diffusion"

    def __init__(self, eps_net: nn.Module, data_shape: tuple[int, ...], timesteps: int = 1000,
                 beta_start: float = 1e-4, beta_end: float = 0.02, sample_steps: int = 50) -> None:
        super().__init__()
        check_steps(timesteps)
        check_steps(sample_steps, timesteps)
        self.eps_net = eps_net
        self.data_shape = tuple(data_shape)
        self.noise_shape = self.data_shape
        self.value_range = (-1.0, 1.0) if len(self.data_shape) == 3 else None
        self.timesteps, self.sample_steps = timesteps, sample_steps
        # Derived from the settings, not learnt: kept out of the weights file.
        self.register_buffer("alphas_cumprod", linear_alphas_cumprod(timesteps, beta_start, beta_end),
                             persistent=False)

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        """Predicted noise for x_t at integer timesteps ``t`` (one per example)."""
        return self.eps_net(x, t.float() / self.timesteps)

    def clip(self, x: Tensor) -> Tensor:
        return x.clamp(*self.value_range) if self.value_range else x

    @torch.no_grad()
    def generate(self, z: Tensor) -> Tensor:
        x = z
        steps = ddim_timesteps(self.timesteps, self.sample_steps)
        batch = z.shape[: z.dim() - len(self.data_shape)]
        for i, t in enumerate(steps):
            ab = self.alphas_cumprod[t]
            ab_prev = self.alphas_cumprod[steps[i + 1]] if i + 1 < len(steps) else torch.ones_like(ab)
            eps = self(x, torch.full(batch, t, device=z.device)).float()
            x0 = self.clip((x - (1 - ab).sqrt() * eps) / ab.sqrt())
            eps = (x - ab.sqrt() * x0) / (1 - ab).sqrt()  # the noise consistent with the clipped x0
            x = ab_prev.sqrt() * x0 + (1 - ab_prev).sqrt() * eps
        return x


class UNetDDPM(DDPM):
    """``ddpm``: DDPM on images with the small U-Net of ``models/unet.py``."""

    def __init__(self, data_shape: tuple[int, ...], width: int = 32, channel_mult: tuple[int, ...] | None = None,
                 attention: bool = True, sample_steps: int = 50) -> None:
        channels, size = check_image_shape("ddpm", data_shape)
        super().__init__(UNet("ddpm", channels, size, width, channel_mult, attention), data_shape,
                         sample_steps=sample_steps)
