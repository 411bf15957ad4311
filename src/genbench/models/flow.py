"""Flow matching (Lipman et al. 2023), in its rectified-flow form (Liu et al. 2023): a
velocity field v(x, t) trained to carry noise to data along straight lines, sampled by
solving the ODE dx/dt = v(x, t) from t = 0 (noise) to t = 1 (data).

Convention: x_t = (1 - t) x0 + t x1 with x0 ~ N(0, I) and x1 a data point, so the
regression target is x1 - x0 (``train/flow.py``). Because the flow is an ODE, the density
of a sample is exact by the instantaneous change of variables (Chen et al. 2018):
log p_1(x_1) = log N(x_0; 0, I) - integral_0^1 div v(x_t, t) dt, integrated here from the
data point back to noise (:meth:`FlowMatching.log_likelihood`).

``mlp-flow`` (2D) is built of Linear, LayerNorm and element-wise layers only, with its
time features computed in the forward pass (no buffers), so seeds train stacked
(``train/stacked.py``); ``flow-matching`` (images) uses the U-Net of ``models/unet.py``.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from genbench.errors import GenbenchError
from genbench.models.base import GenerativeModel, check_choice, check_image_shape, flat_size
from genbench.models.blocks import activation
from genbench.models.unet import TimeEmbedding, UNet

SOLVERS = ("euler", "heun")
# RK4 steps for the exact log-likelihood. On mlp-flow trained on checkerboard (the
# sharpest of the toy densities), the mean test log-likelihood moves by 3e-4 nats from
# 32 to 64 steps and by < 1e-5 from 64 to 128.
LL_STEPS = 64

Field = Callable[[Tensor, float], Tensor]


def check_steps(steps: int, most: int | None = None) -> None:
    if not isinstance(steps, int) or steps < 1 or (most is not None and steps > most):
        bound = f"between 1 and {most}" if most is not None else "a positive integer"
        raise GenbenchError(f"sample_steps must be {bound}, got {steps!r}")


def ode_step(f: Field, x: Tensor, t: float, h: float, method: str) -> Tensor:
    """One step of size ``h`` from (x, t): Euler (1 evaluation), Heun's trapezoid (2), or
    classical Runge-Kutta (4)."""
    k1 = f(x, t)
    if method == "euler":
        return x + h * k1
    if method == "heun":
        return x + 0.5 * h * (k1 + f(x + h * k1, t + h))
    k2 = f(x + 0.5 * h * k1, t + 0.5 * h)
    k3 = f(x + 0.5 * h * k2, t + 0.5 * h)
    k4 = f(x + h * k3, t + h)
    return x + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)


def odeint(f: Field, x: Tensor, t0: float, t1: float, steps: int, method: str) -> Tensor:
    """x(t1) for dx/dt = f(x, t), x(t0) = x, in ``steps`` equal steps (t1 < t0 runs backwards)."""
    h = (t1 - t0) / steps
    for k in range(steps):
        x = ode_step(f, x, t0 + k * h, h, method)
    return x


def standard_normal_log_density(z: Tensor) -> Tensor:
    """log N(z; 0, I) per row of (n, d)."""
    return -0.5 * (z.pow(2).sum(1) + z.shape[1] * math.log(2 * math.pi))


class FlowMatching(GenerativeModel):
    """A velocity field ``velocity(x, t)`` and its ODE sampler.

    ``solver``: ``euler`` (one evaluation per step) or ``heun`` (two); ``sample_steps``:
    equal steps from noise to data. Image samples are clipped to [-1, 1].
    ``velocity`` takes x of shape (..., *data_shape) and t of shape (...) in [0, 1].
    """

    family = "flow"

    def __init__(self, velocity: nn.Module, data_shape: tuple[int, ...], solver: str = "heun",
                 sample_steps: int = 50) -> None:
        super().__init__()
        check_choice("solver", solver, SOLVERS)
        check_steps(sample_steps)
        self.velocity = velocity
        self.data_shape = tuple(data_shape)
        self.noise_shape = self.data_shape
        self.value_range = (-1.0, 1.0) if len(self.data_shape) == 3 else None
        self.solver, self.sample_steps = solver, sample_steps

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        return self.velocity(x, t)

    def field(self, x: Tensor, t: float) -> Tensor:
        """v(x, t) at one time for every point of x (with any leading axes, e.g. seeds)."""
        return self.velocity(x, x.new_full(x.shape[: x.dim() - len(self.data_shape)], t))

    @torch.no_grad()
    def generate(self, z: Tensor) -> Tensor:
        x = odeint(self.field, z, 0.0, 1.0, self.sample_steps, self.solver)
        return x.clamp(*self.value_range) if self.value_range else x

    def log_likelihood(self, x: Tensor, steps: int = LL_STEPS) -> Tensor:
        """Exact log p(x) per row of ``x`` (n, *data_shape), in nats: the data point is
        carried back to noise by RK4 while the divergence of v, computed exactly with one
        backward pass per data dimension (cheap in 2D; prohibitive for images), is
        integrated along the way."""
        dims = flat_size(self.data_shape)

        def augmented(state: Tensor, t: float) -> Tensor:
            v, div = divergence(self.field, state[:, :dims].unflatten(1, self.data_shape), t)
            return torch.cat([v.flatten(1), div[:, None]], dim=1)

        state = torch.cat([x.flatten(1), x.new_zeros(len(x), 1)], dim=1)
        state = odeint(augmented, state, 1.0, 0.0, steps, "rk4")
        # state[:, -1] = integral_1^0 div dt = -integral_0^1 div dt.
        return standard_normal_log_density(state[:, :dims]) + state[:, -1]


def divergence(f: Field, x: Tensor, t: float) -> tuple[Tensor, Tensor]:
    """(f(x, t), div_x f(x, t)) per example, the trace of the Jacobian taken exactly: one
    vector-Jacobian product per data dimension."""
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        v = f(x, t)
        flat_v, dims = v.flatten(1), flat_size(x.shape[1:])
        div = x.new_zeros(len(x))
        for i in range(dims):
            grad = torch.autograd.grad(flat_v[:, i].sum(), x, retain_graph=i < dims - 1)[0]
            div = div + grad.flatten(1)[:, i]
    return v.detach(), div.detach()


class TimeResBlock(nn.Module):
    """h + Linear(act(Linear(act(LayerNorm(h))) + Linear(time features))): a residual MLP
    block told the time (pre-norm, the time added before the second layer)."""

    def __init__(self, width: int, act: str) -> None:
        super().__init__()
        self.norm, self.act = nn.LayerNorm(width), activation(act)
        self.fc1, self.time, self.fc2 = nn.Linear(width, width), nn.Linear(width, width), nn.Linear(width, width)

    def forward(self, h: Tensor, temb: Tensor) -> Tensor:
        return h + self.fc2(self.act(self.fc1(self.act(self.norm(h))) + self.time(temb)))


class MLPVelocity(nn.Module):
    """Residual MLP velocity field for flat data: Linear in, ``n_res`` time-conditioned
    blocks, LayerNorm, act, Linear out; time: sinusoidal features -> Linear -> act -> Linear."""

    def __init__(self, dim: int, hidden: int, n_res: int, time_dim: int, act: str) -> None:
        super().__init__()
        self.time = nn.Sequential(TimeEmbedding(time_dim), nn.Linear(time_dim, hidden), activation(act),
                                  nn.Linear(hidden, hidden))
        self.inp = nn.Linear(dim, hidden)
        self.blocks = nn.Sequential(*[TimeResBlock(hidden, act) for _ in range(n_res)])  # Sequential: stack-safe
        self.out = nn.Sequential(nn.LayerNorm(hidden), activation(act), nn.Linear(hidden, dim))

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        temb, h = self.time(t), self.inp(x)
        for block in self.blocks:
            h = block(h, temb)
        return self.out(h)


class MLPFlow(FlowMatching):
    """``mlp-flow``: flow matching on 2D points with a residual-MLP velocity field
    (defaults: width 128, 3 blocks, SiLU; 171,010 parameters on 2D data)."""

    def __init__(self, data_shape: tuple[int, ...], hidden: int = 128, n_res: int = 3, time_dim: int = 32,
                 activation_name: str = "silu", solver: str = "heun", sample_steps: int = 50) -> None:
        if len(data_shape) != 1:
            raise GenbenchError(f"model 'mlp-flow' takes flat data such as 2D points, the dataset gives "
                                f"{'x'.join(map(str, data_shape))}; use 'flow-matching' for images")
        velocity = MLPVelocity(data_shape[0], hidden, n_res, time_dim, activation_name)
        super().__init__(velocity, data_shape, solver, sample_steps)


class UNetFlow(FlowMatching):
    """``flow-matching``: flow matching on images with the small U-Net of ``models/unet.py``."""

    def __init__(self, data_shape: tuple[int, ...], width: int = 32, channel_mult: tuple[int, ...] | None = None,
                 attention: bool = True, solver: str = "heun", sample_steps: int = 50) -> None:
        channels, size = check_image_shape("flow-matching", data_shape)
        super().__init__(UNet("flow-matching", channels, size, width, channel_mult, attention), data_shape,
                         solver, sample_steps)
