"""Run locks: a live holder makes a second attempt wait, a dead holder (SIGKILL) blocks no
one, and an attempt that finds its runs finished by another does nothing."""
import subprocess
import sys
import threading
import time

import pytest
import torch

import genbench
from genbench.config import resolve, with_base
from genbench.layout import StudyFolder
from genbench.runner import run_group
from genbench.study import plan

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
