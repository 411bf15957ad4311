"""genbench's Python API: what the command line calls, for scripts and notebooks.

Every function validates its input at the boundary (a problem is one
:class:`~genbench.errors.GenbenchError` line) and returns data: dataclasses, dicts,
arrays and paths, never printed text.
"""
from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genbench.config import (
    DataSettings,
    StudyConfig,
    apply_overrides,
    load_preset,
    preset_names,
    resolve,
    set_all_epochs,
    study_source,
    validate_as,
    with_base,
)
from genbench.data import DATASETS, check_dataset_params
from genbench.data.image_data import to_uint8
from genbench.data.samples import parse_samples, read_samples
from genbench.distributed import World
from genbench.errors import GenbenchError
from genbench.executors import EXECUTORS
from genbench.io import ensure_writable_dir, write_json
from genbench.layout import RunFolder, StudyFolder
from genbench.models import MODELS
from genbench.plugins import activate, resolve_source
from genbench.runtime import Runtime, resolve_device
from genbench.scoring import SamplesScore, evaluate_run, evaluate_samples as _score_samples
import genbench.study as studies

StudySource = str | Path | Mapping[str, Any]


@dataclass(frozen=True)
class StudyResult:
    """A finished study: its folder, report and the tidy table of every number."""

    root: Path
    report_html: Path
    report_md: Path
    summary_csv: Path
    summary: list[dict[str, Any]]  # rows: study, dataset, model, seed, metric, value

    def values(self, dataset: str, model: str, metric: str) -> dict[int, float]:
        """seed -> value of one metric for one model (or ``oracle``) on one dataset."""
        return {int(r["seed"]): float(r["value"]) for r in self.summary
                if (r["dataset"], r["model"], r["metric"]) == (dataset, model, metric)}


@dataclass(frozen=True)
class RunResult:
    """One trained run: its folder and its numbers."""

    folder: Path
    metrics: dict[str, Any]


def make_runtime(device: str = "auto", data_dir: str | Path | None = None, resume: bool = True,
                 quiet: bool = False, inception_weights: str | Path | None = None,
                 tensorboard: bool = False) -> Runtime:
    """How work runs here: the device (``auto``: CUDA when PyTorch sees one), where data
    files are looked for first, whether unfinished runs resume, progress bars. Under
    ``torchrun`` this process joins the ranks training one run (only rank 0 shows bars)."""
    world, device_ = World.from_env(resolve_device(device))
    return Runtime(device_, Path(data_dir) if data_dir else None, resume, quiet or not world.is_writer,
                   Path(inception_weights) if inception_weights else None, tensorboard, world)


def load_study(study: StudySource = "toy2d", *, overrides: Mapping[str, Any] | None = None,
               seeds: int | None = None, epochs: int | None = None, plugins: Sequence[str | Path] = ()) -> StudyConfig:
    """A validated study config from a preset name, a YAML file, or a mapping of the same
    shape; ``overrides`` set dotted keys (``{"models.mlp-vae.train.lr": 3e-3}``),
    ``epochs`` every model's epochs, ``plugins`` are loaded beside the study's own."""
    activate()  # installed plugins may provide a preset's names
    if isinstance(study, Mapping):
        raw = with_base(copy.deepcopy(dict(study)))
    else:
        raw = study_source(study)
    if seeds is not None:
        raw["seeds"] = seeds
    if epochs is not None:
        raw = set_all_epochs(raw, epochs)
    raw = apply_overrides(raw, dict(overrides or {}))
    extra = [resolve_source(str(p)) for p in plugins]
    if extra:
        raw["plugins"] = [*(raw.get("plugins") or []), *(p for p in extra if p not in (raw.get("plugins") or []))]
    return resolve(raw)


def run_study(study: StudySource = "toy2d", out: str | Path | None = None, *,
              overrides: Mapping[str, Any] | None = None, seeds: int | None = None, epochs: int | None = None,
              plugins: Sequence[str | Path] = (), executor: str = "local",
              executor_options: Mapping[str, Any] | None = None, runtime: Runtime | None = None) -> StudyResult:
    """Train, score and report every run of a study into ``out`` (default
    ``runs/<name>``); finished runs are kept and unfinished ones resume, so the same call
    continues an interrupted study. ``executor`` says where the runs execute
    (``local``, or a cluster executor with its ``executor_options``)."""
    config = load_study(study, overrides=overrides, seeds=seeds, epochs=epochs, plugins=plugins)
    root = Path(out) if out is not None else Path("runs") / config.name
    engine = EXECUTORS.get(executor)(**dict(executor_options or {}))
    folder = StudyFolder(studies.run_study(config, root, runtime or make_runtime(), engine))
    summary = folder.collect_summary(config)
    return StudyResult(folder.root, folder.report_html, folder.report_md, folder.summary_file, summary)


