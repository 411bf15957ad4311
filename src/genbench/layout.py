"""The study folder and the run folders in it: where each file lives, and the one place
each is read and written.

Layout of a study folder (everything a report needs, so it can be rebuilt from disk)::

    OUT/study.yaml                       resolved study config
    OUT/<dataset>/<model>/seed<k>/       one run: config.yaml, history.csv,
                                         metrics.json, model.pt, samples.npy, run.png;
                                         image runs also samples/epoch_XXX.png (and
                                         recon/epoch_XXX.png for VAEs)
    OUT/<dataset>/<model>/checkpoint-seed<k>[-<k2>...].pt
                                         resumable training state of seeds trained together
    OUT/<dataset>/<model>/.seed<k>.lock  held while a process writes the run (genbench.locks)
    OUT/.genbench/                       cluster executors' sentinel, progress files, Slurm logs
    OUT/<dataset>/<name>/seed<i>/        external samples (source i): config.yaml,
                                         samples.npy, metrics.json
    OUT/<dataset>/oracle/seed<k>/        real data scored like a model (the level a perfect model
                                         reaches): metrics.json, samples.npy
    OUT/<dataset>/real.npy               image datasets: training images shown in the report
    OUT/summary.csv                      study,dataset,model,seed,metric,value
    OUT/report.md, OUT/report.html, OUT/figures/<dataset>.png

Every reader turns a missing or damaged file into one :class:`GenbenchError` line naming
the file and what to do; every writer is atomic (``genbench.io``).
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from genbench.config import DataSettings, StudyConfig, TrainSettings
from genbench.data import DATASETS, Splits, make_splits
from genbench.errors import GenbenchError
from genbench.features import FEATURES
from genbench.io import load_yaml, save_npy, save_weights, write_csv, write_json, write_yaml
from genbench.metrics import METRICS
from genbench.models import MODELS
from genbench.plugins import PluginRecord, loaded
from genbench.train import TRAINERS

ORACLE = "oracle"
RunState = Literal["done", "failed", "todo", "damaged"]
SUMMARY_FIELDS = ["study", "dataset", "model", "seed", "metric", "value"]


class _RunBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def same_as(self, other: _RunBase) -> bool:
        """Equal as they read back from disk (tuples and lists alike)."""
        return self.model_dump(mode="json") == other.model_dump(mode="json")


class RunConfig(_RunBase):
    """Everything that determines one trained run's result (its ``config.yaml``). A run
    whose saved config equals the one a study asks for is not trained again."""

    kind: Literal["train"] = "train"
    study: str
    dataset: str
    dataset_params: dict[str, Any]
    data_shape: list[int]
    model: str
    model_params: dict[str, Any]
    train: TrainSettings
    data: DataSettings
    seed: int
    n_samples: int
    metrics: list[str]
    plugins: list[PluginRecord] = []  # the plugins providing what the run uses


class SamplesConfig(_RunBase):
    """External samples scored as a run: where they came from and a hash of the source."""

    kind: Literal["samples"] = "samples"
    study: str
    dataset: str
    dataset_params: dict[str, Any]
    data_shape: list[int]
    model: str  # the name the study gives the samples
    source: str
    sha256: str
    seed: int  # the source's index
    data: DataSettings
    metrics: list[str]
    plugins: list[PluginRecord] = []


def plugin_records(dataset: str, model: str | None, metrics: list[str], features: list[str]) -> list[PluginRecord]:
    """The loaded plugins that provide the dataset, model (and its trainer), metrics and
    feature extractors a run uses."""
    sources = {DATASETS.provider(dataset), *(METRICS.provider(m) for m in metrics),
               *(FEATURES.provider(f) for f in features)}
    if model is not None:
        sources |= {MODELS.provider(model), TRAINERS.provider(MODELS.get(model).cls.trainer_name())}
    return [record for record in loaded() if record.source in sources]


def run_config(config: StudyConfig, dataset: str, model: str, seed: int) -> RunConfig:
    """The config of one run of a study."""
    params = config.datasets[dataset]
    return RunConfig(study=config.name, dataset=dataset, dataset_params=params,
                     data_shape=list(DATASETS.get(dataset).shape(**params)), model=model,
                     model_params=config.models[model].params, train=config.train_settings(dataset, model),
                     data=config.data, seed=seed, n_samples=config.n_samples, metrics=config.metrics,
                     plugins=plugin_records(dataset, model, config.metrics, config.features))


def run_splits(cfg: RunConfig | SamplesConfig, data_dir: Path | None = None) -> Splits:
    """The run's data, re-created from its config."""
    d = cfg.data
    return make_splits(cfg.dataset, cfg.dataset_params, d.protocol, d.n_train, d.n_holdout, d.n_test, d.data_seed,
                       data_dir)


