"""Dataset registry. A new dataset is one function in a module plus one line here.

Two kinds share the registry: 2D point sets drawn from a generator (``points``) and
image datasets read from files (``images``). :func:`make_splits` gives either as the
same three splits.
"""
from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from genbench.data import toy2d
from genbench.data.images import IMAGE_SPECS, ImageDataset
from genbench.errors import GenbenchError
from genbench.registry import Registry


@dataclass(frozen=True)
class PointDataset:
    """A 2D distribution: ``generate(n, rng, **params) -> float32 (n, 2)``, drawing only
    from the NumPy generator ``rng``, and, for mixtures, its modes."""

    generate: Callable[..., np.ndarray]
    description: str
    # For mixtures of isotropic Gaussians: params -> (centres (k, 2), std), used by the
    # mode-coverage metrics.
    modes: Callable[..., tuple[np.ndarray, float]] | None = None
    kind: str = "points"
    uses_features: bool = False  # scored on the points themselves, not on extracted features

    def shape(self, **params: Any) -> tuple[int, ...]:
        return (2,)

    def real_sample(self, n: int, rng: np.random.Generator, splits: Splits, **params: Any) -> np.ndarray:
        """Real data as a perfect model would sample it: a fresh draw of ``n`` points."""
        return self.generate(n, rng, **params)


def _ring_modes(modes: int = 7, radius: float = 1.2, std: float = 0.12) -> tuple[np.ndarray, float]:
    return toy2d.mixture_centres(modes, radius), std


def _eight_modes(scale: float = 4.0, std: float = 0.5) -> tuple[np.ndarray, float]:
    unit = np.array([(1, 0), (-1, 0), (0, 1), (0, -1)] + [(s / np.sqrt(2), t / np.sqrt(2)) for s in (1, -1) for t in (1, -1)])
    return scale * unit / 1.414, std / 1.414


DATASETS: Registry[PointDataset | ImageDataset] = Registry("dataset")
DATASETS.register("pinwheel", PointDataset(toy2d.pinwheel, "study 000's 3-arm pinwheel"))
DATASETS.register("spiral", PointDataset(toy2d.spiral, "study 000's noisy 3-turn spiral"))
DATASETS.register("checkerboard", PointDataset(toy2d.checkerboard, "study 000's 4x4 checkerboard on [-4, 4]^2"))
DATASETS.register("gaussian-mixture", PointDataset(toy2d.gaussian_mixture, "study 000's ring of 7 Gaussians", _ring_modes))
DATASETS.register("pinwheel5", PointDataset(toy2d.pinwheel5, "FFJORD's 5-arm pinwheel"))
DATASETS.register("2spirals", PointDataset(toy2d.two_spirals, "FFJORD's two interleaved spirals"))
DATASETS.register("8gaussians", PointDataset(toy2d.eight_gaussians, "FFJORD's ring of 8 Gaussians", _eight_modes))
DATASETS.register("moons", PointDataset(toy2d.moons, "scikit-learn's two moons"))
DATASETS.register("circles", PointDataset(toy2d.circles, "scikit-learn's two circles"))
DATASETS.register("rings", PointDataset(toy2d.rings, "four concentric rings"))
DATASETS.register("swissroll", PointDataset(toy2d.swissroll, "2D swiss roll"))
for _name, _spec in IMAGE_SPECS.items():
    DATASETS.register(_name, _spec)

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
    """Training data, the hold-out used for loss curves (and any tuning), and a test set
    that only metrics ever see: float points, or uint8 (N, C, H, W) images. ``labels``
    holds each split's class labels where the dataset has them."""

    train: np.ndarray
    holdout: np.ndarray
    test: np.ndarray
    labels: dict[str, np.ndarray] = field(default_factory=dict)


