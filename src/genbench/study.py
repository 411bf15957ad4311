"""Run a whole study: check everything it needs, score real data (the oracle) and any
external samples, hand the groups of runs still to do to an executor, then write the
summary and the report. The folder layout is ``genbench.layout``'s; one group's work is
``genbench.runner``'s."""
from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

from tqdm import tqdm

from genbench.config import StudyConfig
from genbench.data import DATASETS
from genbench.errors import GenbenchError
from genbench.executors import EXECUTORS, Executor
from genbench.executors.local import LocalExecutor
from genbench.io import ensure_writable_dir, save_npy
from genbench.layout import StudyFolder, load_splits, run_config
from genbench.locks import held_elsewhere
from genbench.metrics import METRICS
from genbench.report import build_report
from genbench.runner import SNAPSHOT_IMAGES, GroupJob, build_run_model
from genbench.runtime import Runtime
from genbench.scoring import eval_context, score_external, score_oracle
from genbench.train.stacked import can_stack
from genbench.train.tensorboard import require_tensorboard


def plan(config: StudyConfig, root: Path, say=print, retry_failed: bool = False) -> list[GroupJob]:
    """The groups still to train: seeds of a model that can stack train as one group,
    others one at a time; runs done (or failed) with the same config are not trained
    again, and a run whose result files are damaged is (``say`` tells which); the result
    records of runs to train again are removed first (``RunFolder.forget_result``), unless
    another process holds the run's lock (an attempt still writing it; the job re-checks
    the run once it has the lock). A stacked group keeps all its seeds even when some are
    done, so that a study killed between
    scoring two seeds resumes from the group's checkpoint rather than retraining the rest
    alone (which would differ in the last float bits from training them together); a seed
    that diverged is left out of it, as it was when it failed. ``retry_failed``
    (``--no-resume``) trains failed runs again."""
    study = StudyFolder(root)
    jobs = []
    for dataset in config.datasets:
        for model in config.models:
            runs = [run_config(config, dataset, model, s) for s in config.seed_list()]
            pending, failed = [], set()
            for cfg in runs:
                state, why = study.run(dataset, model, cfg.seed).state(cfg)
                if state == "failed" and retry_failed:
                    state = "todo"
                elif state == "failed":
                    failed.add(cfg.seed)
                if state == "damaged":
                    say(f"genbench: {why.split(';')[0]}: training the run again")
                if state in ("todo", "damaged"):
                    if not held_elsewhere(study.lock(dataset, model, cfg.seed)):  # else being written right now
                        study.run(dataset, model, cfg.seed).forget_result()
                    pending.append(cfg.seed)
            if not pending:
                continue
            # A seed that diverged left its group, which went on without it (``GroupJob.without``).
            stacked = [c for c in runs if c.seed not in failed]
            groups = [stacked] if can_stack(build_run_model(runs[0])) else [[c] for c in runs if c.seed in pending]
            jobs += [GroupJob(root=str(root), runs=group, pending=[c.seed for c in group if c.seed in pending],
                              features=config.features, analysis=config.analysis, sample_every=config.sample_every,
                              checkpoint_every=config.checkpoint_every,
                              checkpoint_seconds=config.checkpoint_seconds) for group in groups]
    return jobs


def clear_orphans(root: Path) -> None:
    """Delete the temp files that writes killed midway left (``.<name>.*.tmp``, never read).
    A model folder whose run lock another process holds is being written right now (the
    same command started again while a dead driver's cluster tasks still run): its temp
    files are left alone, as are the cluster tasks' progress files."""
    busy: dict[Path, bool] = {}
    for orphan in root.rglob(".*.tmp"):
        parts = orphan.relative_to(root).parts
        if parts[0] == ".genbench":
            continue
        if len(parts) > 2:  # under <dataset>/<model>/, where the runs' locks are (StudyFolder.lock)
            folder = root / parts[0] / parts[1]
            if folder not in busy:
                busy[folder] = any(held_elsewhere(lock) for lock in folder.glob(".seed*.lock"))
            if busy[folder]:
                continue
        orphan.unlink(missing_ok=True)


def check_inputs(config: StudyConfig, runtime: Runtime) -> None:
    """Data files and feature extractors load (the evaluator trains, once per dataset)
    before any training, so a missing one fails at once."""
    if runtime.tensorboard:
        require_tensorboard()
    needs_features = any(METRICS.get(m).uses_features for m in config.metrics)
    for dataset in config.datasets:
        splits = load_splits(config, dataset, runtime.data_dir)
        context = eval_context(dataset, config.datasets[dataset], splits, config.features, runtime)
        for name in context.extractors if needs_features else []:
            context.extractor(name)