def load_splits(config: StudyConfig, dataset: str, data_dir: Path | None = None) -> Splits:
    d = config.data
    return make_splits(dataset, config.datasets[dataset], d.protocol, d.n_train, d.n_holdout, d.n_test, d.data_seed,
                       data_dir)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


@dataclass(frozen=True)
class RunFolder:
    """One run's folder (a trained model, external samples, or the oracle)."""

    path: Path

    config_file = property(lambda self: self.path / "config.yaml")
    metrics_file = property(lambda self: self.path / "metrics.json")
    history_file = property(lambda self: self.path / "history.csv")
    weights_file = property(lambda self: self.path / "model.pt")
    samples_file = property(lambda self: self.path / "samples.npy")
    failed_file = property(lambda self: self.path / "failed.json")
    figure_file = property(lambda self: self.path / "run.png")

    def _damaged(self, path: Path, exc: Exception | str, fix: str) -> GenbenchError:
        why = exc if isinstance(exc, str) else _first_line(exc)
        return GenbenchError(f"{path} is damaged ({why}); {fix}")

    # -- reading ------------------------------------------------------------------------
    def read_config(self) -> RunConfig | SamplesConfig:
        """The run's config, or one line saying the folder is not a run or is damaged."""
        try:
            raw = load_yaml(self.config_file.read_text())
        except FileNotFoundError:
            raise GenbenchError(f"{self.path} is not a run folder (no config.yaml); pass e.g. "
                                f"runs/toy2d/pinwheel/mlp-vae/seed0") from None
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise self._damaged(self.config_file, exc, "run the study again to rewrite it") from None
        if not isinstance(raw, dict):
            raise self._damaged(self.config_file, "not a mapping", "run the study again to rewrite it")
        cls = SamplesConfig if raw.get("kind") == "samples" else RunConfig
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(map(str, err["loc"]))
            raise self._damaged(self.config_file, f"{where}: {err['msg']}", "run the study again to rewrite it") from None

    def read_metrics(self) -> dict[str, Any]:
        """The run's ``metrics.json``; one line naming the file when it is missing or damaged."""
        try:
            metrics = json.loads(self.metrics_file.read_text())
        except FileNotFoundError:
            raise GenbenchError(f"{self.path} has no metrics.json: the run has not finished; run the study (or "
                                f"genbench train) to finish it") from None
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            fix = (f"run `genbench evaluate {self.path}` to recompute it, or the study again to retrain the run"
                   if self.config_file.exists() else "run the study again to rewrite it")  # the oracle's
            raise self._damaged(self.metrics_file, exc, fix) from None
        if not isinstance(metrics, dict):
            raise self._damaged(self.metrics_file, "not a JSON object", f"run `genbench evaluate {self.path}`")
        return metrics

    def read_history(self) -> list[dict[str, float]]:
        """Per-epoch rows of ``history.csv`` as floats."""
        fix = "run the study again to retrain the run (it is treated as unfinished)"
        try:
            with open(self.history_file, newline="") as fh:
                rows = [{k: float(v) for k, v in row.items()} for row in csv.DictReader(fh)]
        except FileNotFoundError:
            raise self._damaged(self.history_file, "missing", fix) from None
        except (OSError, UnicodeDecodeError, ValueError, TypeError, csv.Error) as exc:
            raise self._damaged(self.history_file, exc, fix) from None
        if not rows or "epoch" not in rows[0]:
            raise self._damaged(self.history_file, "no epoch rows", fix)
        return rows

    def read_samples(self) -> np.ndarray:
        try:
            return np.load(self.samples_file, allow_pickle=False)
        except FileNotFoundError:
            raise GenbenchError(f"{self.path} has no samples.npy: the run has not finished; run the study to "
                                f"finish it") from None
        except (OSError, ValueError, EOFError) as exc:
            raise self._damaged(self.samples_file, exc, f"run `genbench evaluate {self.path}` to draw them again") \
                from None

    def read_failed(self) -> dict[str, Any] | None:
        """Why the run diverged, or None if it did not."""
        try:
            failed = json.loads(self.failed_file.read_text())
            return failed if isinstance(failed, dict) and "error" in failed else None
        except (OSError, ValueError):
            return None

    def state(self, expected: RunConfig | SamplesConfig) -> tuple[RunState, str]:
        """Whether the run is ``done`` (finished with this config), ``failed`` (diverged with
        it), ``todo``, or ``damaged`` (finished, but a result file is damaged: it is redone),
        with the one-line reason for ``damaged``."""
        try:
            saved = self.read_config()
        except GenbenchError as exc:
            return ("damaged", str(exc)) if self.config_file.exists() else ("todo", "")
        if not saved.same_as(expected):
            return "todo", ""
        if self.read_failed() is not None:
            return "failed", ""
        if not self.metrics_file.exists():
            return "todo", ""
        try:
            self.read_metrics()
            if expected.kind == "train":
                self.read_history()
        except GenbenchError as exc:
            return "damaged", str(exc)
        return "done", ""

    # -- writing ------------------------------------------------------------------------
    def write_config(self, cfg: RunConfig | SamplesConfig) -> None:
        write_yaml(self.config_file, cfg.model_dump(mode="json"))

    def write_metrics(self, metrics: dict[str, Any]) -> None:
        """Written last: its presence marks the run complete."""
        write_json(self.metrics_file, metrics)

    def write_history(self, history: list[dict[str, float]]) -> None:
        write_csv(self.history_file, history, list(history[0]))

    def write_samples(self, samples: np.ndarray) -> None:
        save_npy(self.samples_file, samples)

    def write_weights(self, model) -> None:
        save_weights(self.weights_file, model)

    def write_failed(self, facts: dict[str, Any]) -> None:
        write_json(self.failed_file, facts)

    def forget_result(self) -> None:
        """Remove the records that say what the run is and how it ended (``metrics.json``,
        ``failed.json``, ``config.yaml``) before it trains again, so that until it finishes
        the folder reads as not yet run, never as a finished run of another config (the
        report, rewritten while a study runs, would show the old numbers)."""
        for path in (self.metrics_file, self.failed_file, self.config_file):
            path.unlink(missing_ok=True)


