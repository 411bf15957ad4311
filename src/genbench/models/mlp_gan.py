"""Study 000's residual-MLP GAN: G 4,386 and D 14,617 parameters at its defaults."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from genbench.models.blocks import ResBlock, activation


class MLPGenerator(nn.Module):
    def __init__(self, latent: int, hidden: int, n_res: int, data_dim: int, act: str) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(latent, hidden),
            activation(act),
            *[ResBlock(hidden, act, act_out=True) for _ in range(n_res)],
            nn.Linear(hidden, data_dim),
        )

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z)


class MLPDiscriminator(nn.Module):
    """Returns logits: the study's final Sigmoid is folded into BCE-with-logits, which is
    the same loss computed without overflow."""

    def __init__(self, data_dim: int, hidden: int, n_res: int, act: str) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(data_dim, hidden),
            activation(act),
            *[ResBlock(hidden, act, act_out=True) for _ in range(n_res)],
            nn.Linear(hidden, 1),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).squeeze(-1)


class MLPGAN(nn.Module):
    """Generator and discriminator as one module, so a run saves and loads as one thing.

    Defaults are study 000's: latent 2, G width 32 with 2 blocks, D width 42 with 4 blocks,
    LeakyReLU (slope 0.01) throughout.
    """

    family = "gan"

    def __init__(
        self,
        data_dim: int,
        latent: int = 2,
        g_hidden: int = 32,
        g_res: int = 2,
        d_hidden: int = 42,
        d_res: int = 4,
        activation_name: str = "leaky_relu",
    ) -> None:
        super().__init__()
        self.latent_dim = latent
        self.generator = MLPGenerator(latent, g_hidden, g_res, data_dim, activation_name)
        self.discriminator = MLPDiscriminator(data_dim, d_hidden, d_res, activation_name)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        device = next(self.parameters()).device
        z = torch.randn(n, self.latent_dim, generator=generator, device=device)
        return self.generator(z)
