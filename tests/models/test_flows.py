"""Flow matching and diffusion models: parameter counts written out layer by layer, the
ODE solvers and DDIM against closed forms, and the exact likelihood against a flow whose
density is known."""
import math

import numpy as np
import pytest
import torch
from torch import nn

from genbench.errors import GenbenchError
from genbench.metrics.density import mixture_log_density
from genbench.metrics.likelihood import exact_test_log_likelihood
from genbench.models import build_model, count_parameters
from genbench.models.diffusion import DDPM, ddim_timesteps, linear_alphas_cumprod
from genbench.models.flow import FlowMatching


def linear(n_in, n_out):
    return n_in * n_out + n_out


def conv(c_in, c_out, k):
    return c_in * c_out * k * k + c_out


def norm(c):  # GroupNorm and LayerNorm: a scale and a shift per channel
    return 2 * c


def res(c_in, c_out, temb):
    skip = conv(c_in, c_out, 1) if c_in != c_out else 0
    return norm(c_in) + conv(c_in, c_out, 3) + linear(temb, c_out) + norm(c_out) + conv(c_out, c_out, 3) + skip


def unet(channels, width, mult, attention=True):
    temb, widths = 4 * width, [width * m for m in mult]
    total = linear(width, temb) + linear(temb, temb) + conv(channels, width, 3)
    total += sum(res(a, b, temb) for a, b in zip([width, *widths], widths))  # down
    total += sum(conv(c, c, 3) for c in widths[:-1])  # stride-2 convolutions
    c = widths[-1]
    total += 2 * res(c, c, temb) + (norm(c) + conv(c, 3 * c, 1) + conv(c, c, 1) if attention else 0)  # middle
    total += sum(conv(a, b, 3) for a, b in zip(widths[1:], widths[:-1]))  # upsampling convolutions
    total += sum(res(2 * c, c, temb) for c in widths)  # up, each with its skip
    return total + norm(width) + conv(width, channels, 3)


@pytest.mark.parametrize("name", ["flow-matching", "ddpm"])
@pytest.mark.parametrize("shape,params,mult", [
    ((1, 28, 28), {}, (1, 2, 2)),
    ((3, 32, 32), {"attention": False}, (1, 2, 2)),
    ((3, 64, 64), {}, (1, 2, 2, 2)),
    ((1, 8, 8), {"width": 16, "channel_mult": [1, 2]}, (1, 2)),
])
def test_unet_parameter_counts(name, shape, params, mult):
    model = build_model(name, shape, params)
    assert count_parameters(model) == unet(shape[0], params.get("width", 32), mult, params.get("attention", True))
    assert model.noise_shape == shape and model.value_range == (-1.0, 1.0)


def test_unet_counts_at_the_defaults():
    assert count_parameters(build_model("flow-matching", (1, 28, 28), {})) == 764_929
    assert count_parameters(build_model("ddpm", (3, 64, 64), {})) == 1_049_923


def test_mlp_flow_parameter_count():
    time = linear(32, 128) + linear(128, 128)
    block = norm(128) + 3 * linear(128, 128)
    assert count_parameters(build_model("mlp-flow", (2,), {})) == time + linear(2, 128) + 3 * block + norm(128) + \
        linear(128, 2) == 171_010


class Field(nn.Module):
    """A velocity field given as a function of (x, t), t broadcast over x's last axis."""

    def __init__(self, fn):
        super().__init__()
        self.fn, self.dummy = fn, nn.Parameter(torch.zeros(()))

    def forward(self, x, t):
        return self.fn(x, t[..., None])


def flow(fn, solver="euler", steps=50):
    return FlowMatching(Field(fn), (2,), solver, steps)


def test_euler_and_heun_on_fields_with_known_solutions():
    z = torch.randn(7, 2, dtype=torch.float64)
    const = torch.tensor([0.5, -1.5], dtype=torch.float64)
    for solver in ("euler", "heun"):
        torch.testing.assert_close(flow(lambda x, t: const.expand_as(x), solver, 3).generate(z), z + const)
    # v = a + b t: Heun's trapezoid is exact; Euler's left sums give a + b (N - 1) / (2N).
    a, b = 0.3, 2.0
    ramp = lambda x, t: a + b * t.expand_as(x)
    torch.testing.assert_close(flow(ramp, "heun", 4).generate(z), z + a + b / 2)
    torch.testing.assert_close(flow(ramp, "euler", 4).generate(z), z + a + b * 3 / 8)
    # v = k x: N steps multiply by (1 + k/N)^N (Euler) and (1 + k/N + k^2/2N^2)^N (Heun).
    k, n = -0.7, 5
    torch.testing.assert_close(flow(lambda x, t: k * x, "euler", n).generate(z), z * (1 + k / n) ** n)
    heun_factor = (1 + k / n + k**2 / (2 * n**2)) ** n
    torch.testing.assert_close(flow(lambda x, t: k * x, "heun", n).generate(z), z * heun_factor)


def gaussian_flow_field(mean, mat):
    """The straight-line flow x_t = ((1 - t) I + t B) x0 + t m that carries N(0, I) onto
    N(m, B B^T): v(x, t) = (B - I) ((1 - t) I + t B)^-1 (x - t m) + m."""
    eye = torch.eye(2, dtype=mat.dtype)

    def fn(x, t):
        t = float(t.reshape(-1)[0])
        x0 = torch.linalg.solve((1 - t) * eye + t * mat, (x - t * mean).T).T
        return x0 @ (mat - eye).T + mean

    return fn


