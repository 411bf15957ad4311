"""Run a whole study: every dataset x model x seed, then the oracle, summary and report.

Layout of a study folder (everything a report needs, so it can be rebuilt from disk)::

    OUT/study.yaml                       resolved study config
    OUT/<dataset>/<model>/seed<k>/       one run: config.yaml, history.csv,
                                         metrics.json, model.pt, samples.npy, run.png;
                                         image runs also samples/epoch_XXX.png (and
                                         recon/epoch_XXX.png for VAEs)
    OUT/<dataset>/<model>/checkpoint-seed<k>[-<k2>...].pt
                                         resumable training state of seeds trained together
    OUT/<dataset>/oracle/seed<k>/        metrics of a fresh real sample (the ceiling)
    OUT/<dataset>/real.npy               image datasets: training images shown in the report
    OUT/summary.csv                      study,dataset,model,seed,metric,value
    OUT/report.md, OUT/report.html, OUT/figures/<dataset>.png
"""
from __future__ import annotations

import json
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from tqdm import tqdm

from genbench.analysis.run import analyse_run
from genbench.config import StudyConfig
from genbench.data import DATASETS, Splits, make_splits
from genbench.data.image_data import to_uint8
from genbench.errors import TrainingDiverged
from genbench.features import extractor_loader
from genbench.io import (
    ensure_writable_dir,
    load_checkpoint,
    save_npy,
    save_torch,
    save_weights,
    write_csv,
    write_json,
    write_yaml,
)
from genbench.layout import ORACLE, checkpoint_path, load_splits, run_folder
from genbench.metrics import METRICS, EvalContext, evaluate
from genbench.models import build_model, count_parameters
from genbench.report import build_report
from genbench.report.figures import image_run_figure, run_figure
from genbench.report.grid import save_image
from genbench.runtime import Runtime
from genbench.sampling import load_run_model, read_run_config
from genbench.train import make_trainer
from genbench.train.stacked import can_stack
from genbench.train.tensorboard import RunLoggers, require_tensorboard

FEATURE_METRICS = {"fd", "kid", "is", "pr", "dc", "class_coverage"}  # metrics that need a feature extractor
FAILED = "failed.json"  # marks a run whose training diverged, with the reason
SNAPSHOT_IMAGES = 64  # images per sample grid
SAMPLE_CHUNK = 500  # samples drawn per forward pass when scoring a run


def run_config(config: StudyConfig, dataset: str, model: str, seed: int) -> dict[str, Any]:
    """Everything that determines one run's result, as plain data (saved as config.yaml)."""
    params = config.datasets[dataset]
    return {
        "study": config.name,
        "dataset": dataset,
        "dataset_params": params,
        "data_shape": list(DATASETS.get(dataset).shape(**params)),
        "model": model,
        "model_params": config.models[model].params,
        "train": config.train_settings(dataset, model).model_dump(mode="json"),
        "data": config.data.model_dump(mode="json"),
        "seed": seed,
        "n_samples": config.n_samples,
        "metrics": config.metrics,
    }


def _plain(obj: Any) -> Any:
    """As it reads back from YAML/JSON (tuples become lists), for comparing configs."""
    return json.loads(json.dumps(obj))


def is_done(folder: Path, cfg: dict[str, Any]) -> bool:
    """A run is done when it finished (metrics.json) or failed (failed.json) with the same
    config: a diverged run would diverge again, so it is not retried."""
    try:
        saved = yaml.safe_load((folder / "config.yaml").read_text())
    except (OSError, yaml.YAMLError):
        return False
    return ((folder / "metrics.json").exists() or (folder / FAILED).exists()) and saved == _plain(cfg)


def eval_context(dataset: str, params: dict[str, Any], splits: Splits, features: list[str],
                 runtime: Runtime | None = None) -> EvalContext:
    spec = DATASETS.get(dataset)
    if spec.kind == "images":
        runtime = runtime or Runtime()
        loaders = {name: extractor_loader(name, dataset, params, runtime.data_dir, runtime.inception_weights,
                                          runtime.quiet) for name in features}
        return EvalContext(train=splits.train, test=splits.test, modes=None, kind="images",
                           test_labels=splits.labels.get("test"), extractors=loaders)
    modes = spec.modes(**params) if spec.modes else None
    return EvalContext(train=splits.train, test=splits.test, modes=modes)