class _Events:
    """The study's view of an executor's work: one progress bar counting seed-epochs (so
    its ETA is honest across short and long runs), finished runs beside it, and the
    report rewritten as each group finishes (so it can be opened long before the end)."""

    def __init__(self, config: StudyConfig, jobs: list[GroupJob], runtime: Runtime, root: Path) -> None:
        self.root, self.writer = root, runtime.world.is_writer
        total = sum(job.runs[0].train.epochs * len(job.runs) for job in jobs)
        self.runs_total = len(config.datasets) * len(config.models) * config.seeds
        self.runs_done = self.runs_total - sum(len(job.pending) for job in jobs)
        self.unfinished = Counter(job.runs[0].dataset for job in jobs)  # groups per dataset not reported yet
        self.bar = tqdm(total=total, unit="seed-epoch", desc=config.name, disable=runtime.quiet, dynamic_ncols=True)
        self.progress = self

    def advance(self, seed_epochs: int) -> None:
        self.bar.update(seed_epochs)

    def grow(self, seed_epochs: int) -> None:
        self.bar.total += seed_epochs
        self.bar.refresh()

    def resumed(self, epoch: int, seeds: int) -> None:
        self.advance(epoch * seeds)

    def started(self, job: GroupJob) -> None:
        self.bar.set_postfix_str(f"runs {self.runs_done}/{self.runs_total}, training {job.name} "
                                 f"x{len(job.runs)} seeds")

    def finished(self, job: GroupJob, failed: list[int]) -> None:
        self.runs_done += len(job.pending)
        self.unfinished[job.runs[0].dataset] -= 1
        self.bar.set_postfix_str(f"runs {self.runs_done}/{self.runs_total}")
        if self.writer:
            build_report(self.root, redraw={job.runs[0].dataset})  # the other datasets' figures are unchanged

    def close(self) -> None:
        self.bar.close()


def run_study(config: StudyConfig, root: Path, runtime: Runtime | None = None,
              executor: Executor | None = None) -> Path:
    """Train, score and report every run of ``config`` under ``root``; runs already done
    with the same config are kept, and unfinished ones continue from their last
    checkpoint, so an interrupted study resumes where it stopped.

    Under torchrun every rank calls this; rank 0 alone checks the inputs, scores the
    oracle, writes and reports, the others train beside it."""
    runtime = runtime or Runtime()
    executor = executor or EXECUTORS.get("local")()
    if runtime.world.size > 1:
        check_one_run(config, executor)
    writer = runtime.world.is_writer
    jobs = None
    if writer:
        check_inputs(config, runtime)
        study = StudyFolder(ensure_writable_dir(root))
        clear_orphans(root)
        study.write_study(config)
        for dataset in config.datasets:
            if DATASETS.get(dataset).kind == "images":  # the report shows real images beside the samples
                save_npy(study.real_images(dataset),
                         load_splits(config, dataset, runtime.data_dir).train[:SNAPSHOT_IMAGES])
            score_oracle(config, dataset, root, runtime)
        score_external(config, root, runtime)
        jobs = plan(config, root, say=lambda text: tqdm.write(text, file=sys.stderr), retry_failed=not runtime.resume)
        if not runtime.resume:  # the one place checkpoints go: a cluster's retries then resume the new start
            for job in jobs:
                for ckpt in study.checkpoints_holding(job.runs[0].dataset, job.runs[0].model, job.seeds):
                    ckpt.unlink(missing_ok=True)
        build_report(root)  # the oracle's rows (and runs done before) at once; filled in as groups finish
        if not runtime.quiet:
            tqdm.write(f"genbench: report: {study.report_html} (rewritten as each group of runs finishes)",
                       file=sys.stderr)
    jobs = runtime.world.from_writer(jobs)  # torchrun: every rank trains what rank 0 planned
    events = _Events(config, jobs, runtime, root)
    try:
        executor.run(jobs, runtime, events)
    finally:
        events.close()
    if writer:
        # The figures of a dataset whose groups all reported are current (its last report
        # redrew them), so drawing them again would only add seconds after the training.
        build_report(root, redraw={dataset for dataset, left in events.unfinished.items() if left})
    return root


def check_one_run(config: StudyConfig, executor: Executor) -> None:
    """torchrun trains one run across its ranks, in this process: a grid of runs is the
    cluster executors' work."""
    if not isinstance(executor, LocalExecutor):
        raise GenbenchError("under torchrun the ranks train one run themselves; drop --executor (a grid of runs goes "
                            "to --executor ray or slurm without torchrun)")
    runs = len(config.datasets) * len(config.models) * config.seeds
    if runs != 1:
        raise GenbenchError(f"torchrun trains one run data-parallel; study {config.name!r} has {runs} runs: use "
                            f"`genbench train`, or a study of one dataset, model and seed")
