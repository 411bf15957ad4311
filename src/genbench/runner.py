"""One unit of a study's work: the seeds of one (dataset, model) trained together, then
each scored and saved into its run folder.

:func:`run_group` is a function of a :class:`GroupJob` (plain, serialisable data: the
resolved config of each run and the study folder) and the machine's :class:`Runtime`
alone, so the local loop, a Ray task, a Slurm job and every torchrun rank execute the
same code, and any of them can resume a group from its checkpoint.
"""
from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict
from tqdm import tqdm

from genbench.errors import GenbenchError, TrainingDiverged
from genbench.io import load_checkpoint, load_weights, save_torch
from genbench.layout import RunConfig, RunFolder, StudyFolder, run_splits
from genbench.locks import RunLocks
from genbench.models import build_model, count_parameters
from genbench.plugins import check_records
from genbench.report.figures import run_figure_of
from genbench.report.grid import save_image
from genbench.runtime import Runtime
from genbench.scoring import run_context, sample_run, score_run
from genbench.train import make_trainer
from genbench.train.tensorboard import RunLoggers

SNAPSHOT_IMAGES = 64  # images per sample grid


class GroupJob(BaseModel):
    """Seeds of one (dataset, model) trained together: each run's config, which of them
    still need scoring, and the study settings that say what to save along the way."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    root: str  # the study folder
    runs: list[RunConfig]  # one per seed, alike but for the seed
    pending: list[int]  # seeds to score and save (the others finished already)
    features: list[str]
    analysis: bool
    sample_every: int
    checkpoint_every: int
    checkpoint_seconds: float

    @property
    def seeds(self) -> list[int]:
        return [cfg.seed for cfg in self.runs]

    @property
    def name(self) -> str:
        return f"{self.runs[0].dataset}/{self.runs[0].model}"

    def without(self, seed: int) -> GroupJob:
        """The same job for the other seeds (after ``seed`` diverged)."""
        return self.model_copy(update={"runs": [c for c in self.runs if c.seed != seed],
                                       "pending": [s for s in self.pending if s != seed]})


class Progress:
    """Where a group reports seed-epochs done; the local executor's progress bar."""

    def advance(self, seed_epochs: int) -> None:
        """``seed_epochs`` more seed-epochs trained."""

    def grow(self, seed_epochs: int) -> None:
        """The work grew (seeds of a group that lost one train again on their own)."""

    def resumed(self, epoch: int, seeds: int) -> None:
        """The group continues from its checkpoint of ``epoch``: that many epochs of each
        of its ``seeds`` seeds are done."""
        self.advance(epoch * seeds)


class StopAtEpochEnd:
    """Ctrl-C while training: finish the current epoch, save a checkpoint, then stop
    (a second Ctrl-C stops at once, losing the training since the last checkpoint)."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Callable | int | None = None

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


def _save_snapshots(trainer, runs: list[RunFolder], value_range: tuple[float, float]) -> list[dict[str, np.ndarray]]:
    shots = trainer.images(SNAPSHOT_IMAGES)
    for run, per_run in zip(runs, shots):
        for name, images in per_run.items():
            save_image(run.path / name / f"epoch_{trainer.epoch:03d}.png", images, value_range=value_range)
    return shots


def build_run_model(cfg: RunConfig) -> torch.nn.Module:
    """The run's model, initialised from its seed."""
    torch.manual_seed(cfg.seed)
    return build_model(cfg.model, tuple(cfg.data_shape), cfg.model_params)


def run_group(job: GroupJob, runtime: Runtime, progress: Progress | None = None) -> list[int]:
    """Train the job's seeds together, checkpointing as it goes, then score and save each
    pending run; return the seeds that failed (diverged). The plugins the runs recorded
    are loaded (and checked) first, so a fresh process can run any job.

    The runs' locks are held throughout (``genbench.locks``), so another attempt at them
    waits; one that got the locks after such an attempt finished finds nothing left to do.
    Under torchrun rank 0 holds them for every rank: the others wait until it has them and
    take the work it found left, so no rank reads a checkpoint another attempt still writes."""
    progress = progress or Progress()
    check_records(job.runs[0].plugins, Path(job.root))
    study = StudyFolder(Path(job.root))
    writer = runtime.world.is_writer
    locks = RunLocks([study.lock(job.runs[0].dataset, job.runs[0].model, s) for s in job.seeds], job.name)
    with locks if writer else contextlib.nullcontext():
        left = [cfg.seed for cfg in job.runs if cfg.seed in job.pending
                and study.run(cfg.dataset, cfg.model, cfg.seed).state(cfg)[0] in ("todo", "damaged")] if writer else None
        job = job.model_copy(update={"pending": runtime.world.from_writer(left)})
        if not job.pending:
            return []
        return _run_group(job, runtime, progress)


