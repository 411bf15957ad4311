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
    assert auto_workers(long, Runtime(device=torch.device("cuda"), quiet=True)) == 1
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
