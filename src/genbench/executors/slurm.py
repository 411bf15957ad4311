"""A study as one Slurm job array through submitit: one array task per group, each
calling the same :func:`~genbench.runner.run_group` as the local executor.

The array task is a ``submitit.helpers.Checkpointable``: when Slurm preempts it or its
time runs out, submitit catches the signal and requeues the same call, which resumes the
group from its last checkpoint (losing at most checkpoint_seconds of training and the epoch
in progress). The driver polls the jobs, keeps the progress bar from the tasks' progress
files, and cancels the array on Ctrl-C. A driver killed outright leaves the array
running; the same command submits a new array whose tasks wait for the old ones' run
locks and find their runs done.
Submitit's job files and logs go to ``OUT/.genbench/slurm/``.
"""
from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genbench.errors import GenbenchError
from genbench.executors.remote import (
    ProgressWatcher,
    absolute,
    control_dir,
    require,
    run_remote,
    task_runtime,
    write_sentinel,
)
from genbench.runner import GroupJob
from genbench.runtime import Runtime

if TYPE_CHECKING:
    from genbench.executors import StudyEvents

POLL_SECONDS = 2.0
CLUSTERS = ("slurm", "local")  # submitit's Slurm executor, or its local one (array tasks as local processes)
_TIME = re.compile(r"^(?:(\d+)-)?(\d+(?::\d+){0,2})$")  # [D-]fields; Slurm's forms below


def slurm_minutes(text: str) -> int:
    """Minutes of a Slurm time limit, in ``--time``'s forms: M, M:S, H:M:S, D-H, D-H:M,
    D-H:M:S (``90``, ``1:30:00``, ``2-00:00:00``); seconds round up to a minute."""
    match = _TIME.match(str(text).strip())
    if not match:
        raise GenbenchError(f"--slurm-time {text!r}: expected minutes or Slurm's time form, e.g. 90, 1:30:00 or "
                            f"2-00:00:00")
    days, fields = match.group(1), [int(f) for f in match.group(2).split(":")]
    if days is None:  # M, M:S, H:M:S
        hours, minutes, seconds = ([0, 0] + fields)[-3:] if len(fields) == 3 else (0, *(fields + [0])[:2])
    else:  # D-H, D-H:M, D-H:M:S
        hours, minutes, seconds = (fields + [0, 0])[:3]
    total = (int(days or 0) * 24 + hours) * 60 + minutes + (seconds > 0)
    if total < 1:
        raise GenbenchError(f"--slurm-time {text!r} is under a minute")
    return total


class GroupTask:
    """One array task: a group's work, requeued by submitit on preemption or timeout.

    Checkpointable in submitit's sense (``submitit.helpers.Checkpointable`` is the same
    ``checkpoint`` method; a class of its own keeps submitit an optional import)."""

    def __call__(self, job: GroupJob, runtime: Runtime, token: str, threads: int) -> dict[str, Any]:
        return run_remote(job, runtime, token, threads)

    def checkpoint(self, *args: Any, **kwargs: Any):
        """Requeue the same call: the group's checkpoint on disk is its state."""
        from submitit.helpers import DelayedSubmission

        return DelayedSubmission(self, *args, **kwargs)


