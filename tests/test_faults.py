"""Faults a long study must survive: SIGKILL at any moment, unloadable checkpoints,
full disks and unwritable folders."""
import io
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

KILL_STUDY = {  # two datasets x two models x two stacked seeds, ~10 s uninterrupted
    "name": "kill", "seeds": 2, "datasets": {"moons": {}, "gaussian-mixture": {}},
    "data": {"protocol": "genbench", "n_train": 1000, "n_holdout": 200, "n_test": 500, "data_seed": 3},
    "models": {"mlp-vae": {"params": {"hidden": 64, "n_res": 1}, "train": {"epochs": 40, "batch_size": 100}},
               "mlp-gan": {"params": {}, "train": {"epochs": 40, "batch_size": 100}}},
    "metrics": ["mmd2", "kde_ll_test"], "n_samples": 500, "checkpoint_every": 1, "checkpoint_seconds": 0,
}
TIMINGS = (",train_seconds,", ",samples_per_second,")


def _numbers(root: Path) -> list[str]:
    return [line for line in (root / "summary.csv").read_text().splitlines() if not any(t in line for t in TIMINGS)]


@pytest.mark.slow
def test_sigkill_at_random_moments_then_the_same_command_finishes_identically(tmp_path):
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(KILL_STUDY))

    def command(out: str) -> list[str]:
        return [sys.executable, "-m", "genbench", "run", str(path), "--quiet", "--out", str(tmp_path / out)]

    assert subprocess.run(command("straight"), capture_output=True).returncode == 0
    rng = random.Random()
    kills = []
    for _ in range(4):
        delay = rng.uniform(2.0, 9.0)
        proc = subprocess.Popen(command("killed"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.kill()  # SIGKILL: no handler runs, no cleanup
        kills.append((round(delay, 2), proc.wait()))
    finish = subprocess.run(command("killed"), capture_output=True, text=True)
    assert finish.returncode == 0, (kills, finish.stderr)
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    assert _numbers(killed) == _numbers(straight), kills
    assert not list(killed.rglob(".*.tmp"))  # temp files of killed writes are cleared on restart
    for run in sorted(straight.glob("*/*/seed*")):
        twin = killed / run.relative_to(straight)
        if run.parent.name == "oracle":
            continue
        assert (run / "history.csv").read_text() == (twin / "history.csv").read_text(), (run, kills)
        assert (run / "model.pt").read_bytes() == (twin / "model.pt").read_bytes(), (run, kills)
        np.testing.assert_array_equal(np.load(run / "samples.npy"), np.load(twin / "samples.npy"))


def test_disk_full_mid_study_exits_2_and_keeps_earlier_results(tiny_study, tmp_path, monkeypatch, capsys):
    import errno
    import os

    import genbench.io as gio
    from genbench.cli import main

    tiny_study["datasets"] = {"moons": {}}
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(tiny_study))
    out = tmp_path / "out"
    assert main(["run", str(path), "--quiet", "--out", str(out)]) == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    tiny_study["models"]["mlp-gan"]["train"]["epochs"] = 5  # mlp-gan reruns; its writes hit a full disk
    path.write_text(yaml.safe_dump(tiny_study))
    real_fsync, calls = os.fsync, []

    def filling_up(fd):
        calls.append(fd)
        if len(calls) > 3:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_fsync(fd)

    monkeypatch.setattr(gio.os, "fsync", filling_up)
    assert main(["run", str(path), "--quiet", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "No space left on device" in err[0] and "run the same command again" in err[0]
    vae = [p for p in before if "mlp-vae" in p.parts]
    assert vae and all(p.read_bytes() == before[p] for p in vae)  # finished runs untouched
    assert not list(out.rglob("*.tmp"))


class _Payload:
    """Unpickling this runs code: it creates the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _crafted(path: Path, marker: Path) -> None:
    import torch

    buf = io.BytesIO()
    torch.save({"trainer": _Payload(marker), "weight": torch.zeros(2)}, buf)
    path.write_bytes(buf.getvalue())
    # The payload is real: plain pickle-based loading would run it.
    torch.load(io.BytesIO(buf.getvalue()), weights_only=False)
    assert marker.exists()
    marker.unlink()


def test_crafted_pickles_are_refused_and_never_run(tmp_path, capsys):
    from genbench.errors import GenbenchError
    from genbench.io import load_checkpoint, load_weights

    marker = tmp_path / "pwned"
    ckpt = tmp_path / "checkpoint-seed0.pt"
    _crafted(ckpt, marker)
    assert load_checkpoint(ckpt) is None  # an unreadable checkpoint: warned about, training starts afresh
    assert "ignoring unreadable checkpoint" in capsys.readouterr().err
    import torch

    _crafted(tmp_path / "model.pt", marker)
    with pytest.raises(GenbenchError, match=r"cannot load weights from .*model\.pt: UnpicklingError"):
        load_weights(tmp_path / "model.pt", torch.nn.Linear(2, 1))
    assert not marker.exists()


def test_sample_from_a_run_with_a_crafted_model_file_exits_2(tiny_study, tmp_path, capsys):
    from genbench.cli import main

    tiny_study["datasets"] = {"moons": {}}
    tiny_study["seeds"] = 1
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(tiny_study))
    assert main(["run", str(path), "--quiet", "--out", str(tmp_path / "out")]) == 0
    run = tmp_path / "out" / "moons" / "mlp-vae" / "seed0"
    marker = tmp_path / "pwned"
    _crafted(run / "model.pt", marker)
    capsys.readouterr()
    assert main(["sample", str(run), "-n", "5", "--out", str(tmp_path / "s.npy")]) == 2
    assert "cannot load weights" in capsys.readouterr().err
    assert not marker.exists() and not (tmp_path / "s.npy").exists()


def test_temp_files_of_a_killed_write_are_cleared_when_the_study_restarts(tiny_study, tmp_path):
    from genbench.config import resolve
    from genbench.runtime import Runtime
    from genbench.study import run_study

    tiny_study["datasets"] = {"moons": {}}
    root = run_study(resolve(tiny_study), tmp_path / "s", Runtime(quiet=True))
    orphan = root / "moons" / "mlp-vae" / "seed0" / ".metrics.json.k1ll3d.tmp"
    orphan.write_text('{"half": ')
    run_study(resolve(tiny_study), root, Runtime(quiet=True))
    assert not orphan.exists() and (orphan.parent / "metrics.json").exists()