def _run_group(job: GroupJob, runtime: Runtime, progress: Progress) -> list[int]:
    first = job.runs[0]
    study = StudyFolder(Path(job.root))
    writer = runtime.world.is_writer
    splits = run_splits(first, runtime.data_dir)
    settings, seeds = first.train, job.seeds
    models = [build_run_model(cfg) for cfg in job.runs]
    value_range = models[0].value_range
    device = runtime.device
    trainer = make_trainer(models, splits.train, splits.holdout, settings, seeds, device)
    trainer.distribute(runtime.world)
    configs = [cfg.model_dump(mode="json") for cfg in job.runs]
    runs = [study.run(first.dataset, first.model, s) for s in seeds]
    ckpt = study.checkpoint(first.dataset, first.model, seeds)
    seconds = 0.0  # training time, carried across resumes
    saved = load_checkpoint(ckpt)  # --no-resume: the driver removed it (study.run_study)
    if saved is not None and saved.get("configs") == configs:
        trainer.load_state_dict(saved["trainer"])
        seconds = saved["seconds"]
        progress.resumed(trainer.epoch, len(seeds))
    logs = RunLoggers([r.path for r in runs], trainer.epoch) if runtime.tensorboard and writer else None
    # A checkpoint of a small model's group is megabytes (weights, Adam's moments, the
    # history so far) and an epoch can take a tenth of a second: saving each one would
    # cost more than the training, hence at most one per checkpoint_seconds.
    saved_at = time.perf_counter()
    try:
        with StopAtEpochEnd() as stop:
            while trainer.epoch < settings.epochs:
                start = time.perf_counter()
                trainer.run_epoch()
                seconds += time.perf_counter() - start
                epoch, last = trainer.epoch, trainer.epoch == settings.epochs
                progress.advance(len(seeds))
                if logs:
                    logs.scalars(trainer.histories)
                if writer and value_range and (last or (job.sample_every and epoch % job.sample_every == 0)):
                    shots = _save_snapshots(trainer, runs, value_range)
                    if logs:
                        logs.images(shots, epoch, value_range)
                due = (job.checkpoint_every and epoch % job.checkpoint_every == 0
                       and time.perf_counter() - saved_at >= job.checkpoint_seconds)
                if writer and (last or stop.requested or due):
                    save_torch(ckpt, {"configs": configs, "seconds": seconds, "trainer": trainer.state_dict()})
                    saved_at = time.perf_counter()
                if stop.requested and not last:
                    raise KeyboardInterrupt(f"stopped after epoch {epoch} of {job.name}, checkpoint saved")
    except TrainingDiverged as exc:
        # The seed that diverged fails; the seeds trained beside it start again as a group
        # of their own (deterministic, so a resumed study takes the same path).
        if writer:
            lost = runs[seeds.index(exc.seed)]
            lost.write_config(job.runs[seeds.index(exc.seed)])
            lost.write_failed({"error": str(exc), "loss": exc.loss, "value": exc.value, "epoch": exc.epoch,
                               "step": exc.step})
            tqdm.write(f"genbench: {job.name} seed {exc.seed} failed: {exc}", file=sys.stderr)
        rest = job.without(exc.seed)
        if not rest.pending:
            return [exc.seed]
        progress.grow(settings.epochs * len(rest.runs))
        return [exc.seed, *_run_group(rest, runtime, progress)]
    finally:
        if logs:
            logs.close()
    trainer.finish()
    if writer:  # every rank holds the same weights; one scores them
        _score_and_save(job, trainer, models, runs, splits, seconds / len(seeds), runtime)
    return []


def _score_and_save(job: GroupJob, trainer, models: list[torch.nn.Module], runs: list[RunFolder], splits,
                    seconds: float, runtime: Runtime) -> None:
    """Sample, score and save each pending run; seeds trained together share the wall
    time equally (``seconds`` is each one's share)."""
    first = job.runs[0]
    context = run_context(first, job.features, runtime)
    figure = run_figure_of(first.dataset)
    for cfg, model, history, run in zip(job.runs, models, trainer.histories, runs):
        if cfg.seed not in job.pending:
            continue
        start = time.perf_counter()
        samples = sample_run(model, cfg.n_samples, cfg.seed, runtime.device)
        sample_rate = cfg.n_samples / (time.perf_counter() - start)
        metrics = score_run(cfg.metrics, job.analysis, job.features, cfg.dataset, model, samples, context, run.path,
                            runtime)
        metrics.update(n_params=count_parameters(model), train_seconds=seconds, samples_per_second=sample_rate)
        run.write_history(history)
        run.write_weights(model)
        run.write_samples(samples)
        figure(run.figure_file, history, splits.train, samples, f"{cfg.dataset} / {cfg.model} / seed {cfg.seed}")
        run.write_config(cfg)
        run.write_metrics(metrics)  # last: its presence marks the run complete


def load_run_model(run_dir: Path, allow_changed_plugin: bool = False) -> torch.nn.Module:
    """Rebuild a trained run's model from its folder (loading the plugins it recorded)
    and load its weights, in eval mode."""
    run = RunFolder(run_dir)
    cfg = run.read_config()
    if cfg.kind != "train":
        raise GenbenchError(f"{run_dir} holds samples from {cfg.source}, not a trained model")
    check_records(cfg.plugins, run_dir, allow_changed_plugin)
    model = build_model(cfg.model, tuple(cfg.data_shape), cfg.model_params)
    load_weights(run.weights_file, model)
    return model.eval()
