"""Run locks: two attempts at one run (a Ray retry beside a task thought dead, a Slurm
job requeued while its first attempt still runs, two drivers on one study) never write
its folder at once.

Each run has a lock file beside its folder (``<dataset>/<model>/.seed<k>.lock``) held with
a POSIX record lock (``fcntl.lockf``) while a process trains and scores it. The kernel
drops such a lock when its holder exits, however it exits (SIGKILL included); on NFS the
lock manager does the same when the holder's node stops renewing its lease (90 s by
default on NFSv4). So a dead process's lock never blocks anyone, and a live holder is
never overtaken: a second attempt waits for it, saying who holds the lock (host, pid and
since when, written into the file), then finds the runs done and returns. Lock files are
kept, never deleted: deleting one would let a waiter lock the unlinked file while a
newcomer locks a fresh one.
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import socket
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import TextIO

from tqdm import tqdm

from genbench.errors import GenbenchError

POLL_SECONDS = 0.5
_HELD = (errno.EACCES, errno.EAGAIN)  # lockf's "someone else holds it"
_UNSUPPORTED = (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS)


def holder_of(path: Path) -> str:
    """Who wrote the lock file last, in words (the holder, when it is locked)."""
    try:
        facts = json.loads(path.read_text() or "{}")
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(facts["since"]))
        return f"pid {facts['pid']} on {facts['host']} since {since}"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


def _lock_one(path: Path, waiting_for: str) -> TextIO:
    """The open, locked lock file; waits while a live process holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fh = open(path, "a+")
    told = False
    try:
        while True:
            try:
                fcntl.lockf(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno in _UNSUPPORTED:
                    raise GenbenchError(f"cannot lock {path} ({exc.strerror}): the output folder's filesystem has no "
                                        f"file locks; mount it with locking (NFS: without 'nolock') or write the "
                                        f"study to another filesystem") from None
                if exc.errno not in _HELD:
                    raise
            if not told:
                tqdm.write(f"genbench: waiting for {waiting_for}: {holder_of(path)} is writing it", file=sys.stderr)
                told = True
            time.sleep(POLL_SECONDS)
        fh.seek(0)
        fh.truncate()
        fh.write(json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "since": time.time()}))
        fh.flush()
        return fh
    except BaseException:
        fh.close()
        raise


def _unescape(field: str) -> str:
    """A mountinfo path: spaces, tabs, newlines and backslashes come as octal escapes."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def node_local_locks(path: Path, mountinfo: str | None = None) -> str | None:
    """Why record locks on ``path`` would exclude only processes on this node (an NFS
    mount with ``nolock`` or ``local_lock=all|posix``, where lockf succeeds and no other
    node sees the lock), or None. ``mountinfo`` is ``/proc/self/mountinfo``'s text; where
    there is none (not Linux) nothing is known and None is returned."""
    if mountinfo is None:
        try:
            mountinfo = Path("/proc/self/mountinfo").read_text()
        except OSError:
            return None
    target, best = str(Path(path).absolute()), None
    for line in mountinfo.splitlines():
        fields, _, tail = line.partition(" - ")
        fields, tail = fields.split(), tail.split()
        if len(fields) < 6 or len(tail) < 3:
            continue
        point = _unescape(fields[4])
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and (best is None or len(point) >= len(best[0])):  # the last mount on a point wins
            best = (point, tail[0], set(fields[5].split(",")) | set(tail[2].split(",")))
    if best is None or not best[1].startswith("nfs"):
        return None
    point, fstype, options = best
    local = sorted(options & {"nolock", "local_lock=all", "local_lock=posix"})
    if not local:
        return None
    return (f"{path} is on {fstype} mounted at {point} with {local[0]}: its file locks are local to each node, so two "
            f"attempts on two nodes could write one run at once; mount it without nolock (local_lock=none) or write "
            f"the study to another filesystem")


class RunLocks:
    """Hold the locks of several runs (in sorted order, so two holders of overlapping
    sets cannot deadlock) for the ``with`` block."""

    def __init__(self, paths: list[Path], waiting_for: str) -> None:
        self.paths, self.waiting_for = sorted(paths), waiting_for
        self._stack = ExitStack()

    def __enter__(self) -> RunLocks:
        problem = node_local_locks(self.paths[0].parent) if self.paths else None
        if problem:
            raise GenbenchError(problem)
        try:
            for path in self.paths:
                self._stack.enter_context(_lock_one(path, self.waiting_for))  # closing the file unlocks it
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self._stack.close()


def held_elsewhere(path: Path) -> bool:
    """Whether another process holds the lock at ``path`` now (without waiting). Call it
    only where this process holds no lock on the file: closing any descriptor of a file
    drops all of a process's record locks on it."""
    try:
        fh = open(path, "r+")  # not created: a lock file nobody made is held by nobody
    except OSError:
        return False
    with fh:
        try:
            fcntl.lockf(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            return exc.errno in _HELD
        fcntl.lockf(fh, fcntl.LOCK_UN)
        return False
