"""Model registry. A new model is one module plus one line here."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import nn

from genbench.data import check_params
from genbench.models.conv28 import DCGAN28, ConvVAE28
from genbench.models.dcgan import DCGAN, ConvVAE
from genbench.models.diffusion import UNetDDPM
from genbench.models.flow import MLPFlow, UNetFlow
from genbench.models.linear import LinearGAN, LinearVAE
from genbench.models.mlp_gan import MLPGAN
from genbench.models.mlp_vae import MLPVAE
from genbench.models.sngan import SNGAN
from genbench.models.tf28 import DCGANTF28, ConvVAETF28
from genbench.models.wgan_gp import MLPWGANGP, WGANGP
from genbench.registry import Registry


@dataclass(frozen=True)
class ModelSpec:
    cls: type[nn.Module]
    description: str
    example_shape: tuple[int, ...] | None  # data shape on which `genbench list models` counts parameters
    defaults: dict[str, Any] = field(default_factory=dict)  # registered defaults over the class's own
    # Training settings (TrainSettings fields) a study's `train` section starts from: the
    # model's paper's, so a study that names only epochs trains it as the paper did.
    train_defaults: dict[str, Any] = field(default_factory=dict)

    @property
    def family(self) -> str:
        return self.cls.family


MODELS: Registry[ModelSpec] = Registry("model")
MODELS.register("mlp-vae", ModelSpec(MLPVAE, "study 000's residual-MLP VAE", (2,)))
MODELS.register("mlp-gan", ModelSpec(MLPGAN, "study 000's residual-MLP GAN", (2,)))
MODELS.register("linear-gan", ModelSpec(LinearGAN, "study 002's MLP GAN (LeakyReLU, dropout in D)", (1, 28, 28)))
MODELS.register("linear-vae", ModelSpec(LinearVAE, "study 002's MLP VAE, latent 16", (1, 28, 28)))
MODELS.register("dcgan28", ModelSpec(DCGAN28, "study 002's DCGAN (3x3 convs, 28x28)", (1, 28, 28)))
MODELS.register("conv-vae28", ModelSpec(ConvVAE28, "study 002's conv VAE on the DCGAN stacks, latent 16", (1, 28, 28)))
MODELS.register("dcgan-tf28", ModelSpec(DCGANTF28, "study 004's Keras-style DCGAN (5x5 convs)", (1, 28, 28)))
MODELS.register("conv-vae-tf28", ModelSpec(ConvVAETF28, "study 004's Keras-style conv VAE, latent 10", (1, 28, 28)))
MODELS.register("dcgan", ModelSpec(DCGAN, "Radford et al. DCGAN for 28/32/64 px, latent 64 (study 001)", (3, 32, 32)))
MODELS.register("conv-vae", ModelSpec(ConvVAE, "study 001's conv VAE on DCGAN stacks, latent 64", (3, 32, 32)))
MODELS.register("dcgan64", ModelSpec(DCGAN, "study 003's DCGAN, 64x64, latent 100", (3, 64, 64), {"latent": 100}))
MODELS.register("mlp-vae64", ModelSpec(LinearVAE, "study 003's MLP VAE 12288-512-512-16", (3, 64, 64),
                                       {"hidden": (512, 512), "activation_name": "leaky_relu_0.2"}))
MODELS.register("mlp-flow", ModelSpec(MLPFlow, "flow matching (rectified flow) with a residual-MLP velocity, 2D", (2,)))
MODELS.register("flow-matching", ModelSpec(UNetFlow, "flow matching (rectified flow) with a small U-Net, 8-64 px",
                                           (1, 28, 28)))
MODELS.register("ddpm", ModelSpec(UNetDDPM, "DDPM (eps prediction, T=1000) with DDIM sampling, small U-Net, 8-64 px",
                                  (1, 28, 28)))

# Gulrajani et al. 2017, algorithm 1: n_critic = 5, Adam alpha = 1e-4, beta1 = 0, beta2 = 0.9.
WGAN_GP_TRAINING = {"lr": 1e-4, "betas": (0.0, 0.9), "d_steps": 5}
MODELS.register("wgan-gp", ModelSpec(WGANGP, "WGAN-GP: dcgan's shapes, layer-norm critic, gradient penalty 10",
                                     (3, 32, 32), train_defaults=WGAN_GP_TRAINING))
MODELS.register("mlp-wgan-gp", ModelSpec(MLPWGANGP, "study 000's residual-MLP GAN trained as a WGAN-GP", (2,),
                                         train_defaults=WGAN_GP_TRAINING))
# Miyato et al. 2018, Table 1, setting C (Radford et al.'s): alpha = 2e-4, betas (0.5, 0.999), n_dis = 1.
MODELS.register("sngan", ModelSpec(SNGAN, "SNGAN: dcgan's shapes, spectral norm on every D layer, hinge loss",
                                   (3, 32, 32), train_defaults={"lr": 2e-4, "betas": (0.5, 0.999), "d_steps": 1}))


def build_model(name: str, data_shape: tuple[int, ...], params: dict[str, Any]) -> nn.Module:
    """Instantiate a registered model for data of ``data_shape``; unknown parameters give a
    one-line error."""
    spec = MODELS.get(name)
    check_params(spec.cls.__init__, params, f"model {name!r}", skip=2)
    return spec.cls(tuple(data_shape), **{**spec.defaults, **params})


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
