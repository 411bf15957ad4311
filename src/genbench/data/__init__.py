"""Dataset registry. A new dataset is one function in a module plus one line here."""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from genbench.data import toy2d
from genbench.errors import GenbenchError
from genbench.registry import Registry


@dataclass(frozen=True)
class Toy2DSpec:
    """A 2D distribution: ``generate(n, rng, **params)`` and, for mixtures, its modes."""

    generate: Callable[..., np.ndarray]
    description: str
    # For mixtures of isotropic Gaussians: params -> (centres (k, 2), std), used by the
    # mode-coverage metrics.
    modes: Callable[..., tuple[np.ndarray, float]] | None = None
    data_dim: int = 2


def _ring_modes(modes: int = 7, radius: float = 1.2, std: float = 0.12) -> tuple[np.ndarray, float]:
    return toy2d.mixture_centres(modes, radius), std


def _eight_modes(scale: float = 4.0, std: float = 0.5) -> tuple[np.ndarray, float]:
    unit = np.array([(1, 0), (-1, 0), (0, 1), (0, -1)] + [(s / np.sqrt(2), t / np.sqrt(2)) for s in (1, -1) for t in (1, -1)])
    return scale * unit / 1.414, std / 1.414


DATASETS: Registry[Toy2DSpec] = Registry("dataset")
DATASETS.register("pinwheel", Toy2DSpec(toy2d.pinwheel, "study 000's 3-arm pinwheel"))
DATASETS.register("spiral", Toy2DSpec(toy2d.spiral, "study 000's noisy 3-turn spiral"))
DATASETS.register("checkerboard", Toy2DSpec(toy2d.checkerboard, "study 000's 4x4 checkerboard on [-4, 4]^2"))
DATASETS.register("gaussian-mixture", Toy2DSpec(toy2d.gaussian_mixture, "study 000's ring of 7 Gaussians", _ring_modes))
DATASETS.register("pinwheel5", Toy2DSpec(toy2d.pinwheel5, "FFJORD's 5-arm pinwheel"))
DATASETS.register("2spirals", Toy2DSpec(toy2d.two_spirals, "FFJORD's two interleaved spirals"))
DATASETS.register("8gaussians", Toy2DSpec(toy2d.eight_gaussians, "FFJORD's ring of 8 Gaussians", _eight_modes))
DATASETS.register("moons", Toy2DSpec(toy2d.moons, "scikit-learn's two moons"))
DATASETS.register("circles", Toy2DSpec(toy2d.circles, "scikit-learn's two circles"))
DATASETS.register("rings", Toy2DSpec(toy2d.rings, "four concentric rings"))
DATASETS.register("swissroll", Toy2DSpec(toy2d.swissroll, "2D swiss roll"))

# Study 000 drew its data from one default_rng(54301), 2000 training points per set in this
# order, then 500 hold-out points per set in the same order.
STUDY000_ORDER = ("pinwheel", "spiral", "checkerboard", "gaussian-mixture")
_STUDY000_GENERATORS = {
    "pinwheel": toy2d.pinwheel_study,
    "spiral": toy2d.spiral,
    "checkerboard": toy2d.checkerboard,
    "gaussian-mixture": toy2d.gaussian_mixture,
}


@dataclass(frozen=True)
class Splits:
    """Training points, the hold-out used for loss curves (and any tuning), and a test set
    that only metrics ever see."""

    train: np.ndarray
    holdout: np.ndarray
    test: np.ndarray


def check_params(fn: Callable[..., Any], params: dict[str, Any], what: str, skip: int) -> None:
    """Raise a one-line error if ``params`` holds a keyword ``fn`` does not take.

    ``skip`` positional parameters (e.g. ``n, rng``) are supplied by genbench itself.
    """
    allowed = list(inspect.signature(fn).parameters)[skip:]
    for key in params:
        if key not in allowed:
            raise GenbenchError(f"{what} has no parameter {key!r}; valid parameters: {', '.join(allowed) or 'none'}")


def make_splits(
    name: str,
    params: dict[str, Any],
    protocol: str,
    n_train: int,
    n_holdout: int,
    n_test: int,
    data_seed: int,
) -> Splits:
    """Draw the three splits of a 2D dataset under a protocol.

    ``genbench``: three independent streams spawned from ``data_seed``.
    ``study000``: study 000's exact training and hold-out points (its single generator,
    its call order, its sizes: pinwheel keeps 1998 points), plus a test set from an
    independent stream, which the study lacked.
    """
    spec = DATASETS.get(name)
    check_params(spec.generate, params, f"dataset {name!r}", skip=2)
    train_ss, holdout_ss, test_ss = np.random.SeedSequence(data_seed).spawn(3)
    test = spec.generate(n_test, np.random.default_rng(test_ss), **params)
    if protocol == "genbench":
        train = spec.generate(n_train, np.random.default_rng(train_ss), **params)
        holdout = spec.generate(n_holdout, np.random.default_rng(holdout_ss), **params)
        return Splits(train, holdout, test)
    if protocol != "study000":
        raise GenbenchError(f"unknown protocol {protocol!r}; choose one of: genbench, study000")
    if name not in STUDY000_ORDER or params:
        raise GenbenchError(
            f"protocol 'study000' covers only study 000's datasets at their defaults "
            f"({', '.join(STUDY000_ORDER)}); use protocol 'genbench' for {name!r}"
        )
    rng = np.random.default_rng(data_seed)
    drawn = {}
    for size, split in ((n_train, "train"), (n_holdout, "holdout")):
        for other in STUDY000_ORDER:
            drawn[other, split] = _STUDY000_GENERATORS[other](size, rng)
    return Splits(drawn[name, "train"], drawn[name, "holdout"], test)