def sample_run(model: torch.nn.Module, n: int, seed: int, device: torch.device) -> np.ndarray:
    """The run's evaluation samples, drawn from a stream fixed by the seed (on the CPU, so
    they do not depend on the device), in chunks; images are stored as uint8 pixels."""
    model.to(device).eval()
    gen = torch.Generator().manual_seed(20_000 + seed)
    chunks = []
    for start in range(0, n, SAMPLE_CHUNK):
        z = torch.randn(min(SAMPLE_CHUNK, n - start), model.latent_dim, generator=gen).to(device)
        with torch.no_grad():
            x = model.decode(z) if model.family == "vae" else model.generator(z)
        chunks.append(x.float().cpu().numpy())
    model.cpu()
    samples = np.concatenate(chunks)
    return to_uint8(samples, model.value_range) if model.value_range else samples


class StopAtEpochEnd:
    """Ctrl-C while training: finish the current epoch, save a checkpoint, then stop
    (a second Ctrl-C stops at once, losing only the current epoch)."""

    def __init__(self) -> None:
        self.requested = False
        self._previous = None

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        tqdm.write("genbench: stopping after this epoch (Ctrl-C again to stop now)", file=sys.stderr)

    def __enter__(self) -> StopAtEpochEnd:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def _save_snapshots(trainer, folders: list[Path], value_range: tuple[float, float]) -> list[dict[str, np.ndarray]]:
    shots = trainer.images(SNAPSHOT_IMAGES)
    for folder, per_run in zip(folders, shots):
        for name, images in per_run.items():
            save_image(folder / name / f"epoch_{trainer.epoch:03d}.png", images, value_range=value_range)
    return shots


def train_group(config: StudyConfig, dataset: str, model_name: str, seeds: list[int], root: Path,
                runtime: Runtime, progress: tqdm | None = None, pending: list[int] | None = None) -> None:
    """Train the given seeds of one (dataset, model) together, checkpointing as it goes,
    then score and save each run of ``pending`` (default: every seed)."""
    pending = seeds if pending is None else pending
    splits = load_splits(config, dataset, runtime.data_dir)
    settings = config.train_settings(dataset, model_name)
    shape = tuple(splits.train.shape[1:])
    models = []
    for seed in seeds:
        torch.manual_seed(seed)
        models.append(build_model(model_name, shape, config.models[model_name].params))
    value_range = models[0].value_range
    device = runtime.device
    trainer = make_trainer(models, splits.train, splits.holdout, settings, seeds, device)
    configs = [_plain(run_config(config, dataset, model_name, s)) for s in seeds]
    folders = [run_folder(root, dataset, model_name, s) for s in seeds]
    ckpt = checkpoint_path(root, dataset, model_name, seeds)
    seconds = 0.0  # training time, carried across resumes
    saved = load_checkpoint(ckpt) if runtime.resume else None
    if saved is not None and saved.get("configs") == configs:
        trainer.load_state_dict(saved["trainer"])
        seconds = saved["seconds"]
        if progress:
            progress.update(trainer.epoch * len(seeds))
    images = DATASETS.get(dataset).kind == "images"
    logs = RunLoggers(folders, trainer.epoch) if runtime.tensorboard else None
    try:
        with StopAtEpochEnd() as stop:
            while trainer.epoch < settings.epochs:
                start = time.perf_counter()
                trainer.run_epoch()
                seconds += time.perf_counter() - start
                epoch, last = trainer.epoch, trainer.epoch == settings.epochs
                if progress:
                    progress.update(len(seeds))
                if logs:
                    logs.scalars(trainer.histories)
                if images and (last or (config.sample_every and epoch % config.sample_every == 0)):
                    shots = _save_snapshots(trainer, folders, value_range)
                    if logs:
                        logs.images(shots, epoch, value_range)
                if last or stop.requested or (config.checkpoint_every and epoch % config.checkpoint_every == 0):
                    save_torch(ckpt, {"configs": configs, "seconds": seconds, "trainer": trainer.state_dict()})
                if stop.requested and not last:
                    raise KeyboardInterrupt(f"stopped after epoch {epoch} of {dataset}/{model_name}, "
                                            f"checkpoint saved")
    except TrainingDiverged as exc:
        # The seed that diverged fails; the seeds trained beside it start again as a group
        # of their own (deterministic, so a resumed study takes the same path).
        lost = seeds.index(exc.seed)
        write_yaml(folders[lost] / "config.yaml", configs[lost])
        write_json(folders[lost] / FAILED, {"error": str(exc), "loss": exc.loss, "value": exc.value,
                                            "epoch": exc.epoch, "step": exc.step})
        tqdm.write(f"genbench: {dataset}/{model_name} seed {exc.seed} failed: {exc}", file=sys.stderr)
        survivors = [s for s in seeds if s != exc.seed]
        if set(survivors) & set(pending):
            if progress:
                progress.total += settings.epochs * len(survivors)
                progress.refresh()
            train_group(config, dataset, model_name, survivors, root, runtime, progress,
                        [s for s in pending if s in survivors])
        return
    finally:
        if logs:
            logs.close()
    trainer.finish()
    # Seeds trained together share the wall time; each is charged its share.
    seconds /= len(seeds)
    context = eval_context(dataset, config.datasets[dataset], splits, config.features, runtime)
    for seed, model, history, folder, cfg in zip(seeds, models, trainer.histories, folders, configs):
        if seed not in pending:
            continue
        start = time.perf_counter()
        samples = sample_run(model, config.n_samples, seed, device)
        sample_rate = config.n_samples / (time.perf_counter() - start)
        metrics = score_run(config.metrics, config.analysis, config.features, dataset, model, samples, context,
                            folder, runtime)
        metrics.update(n_params=count_parameters(model), train_seconds=seconds, samples_per_second=sample_rate)
        write_csv(folder / "history.csv", history, list(history[0]))
        save_weights(folder / "model.pt", model)
        save_npy(folder / "samples.npy", samples)
        title = f"{dataset} / {model_name} / seed {seed}"
        if images:
            image_run_figure(folder / "run.png", history, samples[:SNAPSHOT_IMAGES], title)
        else:
            run_figure(folder / "run.png", history, splits.train, samples, title)
        write_yaml(folder / "config.yaml", cfg)
        write_json(folder / "metrics.json", metrics)  # last: its presence marks the run complete


