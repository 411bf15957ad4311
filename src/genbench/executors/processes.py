"""Groups in worker processes on this machine, each with its share of the CPU cores.

Study 000's models are too small for one process to use two cores: their matrix products
and element-wise operations are too short to split across threads, and on a machine
shared with other work, threads that wait for each other at every operation lose more
(``benchmarks/stacking.py``: two single-threaded processes trained the VAE at 2x to 4x
the rate of one process with two threads). So the ``local`` executor runs such groups in
one single-threaded process per core. Each worker calls the same
:func:`~genbench.runner.run_group` as the in-process loop, so a group's result does not
depend on where it ran.
"""
from __future__ import annotations

import multiprocessing
import os
import queue
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import TYPE_CHECKING

import torch

from genbench.runner import GroupJob, Progress, build_run_model, run_group
from genbench.runtime import Runtime
from genbench.train.stacked import can_stack

if TYPE_CHECKING:
    from genbench.executors import StudyEvents

# Below this much work (seed-epochs, the progress bar's unit) starting processes (a few
# seconds each: Python, torch, genbench) costs more than the second core gives.
MIN_SEED_EPOCHS = 500


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def auto_workers(jobs: list[GroupJob], runtime: Runtime) -> int:
    """Worker processes for ``workers: auto``: one per core (at most one per group) when
    the groups train on the CPU, their models stack (small MLPs, whose operations one
    thread runs as fast as several) and there is enough work to pay for starting them;
    else 1, the in-process loop."""
    work = sum(job.runs[0].train.epochs * len(job.runs) for job in jobs)
    if runtime.device.type != "cpu" or len(jobs) < 2 or work < MIN_SEED_EPOCHS:
        return 1
    if not all(can_stack(build_run_model(job.runs[0])) for job in jobs):
        return 1
    return min(usable_cores(), len(jobs))


class _QueueProgress(Progress):
    """A worker's progress, sent to the study's process as (job index, kind, amount)."""

    def __init__(self, messages: multiprocessing.Queue, index: int) -> None:
        self.messages, self.index = messages, index

    def advance(self, seed_epochs: int) -> None:
        self.messages.put((self.index, "advance", seed_epochs))

    def grow(self, seed_epochs: int) -> None:
        self.messages.put((self.index, "grow", seed_epochs))


_messages: multiprocessing.Queue | None = None  # a worker's channel back, set by _start_worker


def _start_worker(messages: multiprocessing.Queue, threads: int) -> None:
    global _messages
    _messages = messages
    torch.set_num_threads(threads)
    torch.set_flush_denormal(True)


def _run_job(index: int, job: GroupJob, runtime: Runtime) -> list[int]:
    _messages.put((index, "started", 0))
    return run_group(job, runtime, _QueueProgress(_messages, index))


def run_in_processes(jobs: list[GroupJob], runtime: Runtime, events: StudyEvents, workers: int) -> None:
    """Run ``jobs`` in ``workers`` processes of ``cores // workers`` threads each, the
    largest first (so the last to finish is a short one); events are reported from this
    process, in this thread, as the workers send them."""
    threads = max(1, usable_cores() // workers)
    context = multiprocessing.get_context("spawn")  # fork would copy torch's thread pools
    messages = context.Queue()
    order = sorted(range(len(jobs)), key=lambda i: -jobs[i].runs[0].train.epochs * len(jobs[i].runs))

    def relay() -> None:
        while True:
            try:
                index, kind, amount = messages.get_nowait()
            except queue.Empty:
                return
            if kind == "started":
                events.started(jobs[index])
            elif kind == "advance":
                events.progress.advance(amount)
            else:
                events.progress.grow(amount)

    with ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker,
                             initargs=(messages, threads)) as pool:
        futures: dict[Future, int] = {pool.submit(_run_job, i, jobs[i], runtime): i for i in order}
        try:
            while futures:
                done, _ = wait(futures, timeout=0.25, return_when=FIRST_COMPLETED)
                relay()
                for future in done:
                    index = futures.pop(future)
                    events.finished(jobs[index], future.result())
        except BaseException:
            # An error, or Ctrl-C (which the workers got too: they stop at their epoch's end,
            # checkpointed): start nothing new, let the running groups stop, then report.
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        relay()
