"""2D toy distributions: study 000's four, exactly as its code draws them, and the common
canon of the flow/GAN literature (FFJORD's ``pinwheel5``, ``2spirals``, ``8gaussians``;
scikit-learn's ``moons`` and ``circles``; ``rings``, ``swissroll``).

Each generator is ``generate(n, rng, **params) -> float32 array (n, 2)`` in raw units,
drawing only from the NumPy ``Generator`` it is given, so one seed gives one dataset.
Study 000's four make their random calls in the study's order, which is what lets the
``study000`` protocol reproduce its exact training points.
"""
from __future__ import annotations

import numpy as np
from sklearn.datasets import make_circles, make_moons


def _as_points(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float32)


def pinwheel(n: int, rng: np.random.Generator, arms: int = 3, noise: float = 0.2) -> np.ndarray:
    """Study 000's "pinwheel" (a 3-arm spiral from a CS231n-style demo): arm j has radii
    linspace(0, 1) and angles linspace(4j, 4j + 4) plus ``noise`` x N(0, 1).

    The study draws ``n // arms`` points per arm, so 2000 asks give 1998 points; the
    ``study000`` protocol keeps that, while here the last arm takes the remainder so the
    registry contract (exactly ``n`` points) holds.
    """
    sizes = [n // arms] * arms
    sizes[-1] += n - sum(sizes)
    return _pinwheel_arms(sizes, rng, noise)


def pinwheel_study(n: int, rng: np.random.Generator) -> np.ndarray:
    """Exactly study 000's pinwheel: ``3 * (n // 3)`` points."""
    return _pinwheel_arms([n // 3] * 3, rng, 0.2)


def _pinwheel_arms(sizes: list[int], rng: np.random.Generator, noise: float) -> np.ndarray:
    out = []
    for j, size in enumerate(sizes):
        r = np.linspace(0.0, 1.0, size)
        t = np.linspace(4.0 * j, 4.0 * (j + 1), size) + rng.standard_normal(size) * noise
        out.append(np.stack([r * np.sin(t), r * np.cos(t)], axis=1))
    return _as_points(np.concatenate(out))


def spiral(n: int, rng: np.random.Generator, turns: float = 3.0, noise: float = 0.04) -> np.ndarray:
    """Study 000's spiral: theta ~ U(0, 2 pi turns), r = 0.05 theta, plus ``noise`` x N(0, I)."""
    theta = rng.uniform(0.0, 2 * np.pi * turns, size=(n,))
    r = 0.05 * theta
    x = np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1)
    return _as_points(x + noise * rng.standard_normal(x.shape))


def checkerboard(n: int, rng: np.random.Generator) -> np.ndarray:
    """Study 000's 4x4 checkerboard on [-4, 4]^2 (the stochastic-interpolants variant)."""
    x1 = rng.uniform(size=n) * 4 - 2
    x2 = rng.uniform(size=n) - rng.choice([0, 1], size=(n,)) * 2 + np.floor(x1) % 2
    return _as_points(np.stack([x1, x2], axis=1) * 2)


def gaussian_mixture(
    n: int, rng: np.random.Generator, modes: int = 7, radius: float = 1.2, std: float = 0.12
) -> np.ndarray:
    """Study 000's ring of ``modes`` Gaussians (angles linspace(0, 2 pi, modes + 1)[:-1])."""
    centres = mixture_centres(modes, radius)
    which = rng.choice(np.arange(modes), size=n)
    return _as_points(centres[which] + rng.standard_normal(size=(n, 2)) * std)


def mixture_centres(modes: int, radius: float) -> np.ndarray:
    angles = np.linspace(0, 2 * np.pi, modes + 1)[:-1]
    return radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def pinwheel5(n: int, rng: np.random.Generator) -> np.ndarray:
    """FFJORD's pinwheel: 5 arms of stretched Gaussians rotated by an angle growing with
    the radius (radial std 0.3, tangential std 0.1, rate 0.25), scaled by 2."""
    arms, radial_std, tangential_std, rate = 5, 0.3, 0.1, 0.25
    rads = np.linspace(0, 2 * np.pi, arms, endpoint=False)
    features = rng.standard_normal((n, 2)) * np.array([radial_std, tangential_std])
    features[:, 0] += 1.0
    labels = np.repeat(np.arange(arms), -(-n // arms))[:n]
    angles = rads[labels] + rate * np.exp(features[:, 0])
    rotations = np.stack([np.cos(angles), -np.sin(angles), np.sin(angles), np.cos(angles)])
    rotations = rotations.T.reshape(-1, 2, 2)
    return _as_points(2 * rng.permutation(np.einsum("ti,tij->tj", features, rotations)))


def two_spirals(n: int, rng: np.random.Generator) -> np.ndarray:
    """FFJORD's 2spirals: two interleaved spirals, radius growing as sqrt, noise U(0, 0.5)."""
    m = np.sqrt(rng.uniform(size=(n // 2, 1))) * 540 * (2 * np.pi) / 360
    d1x = -np.cos(m) * m + rng.uniform(size=(n // 2, 1)) * 0.5
    d1y = np.sin(m) * m + rng.uniform(size=(n // 2, 1)) * 0.5
    arm = np.hstack([d1x, d1y])
    x = np.vstack([arm, -arm]) / 3
    if len(x) < n:  # odd n: one more point on the first arm
        x = np.vstack([x, x[:1]])
    return _as_points(x + 0.1 * rng.standard_normal(x.shape))


def eight_gaussians(n: int, rng: np.random.Generator, scale: float = 4.0, std: float = 0.5) -> np.ndarray:
    """FFJORD's 8gaussians: 8 modes on a circle of radius ``scale`` / 1.414 after scaling."""
    unit = np.array([(1, 0), (-1, 0), (0, 1), (0, -1)] + [(s / np.sqrt(2), t / np.sqrt(2)) for s in (1, -1) for t in (1, -1)])
    which = rng.integers(0, 8, size=n)
    x = rng.standard_normal((n, 2)) * std + scale * unit[which]
    return _as_points(x / 1.414)


def moons(n: int, rng: np.random.Generator, noise: float = 0.1) -> np.ndarray:
    """scikit-learn's two moons, centred and scaled to about [-2, 2]^2."""
    x, _ = make_moons(n, noise=noise, random_state=_sklearn_seed(rng))
    return _as_points((x - np.array([0.5, 0.25])) * 2)


def circles(n: int, rng: np.random.Generator, noise: float = 0.05, factor: float = 0.5) -> np.ndarray:
    """scikit-learn's two concentric circles, scaled by 2."""
    x, _ = make_circles(n, noise=noise, factor=factor, random_state=_sklearn_seed(rng))
    return _as_points(x * 2)


def rings(n: int, rng: np.random.Generator, count: int = 4, noise: float = 0.08) -> np.ndarray:
    """``count`` concentric rings of radii 1..count scaled to [0.5, 2], points shared by
    circumference, plus ``noise`` x N(0, I)."""
    radii = np.linspace(0.5, 2.0, count)
    which = rng.choice(count, size=n, p=radii / radii.sum())
    angle = rng.uniform(0, 2 * np.pi, size=n)
    x = radii[which, None] * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    return _as_points(x + noise * rng.standard_normal(x.shape))


def swissroll(n: int, rng: np.random.Generator, noise: float = 1.0) -> np.ndarray:
    """The 2D swiss roll of the score-model literature: scikit-learn's roll, (x, z) / 5."""
    t = 1.5 * np.pi * (1 + 2 * rng.uniform(size=n))
    x = np.stack([t * np.cos(t), t * np.sin(t)], axis=1) + noise * rng.standard_normal((n, 2))
    return _as_points(x / 5)


def _sklearn_seed(rng: np.random.Generator) -> int:
    return int(rng.integers(0, 2**31 - 1))
