"""Faults a long study must survive: SIGKILL at any moment, unloadable checkpoints,
full disks and unwritable folders."""
import io
import pickle
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
    "metrics": ["mmd2", "kde_ll_test"], "n_samples": 500, "checkpoint_every": 1,
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
    for run in sorted(straight.glob("*/*/seed*")):
        twin = killed / run.relative_to(straight)
        if run.parent.name == "oracle":
            continue
        assert (run / "history.csv").read_text() == (twin / "history.csv").read_text(), (run, kills)
        assert (run / "model.pt").read_bytes() == (twin / "model.pt").read_bytes(), (run, kills)
        np.testing.assert_array_equal(np.load(run / "samples.npy"), np.load(twin / "samples.npy"))
