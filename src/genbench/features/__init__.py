"""Feature extractors for image metrics, by name. A new one is one module plus one line
here; its name becomes part of every metric key it produces."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from genbench.errors import GenbenchError

EXTRACTORS = ("evaluator", "inception")


def extractor_loader(name: str, dataset: str, params: dict[str, Any], data_dir: Path | None,
                     inception_weights: Path | None = None, quiet: bool = False) -> Callable[[], Any]:
    """A function that loads (or trains, for the evaluator) extractor ``name`` for
    ``dataset`` when first needed."""
    if name == "evaluator":
        def load() -> Any:
            from genbench.data import load_image_split
            from genbench.features.evaluator import load_or_train_evaluator

            train = load_image_split(dataset, params, "train", data_dir)
            test = load_image_split(dataset, params, "test", data_dir)
            return load_or_train_evaluator(dataset, train.images, train.labels, test.images, test.labels, quiet)
        return load
    if name == "inception":
        def load_inception() -> Any:
            from genbench.features.inception import Inception

            return Inception(inception_weights)
        return load_inception
    raise GenbenchError(f"unknown feature extractor {name!r}; choose one of: {', '.join(EXTRACTORS)}")