def train(dataset: str, model: str, *, seed: int = 0, preset: StudySource = "toy2d", epochs: int | None = None,
          overrides: Mapping[str, Any] | None = None, out: str | Path | None = None,
          plugins: Sequence[str | Path] = (), runtime: Runtime | None = None) -> RunResult:
    """Train and score one run: ``model`` on ``dataset`` with the settings ``preset`` has
    for them (``epochs`` is required when the preset has none for the model)."""
    activate([str(p) for p in plugins])
    DATASETS.get(dataset)
    MODELS.get(model)
    raw = study_source(preset) if not isinstance(preset, Mapping) else copy.deepcopy(dict(preset))
    if model not in raw.get("models", {}) and not epochs:
        having = [p for p in preset_names() if model in load_preset(p).get("models", {})]
        raise GenbenchError(f"study {preset!r} has no settings for model {model!r}; pass epochs (--epochs N), "
                            f"or a preset that has them ({', '.join(having) or 'none'})")
    entry = raw.get("models", {}).get(model, {"train": {}})
    per_model = raw.get("train_overrides", {}).get(dataset, {})
    raw.update(name=f"train-{dataset}-{model}", seeds=1, first_seed=seed,
               datasets={dataset: raw.get("datasets", {}).get(dataset) or {}}, models={model: entry},
               train_overrides={dataset: {model: per_model[model]}} if model in per_model else {}, external={})
    result = run_study(raw, out, overrides=overrides, epochs=epochs, plugins=plugins, runtime=runtime)
    folder = StudyFolder(result.root).run(dataset, model, seed)
    return RunResult(folder.path, folder.read_metrics() if folder.metrics_file.exists() else {})


def load_run(folder: str | Path, *, allow_changed_plugin: bool = False) -> torch.nn.Module:
    """A trained run's model, rebuilt from its folder (its plugins loaded and checked), in
    eval mode on the CPU: ``model.sample(n)``, and for VAEs ``encode``/``decode``."""
    from genbench.runner import load_run_model

    activate()
    return load_run_model(Path(folder), allow_changed_plugin)


def sample(folder: str | Path, n: int, *, seed: int = 0, allow_changed_plugin: bool = False) -> np.ndarray:
    """``n`` samples of a trained run from noise fixed by ``seed``: images as uint8
    (N, C, H, W) pixels, 2D points as float32."""
    if not isinstance(n, int) or n < 1:
        raise GenbenchError(f"n={n!r}: expected a positive whole number of samples")
    model = load_run(folder, allow_changed_plugin=allow_changed_plugin)
    samples = model.sample(n, generator=torch.Generator().manual_seed(seed)).float().numpy()
    return to_uint8(samples, model.value_range) if model.value_range else samples


def evaluate(target: str | Path | np.ndarray, *, dataset: str | None = None, metrics: Sequence[str] | None = None,
             features: Sequence[str] | None = None, analysis: bool = True, dataset_params: Mapping | None = None,
             data: Mapping[str, Any] | None = None, value_range: str | None = None, runtime: Runtime | None = None,
             allow_changed_plugin: bool = False, out: str | Path | None = None) -> dict[str, Any] | SamplesScore:
    """Score a finished run folder again (its ``metrics.json`` is updated; returns it), or
    samples from anywhere (an array, an ``.npy``/``.npz`` file or a folder of images,
    with ``dataset``; returns a :class:`SamplesScore` beside the real-data floor, also
    written to ``out/metrics.json`` when ``out`` is given)."""
    runtime = runtime or make_runtime()
    activate()
    if not isinstance(target, np.ndarray) and RunFolder(Path(target)).config_file.exists():
        if dataset is not None:
            raise GenbenchError(f"{target} is a run folder, which knows its dataset; drop dataset={dataset!r}")
        return evaluate_run(Path(target), runtime, list(metrics) if metrics is not None else None,
                            list(features) if features is not None else None, analysis, allow_changed_plugin)
    if dataset is None:
        raise GenbenchError(f"{'the array' if isinstance(target, np.ndarray) else target} is not a run folder; "
                            f"say which dataset the samples imitate (--dataset)")
    params = dict(dataset_params or {})
    check_dataset_params(dataset, params)
    shape = tuple(DATASETS.get(dataset).shape(**params))
    if isinstance(target, np.ndarray):
        samples = parse_samples(target, shape, value_range)
    else:
        samples = read_samples(target, shape, value_range)
    settings = validate_as(DataSettings, dict(data or {}), "data")
    if out is not None:
        ensure_writable_dir(Path(out))
    score = _score_samples(samples, dataset, params, settings, list(metrics) if metrics is not None else None,
                           list(features) if features is not None else None, runtime)
    if out is not None:
        source = "array" if isinstance(target, np.ndarray) else str(Path(target).resolve())
        write_json(Path(out) / "metrics.json", {"source": source, **asdict(score)})
    return score


def report(folder: str | Path, *, allow_changed_plugin: bool = False) -> tuple[Path, Path]:
    """Rebuild a study's summary, ``report.md`` and ``report.html`` from its folder alone."""
    from genbench.report import build_report

    activate()
    return build_report(Path(folder), allow_changed_plugin)
