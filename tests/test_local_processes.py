"""The local executor's worker processes: when it starts them, and that a study run in
them ends exactly as one run in this process."""
import copy

import pytest
import torch

from genbench.config import resolve
from genbench.errors import GenbenchError
from genbench.executors import EXECUTORS, processes
from genbench.executors.processes import MIN_SEED_EPOCHS, auto_workers
from genbench.runtime import Runtime
from genbench import study
from genbench.study import plan, run_study

QUIET = Runtime(quiet=True)


def _numbers(root):
    """Every summary row but wall-clock timings, which no seed can fix."""
    timings = (",train_seconds,", ",samples_per_second,", ",analysis_seconds,")
    return [line for line in (root / "summary.csv").read_text().splitlines() if not any(t in line for t in timings)]


def _with_epochs(raw: dict, epochs: int) -> dict:
    raw = copy.deepcopy(raw)
    for entry in raw["models"].values():
        entry["train"]["epochs"] = epochs
    return raw


def test_auto_starts_one_worker_per_core_for_long_studies_of_small_models(tiny_study, tmp_path, monkeypatch):
    monkeypatch.setattr(processes, "usable_cores", lambda: 2)
    short = plan(resolve(tiny_study), tmp_path)
    assert len(short) == 4 and sum(j.runs[0].train.epochs * len(j.runs) for j in short) < MIN_SEED_EPOCHS
    assert auto_workers(short, QUIET) == 1  # starting processes would cost more than it gives
    long = plan(resolve(_with_epochs(tiny_study, 200)), tmp_path)
    assert auto_workers(long, QUIET) == 2
    assert auto_workers(long[:1], QUIET) == 1  # one group: nothing to run beside it
    # On a GPU too: one process cannot keep it busy with kernels of microseconds.
    assert auto_workers(long, Runtime(device=torch.device("cuda"), quiet=True)) == 2
    assert auto_workers(long, Runtime(device=torch.device("mps"), quiet=True)) == 1
    monkeypatch.setattr(processes, "usable_cores", lambda: 1)
    assert auto_workers(long, QUIET) == 1


def test_auto_keeps_models_that_do_not_stack_in_this_process(tmp_path, monkeypatch):
    monkeypatch.setattr(processes, "usable_cores", lambda: 2)
    raw = {"name": "img", "seeds": 2, "datasets": {"digits": {}}, "metrics": ["fd"],
           "models": {"dcgan": {"train": {"epochs": 300}}}}
    jobs = plan(resolve(raw), tmp_path)
    assert len(jobs) == 2  # BatchNorm: one seed per group
    assert auto_workers(jobs, QUIET) == 1


@pytest.mark.parametrize("workers", [0, -1, "two", True, 1.5])
def test_bad_worker_counts_are_named(workers):
    with pytest.raises(GenbenchError, match=r"local executor: workers=.*positive number or auto"):
        EXECUTORS.get("local")(workers=workers)


@pytest.mark.slow
def test_a_study_in_two_worker_processes_ends_as_one_in_this_process(tiny_study, tmp_path, monkeypatch):
    config = resolve({**tiny_study, "datasets": {"moons": {}}})  # two groups: one per worker
    here = run_study(config, tmp_path / "here", QUIET, EXECUTORS.get("local")(workers=1))
    seen = []

    class Watched(study._Events):
        """The study's events, recording what the workers reported."""

        def started(self, job):
            seen.append(("started", job.name))
            super().started(job)

        def finished(self, job, failed):
            seen.append(("finished", job.name, failed))
            super().finished(job, failed)

        def advance(self, seed_epochs):
            seen.append(("advance", seed_epochs))
            super().advance(seed_epochs)

    monkeypatch.setattr(study, "_Events", Watched)
    apart = run_study(config, tmp_path / "apart", QUIET, EXECUTORS.get("local")(workers=2))
    assert _numbers(apart) == _numbers(here)
    groups = {f"{d}/{m}" for d in config.datasets for m in config.models}
    assert {e[1] for e in seen if e[0] == "started"} == groups
    assert sorted(e[1:] for e in seen if e[0] == "finished") == sorted((g, []) for g in groups)
    assert sum(e[1] for e in seen if e[0] == "advance") == 2 * 2 * 3  # groups x seeds x epochs, from the workers


def _default_sigint() -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def _children(pid: int) -> list[int]:
    """The processes ``pid`` started (its workers, multiprocessing's helpers), from /proc."""
    from pathlib import Path

    return [int(c) for task in Path(f"/proc/{pid}/task").iterdir() for c in (task / "children").read_text().split()]


