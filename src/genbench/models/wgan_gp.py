"""WGAN-GP (Gulrajani et al. 2017): the discriminator is a Wasserstein critic, held near
1-Lipschitz by a penalty on its gradient norm at points between real and generated
samples (the loss and penalty are the ``wgan-gp`` trainer's, ``train/wgan_gp.py``).

``wgan-gp`` keeps ``dcgan``'s generator and discriminator shapes, so what differs from
``dcgan`` is the loss and the critic's normalisation, not the net. The critic has no
BatchNorm: the penalty is taken per image, and BatchNorm makes each image's score depend
on the rest of its batch (sec. 4, "No critic batch normalization"). In its place layer
normalisation, as the paper recommends (over each image's channels and pixels, with a
scale and shift per channel: ``GroupNorm`` with one group, as the authors' 64-pixel code
does), or none (``critic_norm: none``, as their CIFAR-10 DCGAN). Layer norm has as many
parameters as the BatchNorm it replaces, so the two critics have equal sizes.

``mlp-wgan-gp`` is study 000's residual-MLP GAN, which has no normalisation layers, at its
sizes, trained as a WGAN-GP; its seeds train stacked like ``mlp-gan``'s.
"""
from __future__ import annotations

from torch import nn

from genbench.errors import GenbenchError
from genbench.models.base import GAN, check_choice, check_image_shape, init_dcgan_weights
from genbench.models.dcgan import Norm, discriminator, generator_stack
from genbench.models.mlp_gan import MLPGAN


def layer_norm(channels: int) -> list[nn.Module]:
    return [nn.GroupNorm(1, channels)]


CRITIC_NORMS: dict[str, Norm] = {"layer": layer_norm, "none": lambda channels: []}


def check_gp_weight(gp_weight: float) -> float:
    if not isinstance(gp_weight, (int, float)) or isinstance(gp_weight, bool) or not gp_weight >= 0:
        raise GenbenchError(f"gp_weight must be a number >= 0 (the paper's is 10), got {gp_weight!r}")
    return float(gp_weight)


class WGANGP(GAN):
    """``wgan-gp``: Radford et al.'s DCGAN shapes (latent 64, ngf = ndf = 64 as ``dcgan``),
    the critic with layer norm (or none) instead of BatchNorm; ``gp_weight`` is the
    penalty's weight lambda (10 in every experiment of the paper)."""

    trainer = "wgan-gp"

    def __init__(self, data_shape: tuple[int, ...], latent: int = 64, ngf: int = 64, ndf: int = 64,
                 critic_norm: str = "layer", gp_weight: float = 10.0) -> None:
        check_choice("critic_norm", critic_norm, tuple(CRITIC_NORMS))
        channels, size = check_image_shape("wgan-gp", data_shape)
        super().__init__(generator_stack(latent, channels, size, ngf, [nn.Tanh()]),
                         discriminator(channels, size, ndf, CRITIC_NORMS[critic_norm]), latent, data_shape)
        init_dcgan_weights(self)
        self.gp_weight = check_gp_weight(gp_weight)


class MLPWGANGP(MLPGAN):
    """``mlp-wgan-gp``: study 000's residual-MLP GAN at its sizes (G 4,386 and critic
    14,617 parameters on 2D data), trained as a WGAN-GP with penalty weight ``gp_weight``."""

    trainer = "wgan-gp"

    def __init__(self, data_shape: tuple[int, ...], latent: int = 2, g_hidden: int = 32, g_res: int = 2,
                 d_hidden: int = 42, d_res: int = 4, activation_name: str = "leaky_relu",
                 gp_weight: float = 10.0) -> None:
        super().__init__(data_shape, latent, g_hidden, g_res, d_hidden, d_res, activation_name)
        self.gp_weight = check_gp_weight(gp_weight)
