"""Run a whole study: every dataset x model x seed, then the oracle, summary and report.

Layout of a study folder (everything a report needs, so it can be rebuilt from disk)::

    OUT/study.yaml                       resolved study config
    OUT/<dataset>/<model>/seed<k>/       one run: config.yaml, history.csv,
                                         metrics.json, model.pt, samples.npy, run.png
    OUT/<dataset>/oracle/seed<k>/        metrics of a fresh real sample (the ceiling)
    OUT/summary.csv                      study,dataset,model,seed,metric,value
    OUT/report.md, OUT/report.html, OUT/figures/<dataset>.png
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from tqdm import tqdm

from genbench.config import StudyConfig
from genbench.data import DATASETS, Splits
from genbench.layout import ORACLE, load_splits, run_folder
from genbench.io import ensure_writable_dir, save_npy, save_weights, write_csv, write_json, write_yaml
from genbench.metrics import EvalContext, evaluate
from genbench.models import MODELS, build_model, count_parameters
from genbench.report import build_report
from genbench.report.figures import run_figure
from genbench.train import TRAINERS

def run_config(config: StudyConfig, dataset: str, model: str, seed: int) -> dict[str, Any]:
    """Everything that determines one run's result, as plain data (saved as config.yaml)."""
    return {
        "study": config.name,
        "dataset": dataset,
        "dataset_params": config.datasets[dataset],
        "data_dim": DATASETS.get(dataset).data_dim,
        "model": model,
        "model_params": config.models[model].params,
        "train": config.train_settings(dataset, model).model_dump(mode="json"),
        "data": config.data.model_dump(mode="json"),
        "seed": seed,
        "n_samples": config.n_samples,
        "metrics": config.metrics,
    }


def is_done(folder: Path, cfg: dict[str, Any]) -> bool:
    """A run is done when its metrics exist and it was made with the same config."""
    try:
        saved = yaml.safe_load((folder / "config.yaml").read_text())
    except (OSError, yaml.YAMLError):
        return False
    return (folder / "metrics.json").exists() and saved == json.loads(json.dumps(cfg))


def eval_context(config: StudyConfig, dataset: str, splits: Splits) -> EvalContext:
    spec = DATASETS.get(dataset)
    modes = spec.modes(**config.datasets[dataset]) if spec.modes else None
    return EvalContext(train=splits.train, test=splits.test, modes=modes)


def sample_run(model: torch.nn.Module, n: int, seed: int) -> np.ndarray:
    """The run's evaluation samples, drawn from a stream fixed by the seed."""
    model.eval()
    return model.sample(n, generator=torch.Generator().manual_seed(20_000 + seed)).numpy()


def train_group(config: StudyConfig, dataset: str, model_name: str, seeds: list[int], root: Path,
                progress: tqdm | None = None) -> None:
    """Train the given seeds of one (dataset, model) together, then score and save each."""
    splits = load_splits(config, dataset)
    settings = config.train_settings(dataset, model_name)
    models = []
    for seed in seeds:
        torch.manual_seed(seed)
        models.append(build_model(model_name, splits.train.shape[1], config.models[model_name].params))
    trainer = TRAINERS[MODELS.get(model_name).family]
    start = time.perf_counter()
    histories = trainer(
        models, torch.from_numpy(splits.train), torch.from_numpy(splits.holdout), settings, seeds,
        on_epoch=(lambda _: progress.update(len(seeds))) if progress else None,
    )
    # Seeds trained together share the wall time; each is charged its share.
    seconds = (time.perf_counter() - start) / len(seeds)
    context = eval_context(config, dataset, splits)
    for seed, model, history in zip(seeds, models, histories):
        folder = run_folder(root, dataset, model_name, seed)
        samples = sample_run(model, config.n_samples, seed)
        metrics = evaluate(config.metrics, samples, context)
        metrics.update(n_params=count_parameters(model), train_seconds=seconds)
        write_csv(folder / "history.csv", history, list(history[0]))
        save_weights(folder / "model.pt", model)
        save_npy(folder / "samples.npy", samples)
        run_figure(folder / "run.png", history, splits.train, samples, f"{dataset} / {model_name} / seed {seed}")
        write_yaml(folder / "config.yaml", run_config(config, dataset, model_name, seed))
        write_json(folder / "metrics.json", metrics)  # last: its presence marks the run complete


def score_oracle(config: StudyConfig, dataset: str, root: Path) -> None:
    """Score a fresh real sample of the evaluated size by every metric, once per seed:
    the level a perfect model reaches, and its spread."""
    splits = load_splits(config, dataset)
    context = eval_context(config, dataset, splits)
    generate = DATASETS.get(dataset).generate
    for seed in config.seed_list():
        rng = np.random.default_rng(np.random.SeedSequence([config.data.data_seed, seed, 7]))
        samples = generate(config.n_samples, rng, **config.datasets[dataset])
        write_json(run_folder(root, dataset, ORACLE, seed) / "metrics.json", evaluate(config.metrics, samples, context))


def collect_summary(config: StudyConfig, root: Path) -> list[dict[str, Any]]:
    """The tidy table of every number: one row per study, dataset, model, seed, metric."""
    rows = []
    for dataset in config.datasets:
        for model in [*config.models, ORACLE]:
            for seed in config.seed_list():
                path = run_folder(root, dataset, model, seed) / "metrics.json"
                if not path.exists():
                    continue
                for metric, value in json.loads(path.read_text()).items():
                    rows.append({"study": config.name, "dataset": dataset, "model": model, "seed": seed,
                                 "metric": metric, "value": value})
    return rows


def run_study(config: StudyConfig, root: Path, quiet: bool = False) -> Path:
    """Train, score and report every run of ``config`` under ``root``; runs already done
    with the same config are kept, so an interrupted study resumes where it stopped."""
    ensure_writable_dir(root)
    write_yaml(root / "study.yaml", config.model_dump(mode="json"))
    todo = []
    for dataset in config.datasets:
        for model in config.models:
            seeds = [s for s in config.seed_list()
                     if not is_done(run_folder(root, dataset, model, s), run_config(config, dataset, model, s))]
            if seeds:
                todo.append((dataset, model, seeds))
    # Progress counts seed-epochs (so the ETA is honest across short and long runs) and
    # shows finished runs beside it.
    total = sum(config.train_settings(d, m).epochs * len(s) for d, m, s in todo)
    runs_total = len(config.datasets) * len(config.models) * config.seeds
    runs_done = runs_total - sum(len(s) for _, _, s in todo)
    with tqdm(total=total, unit="seed-epoch", desc=config.name, disable=quiet, dynamic_ncols=True) as progress:
        for dataset, model, seeds in todo:
            progress.set_postfix_str(f"runs {runs_done}/{runs_total}, training {dataset}/{model} x{len(seeds)} seeds")
            train_group(config, dataset, model, seeds, root, progress)
            runs_done += len(seeds)
        progress.set_postfix_str(f"runs {runs_done}/{runs_total}")
    for dataset in config.datasets:
        score_oracle(config, dataset, root)
    write_csv(root / "summary.csv", collect_summary(config, root), ["study", "dataset", "model", "seed", "metric", "value"])
    build_report(root)
    return root