@pytest.mark.slow
def test_ctrl_c_stops_every_worker_at_its_epochs_end_and_the_same_command_resumes(tmp_path):
    """SIGINT to the study's process (as a terminal's Ctrl-C, which reaches only it: the
    workers have their own process group) stops both workers' groups after their current
    epoch with a checkpoint; the same command then ends exactly as a run never stopped."""
    import signal
    import subprocess
    import sys
    import time

    import yaml

    if processes.usable_cores() < 2:
        pytest.skip("one core: the local executor keeps every group in its own process")
    epochs = 1500  # 2 groups x 1500 seed-epochs: workers (MIN_SEED_EPOCHS), and seconds of training on a fast CPU
    study = {"name": "sigint2", "seeds": 1, "datasets": {"moons": {}, "pinwheel": {}}, "metrics": ["mmd2"],
             "n_samples": 100, "checkpoint_every": 100_000,  # only the Ctrl-C checkpoint can exist mid-run
             "data": {"protocol": "genbench", "n_train": 128, "n_holdout": 64, "n_test": 256, "data_seed": 1},
             "models": {"mlp-gan": {"train": {"epochs": epochs, "batch_size": 128}}}}
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(study))
    cmd = [sys.executable, "-m", "genbench", "run", str(path), "--quiet", "--out", str(tmp_path / "out")]
    # As a terminal starts it: SIGINT at its default, whatever earlier tests left in this
    # process (an ignored or blocked SIGINT is inherited, and the study would never see it).
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, preexec_fn=_default_sigint)
    deadline = time.monotonic() + 180
    while not (tmp_path / "out" / "study.yaml").exists():
        assert proc.poll() is None and time.monotonic() < deadline, "the study never started"
        time.sleep(0.1)
    # Ctrl-C once both workers exist (a SIGINT while multiprocessing spawns them is another
    # case), and before they finish: they take it at their current epoch's end.
    while len(_children(proc.pid)) < 2:
        assert proc.poll() is None and time.monotonic() < deadline, "the workers never started"
        time.sleep(0.05)
    time.sleep(1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert err.count("checkpoint saved") == 2, err  # one note per group, both in the one line
    stopped = []
    for dataset in study["datasets"]:
        ckpt = tmp_path / "out" / dataset / "mlp-gan" / "checkpoint-seed0.pt"
        stopped.append(torch.load(ckpt, weights_only=True)["trainer"]["epoch"])
        assert not (ckpt.parent / "seed0" / "metrics.json").exists()
    assert all(0 < epoch < epochs for epoch in stopped), stopped
    assert subprocess.run(cmd, capture_output=True).returncode == 0
    straight = [sys.executable, "-m", "genbench", "run", str(path), "--quiet", "--out", str(tmp_path / "straight")]
    assert subprocess.run(straight, capture_output=True).returncode == 0
    assert _numbers(tmp_path / "out") == _numbers(tmp_path / "straight")


@pytest.mark.slow
def test_a_worker_killed_from_outside_is_one_line_and_the_same_command_resumes(tiny_study, tmp_path, request):
    """A worker SIGKILLed mid-group (as the kernel's out-of-memory killer does) ends the
    study with one line saying so; running it again resumes from the checkpoints and ends
    exactly as a study never killed."""
    from pathlib import Path

    def study(marker: Path) -> dict:
        return {**tiny_study, "name": "oom", "seeds": 1, "checkpoint_every": 1, "checkpoint_seconds": 0,
                "plugins": [str(Path(__file__).parent / "plugins" / "kill_once.py")],
                "models": {"kill-once-vae": {"params": {"marker": str(marker)},
                                             "train": {"epochs": 4, "batch_size": 100}}}}

    # One thread here as in each worker: a group left alone on resume trains in this process.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    request.addfinalizer(lambda: torch.set_num_threads(threads))
    marker = tmp_path / "killed"
    config = resolve(study(marker))
    with pytest.raises(GenbenchError, match=r"^a worker process died while training .*kill-once-vae.*: run the "
                                            r"same command again to resume$"):
        run_study(config, tmp_path / "killed-study", QUIET, EXECUTORS.get("local")(workers=2))
    assert marker.exists()
    assert len(list((tmp_path / "killed-study").glob("*/kill-once-vae/seed0/metrics.json"))) < 2  # one died
    run_study(config, tmp_path / "killed-study", QUIET, EXECUTORS.get("local")(workers=2))
    reference = run_study(config, tmp_path / "straight", QUIET, EXECUTORS.get("local")(workers=2))
    assert _numbers(tmp_path / "killed-study") == _numbers(reference)
