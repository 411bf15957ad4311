"""What the cluster executors share: the task each remote process runs, the sentinel
that proves a node sees the output folder, and progress reported through that folder.

A remote task (:func:`run_remote`) is :func:`~genbench.runner.run_group` plus what a
fresh process on another machine needs first: the sentinel checked, torch's thread count
and denormal flushing set, and progress written to ``OUT/.genbench/progress/`` (the
folder every node shares anyway), from which the driver's :class:`ProgressWatcher`
keeps the study's one progress bar. An error a user can fix comes back as a value, so
the driver stops the study with its one line (and a cluster does not retry it).
"""
from __future__ import annotations

import dataclasses
import importlib
import json
import os
import secrets
import socket
import sys
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import torch
from tqdm import tqdm

from genbench.errors import GenbenchError
from genbench.io import write_json, write_text
from genbench.runner import GroupJob, Progress, run_group
from genbench.runtime import Runtime, resolve_device

if TYPE_CHECKING:
    from genbench.executors import StudyEvents


def require(module: str, extra: str) -> ModuleType:
    """Import an optional dependency, or say in one line how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise GenbenchError(f"--executor {extra} needs {module}: pip install 'genbench[{extra}]'") from None


def control_dir(root: Path) -> Path:
    return root / ".genbench"


def absolute(jobs: list[GroupJob]) -> list[GroupJob]:
    """The jobs with their study folder as an absolute path, the same on every node (not
    symlinks resolved: a shared mount reached through a link has the link's path there)."""
    return [job.model_copy(update={"root": str(Path(job.root).absolute())}) for job in jobs]


def sentinel_path(root: Path, token: str) -> Path:
    """One sentinel per driver: a second driver on the same study (started while the first
    one's tasks still run) does not make the first one's nodes fail the check."""
    return control_dir(root) / "sentinels" / token


def write_sentinel(root: Path) -> str:
    """A fresh random token in ``OUT/.genbench/sentinels/<token>``; a node that reads it
    back sees the folder the driver writes (not a node-local folder of the same name)."""
    token = secrets.token_hex(16)
    write_text(sentinel_path(root, token), token)
    return token


def sentinel_problem(root: str, token: str) -> str | None:
    """None when this node sees the driver's output folder, else the one line saying not."""
    try:
        seen = sentinel_path(Path(root), token).read_text()
    except OSError as exc:
        seen = f"unreadable: {exc.strerror}"
    if seen == token:
        return None
    return (f"node {socket.gethostname()} cannot see the output folder {root} (its sentinel file "
            f"{'is ' + seen if seen.startswith('unreadable') else 'differs'}): put --out on a filesystem every node "
            f"mounts at the same path (NFS, Lustre, ...)")


def progress_file(root: Path, job: GroupJob) -> Path:
    first = job.runs[0]
    return control_dir(root) / "progress" / f"{first.dataset}__{first.model}__seed{'-'.join(map(str, job.seeds))}.json"


class FileProgress(Progress):
    """A remote group's progress, written (atomically) after every epoch: seed-epochs done
    and added, which process is training it and the epoch it resumed from."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.facts = {"done": 0, "grown": 0, "resumed_epoch": 0, "host": socket.gethostname(), "pid": os.getpid()}

    def _write(self) -> None:
        write_json(self.path, self.facts)

    def advance(self, seed_epochs: int) -> None:
        self.facts["done"] += seed_epochs
        self._write()

    def grow(self, seed_epochs: int) -> None:
        self.facts["grown"] += seed_epochs
        self._write()

    def resumed(self, epoch: int, seeds: int) -> None:
        self.facts["resumed_epoch"] = epoch
        self.advance(epoch * seeds)


def run_remote(job: GroupJob, runtime: Runtime, token: str, threads: int) -> dict[str, Any]:
    """One group in a cluster's process: ``{"failed": [seeds]}``, or ``{"error": line}``
    for a problem the user must fix (the study stops with it)."""
    problem = sentinel_problem(job.root, token)
    if problem:
        return {"error": problem}
    torch.set_num_threads(threads)  # the cluster's share of CPUs, not the node's
    torch.set_flush_denormal(True)
    try:
        runtime = dataclasses.replace(runtime, device=resolve_device(runtime.device.type))
        return {"failed": run_group(job, runtime, FileProgress(progress_file(Path(job.root), job)))}
    except GenbenchError as exc:
        return {"error": f"{job.name}: {exc}"}
    except torch.cuda.OutOfMemoryError:
        return {"error": f"{job.name}: out of GPU memory on {socket.gethostname()}, beside the other runs packed "
                         f"onto its GPU: give each run a larger share (--gpus-per-run, --slurm-gpus-per-run) or a "
                         f"smaller batch"}


def task_runtime(runtime: Runtime, gpus: float) -> Runtime:
    """The runtime a task gets: a GPU when it is given a share of one, no progress bars
    (the driver keeps the study's), file paths absolute (a task on another node starts in
    another folder), and resume on: ``--no-resume`` took effect when the driver planned the
    study (it removed the checkpoints), so a retried or requeued task continues from the
    checkpoints its own first attempt wrote."""
    if runtime.world.size > 1:
        raise GenbenchError("a cluster executor does not run under torchrun; start the study without torchrun")
    paths = {name: Path(value).absolute() for name in ("data_dir", "inception_weights")
             if (value := getattr(runtime, name)) is not None}
    return dataclasses.replace(runtime, device=torch.device("cuda" if gpus > 0 else "cpu"), quiet=True, resume=True,
                               **paths)


class ProgressWatcher:
    """The driver's view of remote groups, read from their progress files: the study's bar
    advances as they train, and a group that starts again elsewhere (a retried task, a
    requeued job) is named with the epoch it resumed from."""

    def __init__(self, root: Path, jobs: list[GroupJob], events: StudyEvents) -> None:
        self.events = events
        self.files = {progress_file(root, job): job for job in jobs}
        for path in self.files:
            path.unlink(missing_ok=True)  # a previous driver's
        self.seen: dict[Path, dict[str, Any]] = {}

    def poll(self) -> None:
        for path, job in self.files.items():
            try:
                facts = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            before = self.seen.get(path)
            if before is None:
                self.events.started(job)
                before = {"done": 0, "grown": 0, "pid": facts["pid"], "host": facts["host"]}
            elif (facts["pid"], facts["host"]) != (before["pid"], before["host"]):
                tqdm.write(f"genbench: {job.name} started again in pid {facts['pid']} on {facts['host']}, from "
                           f"epoch {facts['resumed_epoch']}", file=sys.stderr)
            # a new attempt counts again from its checkpoint: the bar takes the furthest
            done, grown = max(facts["done"], before["done"]), max(facts["grown"], before["grown"])
            self.events.progress.advance(done - before["done"])
            if grown > before["grown"]:
                self.events.progress.grow(grown - before["grown"])
            self.seen[path] = {**facts, "done": done, "grown": grown}
