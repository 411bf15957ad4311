"""Study 000's residual-MLP VAE (208,690 parameters at its defaults on 2D data)."""
from __future__ import annotations

from torch import nn

from genbench.models.base import VAE, flat_size
from genbench.models.blocks import ResBlock, activation


class MLPVAE(VAE):
    """Encoder Linear -> act -> LayerNorm -> n_res ResBlocks -> (mu, logvar) heads;
    decoder Linear -> act -> LayerNorm -> n_res ResBlocks -> Linear (Gaussian mean only).

    The defaults are study 000's: width 128, latent 24, three blocks, ReLU, beta 0.2, and
    its loss: squared error and KL each averaged (``reduction='mean'``).
    """

    def __init__(
        self,
        data_shape: tuple[int, ...],
        hidden: int = 128,
        latent: int = 24,
        n_res: int = 3,
        activation_name: str = "relu",
        beta: float = 0.2,
    ) -> None:
        dim = flat_size(data_shape)
        encoder = nn.Sequential(
            nn.Flatten(-len(data_shape)),
            nn.Linear(dim, hidden),
            activation(activation_name),
            nn.LayerNorm(hidden),
            *[ResBlock(hidden, activation_name) for _ in range(n_res)],
        )
        decoder = nn.Sequential(
            nn.Linear(latent, hidden),
            activation(activation_name),
            nn.LayerNorm(hidden),
            *[ResBlock(hidden, activation_name) for _ in range(n_res)],
            nn.Linear(hidden, dim),
            nn.Unflatten(-1, tuple(data_shape)),
        )
        super().__init__(encoder, hidden, latent, decoder, data_shape, "gaussian", beta, "mean")
