"""Radford et al. (2016) DCGAN for 28, 32 and 64 pixels (study 001's ``dcgan``, study
003's ``dcgan64``), and study 001's convolutional VAE built from the same stacks.

Generator: a 4x4 (or 7x7 for 28 pixels) transposed convolution from the latent code,
then 4x4 stride-2 transposed convolutions halving the channels, BatchNorm and ReLU
between, tanh out. Discriminator mirrored: 4x4 stride-2 convolutions doubling the
channels, BatchNorm (not on the first) and LeakyReLU(0.2), a last convolution to one
logit. Weights from N(0, 0.02).
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from genbench.errors import GenbenchError
from genbench.models.base import (
    GAN,
    VAE,
    Logit,
    check_image_shape,
    decoder_head,
    init_dcgan_weights,
)
from genbench.models.blocks import activation


def plan(model: str, size: int) -> tuple[int, int]:
    """(first feature map size, number of stride-2 layers) for a ``size``-pixel image."""
    for start in (4, 7):
        doublings = (size // start).bit_length() - 1
        if size == start << doublings and doublings >= 1:
            return start, doublings
    raise GenbenchError(f"model {model!r} takes square images of 4 or 7 times a power of two pixels "
                        f"(28, 32, 64, ...), the dataset gives {size}x{size}")


class LatentConvTranspose2d(nn.ConvTranspose2d):
    """The generator's first layer, a transposed convolution from the latent code as a 1x1
    map to the first feature map, computed on the CPU as the one matrix product it is.

    Same parameters and state dict as ``nn.ConvTranspose2d``, same maths up to rounding.
    oneDNN runs it as a convolution over a padded map: ``dcgan``'s (64 to 128 channels,
    7x7 out) forward + backward at batch 128 in bf16 took 8.7 ms as the transposed
    convolution and 2.1 ms as the product on a 2-core Zen 5. The output comes in the
    weight's memory format (channels_last when the model is). On a GPU, or given a map
    larger than 1x1, the transposed convolution runs.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.groups != 1 or self.dilation != (1, 1) or self.padding != (0, 0) or self.output_padding != (0, 0):
            raise ValueError("LatentConvTranspose2d supports groups=1, dilation=1 and no padding only")

    def forward(self, x: Tensor, output_size: list[int] | None = None) -> Tensor:
        if x.device.type != "cpu" or x.dim() != 4 or x.shape[-2:] != (1, 1) or output_size is not None:
            return super().forward(x, output_size)
        n, (kh, kw) = x.shape[0], self.kernel_size
        weight = self.weight  # read once: a parametrization (spectral norm) recomputes it per read
        if weight.is_contiguous(memory_format=torch.channels_last):  # (in, kh, kw, out) in memory
            out = (x.flatten(1) @ weight.permute(0, 2, 3, 1).reshape(self.in_channels, -1))
            out = out.view(n, kh, kw, self.out_channels).permute(0, 3, 1, 2)
        else:
            out = (x.flatten(1) @ weight.reshape(self.in_channels, -1)).view(n, self.out_channels, kh, kw)
        return out if self.bias is None else out + self.bias.to(out.dtype)[:, None, None]


def generator_stack(latent: int, channels: int, size: int, width: int, head: list[nn.Module]) -> nn.Sequential:
    start, doublings = plan("dcgan", size)
    c = width * 2 ** (doublings - 1)
    layers: list[nn.Module] = [nn.Unflatten(-1, (latent, 1, 1)),
                               LatentConvTranspose2d(latent, c, start, 1, 0, bias=False), nn.BatchNorm2d(c), nn.ReLU()]
    for _ in range(doublings - 1):
        layers += [nn.ConvTranspose2d(c, c // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(c // 2), nn.ReLU()]
        c //= 2
    layers.append(nn.ConvTranspose2d(c, channels, 4, 2, 1, bias=False))
    return nn.Sequential(*layers, *head)


Norm = Callable[[int], list[nn.Module]]  # channels -> the normalisation layers after a convolution


def batch_norm(channels: int) -> list[nn.Module]:
    return [nn.BatchNorm2d(channels)]


def discriminator_trunk(channels: int, size: int, width: int, norm: Norm = batch_norm) -> tuple[nn.Sequential, int, int]:
    """Strided convolutions down to the first feature map size: (trunk, its channels, its
    size). ``norm`` gives the layers after each convolution but the first (Radford et al.:
    BatchNorm; a WGAN-GP critic takes layer norm, an SNGAN discriminator none)."""
    start, doublings = plan("dcgan", size)
    layers: list[nn.Module] = [nn.Conv2d(channels, width, 4, 2, 1, bias=False), activation("leaky_relu_0.2")]
    c = width
    for _ in range(doublings - 1):
        layers += [nn.Conv2d(c, c * 2, 4, 2, 1, bias=False), *norm(c * 2), activation("leaky_relu_0.2")]
        c *= 2
    return nn.Sequential(*layers), c, start


def discriminator(channels: int, size: int, width: int, norm: Norm = batch_norm) -> nn.Sequential:
    """The trunk, then a convolution over the whole first feature map to one logit per image."""
    trunk, c, start = discriminator_trunk(channels, size, width, norm)
    return nn.Sequential(trunk, nn.Conv2d(c, 1, start, 1, 0, bias=False), nn.Flatten(-3), Logit())


class DCGAN(GAN):
    """Defaults: latent 64 and 64 feature maps at the widest layer's base (study 001);
    ``dcgan64`` registers latent 100 (study 003, after the PyTorch DCGAN tutorial)."""

    def __init__(self, data_shape: tuple[int, ...], latent: int = 64, ngf: int = 64, ndf: int = 64) -> None:
        channels, size = check_image_shape("dcgan", data_shape)
        super().__init__(generator_stack(latent, channels, size, ngf, [nn.Tanh()]),
                         discriminator(channels, size, ndf), latent, data_shape)
        init_dcgan_weights(self)


class ConvVAE(VAE):
    """Study 001's VAE: the DCGAN discriminator trunk as encoder (flattened into the mean
    and log-variance heads) and the DCGAN generator as decoder, fed the latent code. Latent 64 with squared error (MNIST, CIFAR-10); the CelebA
    preset sets latent 200 and a Bernoulli decoder (BCE + KL)."""

    def __init__(self, data_shape: tuple[int, ...], latent: int = 64, width: int = 64,
                 likelihood: str = "gaussian", beta: float = 1.0) -> None:
        channels, size = check_image_shape("conv-vae", data_shape)
        trunk, c, start = discriminator_trunk(channels, size, width)
        encoder = nn.Sequential(trunk, nn.Flatten(-3))
        decoder = generator_stack(latent, channels, size, width, decoder_head(likelihood))
        super().__init__(encoder, c * start * start, latent, decoder, data_shape, likelihood, beta, "sum")
        init_dcgan_weights(self)
