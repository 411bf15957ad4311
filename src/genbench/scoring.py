"""Scoring: a run's samples, real data (the oracle) and samples made anywhere else, all
against the same test split with the same metrics, so their numbers stand side by side.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genbench.analysis.run import analyse_run
from genbench.config import DataSettings, StudyConfig
from genbench.data import DATASETS, Splits, make_splits
from genbench.data.image_data import to_uint8
from genbench.data.samples import read_samples, source_digest
from genbench.errors import GenbenchError
from genbench.features import FeatureRequest, extractor_loader
from genbench.layout import RunConfig, RunFolder, SamplesConfig, StudyFolder, load_splits, plugin_records
from genbench.metrics import METRICS, EvalContext, evaluate
from genbench.runtime import Runtime

SAMPLE_CHUNK = 500  # samples drawn per forward pass when scoring a run
ORACLE_STREAM = 7  # the oracle's random stream is spawned from (data seed, seed, this)


def eval_context(dataset: str, params: dict[str, Any], splits: Splits, features: list[str],
                 runtime: Runtime | None = None) -> EvalContext:
    """What the metrics of ``dataset`` look at: its splits, its modes (mixtures), its test
    labels, and loaders for the feature extractors (datasets scored on features)."""
    runtime = runtime or Runtime()
    spec = DATASETS.get(dataset)
    request = FeatureRequest(dataset, params, runtime.data_dir, runtime.inception_weights, runtime.quiet)
    loaders = {name: extractor_loader(name, request) for name in features} if spec.uses_features else {}
    return EvalContext(train=splits.train, test=splits.test, modes=spec.modes(**params) if spec.modes else None,
                       kind=spec.kind, test_labels=splits.labels.get("test"), extractors=loaders)


def default_metrics(dataset: str) -> list[str]:
    """Every registered metric that scores this dataset's kind of samples."""
    kind = DATASETS.get(dataset).kind
    return [name for name, spec in METRICS.items() if spec.kind == kind]


@torch.no_grad()
def sample_run(model: torch.nn.Module, n: int, seed: int, device: torch.device) -> np.ndarray:
    """The run's evaluation samples, from noise drawn on the CPU by a stream fixed by the
    seed (so they do not depend on the device), in chunks; images as uint8 pixels."""
    model.to(device).eval()
    gen = torch.Generator().manual_seed(20_000 + seed)
    chunks = []
    for start in range(0, n, SAMPLE_CHUNK):
        z = torch.randn(min(SAMPLE_CHUNK, n - start), *model.noise_shape, generator=gen).to(device)
        chunks.append(model.generate(z).float().cpu().numpy())
    model.cpu()
    samples = np.concatenate(chunks)
    return to_uint8(samples, model.value_range) if model.value_range else samples


def score_run(metrics: list[str], analysis: bool, features: list[str], dataset: str, model: torch.nn.Module | None,
              samples: np.ndarray, context: EvalContext, folder: Path, runtime: Runtime) -> dict[str, Any]:
    """The run's metrics and, for image models with ``analysis`` on, its latent and OOD
    analysis (figures into ``folder``, their names and captions under ``figures``)."""
    desc = None if runtime.quiet else f"scoring {'/'.join(folder.resolve().parts[-3:])}"  # dataset/model/seed
    scores = evaluate(metrics, samples, context.for_run(model), desc)
    if model is not None and model.value_range is not None and analysis:
        start = time.perf_counter()
        scores.update(analyse_run(folder, model, samples, context, dataset, runtime.data_dir,
                                  features[0] if features else None))
        scores["analysis_seconds"] = time.perf_counter() - start
    return scores


def run_context(cfg: RunConfig | SamplesConfig, features: list[str], runtime: Runtime) -> EvalContext:
    d = cfg.data
    splits = make_splits(cfg.dataset, cfg.dataset_params, d.protocol, d.n_train, d.n_holdout, d.n_test,
                         d.data_seed, runtime.data_dir)
    return eval_context(cfg.dataset, cfg.dataset_params, splits, features, runtime)


def evaluate_run(run_dir: Path, runtime: Runtime, metrics: list[str] | None = None,
                 features: list[str] | None = None, analysis: bool = True,
                 allow_changed_plugin: bool = False) -> dict[str, Any]:
    """Recompute a finished run's metrics (those of its config, or ``metrics``) and
    analysis from its folder, and merge them into its ``metrics.json``."""
    from genbench.runner import load_run_model

    run = RunFolder(run_dir)
    cfg = run.read_config()
    model = load_run_model(run_dir, allow_changed_plugin) if cfg.kind == "train" else None
    for name in metrics or []:
        METRICS.get(name)
    metrics = metrics if metrics is not None else cfg.metrics
    features = features or ["evaluator"]
    context = run_context(cfg, features, runtime)
    try:
        samples = run.read_samples()
    except GenbenchError:
        if model is None:
            raise
        samples = sample_run(model, cfg.n_samples, cfg.seed, runtime.device)
        run.write_samples(samples)
    scores = score_run(metrics, analysis, features, cfg.dataset, model, samples, context, run_dir, runtime)
    try:
        saved = run.read_metrics()
    except GenbenchError as exc:  # missing or damaged: rewritten from what was just computed
        if run.metrics_file.exists():
            print(f"genbench: {str(exc).split(';')[0]}: writing it anew", file=sys.stderr)
        saved = {}
    saved.update(scores)
    run.write_metrics(saved)
    return saved


