"""SNGAN (Miyato et al. 2018): spectral normalisation of every discriminator layer, trained
with the hinge loss (the ``hinge-gan`` trainer, ``train/hinge.py``).

``sngan`` keeps ``dcgan``'s generator and discriminator shapes, so what differs from
``dcgan`` is the loss and the discriminator's normalisation, not the net. Each of the
discriminator's convolutions has its weight divided by its largest singular value,
estimated by one step of power iteration per forward pass in training
(``torch.nn.utils.parametrizations.spectral_norm``; the iteration's vectors are buffers,
so checkpoints hold them and a resumed run continues exactly). The discriminator has no
BatchNorm, as the paper's: spectral normalisation is its normalisation (BatchNorm is one
of the alternatives the paper compares it with, Table 2). The generator keeps its
BatchNorm, as the paper's does.
"""
from __future__ import annotations

from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from genbench.models.base import GAN, check_image_shape, init_dcgan_weights
from genbench.models.dcgan import discriminator, generator_stack


class SNGAN(GAN):
    """``sngan``: Radford et al.'s DCGAN shapes (latent 64, ngf = ndf = 64 as ``dcgan``),
    every discriminator convolution spectrally normalised, no BatchNorm in D."""

    trainer = "hinge-gan"

    def __init__(self, data_shape: tuple[int, ...], latent: int = 64, ngf: int = 64, ndf: int = 64) -> None:
        channels, size = check_image_shape("sngan", data_shape)
        super().__init__(generator_stack(latent, channels, size, ngf, [nn.Tanh()]),
                         discriminator(channels, size, ndf, lambda c: []), latent, data_shape)
        init_dcgan_weights(self)  # on the plain weights, before they are reparametrised
        for layer in [m for m in self.discriminator.modules() if isinstance(m, nn.Conv2d)]:
            spectral_norm(layer)