def check_dataset_params(name: str, params: dict[str, Any]) -> None:
    """One-line error for a parameter the dataset does not take (2D generators take
    ``n, rng`` from genbench; image datasets declare theirs in ``shape``)."""
    spec = DATASETS.get(name)
    if spec.kind == "points":
        check_params(spec.generate, params, f"dataset {name!r}", skip=2)
    else:
        check_params(spec.shape, params, f"dataset {name!r}", skip=0)


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
    n_train: int | None,
    n_holdout: int | None,
    n_test: int | None,
    data_seed: int,
    data_dir: Path | None = None,
) -> Splits:
    """The three splits of a dataset under a protocol; a size of None takes the default
    (2D: 2000 / 500 / 2000 points; images: see :func:`image_splits`).

    For 2D sets, ``genbench``: three independent streams spawned from ``data_seed``;
    ``study000``: study 000's exact training and hold-out points (its single generator,
    its call order, its sizes: pinwheel keeps 1998 points), plus a test set from an
    independent stream, which the study lacked.
    """
    check_dataset_params(name, params)
    spec = DATASETS.get(name)
    if spec.kind == "images":
        return image_splits(name, params, protocol, n_train, n_holdout, n_test, data_seed, data_dir)
    n_train, n_holdout, n_test = n_train or 2000, n_holdout or 500, n_test or 2000
    train_ss, holdout_ss, test_ss = np.random.SeedSequence(data_seed).spawn(3)
    test = spec.generate(n_test, np.random.default_rng(test_ss), **params)
    if protocol == "genbench":
        train = spec.generate(n_train, np.random.default_rng(train_ss), **params)
        holdout = spec.generate(n_holdout, np.random.default_rng(holdout_ss), **params)
        return Splits(train, holdout, test)
    if protocol != "study000":
        raise GenbenchError(f"protocol {protocol!r} does not apply to 2D data; choose genbench or study000")
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


@functools.lru_cache(maxsize=4)
def _load_images(name: str, params: tuple[tuple[str, Any], ...], split: str, data_dir: Path | None):
    """Decoded once per process: a study reads the same files for every model and seed."""
    data = DATASETS.get(name).load(split, data_dir=data_dir, **dict(params))
    data.images.setflags(write=False)
    return data


def load_image_split(name: str, params: dict[str, Any], split: str, data_dir: Path | None):
    """A whole split of an image dataset as the files give it (cached)."""
    return _load_images(name, tuple(sorted(params.items())), split, data_dir)


def image_splits(name: str, params: dict[str, Any], protocol: str, n_train: int | None, n_holdout: int | None,
                 n_test: int | None, data_seed: int, data_dir: Path | None) -> Splits:
    """Splits of an image dataset.

    ``genbench``: the hold-out is a fixed random 10% of the training files (or
    ``n_holdout`` images), so the test split is seen only by metrics. ``study``: the
    studies' protocol, validating on the test split (study 002 validates on MNIST's 10k
    test images). ``n_train`` and ``n_test`` cap the sizes (first images kept).
    """
    train, test = (load_image_split(name, params, split, data_dir) for split in ("train", "test"))
    test_part = (test, slice(None, n_test))
    if protocol == "study":
        train_part, hold_part = (train, slice(None, n_train)), (test, slice(None, n_holdout))
    elif protocol == "genbench":
        order = np.random.default_rng(data_seed).permutation(len(train.images))
        n_hold = n_holdout or max(1, len(order) // 10)
        if n_hold >= len(order):
            raise GenbenchError(f"data.n_holdout={n_hold} leaves no training images of {name} ({len(order)} in all)")
        train_part, hold_part = (train, np.sort(order[n_hold:])[:n_train]), (train, np.sort(order[:n_hold]))
    else:
        raise GenbenchError(f"protocol {protocol!r} does not apply to image data; choose genbench or study")
    parts = {"train": train_part, "holdout": hold_part, "test": test_part}
    labels = {} if train.labels is None else {k: data.labels[idx] for k, (data, idx) in parts.items()}
    return Splits(*(data.images[idx] for data, idx in parts.values()), labels=labels)
