"""Study 000's residual-MLP GAN: G 4,386 and D 14,617 parameters at its defaults on 2D data."""
from __future__ import annotations

from torch import nn

from genbench.models.base import GAN, Logit, flat_size
from genbench.models.blocks import ResBlock, activation


class MLPGAN(GAN):
    """Defaults are study 000's: latent 2, G width 32 with 2 blocks, D width 42 with 4
    blocks, LeakyReLU (slope 0.01) throughout. D's final Sigmoid is folded into
    BCE-with-logits, the same loss computed without overflow."""

    def __init__(
        self,
        data_shape: tuple[int, ...],
        latent: int = 2,
        g_hidden: int = 32,
        g_res: int = 2,
        d_hidden: int = 42,
        d_res: int = 4,
        activation_name: str = "leaky_relu",
    ) -> None:
        dim = flat_size(data_shape)
        generator = nn.Sequential(
            nn.Linear(latent, g_hidden),
            activation(activation_name),
            *[ResBlock(g_hidden, activation_name, act_out=True) for _ in range(g_res)],
            nn.Linear(g_hidden, dim),
            nn.Unflatten(-1, tuple(data_shape)),
        )
        discriminator = nn.Sequential(
            nn.Flatten(-len(data_shape)),
            nn.Linear(dim, d_hidden),
            activation(activation_name),
            *[ResBlock(d_hidden, activation_name, act_out=True) for _ in range(d_res)],
            nn.Linear(d_hidden, 1),
            Logit(),
        )
        super().__init__(generator, discriminator, latent, data_shape)
