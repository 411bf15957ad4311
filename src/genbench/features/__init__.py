"""Feature extractors for image metrics, by name. A new one is one module plus one line
here (or ``genbench.register_features`` in a plugin); its name becomes part of every
metric key it produces (``fd_<name>``), since numbers from different extractors are not
comparable."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from genbench.registry import Registry


class FeatureExtractor:
    """What a feature extractor answers (the base class a plugin's extractor subclasses).

    ``features_and_probs`` takes uint8 images (N, C, H, W) as the dataset stores them and
    returns (features (N, d), class probabilities (N, k) or None). FD, KID, precision /
    recall and density / coverage use the features; the Inception Score and class coverage
    use the probabilities and are left out for an extractor without them. ``hash`` names
    the weights, so numbers from different weights are never mixed up.
    """

    hash: str = ""

    def features_and_probs(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        raise NotImplementedError(f"{type(self).__name__} must implement features_and_probs(images)")

    def features(self, images: np.ndarray) -> np.ndarray:
        return self.features_and_probs(images)[0]


@dataclass(frozen=True)
class FeatureRequest:
    """What a loader may use to build an extractor for one dataset."""

    dataset: str
    params: dict[str, Any]
    data_dir: Path | None = None
    inception_weights: Path | None = None
    quiet: bool = False


@dataclass(frozen=True)
class FeatureSpec:
    """``load(request)`` builds (or trains, or reads from a cache) the extractor; it runs
    once per dataset and process, before any training, so a missing one fails at once."""

    load: Callable[[FeatureRequest], FeatureExtractor]
    description: str


def _load_evaluator(request: FeatureRequest) -> FeatureExtractor:
    from genbench.data import load_image_split
    from genbench.features.evaluator import load_or_train_evaluator

    train = load_image_split(request.dataset, request.params, "train", request.data_dir)
    test = load_image_split(request.dataset, request.params, "test", request.data_dir)
    return load_or_train_evaluator(request.dataset, train.images, train.labels, test.images, test.labels,
                                   request.quiet)


def _load_inception(request: FeatureRequest) -> FeatureExtractor:
    from genbench.features.inception import Inception

    return Inception(request.inception_weights)


FEATURES: Registry[FeatureSpec] = Registry("feature extractor")
FEATURES.register("evaluator", FeatureSpec(_load_evaluator, "a small CNN classifier genbench trains on the "
                                           "dataset's labels (offline; cached)"))
FEATURES.register("inception", FeatureSpec(_load_inception, "torch-fidelity's InceptionV3 (2048-d pool features), "
                                           "where torch-fidelity works"))


def extractor_loader(name: str, request: FeatureRequest) -> Callable[[], FeatureExtractor]:
    """A function that loads extractor ``name`` for ``request.dataset`` when first needed."""
    spec = FEATURES.get(name)
    return lambda: spec.load(request)
