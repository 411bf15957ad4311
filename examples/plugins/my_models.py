"""An example genbench plugin: one new model per family, in the user's own file.

- ``lsgan``: a least-squares GAN (Mao et al. 2017) on the DCGAN layout: D is trained to
  output 1 on real and 0 on fake images by squared error, G to make D output 1. A GAN
  whose loss differs gets a trainer of its own: a subclass of genbench's GAN trainer
  that overrides the two loss methods.
- ``beta-vae``: a convolutional beta-VAE (Higgins et al. 2017: beta = 4 weighs the KL
  term up, trading reconstruction for a more factorised code), trained by genbench's
  own VAE trainer, so it only builds its nets.

Load it with ``--plugin examples/plugins/my_models.py`` or a study file's ``plugins:``.
"""
from torch import nn

import genbench
from genbench.train.gan import GANTrainer


def _generator(latent: int, channels: int, width: int) -> nn.Sequential:
    """latent -> 7x7 -> 14x14 -> 28x28 images in [-1, 1]."""
    return nn.Sequential(
        nn.Unflatten(-1, (latent, 1, 1)),
        nn.ConvTranspose2d(latent, 2 * width, 7, 1, 0, bias=False), nn.BatchNorm2d(2 * width), nn.ReLU(),
        nn.ConvTranspose2d(2 * width, width, 4, 2, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
        nn.ConvTranspose2d(width, channels, 4, 2, 1), nn.Tanh(),
    )


def _encoder(channels: int, width: int) -> nn.Sequential:
    """28x28 images -> 14x14 -> 7x7 -> flat features (2 * width * 49)."""
    return nn.Sequential(
        nn.Conv2d(channels, width, 4, 2, 1), nn.LeakyReLU(0.2),
        nn.Conv2d(width, 2 * width, 4, 2, 1), nn.LeakyReLU(0.2),
        nn.Flatten(-3),
    )


class LSGAN(genbench.GAN):
    """28x28 images; ``width`` feature maps at the widest layer's base."""

    trainer = "least-squares"  # trained by the trainer registered below

    def __init__(self, data_shape, latent: int = 64, width: int = 32):
        channels = data_shape[0]
        if tuple(data_shape[1:]) != (28, 28):
            raise genbench.GenbenchError(f"model 'lsgan' takes Cx28x28 images, the dataset gives {data_shape}")
        discriminator = nn.Sequential(_encoder(channels, width), nn.Linear(2 * width * 49, 1), nn.Flatten(-2))
        super().__init__(_generator(latent, channels, width), discriminator, latent, data_shape)


class LeastSquaresTrainer(GANTrainer):
    """Mao et al. (2017), eq. 2 with a = 0, b = c = 1: D minimises
    1/2 E(D(x) - 1)^2 + 1/2 E D(G(z))^2, G minimises 1/2 E(D(G(z)) - 1)^2 (per seed)."""

    def discriminator_loss(self, real, fake):
        real_out, fake_out = self.disc(real).float(), self.disc(fake).float()
        loss = 0.5 * ((real_out - 1) ** 2).mean(dim=1) + 0.5 * (fake_out ** 2).mean(dim=1)
        return {"d_loss": loss, "d_real": real_out.detach().mean(dim=1), "d_fake": fake_out.detach().mean(dim=1)}

    def generator_loss(self, fake):
        return 0.5 * ((self.disc(fake).float() - 1) ** 2).mean(dim=1)


class BetaVAE(genbench.VAE):
    """Conv encoder (two stride-2 convolutions) and the mirrored decoder; Bernoulli
    decoder (BCE + beta * KL, summed per image)."""

    def __init__(self, data_shape, latent: int = 10, width: int = 32, beta: float = 4.0):
        channels = data_shape[0]
        if tuple(data_shape[1:]) != (28, 28):
            raise genbench.GenbenchError(f"model 'beta-vae' takes Cx28x28 images, the dataset gives {data_shape}")
        decoder = nn.Sequential(*_generator(latent, channels, width)[:-1])  # logits: no tanh
        super().__init__(_encoder(channels, width), 2 * width * 49, latent, decoder, data_shape,
                         likelihood="bernoulli", beta=beta, reduction="sum")


genbench.register_trainer("least-squares", LeastSquaresTrainer)
genbench.register_model("lsgan", LSGAN, example_shape=(1, 28, 28))
genbench.register_model("beta-vae", BetaVAE, example_shape=(1, 28, 28))
