"""Executors: where a study's groups of runs execute. ``local`` runs them one after
another in this process (the reference); other executors send the same
:class:`~genbench.runner.GroupJob` to other processes or machines, which call the same
:func:`~genbench.runner.run_group`. A new one is one module plus one line here."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from genbench.executors.local import LocalExecutor
from genbench.executors.ray_tasks import RayExecutor
from genbench.executors.slurm import SlurmExecutor
from genbench.registry import Registry
from genbench.runner import GroupJob, Progress
from genbench.runtime import Runtime


class StudyEvents(Protocol):
    """What an executor reports back to the study while it works."""

    progress: Progress

    def started(self, job: GroupJob) -> None: ...

    def finished(self, job: GroupJob, failed: list[int]) -> None: ...


class Executor(Protocol):
    def run(self, jobs: list[GroupJob], runtime: Runtime, events: StudyEvents) -> None: ...


# name -> factory taking the executor's options (from the CLI or the API) as keywords.
# Ray and submitit are optional: their executors import them when built, and say how to
# install them when they are missing.
EXECUTORS: Registry[Callable[..., Any]] = Registry("executor")
EXECUTORS.register("local", LocalExecutor)
EXECUTORS.register("ray", RayExecutor)
EXECUTORS.register("slurm", SlurmExecutor)
