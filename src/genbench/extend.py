"""The public ``genbench.register_*`` functions a plugin calls: each checks what it is
given and adds it to its family's registry, credited to the plugin being loaded."""
from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from genbench.config import TrainSettings, validate_as
from genbench.data import DATASETS, ImageDataset, PointDataset
from genbench.errors import GenbenchError
from genbench.features import FEATURES, FeatureExtractor, FeatureRequest, FeatureSpec
from genbench.metrics import METRICS, EvalContext, MetricSpec
from genbench.models import MODELS, ModelSpec
from genbench.models.base import GenerativeModel
from genbench.train import TRAINERS
from genbench.train.loop import Trainer

KINDS = ("points", "images")


def _summary(obj: Any) -> str:
    doc = inspect.getdoc(obj) or ""
    return doc.split("\n\n")[0].replace("\n", " ")


def register_model(name: str, cls: type[GenerativeModel] | None = None, *, description: str = "",
                   example_shape: tuple[int, ...] | None = None, defaults: Mapping[str, Any] | None = None,
                   train_defaults: Mapping[str, Any] | None = None):
    """Register a model class under ``name`` (also usable as a decorator).

    ``cls`` subclasses :class:`genbench.VAE`, :class:`genbench.GAN` or
    :class:`genbench.GenerativeModel`; its constructor takes the data shape first, then
    keyword parameters (a study's ``models.<name>.params``). ``example_shape`` is the data
    shape ``genbench list models`` counts its parameters on; ``defaults`` override the
    constructor's defaults for this name (one class, several registered variants);
    ``train_defaults`` are training settings (``lr``, ``betas``, ``d_steps``, ...) a
    study's ``models.<name>.train`` starts from."""
    train_defaults = dict(train_defaults or {})
    if "epochs" in train_defaults:
        raise GenbenchError(f"register_model({name!r}): train_defaults cannot set epochs; a study says how long to train")
    validate_as(TrainSettings, {**train_defaults, "epochs": 1}, f"register_model({name!r}).train_defaults")

    def add(model_cls: type[GenerativeModel]) -> type[GenerativeModel]:
        if not (isinstance(model_cls, type) and issubclass(model_cls, GenerativeModel)):
            raise GenbenchError(f"register_model({name!r}): {model_cls!r} must be a class subclassing genbench.VAE, "
                                f"genbench.GAN or genbench.GenerativeModel")
        if not model_cls.trainer_name():
            raise GenbenchError(f"register_model({name!r}): {model_cls.__name__} sets neither `family` nor `trainer`; "
                                f"set family = 'vae'/'gan' or name a registered trainer")
        shape = tuple(int(d) for d in example_shape) if example_shape is not None else None
        MODELS.register(name, ModelSpec(model_cls, description or _summary(model_cls) or model_cls.__name__, shape,
                                        dict(defaults or {}), train_defaults))
        return model_cls
    return add(cls) if cls is not None else add


def register_dataset(name: str, dataset: PointDataset | ImageDataset) -> PointDataset | ImageDataset:
    """Register a dataset: a :class:`genbench.PointDataset` (2D points drawn by a
    function) or a :class:`genbench.ImageDataset` (images loaded from files)."""
    if not isinstance(dataset, (PointDataset, ImageDataset)):
        raise GenbenchError(f"register_dataset({name!r}): expected a genbench.PointDataset or genbench.ImageDataset, "
                            f"got {type(dataset).__name__}")
    if isinstance(dataset, ImageDataset):
        shape = dataset.shape()
        if not (isinstance(shape, tuple) and len(shape) == 3 and all(isinstance(d, int) and d > 0 for d in shape)):
            raise GenbenchError(f"register_dataset({name!r}): shape() must return (C, H, W) positive ints, got {shape!r}")
    return DATASETS.register(name, dataset)


def register_metric(name: str, fn: Callable[[np.ndarray, EvalContext], Any], *, description: str,
                    higher_is_better: bool, kind: str = "images",
                    keys: Mapping[str, tuple[str, bool]] | None = None) -> MetricSpec:
    """Register a metric: ``fn(samples, ctx)`` returns a number, None (does not apply),
    or a dict of numbers (then ``keys`` documents each key: template -> (description,
    higher is better), ``{f}`` standing for a feature extractor's name). ``kind`` is the
    kind of dataset it scores: ``points`` or ``images`` (uint8 (N, C, H, W) samples)."""
    if not callable(fn):
        raise GenbenchError(f"register_metric({name!r}): fn must be a function (samples, ctx) -> number or dict")
    if kind not in KINDS:
        raise GenbenchError(f"register_metric({name!r}): kind {kind!r}; choose one of: {', '.join(KINDS)}")
    return METRICS.register(name, MetricSpec(fn, description, bool(higher_is_better), kind, dict(keys or {})))


def register_features(name: str, load: Callable[[FeatureRequest], FeatureExtractor], *,
                      description: str = "") -> FeatureSpec:
    """Register a feature extractor: ``load(request)`` returns a
    :class:`genbench.FeatureExtractor` for ``request.dataset``; it runs once per dataset
    and process, before training. Metric keys then end in ``_<name>``."""
    if not callable(load):
        raise GenbenchError(f"register_features({name!r}): load must be a function (FeatureRequest) -> extractor")
    return FEATURES.register(name, FeatureSpec(load, description or _summary(load)))


def register_trainer(name: str, cls: type[Trainer]) -> type[Trainer]:
    """Register a training procedure: a :class:`genbench.Trainer` subclass, used by models
    whose ``trainer`` (or ``family``) is ``name``."""
    if not (isinstance(cls, type) and issubclass(cls, Trainer)):
        raise GenbenchError(f"register_trainer({name!r}): {cls!r} must be a class subclassing genbench.Trainer")
    return TRAINERS.register(name, cls)
