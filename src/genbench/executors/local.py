"""The reference executor: every group on this machine, one after another in this
process, or, where one process cannot use the machine's cores (small models on a CPU),
in one worker process per core (``executors/processes.py``)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from genbench.errors import GenbenchError
from genbench.executors.processes import auto_workers, run_in_processes
from genbench.runner import GroupJob, run_group
from genbench.runtime import Runtime

if TYPE_CHECKING:
    from genbench.executors import StudyEvents


class LocalExecutor:
    """``workers``: processes training groups at once; ``auto`` (default) decides per
    study (:func:`~genbench.executors.processes.auto_workers`), 1 keeps every group in
    this process."""

    def __init__(self, workers: int | str = "auto") -> None:
        if workers != "auto" and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
            raise GenbenchError(f"local executor: workers={workers!r}; expected a positive number or auto")
        self.workers = workers

    def workers_for(self, jobs: list[GroupJob], runtime: Runtime) -> int:
        """The worker processes :meth:`run` starts for ``jobs`` (1: none, this process)."""
        return auto_workers(jobs, runtime) if self.workers == "auto" else min(self.workers, max(1, len(jobs)))

    def run(self, jobs: list[GroupJob], runtime: Runtime, events: StudyEvents) -> None:
        workers = self.workers_for(jobs, runtime)
        if workers > 1:
            run_in_processes(jobs, runtime, events, workers)
            return
        for job in jobs:
            events.started(job)
            events.finished(job, run_group(job, runtime, events.progress))
