"""The reference executor: every group in this process, one after another."""
from __future__ import annotations

from typing import TYPE_CHECKING

from genbench.runner import GroupJob, run_group
from genbench.runtime import Runtime

if TYPE_CHECKING:
    from genbench.executors import StudyEvents


class LocalExecutor:
    def run(self, jobs: list[GroupJob], runtime: Runtime, events: StudyEvents) -> None:
        for job in jobs:
            events.started(job)
            events.finished(job, run_group(job, runtime, events.progress))
