"""What every model answers, whatever its layers: the extension contract.

Every model is a :class:`GenerativeModel`: it maps noise of ``noise_shape`` to samples
(``generate``), says which registered trainer trains it (``trainer``) and which value
range its samples have. A VAE is an encoder trunk, two heads for the posterior's mean and
log-variance, and a decoder; a GAN is a generator and a discriminator that returns
logits. Concrete models only build those nets, so sampling, encoding and reconstruction
are written once, and a user's model subclasses :class:`VAE` or :class:`GAN` the same way.
"""
from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import Tensor, nn

from genbench.errors import GenbenchError

LIKELIHOODS = ("gaussian", "bernoulli")
REDUCTIONS = ("mean", "sum")


def check_choice(what: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise GenbenchError(f"unknown {what} {value!r}; choose one of: {', '.join(choices)}")


def check_image_shape(model: str, data_shape: tuple[int, ...], channels: int | None = None,
                      sizes: tuple[int, ...] | None = None) -> tuple[int, int]:
    """(channels, size) of square (C, H, W) data the model can take, or a one-line error."""
    ok = len(data_shape) == 3 and data_shape[1] == data_shape[2]
    ok = ok and (channels is None or data_shape[0] == channels) and (sizes is None or data_shape[1] in sizes)
    if not ok:
        wanted = f"{channels or 'C'}x" + "/".join(f"{s}x{s}" for s in sizes) if sizes else "square CxHxW"
        got = "x".join(map(str, data_shape))
        raise GenbenchError(f"model {model!r} takes {wanted} images, the dataset gives {got}; "
                            f"pick a model made for this data (genbench list models)")
    return data_shape[0], data_shape[1]


def init_dcgan_weights(module: nn.Module) -> None:
    """Radford et al. (2016, sec. 4): weights from N(0, 0.02); BatchNorm scales N(1, 0.02)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class GenerativeModel(nn.Module):
    """The contract between a model and genbench.

    A subclass sets ``family`` (what the report calls it: ``vae``, ``gan``, ...),
    ``trainer`` (the registered trainer that trains it; default: the family),
    ``value_range`` (the pixel range its images are scaled to, e.g. (-1, 1) for tanh
    outputs; None for 2D points in raw units) and ``noise_shape`` (what ``generate``
    takes per sample), and implements :meth:`generate`. genbench draws the noise itself,
    from a generator fixed by the run's seed, so samples do not depend on the device.
    """

    family: ClassVar[str] = ""
    trainer: ClassVar[str] = ""
    value_range: tuple[float, float] | None = None
    noise_shape: tuple[int, ...] = ()

    @classmethod
    def trainer_name(cls) -> str:
        return cls.trainer or cls.family

    def generate(self, z: Tensor) -> Tensor:
        """Samples (in ``value_range``) from noise ``z`` of shape (n, *noise_shape)."""
        raise NotImplementedError(f"{type(self).__name__} must implement generate(z)")

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` samples from noise drawn by ``generator`` (on its device), on the model's device."""
        device = next(self.parameters()).device
        z = torch.randn(n, *self.noise_shape, generator=generator, device=generator.device if generator else device)
        return self.generate(z.to(device))


def is_autoencoder(model: nn.Module) -> bool:
    """Whether ``model`` encodes images to a latent code and decodes them back (VAEs):
    reconstruction metrics, traversals and latent t-SNE apply to it."""
    return all(callable(getattr(model, name, None)) for name in ("encode", "decode", "reconstruct"))


class VAE(GenerativeModel):
    """Encoder trunk -> (mu, logvar) heads; decoder from the latent code.

    ``likelihood`` says what the decoder outputs: ``gaussian`` a mean (loss: squared
    error), ``bernoulli`` logits (loss: binary cross-entropy; ``decode`` applies the
    sigmoid). ``reduction`` says how the loss adds up per example: ``sum`` over pixels and
    latent dims (the ELBO), or ``mean`` (study 000's form, which weights KL differently).
    """

    family = "vae"

    def __init__(self, encoder: nn.Module, features: int, latent: int, decoder: nn.Module,
                 data_shape: tuple[int, ...], likelihood: str = "gaussian", beta: float = 1.0,
                 reduction: str = "sum") -> None:
        super().__init__()
        check_choice("likelihood", likelihood, LIKELIHOODS)
        check_choice("reduction", reduction, REDUCTIONS)
        self.data_shape = tuple(data_shape)
        self.latent_dim = latent
        self.noise_shape = (latent,)
        self.likelihood, self.beta, self.reduction = likelihood, beta, reduction
        # The pixel range the data is scaled to for this model; None: raw units (2D data).
        self.value_range = None if len(data_shape) != 3 else (0.0, 1.0) if likelihood == "bernoulli" else (-1.0, 1.0)
        self.encoder = encoder
        self.fc_mu = nn.Linear(features, latent)
        self.fc_logvar = nn.Linear(features, latent)
        self.decoder = decoder

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        h = self.encoder(x)
        return self.fc_mu(h), self.fc_logvar(h)

    def decode(self, z: Tensor) -> Tensor:
        out = self.decoder(z)
        return torch.sigmoid(out) if self.likelihood == "bernoulli" else out

    def forward(self, x: Tensor, eps: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Decoder output (mean or logits), mu, logvar; ``eps`` ~ N(0, I) comes from the
        caller so the training loop owns every random draw and seeds stay reproducible."""
        mu, logvar = self.encode(x)
        z = mu + torch.exp(0.5 * logvar) * eps
        return self.decoder(z), mu, logvar

    def generate(self, z: Tensor) -> Tensor:
        return self.decode(z)

    @torch.no_grad()
    def reconstruct(self, x: Tensor) -> Tensor:
        return self.decode(self.encode(x)[0])

    def decoder_variance(self) -> float:
        """sigma^2 of the Gaussian decoder p(x | z) = N(decoder(z), sigma^2 I) that the
        training loss implies: the loss (squared error + beta KL) is the negative ELBO of
        this decoder times a positive constant, plus a constant. With ``sum``, loss / beta =
        |x - mu|^2 / beta + KL, so 1 / (2 sigma^2) = 1 / beta; with ``mean`` over D data and
        J latent dims, loss * J / beta = |x - mu|^2 J / (beta D) + KL, so sigma^2 = beta D / (2 J)."""
        if self.reduction == "sum":
            return self.beta / 2
        return self.beta * flat_size(self.data_shape) / (2 * self.latent_dim)

    def decoder_log_density(self, x: Tensor, out: Tensor) -> Tensor:
        """log p(x | z) per example, summed over the data dims, for decoder output ``out``
        (its Gaussian mean, of variance :meth:`decoder_variance`, or Bernoulli logits) and
        data ``x`` broadcast against it (x in [0, 1] for Bernoulli)."""
        x, out = torch.broadcast_tensors(x.float(), out.float())
        dims = tuple(range(out.dim() - len(self.data_shape), out.dim()))
        if self.likelihood == "bernoulli":
            return -torch.nn.functional.binary_cross_entropy_with_logits(out, x, reduction="none").sum(dims)
        var = self.decoder_variance()
        return -0.5 * ((x - out).pow(2) / var + math.log(2 * math.pi * var)).sum(dims)


def decoder_head(likelihood: str) -> list[nn.Module]:
    """The last layer of an image decoder: tanh for a Gaussian mean in [-1, 1]; none for
    Bernoulli logits (``VAE.decode`` applies the sigmoid)."""
    return [nn.Tanh()] if likelihood == "gaussian" else []


class GAN(GenerativeModel):
    """Generator and discriminator as one module, so a run saves and loads as one thing.
    The discriminator returns logits; the trainer's loss decides what they mean (the
    ``gan`` trainer applies the sigmoid: BCE-with-logits)."""

    family = "gan"

    def __init__(self, generator: nn.Module, discriminator: nn.Module, latent: int,
                 data_shape: tuple[int, ...]) -> None:
        super().__init__()
        self.latent_dim = latent
        self.noise_shape = (latent,)
        # Image generators end in tanh: pixels in [-1, 1]. None: raw units (2D data).
        self.value_range = (-1.0, 1.0) if len(data_shape) == 3 else None
        self.generator = generator
        self.discriminator = discriminator

    def generate(self, z: Tensor) -> Tensor:
        return self.generator(z)


class Logit(nn.Module):
    """Squeeze a discriminator's (..., 1) output to (...,): one logit per image."""

    def forward(self, x: Tensor) -> Tensor:
        return x.squeeze(-1)


def flat_size(shape: tuple[int, ...]) -> int:
    return math.prod(shape)