def real_sample(dataset: str, params: dict[str, Any], splits: Splits, data: DataSettings, n: int,
                seed: int) -> np.ndarray:
    """The oracle's samples for one seed: real data a perfect model would produce (2D: a
    fresh draw; images: training images at random), from a stream fixed by the seed."""
    rng = np.random.default_rng(np.random.SeedSequence([data.data_seed, seed, ORACLE_STREAM]))
    return DATASETS.get(dataset).real_sample(n, rng, splits, **params)


def score_oracle(config: StudyConfig, dataset: str, root: Path, runtime: Runtime | None = None) -> None:
    """Score real data by every metric, once per seed: the level a perfect model reaches,
    and its spread. 2D sets draw a fresh sample of the evaluated size; image datasets
    score a random subset of the training images against the test split (the floor of
    real vs real)."""
    runtime = runtime or Runtime()
    splits = load_splits(config, dataset, runtime.data_dir)
    context = eval_context(dataset, config.datasets[dataset], splits, config.features, runtime)
    study = StudyFolder(root)
    for seed in config.seed_list():
        samples = real_sample(dataset, config.datasets[dataset], splits, config.data, config.n_samples, seed)
        desc = None if runtime.quiet else f"scoring {dataset}/oracle/seed{seed}"
        metrics = evaluate(config.metrics, samples, context.for_real_data(), desc)
        if metrics:
            oracle = study.oracle(dataset, seed)
            oracle.write_samples(samples)  # so anyone can score the same real data again (evaluate-samples)
            oracle.write_metrics(metrics)


def score_external(config: StudyConfig, root: Path, runtime: Runtime) -> None:
    """Score each source of the study's external samples as a run of its own (one
    "seed" per source); sources already scored, unchanged, with the same config are kept."""
    study = StudyFolder(root)
    contexts: dict[str, EvalContext] = {}
    for name, entry in config.external.items():
        dataset = config.external_dataset(name)
        params = config.datasets[dataset]
        shape = DATASETS.get(dataset).shape(**params)
        for index, source in enumerate(entry.sources):
            cfg = SamplesConfig(study=config.name, dataset=dataset, dataset_params=params, data_shape=list(shape),
                                model=name, source=source, sha256=source_digest(source), seed=index,
                                data=config.data, metrics=config.metrics,
                                plugins=plugin_records(dataset, None, config.metrics, config.features))
            run = study.run(dataset, name, index)
            if run.state(cfg)[0] == "done":
                continue
            samples = read_samples(source, shape)
            if dataset not in contexts:
                contexts[dataset] = eval_context(dataset, params, load_splits(config, dataset, runtime.data_dir),
                                                 config.features, runtime)
            metrics = score_run(config.metrics, False, config.features, dataset, None, samples, contexts[dataset],
                                run.path, runtime)
            run.write_samples(samples)
            run.write_config(cfg)
            run.write_metrics(metrics)


@dataclass(frozen=True)
class SamplesScore:
    """Scores of samples from anywhere, beside real data's (the floor) on the same metrics."""

    dataset: str
    n: int
    metrics: dict[str, float]
    floor: dict[str, float]


def evaluate_samples(samples: np.ndarray, dataset: str, params: dict[str, Any] | None = None,
                     data: DataSettings | None = None, metrics: list[str] | None = None,
                     features: list[str] | None = None, runtime: Runtime | None = None) -> SamplesScore:
    """Score parsed samples (see ``genbench.data.samples``) against ``dataset``'s test
    split with a study's metrics, beside its real-data floor: as many real training
    images (or fresh 2D points) as there are samples, drawn as a study's oracle seed 0."""
    runtime = runtime or Runtime()
    params, data = params or {}, data or DataSettings()
    metrics = metrics if metrics is not None else default_metrics(dataset)
    features = features if features is not None else ["evaluator"]
    splits = make_splits(dataset, params, data.protocol, data.n_train, data.n_holdout, data.n_test, data.data_seed,
                         runtime.data_dir)
    context = eval_context(dataset, params, splits, features, runtime)
    scores = evaluate(metrics, samples, context, None if runtime.quiet else "scoring samples")
    real = real_sample(dataset, params, splits, data, len(samples), 0)
    floor = evaluate(metrics, real, context.for_real_data(), None if runtime.quiet else "scoring real data")
    return SamplesScore(dataset, len(samples), scores, floor)