def test_exact_likelihood_of_a_flow_with_a_gaussian_pushforward():
    mean = torch.tensor([1.0, -2.0], dtype=torch.float64)
    mat = torch.tensor([[0.5, 0.3], [-0.2, 1.5]], dtype=torch.float64)  # not symmetric: off-diagonal Jacobian
    model = flow(gaussian_flow_field(mean, mat))
    x = torch.randn(200, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 1.5 + mean
    truth = torch.distributions.MultivariateNormal(mean, mat @ mat.T).log_prob(x)
    got = model.log_likelihood(x, steps=64)
    assert (got - truth).abs().max() < 1e-3
    # Sampling follows the same ODE: noise lands where the closed form maps it.
    z = torch.randn(50, 2, dtype=torch.float64)
    torch.testing.assert_close(flow(gaussian_flow_field(mean, mat), "heun", 50).generate(z), z @ mat.T + mean,
                               atol=1e-4, rtol=0)


def test_exact_likelihood_metric_applies_to_flows_and_the_mixture_oracle():
    centres, std = np.array([[1.0, 0.0], [-1.0, 0.0]]), 0.2
    test = np.random.default_rng(0).normal(size=(50, 2)).astype(np.float32)
    oracle = exact_test_log_likelihood(None, test, True, (centres, std))
    assert oracle == pytest.approx(float(mixture_log_density(test, centres, std).mean()))
    assert exact_test_log_likelihood(None, test, True, None) is None  # no closed form
    assert exact_test_log_likelihood(build_model("mlp-vae", (2,), {}), test, False, (centres, std)) is None
    torch.manual_seed(0)
    model = build_model("mlp-flow", (2,), {"hidden": 16, "n_res": 1})
    got = exact_test_log_likelihood(model, test, False, None)
    want = float(model.log_likelihood(torch.tensor(test)).mean())
    assert got == pytest.approx(want, abs=1e-5) and math.isfinite(got)


def point_mass_ddpm(target, sample_steps):
    """DDPM whose eps prediction is exact for data that is one point: eps = (x - sqrt(abar) x*) / sqrt(1 - abar)."""
    ab_table = linear_alphas_cumprod(1000, 1e-4, 0.02)

    class Eps(nn.Module):
        def __init__(self):
            super().__init__()
            self.dummy = nn.Parameter(torch.zeros(()))

        def forward(self, x, t):
            ab = ab_table[(t * 1000).round().long()].view(-1, 1, 1, 1)
            return (x - ab.sqrt() * target) / (1 - ab).sqrt()

    return DDPM(Eps(), tuple(target.shape), sample_steps=sample_steps)


@pytest.mark.parametrize("steps", [1, 7, 50])
def test_ddim_lands_on_the_data_when_the_noise_prediction_is_exact(steps):
    target = torch.linspace(-0.9, 0.9, 16).view(1, 4, 4)
    model = point_mass_ddpm(target, steps)
    z = torch.randn(3, 1, 4, 4, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(model.generate(z), target.expand(3, 1, 4, 4), atol=1e-4, rtol=0)


def test_ddim_is_deterministic_and_uses_trailing_timesteps():
    assert ddim_timesteps(1000, 50)[:2] == [999, 979] and ddim_timesteps(1000, 50)[-1] == 19
    assert ddim_timesteps(1000, 1000) == list(range(999, -1, -1))
    assert ddim_timesteps(1000, 1) == [999]
    torch.manual_seed(0)
    model = build_model("ddpm", (1, 8, 8), {"width": 8, "channel_mult": [1, 2], "sample_steps": 3})
    nn.init.normal_(model.eps_net.out[-1].weight, std=0.1)  # not the zero initialisation: a real prediction
    z = torch.randn(4, 1, 8, 8)
    first = model.generate(z)
    torch.testing.assert_close(model.generate(z), first, rtol=0, atol=0)
    assert first.min() >= -1 and first.max() <= 1 and not torch.equal(first, z.clamp(-1, 1))
    ab = model.alphas_cumprod
    assert ab[0] == pytest.approx(1 - 1e-4) and ab[-1] == pytest.approx(4.04e-5, rel=0.01)  # Ho et al.'s schedule


def test_bad_flow_and_diffusion_settings_give_one_line_errors():
    with pytest.raises(GenbenchError, match="unknown solver 'rk45'; choose one of: euler, heun"):
        build_model("mlp-flow", (2,), {"solver": "rk45"})
    with pytest.raises(GenbenchError, match="sample_steps must be a positive integer, got 0"):
        build_model("flow-matching", (1, 28, 28), {"sample_steps": 0})
    with pytest.raises(GenbenchError, match="sample_steps must be between 1 and 1000, got 2000"):
        build_model("ddpm", (1, 28, 28), {"sample_steps": 2000})
    with pytest.raises(GenbenchError, match="'mlp-flow' takes flat data.*1x28x28; use 'flow-matching'"):
        build_model("mlp-flow", (1, 28, 28), {})
    with pytest.raises(GenbenchError, match="'ddpm' takes square CxHxW images, the dataset gives 2"):
        build_model("ddpm", (2,), {})
    with pytest.raises(GenbenchError, match="halves the image 2 times, so the size must be a multiple of 4.*6x6"):
        build_model("flow-matching", (1, 6, 6), {})
    with pytest.raises(GenbenchError, match="width must be a multiple of 8"):
        build_model("ddpm", (1, 28, 28), {"width": 12})
    with pytest.raises(GenbenchError, match="channel_mult must be a list of positive integers"):
        build_model("ddpm", (1, 28, 28), {"channel_mult": [1, 0]})
