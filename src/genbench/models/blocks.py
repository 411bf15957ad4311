"""Building blocks shared by the MLP models."""
from __future__ import annotations

from torch import Tensor, nn

from genbench.errors import GenbenchError

ACTIVATIONS = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,  # PyTorch's default slope 0.01, as study 000 used
    "leaky_relu_0.2": lambda: nn.LeakyReLU(0.2),
    "elu": nn.ELU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
}


def activation(name: str) -> nn.Module:
    """A fresh activation module by name; unknown names list the choices."""
    if name not in ACTIVATIONS:
        raise GenbenchError(f"unknown activation {name!r}; choose one of: {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


class ResBlock(nn.Module):
    """x + f(x) with f = Linear -> act -> Linear [-> act].

    Study 000's VAE block stops after the second Linear; its GAN block adds a final
    activation (``act_out=True``).
    """

    def __init__(self, width: int, act: str = "relu", act_out: bool = False) -> None:
        super().__init__()
        layers = [nn.Linear(width, width), activation(act), nn.Linear(width, width)]
        if act_out:
            layers.append(activation(act))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.net(x)