@dataclass(frozen=True)
class StudyFolder:
    """A study's output folder: its config, run folders, summary and report."""

    root: Path

    study_file = property(lambda self: self.root / "study.yaml")
    summary_file = property(lambda self: self.root / "summary.csv")
    report_md = property(lambda self: self.root / "report.md")
    report_html = property(lambda self: self.root / "report.html")
    figures = property(lambda self: self.root / "figures")

    def run(self, dataset: str, model: str, seed: int) -> RunFolder:
        return RunFolder(self.root / dataset / model / f"seed{seed}")

    def oracle(self, dataset: str, seed: int) -> RunFolder:
        return self.run(dataset, ORACLE, seed)

    def checkpoint(self, dataset: str, model: str, seeds: list[int]) -> Path:
        """Seeds trained together share one checkpoint, beside their run folders."""
        return self.root / dataset / model / f"checkpoint-seed{'-'.join(map(str, seeds))}.pt"

    def checkpoints_holding(self, dataset: str, model: str, seeds: list[int]) -> list[Path]:
        """Every checkpoint of the model holding any of ``seeds``: the group's own, and
        those of the groups its seeds went on in after one of them diverged."""
        wanted = set(seeds)
        found = []
        for path in (self.root / dataset / model).glob("checkpoint-seed*.pt"):
            held = path.stem.removeprefix("checkpoint-seed").split("-")
            if all(s.isdigit() for s in held) and wanted & {int(s) for s in held}:
                found.append(path)
        return sorted(found)

    def lock(self, dataset: str, model: str, seed: int) -> Path:
        """The run's lock file, held while a process writes its folder (``genbench.locks``)."""
        return self.root / dataset / model / f".seed{seed}.lock"

    def real_images(self, dataset: str) -> Path:
        return self.root / dataset / "real.npy"

    def read_study(self) -> StudyConfig:
        """The resolved study config; one line when the folder is not a study or the file is damaged."""
        fix = "run the study again (genbench run) to rewrite it"
        try:
            raw = load_yaml(self.study_file.read_text())
        except FileNotFoundError:
            raise GenbenchError(f"{self.root} is not a study folder (study.yaml is missing); run `genbench run` "
                                f"first") from None
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise GenbenchError(f"{self.study_file} is damaged ({_first_line(exc)}); {fix}") from None
        try:
            return StudyConfig.model_validate(raw)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(map(str, err["loc"])) or "top level"
            raise GenbenchError(f"{self.study_file} is damaged ({where}: {err['msg']}); {fix}") from None

    def write_study(self, config: StudyConfig) -> None:
        write_yaml(self.study_file, config.model_dump(mode="json"))

    def collect_summary(self, config: StudyConfig) -> list[dict[str, Any]]:
        """The tidy table of every number: one row per study, dataset, model, seed, metric."""
        rows = []
        for dataset in config.datasets:
            for model in [*config.entries(dataset), ORACLE]:
                for seed in config.seed_list() if model == ORACLE else config.seeds_of(model):
                    run = self.run(dataset, model, seed)
                    if not run.metrics_file.exists():
                        continue
                    for metric, value in run.read_metrics().items():
                        if isinstance(value, (int, float)):  # figure lists and the like stay in metrics.json
                            rows.append({"study": config.name, "dataset": dataset, "model": model, "seed": seed,
                                         "metric": metric, "value": value})
        return rows

    def write_summary(self, rows: list[dict[str, Any]]) -> None:
        write_csv(self.summary_file, rows, SUMMARY_FIELDS)
