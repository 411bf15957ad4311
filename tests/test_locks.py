"""Run locks: a live holder makes a second attempt wait, a dead holder (SIGKILL) blocks no
one, and an attempt that finds its runs finished by another does nothing."""
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

import genbench
from genbench.config import resolve, with_base
from genbench.layout import StudyFolder
from genbench.runner import run_group
from genbench.study import clear_orphans, plan, run_study

QUIET = genbench.make_runtime(device="cpu", quiet=True)
HOLD = """
import sys, time
from pathlib import Path
from genbench.locks import RunLocks
with RunLocks([Path(sys.argv[1])], "the test"):
    print("locked", flush=True)
    time.sleep(120)
"""


@pytest.fixture
def one_job(tiny_study, tmp_path):
    """One run's job; trained with one torch thread (two thrash on a shared 2-core machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    tiny_study.update(seeds=1, datasets={"moons": {}})
    tiny_study["models"] = {"mlp-vae": tiny_study["models"]["mlp-vae"]}
    config = resolve(with_base(tiny_study))
    (job,) = plan(config, tmp_path)
    yield job, StudyFolder(tmp_path)
    torch.set_num_threads(threads)


def test_second_attempt_waits_for_a_live_holder_and_not_for_a_dead_one(one_job, capfd):
    job, study = one_job
    lock = study.lock("moons", "mlp-vae", 0)
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(lock)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        attempt = threading.Thread(target=run_group, args=(job, QUIET))
        attempt.start()
        time.sleep(2.0)
        assert attempt.is_alive() and not study.run("moons", "mlp-vae", 0).path.exists()  # waiting, writing nothing
        assert f"waiting for moons/mlp-vae: pid {holder.pid} on " in capfd.readouterr().err
        holder.kill()  # SIGKILL: the holder never unlocks; the kernel drops its lock
        attempt.join(timeout=120)
        assert not attempt.is_alive()
    finally:
        holder.kill()
        holder.wait()
    assert study.run("moons", "mlp-vae", 0).metrics_file.exists()


def test_an_attempt_that_finds_its_runs_done_writes_nothing(one_job):
    job, study = one_job
    assert run_group(job, QUIET) == []
    run = study.run("moons", "mlp-vae", 0)
    written = {p: p.stat().st_mtime_ns for p in run.path.iterdir()}
    start = time.perf_counter()
    assert run_group(job, QUIET) == []  # the same job again, as a retry would get it
    assert time.perf_counter() - start < 1.0
    assert {p: p.stat().st_mtime_ns for p in run.path.iterdir()} == written


def test_a_second_driver_leaves_the_temp_files_and_results_of_runs_another_process_writes(tiny_study, tmp_path):
    """The same command started again while a dead driver's cluster task still writes a
    run: the new driver neither deletes that run's temp files (the task's write in
    progress) nor its result records; once the lock is free, orphans go as usual."""
    tiny_study.update(seeds=1, datasets={"moons": {}})
    config = resolve(with_base(tiny_study))
    root = run_study(config, tmp_path / "s", QUIET)
    study = StudyFolder(root)
    run = study.run("moons", "mlp-vae", 0)
    writing = run.path / ".metrics.json.in-progress.tmp"
    writing.write_text('{"half": ')
    run.metrics_file.unlink()  # as if that task had not finished scoring it yet
    config_text = (run.path / "config.yaml").read_text()
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(study.lock("moons", "mlp-vae", 0))],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        (job,) = plan(config, root)  # the run is to do: its result records are left to the holder
        assert job.pending == [0] and (run.path / "config.yaml").read_text() == config_text
        clear_orphans(root)
        assert writing.exists()
    finally:
        holder.kill()
        holder.wait()
    clear_orphans(root)
    assert not writing.exists()


def test_an_nfs_mount_whose_locks_are_node_local_is_named_before_any_run_is_locked(tmp_path, monkeypatch):
    """lockf succeeds on an NFS mount with nolock, but other nodes never see the lock: such
    a folder is refused in one line (read from the kernel's mount table), others pass."""
    from genbench import locks
    from genbench.errors import GenbenchError
    from genbench.locks import RunLocks, node_local_locks

    table = "\n".join([
        "22 1 0:21 / / rw,relatime - ext4 /dev/vda rw",
        "40 22 0:51 / /shared rw,relatime - nfs4 filer:/export rw,vers=4.2,local_lock=none,addr=10.0.0.2",
        "41 22 0:52 / /scratch\\040space rw,relatime - nfs filer:/scratch rw,vers=3,nolock,local_lock=all",
        "42 41 0:53 / /scratch\\040space/fast rw - tmpfs tmpfs rw",
    ])
    assert node_local_locks(Path("/shared/runs/mnist"), table) is None
    assert node_local_locks(Path("/home/me/runs"), table) is None
    assert node_local_locks(Path("/scratch space/fast/runs"), table) is None  # a tmpfs mounted inside it
    problem = node_local_locks(Path("/scratch space/runs"), table)
    assert problem == ("/scratch space/runs is on nfs mounted at /scratch space with local_lock=all: its file locks "
                       "are local to each node, so two attempts on two nodes could write one run at once; mount it "
                       "without nolock (local_lock=none) or write the study to another filesystem")
    assert node_local_locks(tmp_path) is None  # this machine's own table: the test's folder locks for real
    with RunLocks([tmp_path / "moons" / "mlp-vae" / ".seed0.lock"], "the test"):
        pass
    monkeypatch.setattr(locks, "node_local_locks", lambda path: node_local_locks(Path("/scratch space/runs"), table))
    with pytest.raises(GenbenchError, match=r"^/scratch space/runs is on nfs mounted at /scratch space"):
        with RunLocks([tmp_path / "x.lock"], "the test"):
            pass
    assert not (tmp_path / "x.lock").exists()  # refused before any lock file is made