class SlurmExecutor:
    def __init__(self, partition: str | None = None, time: str = "1:00:00", gpus_per_run: int = 0,
                 cpus_per_run: int = 1, array_parallelism: int = 256, cluster: str = "slurm",
                 max_requeues: int = 3) -> None:
        """``partition``, ``time`` (each array task's limit), ``gpus_per_run`` and
        ``cpus_per_run`` are the array tasks' Slurm requests; at most
        ``array_parallelism`` run at once; ``cluster="local"`` runs the array as local
        processes (submitit's local executor) to try a study without a cluster."""
        if cluster not in CLUSTERS:
            raise GenbenchError(f"--slurm-cluster {cluster!r}: choose one of {', '.join(CLUSTERS)}")
        for name, value, least in (("--slurm-gpus-per-run", gpus_per_run, 0), ("--cpus-per-run", cpus_per_run, 1),
                                   ("--array-parallelism", array_parallelism, 1), ("max_requeues", max_requeues, 0)):
            if not isinstance(value, int) or isinstance(value, bool) or value < least:
                raise GenbenchError(f"{name} must be a whole number >= {least}, got {value!r}")
        self.minutes = slurm_minutes(time)
        self.submitit = require("submitit", "slurm")
        self.partition, self.gpus, self.cpus = partition, gpus_per_run, cpus_per_run
        self.parallelism, self.cluster, self.max_requeues = array_parallelism, cluster, max_requeues

    def _executor(self, root: Path, name: str):
        submitit = self.submitit
        executor = submitit.AutoExecutor(folder=control_dir(root) / "slurm" / "%j", cluster=self.cluster,
                                         slurm_max_num_timeout=self.max_requeues,
                                         local_max_num_timeout=self.max_requeues)
        options: dict[str, Any] = dict(name=name, timeout_min=self.minutes, gpus_per_node=self.gpus,
                                       cpus_per_task=self.cpus, tasks_per_node=1, nodes=1,
                                       slurm_array_parallelism=self.parallelism)
        if self.partition:
            options["slurm_partition"] = self.partition
        executor.update_parameters(**options)
        return executor

    def run(self, jobs: list[GroupJob], runtime: Runtime, events: StudyEvents) -> None:
        if not jobs:
            return
        remote_runtime = task_runtime(runtime, self.gpus)
        jobs = absolute(jobs)
        root = Path(jobs[0].root)
        token = write_sentinel(root)
        watcher = ProgressWatcher(root, jobs, events)
        executor = self._executor(root, f"genbench-{jobs[0].runs[0].study}")
        n = len(jobs)
        try:
            array = executor.map_array(GroupTask(), jobs, [remote_runtime] * n, [token] * n, [self.cpus] * n)
        except Exception as exc:  # sbatch missing or refusing: submitit's own error types vary by cluster
            raise GenbenchError(f"cannot submit the study's job array ({type(exc).__name__}: "
                                f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''}); check the "
                                f"partition, time and GPU requests, and that sbatch works here") from None
        pending = dict(zip(array, jobs))
        try:
            while pending:
                watcher.poll()
                for sjob in [j for j in pending if j.done()]:
                    job = pending.pop(sjob)
                    outcome = self._outcome(sjob, job)
                    if "error" in outcome:
                        raise GenbenchError(outcome["error"])
                    watcher.poll()
                    events.finished(job, outcome["failed"])
                if pending:
                    time.sleep(POLL_SECONDS)
        except BaseException:  # Ctrl-C or a failed group: the array stops (checkpoints stay)
            self._cancel(list(pending))
            raise

    def _cancel(self, sjobs: list) -> None:
        """On Slurm one ``scancel`` of the arrays' ids stops all their tasks at once (a
        second Ctrl-C cannot cut it short halfway through the tasks); submitit's local
        cluster stops its processes one by one."""
        if self.cluster != "slurm":
            for sjob in sjobs:
                sjob.cancel(check=False)
            return
        arrays = sorted({str(sjob.job_id).split("_")[0] for sjob in sjobs})
        if arrays:
            subprocess.run(["scancel", *arrays], check=False, capture_output=True)

    def _outcome(self, sjob, job: GroupJob) -> dict[str, Any]:
        from submitit.core.utils import FailedJobError, UncompletedJobError

        try:
            return sjob.result()
        except (FailedJobError, UncompletedJobError) as exc:
            lines = [line for line in str(exc).strip().splitlines() if line.strip()]
            last = lines[-1].strip() if lines else type(exc).__name__
            raise GenbenchError(f"{job.name}: Slurm job {sjob.job_id} failed ({last}); its log: {sjob.paths.stderr}; "
                                f"finished runs and checkpoints are kept: run the same command again to "
                                f"resume") from None
