"""A study's groups as plain Ray tasks (not Ray Tune: the grid is fixed and genbench owns
its folders and resume), one task per group, each calling the same
:func:`~genbench.runner.run_group` as the local executor.

The driver (the ``genbench run`` process) checks that every node sees the output folder,
submits the tasks with their CPU and GPU shares (``gpus_per_run=0.25`` packs four runs on
one GPU), keeps the progress bar from the tasks' progress files, and stops the study with
one line when a task reports a problem the user must fix. A task whose process dies (a
killed worker, a lost node) is retried by Ray up to ``max_retries`` times and resumes from
the group's last checkpoint; the run locks keep a retry from writing beside an attempt
that is still alive. If the driver dies, Ray ends its tasks; the checkpoints stay, and the
same command resumes the study.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genbench.errors import GenbenchError
from genbench.executors.remote import (
    ProgressWatcher,
    absolute,
    require,
    run_remote,
    sentinel_problem,
    task_runtime,
    write_sentinel,
)
from genbench.runner import GroupJob
from genbench.runtime import Runtime

if TYPE_CHECKING:
    from genbench.executors import StudyEvents

POLL_SECONDS = 1.0
NODE_CHECK_SECONDS = 300  # a node's first worker process may have to start


class RayExecutor:
    def __init__(self, address: str | None = None, cpus_per_run: float = 1.0, gpus_per_run: float = 0.0,
                 max_retries: int = 3) -> None:
        """``address``: ``auto`` (the cluster ``ray start`` made on this machine) or
        ``HOST:PORT`` of a head node; None starts a Ray instance on this machine for the
        study. Each run gets ``cpus_per_run`` CPUs (its torch threads) and
        ``gpus_per_run`` of a GPU (fractions pack several runs on one)."""
        if not cpus_per_run > 0:
            raise GenbenchError(f"--cpus-per-run must be positive, got {cpus_per_run}")
        if not 0 <= gpus_per_run:
            raise GenbenchError(f"--gpus-per-run must be 0 or more, got {gpus_per_run}")
        if gpus_per_run > 1 and gpus_per_run != int(gpus_per_run):
            raise GenbenchError(f"--gpus-per-run above 1 must be a whole number of GPUs, got {gpus_per_run}")
        if not isinstance(max_retries, int) or max_retries < 0:
            raise GenbenchError(f"max_retries must be a whole number >= 0, got {max_retries!r}")
        self.ray = require("ray", "ray")
        self.address, self.cpus, self.gpus, self.max_retries = address, cpus_per_run, gpus_per_run, max_retries

    def _connect(self) -> bool:
        """Join (or start) Ray; True when this call did, so it also leaves."""
        ray = self.ray
        if ray.is_initialized():
            return False
        try:
            ray.init(address=self.address, include_dashboard=False, logging_level=logging.WARNING,
                     configure_logging=True)
        except ConnectionError as exc:
            where = self.address or "this machine"
            raise GenbenchError(f"cannot reach the Ray cluster at {where} ({str(exc).splitlines()[0]}): start it "
                                f"with `ray start --head` (and `ray start --address HEAD:6379` on the other "
                                f"nodes), or check --ray-address") from None
        return True

    def _check_nodes(self, root: str, token: str) -> None:
        """Every live node reads the sentinel before any task runs there; one that
        cannot stops the study now rather than after hours on the others."""
        ray = self.ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        probe = ray.remote(sentinel_problem)
        nodes = [node for node in ray.nodes() if node["Alive"]]
        refs = [probe.options(num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False))
                .remote(root, token) for node in nodes]
        _, late = ray.wait(refs, num_returns=len(refs), timeout=NODE_CHECK_SECONDS)
        if late:
            raise GenbenchError(f"a Ray node did not answer within {NODE_CHECK_SECONDS} s whether it sees the output "
                                f"folder {root}; check the cluster (`ray status`)")
        for node, ref in zip(nodes, refs):
            try:
                problem = ray.get(ref)
            except (ray.exceptions.TaskUnschedulableError, ray.exceptions.NodeDiedError):
                continue  # the node died after it was listed (Ray marks it dead late): no task goes there
            except ray.exceptions.RayTaskError as exc:  # the probe is genbench's code: the node cannot import it
                raise GenbenchError(f"Ray node {node['NodeManagerAddress']} cannot run genbench's code "
                                    f"({_first_sentence(_import_error_in(exc))}); install genbench and its "
                                    f"dependencies, as on this machine, on every node") from None
            if problem:
                raise GenbenchError(problem)

    def run(self, jobs: list[GroupJob], runtime: Runtime, events: StudyEvents) -> None:
        if not jobs:
            return
        ray = self.ray
        remote_runtime = task_runtime(runtime, self.gpus)
        jobs = absolute(jobs)
        root = Path(jobs[0].root)
        joined = self._connect()
        pending: dict[Any, GroupJob] = {}
        try:
            token = write_sentinel(root)
            self._check_nodes(str(root), token)
            task = ray.remote(run_remote).options(num_cpus=self.cpus, num_gpus=self.gpus,
                                                  max_retries=self.max_retries, retry_exceptions=False)
            threads = max(1, int(self.cpus))
            watcher = ProgressWatcher(root, jobs, events)
            pending = {task.remote(job, remote_runtime, token, threads): job for job in jobs}
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1, timeout=POLL_SECONDS)
                watcher.poll()
                for ref in done:
                    job = pending.pop(ref)
                    outcome = self._outcome(ref, job)
                    if "error" in outcome:
                        raise GenbenchError(outcome["error"])
                    events.finished(job, outcome["failed"])
        finally:
            for ref in pending:  # the study stopped: the others stop too (their checkpoints stay)
                ray.cancel(ref, force=True)
            if joined:
                ray.shutdown()

    def _outcome(self, ref, job: GroupJob) -> dict[str, Any]:
        ray = self.ray
        try:
            return ray.get(ref)
        except ray.exceptions.RayTaskError:
            raise  # a bug in the task: its traceback
        except ray.exceptions.RayError as exc:
            raise GenbenchError(f"{job.name}: its Ray task died {self.max_retries + 1} times "
                                f"({type(exc).__name__}: {str(exc).splitlines()[0]}); finished runs and checkpoints "
                                f"are kept: run the same command again to resume") from None


def _import_error_in(exc: BaseException) -> BaseException:
    """The ImportError behind a Ray task's failure if there is one (Ray wraps a function
    its worker cannot import in a RuntimeError of its own), else the task's own error."""
    cause = getattr(exc, "cause", None)
    seen: BaseException | None = cause if isinstance(cause, BaseException) else exc
    while seen is not None:
        if isinstance(seen, ImportError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return cause if isinstance(cause, BaseException) else exc


def _first_sentence(exc: BaseException) -> str:
    """``Type: first sentence`` of an error whose text may run to many lines (Ray's list sys.path)."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text.split('. ')[0].rstrip('.:')}"
