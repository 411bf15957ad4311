"""Study 004's Keras-style models for 28x28 images: ``dcgan-tf28`` and ``conv-vae-tf28``.

Keras 'same' padding with stride 2 halves (rounding up) or doubles the size; here that is
padding k//2, plus output_padding 1 for transposed convolutions. The study's text lists
the generator's layer sizes 7x7x128 and 14x14x64: a dense layer to 7x7x128, then the
first transposed convolution (64 filters) gives 14x14x64 and the second (1 filter)
28x28x1. Keras initialisers are not reproduced: PyTorch's defaults are used.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from genbench.models.base import GAN, VAE, Logit, check_image_shape, decoder_head
from genbench.models.blocks import activation
from genbench.models.linear import mlp

_ACT = "leaky_relu_0.2"


class TinyMapConv2d(nn.Conv2d):
    """A Conv2d computed on the CPU as one matrix product per output position.

    Same parameters and state dict as ``nn.Conv2d``, same maths up to rounding. On tiny
    maps with many channels, such as dcgan-tf28's 5x5 convolution from 256 to 512
    channels on a 4x4 map (2x2 out), oneDNN's backward pass is slow: forward + backward
    at batch 128 in bf16 took 88 ms as a convolution and 37 ms as unfold (im2col) + one
    matrix product on a 2-core CPU. Per output position, the input window that lies
    inside the map times the kernel taps that meet it is one product with no padding
    zeros, and its backward needs no col2im (which ran a scalar loop in bf16): on a Zen 5
    that made dcgan-tf28's whole step 0.90x the unfold version's (141 against 157 ms).
    On larger maps the convolution wins (22 vs 49 ms at 7x7 for unfold), so only such
    layers use it; on a GPU the plain convolution runs.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.groups != 1 or self.dilation != (1, 1) or self.padding_mode != "zeros" or isinstance(self.padding, str):
            raise ValueError("TinyMapConv2d supports groups=1, dilation=1 and numeric zero padding only")

    def forward(self, x: Tensor) -> Tensor:
        if x.device.type != "cpu" or x.dim() != 4 or x.numel() == 0:  # unbatched or empty: torch's own
            return super().forward(x)
        weight = self.weight  # read once: a parametrization (spectral norm) recomputes it per read
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        n, _, h, w = x.shape
        out_h, out_w = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
        products = []
        for oy in range(out_h):
            top = max(0, oy * sh - ph)  # the window's rows inside the map (none where all is padding)
            bottom = max(top, min(h, oy * sh - ph + kh))
            for ox in range(out_w):
                left = max(0, ox * sw - pw)
                right = max(left, min(w, ox * sw - pw + kw))
                size = self.in_channels * (bottom - top) * (right - left)
                window = x[:, :, top:bottom, left:right].reshape(n, size)
                taps = weight[:, :, top - oy * sh + ph:bottom - oy * sh + ph,
                              left - ox * sw + pw:right - ox * sw + pw].reshape(self.out_channels, size)
                products.append(window @ taps.t())
        out = torch.stack(products, dim=-1)  # (N, out channels, positions)
        if self.bias is not None:
            out = out + self.bias.to(out.dtype)[:, None]  # bf16 under autocast, as nn.Conv2d gives
        return out.view(n, -1, out_h, out_w)


UnfoldConv2d = TinyMapConv2d  # its name until 2026-12-04: whole models pickled before still load


TINY_MAP_MAX_SIZE = 4  # input maps up to this size use TinyMapConv2d (see its docstring)


def same_conv(c_in: int, c_out: int, k: int, size: int | None = None) -> nn.Conv2d:
    """Keras 'same' stride-2 convolution; ``size``, the input map's side, picks the faster
    implementation on the CPU."""
    cls = TinyMapConv2d if size is not None and size <= TINY_MAP_MAX_SIZE else nn.Conv2d
    return cls(c_in, c_out, k, stride=2, padding=k // 2)


def same_tconv(c_in: int, c_out: int, k: int) -> nn.ConvTranspose2d:
    return nn.ConvTranspose2d(c_in, c_out, k, stride=2, padding=k // 2, output_padding=1)


class DCGANTF28(GAN):
    """G: Dense(100 -> 7x7x128), TConv 64 then 1 filter (5x5, stride 2), LeakyReLU(0.2),
    tanh out. D: Conv 64-128-256-512 (5x5, stride 2), LeakyReLU(0.2), Dense(1)."""

    def __init__(self, data_shape: tuple[int, ...], latent: int = 100,
                 d_channels: Sequence[int] = (64, 128, 256, 512)) -> None:
        channels, _ = check_image_shape("dcgan-tf28", data_shape, sizes=(28,))
        generator = nn.Sequential(
            nn.Linear(latent, 128 * 7 * 7), activation(_ACT), nn.Unflatten(-1, (128, 7, 7)),
            same_tconv(128, 64, 5), activation(_ACT),
            same_tconv(64, channels, 5), nn.Tanh(),
        )
        layers: list[nn.Module] = []
        size = 28
        for c_in, c_out in zip((channels, *d_channels[:-1]), d_channels):
            layers += [same_conv(c_in, c_out, 5, size), activation(_ACT)]
            size = -(-size // 2)
        discriminator = nn.Sequential(*layers, nn.Flatten(-3), nn.Linear(d_channels[-1] * size * size, 1), Logit())
        super().__init__(generator, discriminator, latent, data_shape)


class ConvVAETF28(VAE):
    """Encoder: Conv 32, 64 (3x3, stride 2), Dense 512, 256, latent 10; decoder mirrored:
    Dense 256, 512, 7x7x64, TConv 64 then 1 filter (3x3, stride 2); LeakyReLU(0.2)."""

    def __init__(self, data_shape: tuple[int, ...], latent: int = 10, likelihood: str = "bernoulli",
                 beta: float = 1.0) -> None:
        channels, _ = check_image_shape("conv-vae-tf28", data_shape, sizes=(28,))
        encoder = nn.Sequential(
            same_conv(channels, 32, 3), activation(_ACT), same_conv(32, 64, 3), activation(_ACT),
            nn.Flatten(-3), *mlp([64 * 7 * 7, 512, 256], _ACT),
        )
        decoder = nn.Sequential(
            *mlp([latent, 256, 512, 64 * 7 * 7], _ACT), nn.Unflatten(-1, (64, 7, 7)),
            same_tconv(64, 64, 3), activation(_ACT),
            same_tconv(64, channels, 3), *decoder_head(likelihood),
        )
        super().__init__(encoder, 256, latent, decoder, data_shape, likelihood, beta, "sum")
