"""Study 000's residual-MLP VAE (208,690 parameters at its defaults)."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from genbench.models.blocks import ResBlock, activation


class MLPVAE(nn.Module):
    """Encoder Linear -> act -> LayerNorm -> n_res ResBlocks -> (mu, logvar) heads;
    decoder Linear -> act -> LayerNorm -> n_res ResBlocks -> Linear (Gaussian mean only).

    The defaults are study 000's: width 128, latent 24, three blocks, ReLU, beta 0.2.
    """

    family = "vae"

    def __init__(
        self,
        data_dim: int,
        hidden: int = 128,
        latent: int = 24,
        n_res: int = 3,
        activation_name: str = "relu",
        beta: float = 0.2,
    ) -> None:
        super().__init__()
        self.latent_dim = latent
        self.beta = beta
        self.encoder = nn.Sequential(
            nn.Linear(data_dim, hidden),
            activation(activation_name),
            nn.LayerNorm(hidden),
            *[ResBlock(hidden, activation_name) for _ in range(n_res)],
        )
        self.fc_mu = nn.Linear(hidden, latent)
        self.fc_logvar = nn.Linear(hidden, latent)
        self.decoder = nn.Sequential(
            nn.Linear(latent, hidden),
            activation(activation_name),
            nn.LayerNorm(hidden),
            *[ResBlock(hidden, activation_name) for _ in range(n_res)],
            nn.Linear(hidden, data_dim),
        )

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        h = self.encoder(x)
        return self.fc_mu(h), self.fc_logvar(h)

    def decode(self, z: Tensor) -> Tensor:
        return self.decoder(z)

    def forward(self, x: Tensor, eps: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Reconstruction, mu, logvar; ``eps`` ~ N(0, I) comes from the caller so that the
        training loop owns every random draw (and seeds stay reproducible)."""
        mu, logvar = self.encode(x)
        z = mu + torch.exp(0.5 * logvar) * eps
        return self.decode(z), mu, logvar

    @torch.no_grad()
    def reconstruct(self, x: Tensor) -> Tensor:
        return self.decode(self.encode(x)[0])

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        device = next(self.parameters()).device
        z = torch.randn(n, self.latent_dim, generator=generator, device=device)
        return self.decode(z)
