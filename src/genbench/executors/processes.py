"""Groups in worker processes on this machine, each with its share of the CPU cores.

Study 000's models are too small for one process to use two cores: their matrix products
and element-wise operations are too short to split across threads, and on a machine
shared with other work, threads that wait for each other at every operation lose more
(``benchmarks/stacking.py``: two single-threaded processes trained the VAE at 2x to 4x
the rate of one process with two threads). So the ``local`` executor runs such groups in
one single-threaded process per core. On a GPU such groups run one per process too: one
process cannot keep the GPU busy with kernels of microseconds. Each worker calls the same
:func:`~genbench.runner.run_group` as the in-process loop, so a group's result does not
depend on where it ran.
"""
from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, TimeoutError, wait
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING

import torch

from genbench.errors import GenbenchError
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
    """Worker processes for ``workers: auto``: one per group, at most one per core, when
    the groups' models stack (small MLPs) and there is enough work to pay for starting
    them; else 1, the in-process loop. On a CPU such models cannot use a second thread
    (their operations are too short to split); on a GPU one process cannot keep the GPU
    busy either: each of their kernels takes microseconds, less than the host needs to
    launch the next, so several processes, each launching its own group's kernels, share
    the GPU (reasoned, not yet measured on a GPU: ``benchmarks/device_steps.py`` and
    ``benchmarks/gpu.sh`` measure it)."""
    work = sum(job.runs[0].train.epochs * len(job.runs) for job in jobs)
    if runtime.device.type not in ("cpu", "cuda") or len(jobs) < 2 or work < MIN_SEED_EPOCHS:
        return 1
    if not all(can_stack(build_run_model(job.runs[0])) for job in jobs):
        return 1
    return min(usable_cores(), len(jobs))


class _QueueProgress(Progress):
    """A worker's progress, sent to the study's process as (job index, kind, amount)."""

    def __init__(self, messages: multiprocessing.Queue, index: int) -> None:
        self.messages, self.index = messages, index

    def advance(self, seed_epochs: int) -> None:
        global _interrupted
        self.messages.put((self.index, "advance", seed_epochs))
        if _interrupted:  # a SIGINT came before run_group listened: deliver it now, before its checkpoint step
            _interrupted = False
            os.kill(os.getpid(), signal.SIGINT)

    def grow(self, seed_epochs: int) -> None:
        self.messages.put((self.index, "grow", seed_epochs))


_messages: multiprocessing.Queue | None = None  # a worker's channel back, set by _start_worker
_interrupted = False  # a worker got SIGINT while no group's StopAtEpochEnd was listening


def _note_interrupt(signum, frame) -> None:
    global _interrupted
    _interrupted = True


def _start_worker(messages: multiprocessing.Queue, threads: int) -> None:
    global _messages
    _messages = messages
    if hasattr(os, "setpgrp"):  # a terminal's Ctrl-C reaches the study's process only: it tells the workers
        os.setpgrp()
    # While a group trains, run_group's handler takes SIGINT (stop at the epoch's end);
    # outside it, SIGINT is noted and delivered at the group's next epoch (as an
    # exception here it would kill the worker and, with it, the pool).
    signal.signal(signal.SIGINT, _note_interrupt)
    messages.put((-1, "pid", os.getpid()))
    threading.Thread(target=_exit_with, args=(os.getppid(),), daemon=True).start()
    torch.set_num_threads(threads)
    torch.set_flush_denormal(True)


def _exit_with(parent: int) -> None:
    """End this worker when the study's process is gone (killed: it cannot tell us), so
    that no orphan trains on; what it wrote is whole (atomic writes) or a checkpoint."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(1)


def _interrupt(pids: set[int]) -> None:
    """SIGINT to each worker: the first makes its group stop after the current epoch,
    checkpointed (``runner.StopAtEpochEnd``), a second at once."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGINT)
        except OSError:  # gone already
            pass


def _stop(futures: dict[Future, int], pids: Callable[[], set[int]]) -> list[str]:
    """Cancel the groups not started, stop the running ones at their epoch's end, wait
    for them (Ctrl-C meanwhile stops them at once); what they said when they stopped.
    ``pids`` gives the workers known so far (one that starts meanwhile is told too)."""
    told = pids()
    _interrupt(told)
    running = [future for future in futures if not future.cancel()]
    notes = []
    while running:
        try:
            error = running[0].exception(timeout=0.5)
        except TimeoutError:
            _interrupt(pids() - told)
            told = told | pids()
            continue
        except KeyboardInterrupt:  # Ctrl-C again, in this process
            _interrupt(told)
            continue
        running.pop(0)
        if isinstance(error, KeyboardInterrupt) and str(error):
            notes.append(str(error))
    return notes


def _run_job(index: int, job: GroupJob, runtime: Runtime) -> list[int]:
    _messages.put((index, "started", 0))
    return run_group(job, runtime, _QueueProgress(_messages, index))


def run_in_processes(jobs: list[GroupJob], runtime: Runtime, events: StudyEvents, workers: int) -> None:
    """Run ``jobs`` in ``workers`` processes of ``cores // workers`` threads each, the
    largest first (so the last to finish is a short one); events are reported from this
    process, in this thread, as the workers send them. Ctrl-C (or an error in one group)
    stops every running group after its current epoch, checkpointed, as in one process."""
    threads = max(1, usable_cores() // workers)
    context = multiprocessing.get_context("spawn")  # fork would copy torch's thread pools
    messages = context.Queue()
    order = sorted(range(len(jobs)), key=lambda i: -jobs[i].runs[0].train.epochs * len(jobs[i].runs))

    pids: set[int] = set()

    def relay() -> None:
        while True:
            try:
                index, kind, amount = messages.get_nowait()
            except queue.Empty:
                return
            if kind == "pid":
                pids.add(amount)
            elif kind == "started":
                events.started(jobs[index])
            elif kind == "advance":
                events.progress.advance(amount)
            else:
                events.progress.grow(amount)

    def known_pids() -> set[int]:
        relay()
        return set(pids)

    with ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker,
                             initargs=(messages, threads)) as pool:
        futures: dict[Future, int] = {pool.submit(_run_job, i, jobs[i], runtime): i for i in order}
        try:
            while futures:
                done, _ = wait(futures, timeout=0.25, return_when=FIRST_COMPLETED)
                relay()
                lost = []
                for future in done:
                    index = futures.pop(future)
                    if isinstance(future.exception(), BrokenProcessPool):
                        lost.append(jobs[index].name)
                    else:
                        events.finished(jobs[index], future.result())
                if lost:
                    # The pool ends every worker once one dies: their groups keep their last checkpoints.
                    raise GenbenchError(f"a worker process died while training {', '.join(lost)} (killed from "
                                        f"outside, e.g. by the kernel when memory ran out); finished runs and "
                                        f"checkpoints are kept: run the same command again to resume")
        except KeyboardInterrupt:
            notes = _stop(futures, known_pids)
            raise KeyboardInterrupt("; ".join(notes)) from None
        except BaseException:
            # A group failed: stop the others (checkpointed), then report the failure.
            _stop(futures, known_pids)
            raise
        relay()
