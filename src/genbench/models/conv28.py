"""Study 002's convolutional models for 28x28 images: ``dcgan28`` and ``conv-vae28``.

The GAN's generator stack (Linear to 256x7x7, four 3x3 transposed convolutions, two of
them stride 2) doubles as the VAE's decoder, and its discriminator stack (four 3x3
convolutions, two of them stride 2) as the VAE's encoder, as in the study.
"""
from __future__ import annotations

from torch import nn

from genbench.models.base import GAN, VAE, Logit, check_image_shape, decoder_head
from genbench.models.blocks import activation

_G_CHANNELS = (256, 128, 64, 32)  # 7x7 -> 14x14 -> 14 -> 14 -> 28x28
_G_STRIDES = (2, 1, 1, 2)
_D_CHANNELS = (32, 64, 128, 256)  # 28x28 -> 14 -> 14 -> 14 -> 7x7
_D_STRIDES = (2, 1, 1, 2)


def up_stack(latent: int, channels: int, head: list[nn.Module]) -> nn.Sequential:
    """Linear(latent, 256*7*7) -> 256x7x7 -> transposed convs -> channels x 28 x 28."""
    layers: list[nn.Module] = [nn.Linear(latent, _G_CHANNELS[0] * 49), nn.ReLU(), nn.Unflatten(-1, (_G_CHANNELS[0], 7, 7))]
    outs = (*_G_CHANNELS[1:], channels)
    for i, (c_in, c_out, stride) in enumerate(zip(_G_CHANNELS, outs, _G_STRIDES)):
        layers.append(nn.ConvTranspose2d(c_in, c_out, 3, stride, 1, output_padding=stride - 1))
        if i < len(outs) - 1:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers, *head)


def down_stack(channels: int, dropout: float) -> nn.Sequential:
    """channels x 28 x 28 -> convs with LeakyReLU(0.2) (+ Dropout2d) -> flat 256*7*7."""
    layers: list[nn.Module] = []
    for c_in, c_out, stride in zip((channels, *_D_CHANNELS[:-1]), _D_CHANNELS, _D_STRIDES):
        layers += [nn.Conv2d(c_in, c_out, 3, stride, 1), activation("leaky_relu_0.2")]
        if dropout:
            layers.append(nn.Dropout2d(dropout))
    layers.append(nn.Flatten(-3))
    return nn.Sequential(*layers)


class DCGAN28(GAN):
    """Study 002's DCGAN: tanh generator, latent 100; D with Dropout2d(0.25), Linear(12544, 1)."""

    def __init__(self, data_shape: tuple[int, ...], latent: int = 100, dropout: float = 0.25) -> None:
        channels, _ = check_image_shape("dcgan28", data_shape, sizes=(28,))
        generator = up_stack(latent, channels, [nn.Tanh()])
        discriminator = nn.Sequential(down_stack(channels, dropout), nn.Linear(_D_CHANNELS[-1] * 49, 1), Logit())
        super().__init__(generator, discriminator, latent, data_shape)


class ConvVAE28(VAE):
    """Study 002's convolutional VAE: the DCGAN's stacks as encoder and decoder, latent 16,
    sigmoid output with BCE + KL summed."""

    def __init__(self, data_shape: tuple[int, ...], latent: int = 16, likelihood: str = "bernoulli",
                 beta: float = 1.0) -> None:
        channels, _ = check_image_shape("conv-vae28", data_shape, sizes=(28,))
        decoder = up_stack(latent, channels, decoder_head(likelihood))
        super().__init__(down_stack(channels, 0.0), _D_CHANNELS[-1] * 49, latent, decoder, data_shape,
                         likelihood, beta, "sum")
