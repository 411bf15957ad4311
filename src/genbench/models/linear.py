"""Fully connected image models: study 002's linear GAN and linear VAE, study 003's MLP VAE.

Images are flattened on the way in and unflattened on the way out, so the same layers
serve any image size (and several seeds can train stacked, see ``train.stacked``).
"""
from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

from torch import nn

from genbench.models.base import GAN, VAE, Logit, decoder_head, flat_size
from genbench.models.blocks import activation


def mlp(sizes: Sequence[int], act: str, dropout: float = 0.0) -> list[nn.Module]:
    """Linear layers between consecutive ``sizes``, each followed by ``act`` (and dropout)."""
    layers: list[nn.Module] = []
    for n_in, n_out in pairwise(sizes):
        layers += [nn.Linear(n_in, n_out), activation(act)]
        if dropout:
            layers.append(nn.Dropout(dropout))
    return layers


class LinearGAN(GAN):
    """Study 002: G 100-128-256-512-784 with LeakyReLU(0.2) and tanh; D 784-512-256-128-1
    with LeakyReLU(0.2) and Dropout(0.4) after each hidden layer."""

    def __init__(self, data_shape: tuple[int, ...], latent: int = 100, g_hidden: Sequence[int] = (128, 256, 512),
                 d_hidden: Sequence[int] = (512, 256, 128), dropout: float = 0.4,
                 activation_name: str = "leaky_relu_0.2") -> None:
        dim = flat_size(data_shape)
        generator = nn.Sequential(
            *mlp([latent, *g_hidden], activation_name),
            nn.Linear(g_hidden[-1], dim),
            nn.Tanh(),
            nn.Unflatten(-1, tuple(data_shape)),
        )
        discriminator = nn.Sequential(
            nn.Flatten(-len(data_shape)),
            *mlp([dim, *d_hidden], activation_name, dropout),
            nn.Linear(d_hidden[-1], 1),
            Logit(),
        )
        super().__init__(generator, discriminator, latent, data_shape)


class LinearVAE(VAE):
    """Encoder dim-hidden...-(mu, logvar), decoder latent-reversed hidden-dim.

    Defaults are study 002's linear VAE (784-512-128-2x16 / 16-128-512-784, sigmoid
    output, BCE + KL summed); study 003's ``mlp-vae64`` is the same class with hidden
    (512, 512), latent 16 and LeakyReLU(0.2).
    """

    def __init__(self, data_shape: tuple[int, ...], hidden: Sequence[int] = (512, 128), latent: int = 16,
                 activation_name: str = "relu", likelihood: str = "bernoulli", beta: float = 1.0) -> None:
        dim = flat_size(data_shape)
        encoder = nn.Sequential(nn.Flatten(-len(data_shape)), *mlp([dim, *hidden], activation_name))
        back = list(reversed(hidden))
        decoder = nn.Sequential(
            *mlp([latent, *back], activation_name),
            nn.Linear(back[-1], dim),
            *decoder_head(likelihood),
            nn.Unflatten(-1, tuple(data_shape)),
        )
        super().__init__(encoder, hidden[-1], latent, decoder, data_shape, likelihood, beta, "sum")