def score_run(metrics: list[str], analysis: bool, features: list[str], dataset: str, model: torch.nn.Module,
              samples: np.ndarray, context: EvalContext, folder: Path, runtime: Runtime) -> dict[str, Any]:
    """The run's metrics and, for image runs with ``analysis`` on, its latent and OOD
    analysis (figures into ``folder``, their names under ``figures``)."""
    desc = None if runtime.quiet else f"scoring {'/'.join(folder.resolve().parts[-3:])}"  # dataset/model/seed
    scores = evaluate(metrics, samples, context.for_run(model), desc)
    if context.kind == "images" and analysis:
        start = time.perf_counter()
        scores.update(analyse_run(folder, model, samples, context, dataset, runtime.data_dir,
                                  features[0] if features else None))
        scores["analysis_seconds"] = time.perf_counter() - start
    return scores


def evaluate_run(run_dir: Path, runtime: Runtime, metrics: list[str] | None = None,
                 features: list[str] | None = None, analysis: bool = True) -> dict[str, Any]:
    """Recompute a finished run's metrics (those of its config, or ``metrics``) and
    analysis from its folder, and merge them into its ``metrics.json``."""
    cfg = read_run_config(run_dir)
    model = load_run_model(run_dir)
    for name in metrics or []:
        METRICS.get(name)
    metrics = metrics if metrics is not None else cfg["metrics"]
    features = features or ["evaluator"]
    for name in features:
        extractor_loader(name, cfg["dataset"], cfg["dataset_params"], None)  # validates the name
    d = cfg["data"]
    splits = make_splits(cfg["dataset"], cfg["dataset_params"], d["protocol"], d["n_train"], d["n_holdout"],
                         d["n_test"], d["data_seed"], runtime.data_dir)
    try:
        samples = np.load(run_dir / "samples.npy")
    except (OSError, ValueError):
        samples = sample_run(model, cfg["n_samples"], cfg["seed"], runtime.device)
    context = eval_context(cfg["dataset"], cfg["dataset_params"], splits, features, runtime)
    scores = score_run(metrics, analysis, features, cfg["dataset"], model, samples, context, run_dir, runtime)
    try:
        saved = json.loads((run_dir / "metrics.json").read_text())
    except (OSError, ValueError):
        saved = {}
    saved.update(scores)
    write_json(run_dir / "metrics.json", saved)
    return saved


def training_groups(config: StudyConfig, root: Path) -> list[tuple[str, str, list[int], list[int]]]:
    """(dataset, model, seeds trained together, seeds still to score). Seeds of a model
    that can stack train as one group, others one at a time; runs done with the same
    config are not scored again. A stacked group keeps all its seeds even when some are
    done, so that a study killed between scoring two seeds resumes from the group's
    checkpoint rather than retraining the rest alone (which would differ in the last
    float bits from training them together)."""
    todo = []
    for dataset in config.datasets:
        shape = DATASETS.get(dataset).shape(**config.datasets[dataset])
        for model in config.models:
            seeds = config.seed_list()
            pending = [s for s in seeds
                       if not is_done(run_folder(root, dataset, model, s), run_config(config, dataset, model, s))]
            if not pending:
                continue
            if can_stack(build_model(model, shape, config.models[model].params)):
                todo.append((dataset, model, seeds, pending))
            else:
                todo += [(dataset, model, [s], [s]) for s in pending]
    return todo


