"""Model registry. A new model is one module plus one line here."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import nn

from genbench.data import check_params
from genbench.models.mlp_gan import MLPGAN
from genbench.models.mlp_vae import MLPVAE
from genbench.registry import Registry


@dataclass(frozen=True)
class ModelSpec:
    cls: type[nn.Module]
    description: str

    @property
    def family(self) -> str:
        return self.cls.family


MODELS: Registry[ModelSpec] = Registry("model")
MODELS.register("mlp-vae", ModelSpec(MLPVAE, "study 000's residual-MLP VAE"))
MODELS.register("mlp-gan", ModelSpec(MLPGAN, "study 000's residual-MLP GAN"))


def build_model(name: str, data_dim: int, params: dict[str, Any]) -> nn.Module:
    """Instantiate a registered model; unknown parameters give a one-line error."""
    spec = MODELS.get(name)
    check_params(spec.cls.__init__, params, f"model {name!r}", skip=2)
    return spec.cls(data_dim, **params)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
