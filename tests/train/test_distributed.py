"""One run data-parallel under torchrun (gloo, two CPU ranks) against one process: the
same weights at the same global batch, only rank 0 writes, a killed run resumes."""
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import genbench
from genbench.distributed import World
from genbench.errors import GenbenchError

AUDIT = Path(__file__).resolve().parents[1] / "ddp_audit.py"


def settings(model: str, epochs: int) -> list[str]:
    """512 training points in batches of 64: eight steps an epoch, 32 examples a rank; in
    fp32 (bf16 rounds differently at every batch shape, so half batches differ by more)."""
    return ["--dataset", "moons", "--model", model, "--epochs", str(epochs), "--device", "cpu", "--quiet",
            "--set", "n_samples=300", "--set", "data.n_train=512", "--set", f"models.{model}.train.batch_size=64",
            "--set", f"models.{model}.train.precision=fp32", "--set", f"models.{model}.train.compile=false"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(out: Path, audit: Path, args: list[str], **popen) -> subprocess.Popen:
    """Two gloo ranks on the loopback interface, each recording its file accesses under ``out``."""
    env = {**os.environ, "GLOO_SOCKET_IFNAME": "lo", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
               f"--master_port={free_port()}", str(AUDIT), str(out), str(audit), "train", *args, "--out", str(out)]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)


def finish(proc: subprocess.Popen) -> None:
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid``."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, ValueError):
            pass  # exited meanwhile
    return found


def files(audit: Path, rank: int) -> dict[str, list[str]]:
    return json.loads((audit / f"rank{rank}.json").read_text())


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.slow
# The GAN's G step backpropagates through D into G only; WGAN-GP's penalty uses
# torch.autograd.grad (neither works with DistributedDataParallel's wrapper).
@pytest.mark.parametrize("model", ["mlp-vae", "mlp-gan", "mlp-wgan-gp"])
def test_two_ranks_train_the_weights_one_process_trains_and_only_rank_0_writes(model, tmp_path, one_thread):
    from genbench.cli import main

    assert main(["train", *settings(model, 2), "--out", str(tmp_path / "one")]) == 0
    finish(torchrun(tmp_path / "two", tmp_path / "audit", settings(model, 2)))
    run = Path("moons") / model / "seed0"
    one = torch.load(tmp_path / "one" / run / "model.pt")
    two = torch.load(tmp_path / "two" / run / "model.pt")
    assert one.keys() == two.keys()
    for name in one:  # 16 Adam steps, each rank on half of every batch
        torch.testing.assert_close(two[name], one[name], rtol=0, atol=1e-5, msg=name)
    rows = [line.split(",") for line in (tmp_path / "two" / run / "history.csv").read_text().splitlines()[1:]]
    reference = [line.split(",") for line in (tmp_path / "one" / run / "history.csv").read_text().splitlines()[1:]]
    assert len(rows) == 2 and all(abs(float(a) - float(b)) < 1e-5 for r, q in zip(rows, reference)
                                  for a, b in zip(r, q))
    written = files(tmp_path / "audit", 0)["writes"]
    assert any(p.endswith("/model.pt") for p in written) and any(p.endswith("/metrics.json") for p in written)
    assert files(tmp_path / "audit", 1)["writes"] == []  # rank 1 trained beside rank 0 and wrote nothing


@pytest.mark.slow
def test_killed_two_rank_run_resumes_on_every_rank_from_the_checkpoint(tmp_path):
    args = [*settings("mlp-vae", 20), "--set", "checkpoint_seconds=0"]  # a checkpoint every epoch
    finish(torchrun(tmp_path / "straight", tmp_path / "audit-straight", args))
    out = tmp_path / "killed"
    proc = torchrun(out, tmp_path / "audit-killed", args)
    checkpoint = out / "moons" / "mlp-vae" / "checkpoint-seed0.pt"
    deadline = time.monotonic() + 120
    while not checkpoint.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    ranks = children(proc.pid)  # torchrun starts each rank in a session of its own
    for pid in [proc.pid, *ranks]:  # the whole job, as a scheduler kills it: no handler runs
        os.kill(pid, signal.SIGKILL)
    proc.wait()
    assert len(ranks) == 2
    assert checkpoint.exists() and not (out / "moons" / "mlp-vae" / "seed0" / "metrics.json").exists()
    killed_at = torch.load(checkpoint, weights_only=True)["trainer"]["epoch"]
    assert 1 <= killed_at < 20
    finish(torchrun(out, tmp_path / "audit-resumed", args))
    for rank in (0, 1):  # every rank loaded the checkpoint
        assert str(checkpoint.resolve()) in files(tmp_path / "audit-resumed", rank)["reads"]
    assert files(tmp_path / "audit-resumed", 1)["writes"] == []
    run = Path("moons") / "mlp-vae" / "seed0"
    for name in ("history.csv", "model.pt", "samples.npy"):
        assert (out / run / name).read_bytes() == (tmp_path / "straight" / run / name).read_bytes(), name


def test_a_batch_smaller_than_the_world_is_refused_in_one_line():
    world = World(rank=0, size=4)
    assert world.shares(10) == [3, 3, 2, 2]
    with pytest.raises(GenbenchError, match="4 ranks need at least 4 examples in every batch; batch_size 64 on 130 "
                                            "training examples leaves 2 in the last batch"):
        world.check_batches(130, 64)
    world.check_batches(132, 64)


def test_a_grid_of_runs_under_torchrun_is_refused(tiny_study, tmp_path):
    from genbench.runtime import Runtime

    runtime = Runtime(quiet=True, world=World(rank=1, size=2))  # as a rank would see itself; no process group needed
    with pytest.raises(GenbenchError, match="torchrun trains one run data-parallel; study 'tiny' has 8 runs"):
        genbench.run_study(tiny_study, tmp_path / "grid", runtime=runtime)