def score_oracle(config: StudyConfig, dataset: str, root: Path, runtime: Runtime | None = None) -> None:
    """Score real data by every metric, once per seed: the level a perfect model reaches,
    and its spread. 2D sets draw a fresh sample of the evaluated size; image datasets
    score a random subset of the training images against the test split (the floor of
    real vs real)."""
    splits = load_splits(config, dataset, (runtime or Runtime()).data_dir)
    context = eval_context(dataset, config.datasets[dataset], splits, config.features, runtime)
    spec = DATASETS.get(dataset)
    for seed in config.seed_list():
        rng = np.random.default_rng(np.random.SeedSequence([config.data.data_seed, seed, 7]))
        if spec.kind == "images":
            take = rng.choice(len(splits.train), min(config.n_samples, len(splits.train)), replace=False)
            samples = splits.train[np.sort(take)]
        else:
            samples = spec.generate(config.n_samples, rng, **config.datasets[dataset])
        desc = None if runtime is None or runtime.quiet else f"scoring {dataset}/{ORACLE}/seed{seed}"
        metrics = evaluate(config.metrics, samples, context, desc)
        if metrics:
            write_json(run_folder(root, dataset, ORACLE, seed) / "metrics.json", metrics)


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
                    if not isinstance(value, (int, float)):
                        continue  # figure lists and the like: in metrics.json, not in the table
                    rows.append({"study": config.name, "dataset": dataset, "model": model, "seed": seed,
                                 "metric": metric, "value": value})
    return rows


def save_real_grid(config: StudyConfig, dataset: str, root: Path, runtime: Runtime) -> None:
    """The first training images of an image dataset, for the report beside the samples."""
    if DATASETS.get(dataset).kind == "images":
        save_npy(root / dataset / "real.npy", load_splits(config, dataset, runtime.data_dir).train[:SNAPSHOT_IMAGES])


def run_study(config: StudyConfig, root: Path, runtime: Runtime | None = None) -> Path:
    """Train, score and report every run of ``config`` under ``root``; runs already done
    with the same config are kept, and unfinished ones continue from their last
    checkpoint, so an interrupted study resumes where it stopped."""
    runtime = runtime or Runtime()
    if runtime.tensorboard:
        require_tensorboard()
    for dataset in config.datasets:  # missing data files or feature extractors fail before any training
        splits = load_splits(config, dataset, runtime.data_dir)
        if DATASETS.get(dataset).kind == "images" and set(config.metrics) & FEATURE_METRICS:
            context = eval_context(dataset, config.datasets[dataset], splits, config.features, runtime)
            for name in config.features:
                context.extractor(name)  # the evaluator trains here, once per dataset
    ensure_writable_dir(root)
    for orphan in root.rglob(".*.tmp"):  # left by a process killed mid-write; never read
        orphan.unlink(missing_ok=True)
    write_yaml(root / "study.yaml", config.model_dump(mode="json"))
    todo = training_groups(config, root)
    # Progress counts seed-epochs (so the ETA is honest across short and long runs) and
    # shows finished runs beside it.
    total = sum(config.train_settings(d, m).epochs * len(s) for d, m, s, _ in todo)
    runs_total = len(config.datasets) * len(config.models) * config.seeds
    runs_done = runs_total - sum(len(p) for *_, p in todo)
    with tqdm(total=total, unit="seed-epoch", desc=config.name, disable=runtime.quiet, dynamic_ncols=True) as progress:
        for dataset, model, seeds, pending in todo:
            progress.set_postfix_str(f"runs {runs_done}/{runs_total}, training {dataset}/{model} x{len(seeds)} seeds")
            train_group(config, dataset, model, seeds, root, runtime, progress, pending)
            runs_done += len(pending)
        progress.set_postfix_str(f"runs {runs_done}/{runs_total}")
    for dataset in config.datasets:
        save_real_grid(config, dataset, root, runtime)
        score_oracle(config, dataset, root, runtime)
    write_csv(root / "summary.csv", collect_summary(config, root), ["study", "dataset", "model", "seed", "metric", "value"])
    build_report(root)
    return root
