"""Cluster executors against the local one: a study on a two-node Ray cluster and as a
submitit job array gives the local study's numbers bit for bit, also when a node is
removed mid-study, a task's process kills itself, or a job is preempted."""
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

import genbench
from genbench.errors import GenbenchError

ROOT = Path(__file__).resolve().parent
STUDY = {  # one dataset x two models x two stacked seeds: two groups, seconds each
    "name": "grid", "seeds": 2, "datasets": {"moons": {}},
    "data": {"protocol": "genbench", "n_train": 300, "n_holdout": 100, "n_test": 300, "data_seed": 3},
    "models": {"mlp-vae": {"params": {"hidden": 32, "n_res": 1}, "train": {"epochs": 4, "batch_size": 100}},
               "mlp-gan": {"params": {}, "train": {"epochs": 4, "batch_size": 100}}},
    "metrics": ["mmd2"], "n_samples": 300, "checkpoint_every": 1, "checkpoint_seconds": 0,
}
TIMINGS = (",train_seconds,", ",samples_per_second,")
QUIET = genbench.make_runtime(device="cpu", quiet=True)


def numbers(root: Path) -> list[str]:
    """summary.csv without its wall-clock rows."""
    return [line for line in (root / "summary.csv").read_text().splitlines() if not any(t in line for t in TIMINGS)]


def assert_same_runs(a: Path, b: Path) -> None:
    """Same numbers, and every trained run's history, weights and samples byte for byte."""
    assert numbers(a) == numbers(b)
    runs = sorted(p for p in a.glob("*/*/seed*") if p.parent.name != "oracle")
    assert runs
    for run in runs:
        twin = b / run.relative_to(a)
        for name in ("history.csv", "model.pt", "samples.npy"):
            assert (run / name).read_bytes() == (twin / name).read_bytes(), (run, name)


def progress(root: Path) -> dict[str, dict]:
    """The groups' progress files: seed-epochs done, the process training it, where it resumed."""
    facts = {}
    for path in (root / ".genbench" / "progress").glob("*.json"):
        try:
            facts[path.stem] = json.loads(path.read_text())
        except (OSError, ValueError):
            pass  # being replaced right now
    return facts


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def resumed_driver(command: list[str], out: Path, interrupt) -> tuple[str, str, dict]:
    """Run a driver process while ``interrupt()`` strikes one group mid-study (it returns the
    group's name and progress then); the driver must finish, and the group must have
    resumed in another process from a checkpoint of epoch 2 or later. Its stderr, the
    group's name and its last progress."""
    driver = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        name, before = interrupt()
        _, stderr = driver.communicate(timeout=300)
    finally:
        if driver.poll() is None:
            driver.kill()
    assert driver.returncode == 0, stderr
    after = progress(out)[name]
    assert after["pid"] != before["pid"] and after["resumed_epoch"] >= 2, (before, after)
    return stderr, name, after


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Local references train with one torch thread, as each task does (and two threads on
    a shared 2-core machine run these tiny models ten times slower)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def local_grid(tmp_path_factory, one_thread) -> Path:
    """The reference: STUDY with the local executor."""
    return genbench.run_study(STUDY, tmp_path_factory.mktemp("local") / "grid", runtime=QUIET).root


def study_file(tmp_path: Path, study: dict) -> Path:
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(study, sort_keys=False))  # the datasets' order is the summary's
    return path


# -- Ray ----------------------------------------------------------------------------------
@pytest.mark.slow
def test_ray_study_on_two_nodes_matches_local_bit_for_bit(ray_cluster, local_grid, tmp_path):
    result = genbench.run_study(STUDY, tmp_path / "grid", executor="ray",
                                executor_options={"address": ray_cluster.address}, runtime=QUIET)
    assert_same_runs(local_grid, result.root)
    trained_in = {facts["pid"] for facts in progress(result.root).values()}
    assert len(progress(result.root)) == 2 and os.getpid() not in trained_in  # in Ray's worker processes


def _child_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


@pytest.mark.slow
def test_ray_node_removed_mid_study_its_runs_resume_elsewhere_identically(ray_cluster, tmp_path):
    study = {**STUDY, "name": "lost", "datasets": {"moons": {}, "gaussian-mixture": {}},
             "models": {name: {**entry, "train": {**entry["train"], "epochs": 40}}
                        for name, entry in STUDY["models"].items()}}
    path = study_file(tmp_path, study)
    extra = ray_cluster.add_node(num_cpus=1, object_store_memory=80 * 2**20)
    ray_cluster.wait_for_nodes()
    out = tmp_path / "ray"
    raylets = {node: node.all_processes["raylet"][0].process.pid for node in ray_cluster.worker_nodes}

    def remove_a_node_training_a_checkpointed_group():
        def found():
            for name, facts in progress(out).items():
                parent = _child_of(facts["pid"]) if Path(f"/proc/{facts['pid']}").exists() else None
                node = next((n for n, raylet in raylets.items() if raylet == parent), None)
                if node is not None and 3 <= facts["done"] // 2 < 30:  # two seeds: seed-epochs // 2 = epochs
                    return name, facts, node

        name, facts, node = wait_for(found, 120, "a group training on a worker node")
        ray_cluster.remove_node(node, allow_graceful=False)  # its processes are killed outright
        if node is not extra:  # keep the session's cluster at two nodes
            ray_cluster.remove_node(extra)
            ray_cluster.add_node(num_cpus=1, object_store_memory=80 * 2**20)
        return name, facts

    try:
        stderr, name, after = resumed_driver(
            [sys.executable, "-m", "genbench", "run", str(path), "--quiet", "--out", str(out), "--executor", "ray",
             "--ray-address", ray_cluster.address], out, remove_a_node_training_a_checkpointed_group)
    finally:
        if extra in ray_cluster.worker_nodes:  # failed before removing a node: leave the next test two
            ray_cluster.remove_node(extra)
        ray_cluster.wait_for_nodes(timeout=180)  # Ray marks a killed node dead only after missed heartbeats
    dataset, model = name.split("__")[:2]
    assert f"genbench: {dataset}/{model} started again in pid {after['pid']}" in stderr
    reference = genbench.run_study(study, tmp_path / "local", runtime=QUIET).root
    assert_same_runs(reference, out)


@pytest.mark.slow
def test_ray_node_killed_just_before_a_study_starts_is_passed_over(ray_cluster, tmp_path):
    """Ray lists a killed node as alive until it has missed enough heartbeats; the check
    that every node sees the output folder must pass it over, not stop the study."""
    import ray

    doomed = ray_cluster.add_node(num_cpus=1, object_store_memory=80 * 2**20)
    ray_cluster.wait_for_nodes()
    ray_cluster.remove_node(doomed, allow_graceful=False)
    try:
        ray.init(address=ray_cluster.address)
        try:
            assert any(n["NodeID"] == doomed.node_id and n["Alive"] for n in ray.nodes())  # dead, still listed
            genbench.run_study(STUDY, tmp_path / "ray", executor="ray", runtime=QUIET)
        finally:
            ray.shutdown()
        assert len(list((tmp_path / "ray").glob("moons/mlp-*/seed*/metrics.json"))) == 4
    finally:
        ray_cluster.wait_for_nodes(timeout=180)


@pytest.mark.slow
def test_ray_task_whose_process_kills_itself_is_retried_and_resumes(ray_cluster, tmp_path):
    def study(marker: Path) -> dict:
        return {**STUDY, "name": "suicide", "plugins": [str(ROOT / "plugins" / "kill_once.py")],
                "models": {"kill-once-vae": {"params": {"hidden": 32, "n_res": 1, "marker": str(marker)},
                                             "train": {"epochs": 4, "batch_size": 100}}}}

    marker = tmp_path / "killed"
    result = genbench.run_study(study(marker), tmp_path / "ray", executor="ray",
                                executor_options={"address": ray_cluster.address}, runtime=QUIET)
    killed_pid = int(marker.read_text())  # the first attempt wrote it, then SIGKILLed itself
    (facts,) = progress(result.root).values()
    assert facts["pid"] != killed_pid and facts["resumed_epoch"] == 2  # the retry resumed from epoch 2
    done = tmp_path / "no-kill"
    done.write_text("")  # the reference never kills itself
    reference = genbench.run_study(study(done), tmp_path / "local", runtime=QUIET).root
    assert_same_runs(reference, result.root)


@pytest.mark.slow
def test_ray_driver_killed_mid_study_the_same_command_resumes_identically(ray_cluster, tmp_path):
    study = {**STUDY, "name": "orphan", "models": {name: {**entry, "train": {**entry["train"], "epochs": 30}}
                                                   for name, entry in STUDY["models"].items()}}
    path = study_file(tmp_path, study)
    out = tmp_path / "ray"
    command = [sys.executable, "-m", "genbench", "run", str(path), "--quiet", "--out", str(out), "--executor", "ray",
               "--ray-address", ray_cluster.address]
    driver = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: any(3 <= facts["done"] // 2 < 20 for facts in progress(out).values()), 120,
                 "a group with a checkpoint")
    finally:
        driver.kill()  # SIGKILL: Ray ends the dead driver's tasks
        driver.wait()
    assert len(list(out.glob("moons/mlp-*/seed*/metrics.json"))) < 4  # killed before the study was done
    again = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert any(facts["resumed_epoch"] >= 2 for facts in progress(out).values())  # not started over
    reference = genbench.run_study(study, tmp_path / "local", runtime=QUIET).root
    assert_same_runs(reference, out)


# -- Slurm through submitit's local executor -------------------------------------------------
@pytest.mark.slow
def test_slurm_array_matches_local_and_a_preempted_job_requeues_and_resumes(local_grid, tmp_path):
    pytest.importorskip("submitit", reason="submitit is not installed: pip install 'genbench[slurm]'")
    study = {**STUDY, "models": {name: {**entry, "train": {**entry["train"], "epochs": 40}}
                                 for name, entry in STUDY["models"].items()}}
    path = study_file(tmp_path, study)
    out = tmp_path / "slurm"

    def preempt_a_checkpointed_group():
        name, facts = wait_for(lambda: next(((name, facts) for name, facts in progress(out).items()
                                             if 3 <= facts["done"] // 2 < 30), None), 120, "a group with a checkpoint")
        os.kill(facts["pid"], signal.SIGUSR2)  # what Slurm sends a job it preempts
        return name, facts

    resumed_driver([sys.executable, "-m", "genbench", "run", str(path), "--quiet", "--out", str(out), "--executor",
                    "slurm", "--slurm-cluster", "local", "--slurm-time", "60"], out, preempt_a_checkpointed_group)
    logs = "".join(p.read_text() for p in (out / ".genbench" / "slurm").rglob("*.err"))
    assert "this job is preempted" in logs
    reference = genbench.run_study(study, tmp_path / "local", runtime=QUIET).root
    assert_same_runs(reference, out)


def test_slurm_time_forms():
    from genbench.executors.slurm import slurm_minutes

    assert [slurm_minutes(t) for t in ("90", "1:30", "1:00:00", "2-00:00:00", "1-2:30", "0:0:30")] == \
        [90, 2, 60, 2880, 1590, 1]
    with pytest.raises(GenbenchError, match="--slurm-time 'an hour'"):
        slurm_minutes("an hour")


# -- a task's own view ----------------------------------------------------------------------
def test_a_task_takes_absolute_paths_resumes_and_names_gpu_memory_running_out(tmp_path, monkeypatch):
    """What a cluster task gets: paths that mean the same on a node started in another
    folder, resume on (``--no-resume`` was applied by the driver, so a retry continues
    from its first attempt's checkpoints), and running out of GPU memory as one line."""
    from genbench.config import resolve
    from genbench.executors import remote
    from genbench.runtime import Runtime
    from genbench.study import plan

    monkeypatch.chdir(tmp_path)
    given = Runtime(data_dir=Path("data"), resume=False, inception_weights=Path("w/pt_inception.pth"))
    got = remote.task_runtime(given, gpus=0)
    assert (got.data_dir, got.inception_weights) == (tmp_path / "data", tmp_path / "w" / "pt_inception.pth")
    assert got.resume and got.quiet and got.device.type == "cpu"
    assert remote.task_runtime(Runtime(), gpus=0.25).device.type == "cuda"

    root = tmp_path / "out"
    job = remote.absolute(plan(resolve(STUDY), root))[0]
    token = remote.write_sentinel(root)

    def out_of_memory(*args, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(remote, "run_group", out_of_memory)
    error = remote.run_remote(job, got, token, threads=1)["error"]
    assert error.startswith(f"{job.name}: out of GPU memory on ") and "--gpus-per-run" in error
    assert remote.run_remote(job, got, "another driver's token", threads=1)["error"].startswith("node ")


# -- the command line -----------------------------------------------------------------------
@pytest.mark.parametrize("executor, module, extra", [("ray", "ray", "ray"), ("slurm", "submitit", "slurm")])
def test_missing_extra_is_one_line_with_the_install_command(executor, module, extra, monkeypatch, capsys, tmp_path):
    from genbench.cli import main

    monkeypatch.setitem(sys.modules, module, None)  # as if not installed: importing it raises ImportError
    assert main(["run", "--executor", executor, "--out", str(tmp_path), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"genbench: error: --executor {executor} needs {module}: pip install 'genbench[{extra}]'"


def test_cluster_flags_of_another_executor_and_bad_values_are_refused(capsys, tmp_path):
    from genbench.cli import main

    for argv, message in [
        (["--executor", "local", "--ray-address", "auto"], "--ray-address applies to --executor ray, not local"),
        (["--executor", "ray", "--slurm-partition", "gpu"], "--slurm-partition applies to --executor slurm, not ray"),
        (["--executor", "rya"], "unknown executor 'rya' (did you mean 'ray'?)"),
        (["--executor", "ray", "--workers", "2"], "--workers applies to --executor local, not ray"),
        (["--executor", "ray", "--gpus-per-run", "-1"], "--gpus-per-run must be 0 or more, got -1.0"),
        (["--executor", "slurm", "--cpus-per-run", "1.5"], "--cpus-per-run must be a whole number >= 1, got 1.5"),
        (["--executor", "slurm", "--slurm-cluster", "pbs"], "--slurm-cluster 'pbs': choose one of slurm, local"),
    ]:
        assert main(["run", *argv, "--out", str(tmp_path), "--quiet"]) == 2
        assert message in capsys.readouterr().err


# -- the sentinel: a node that cannot see the output folder ----------------------------------
@contextlib.contextmanager
def _third_node(ray_cluster, argv: list[str], env: dict | None = None):
    """A Ray node of its own process (``argv`` starts ``ray_node.py``) joined to the
    session's cluster while the block runs, and gone from it afterwards."""
    import ray

    node = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        ray.init(address=ray_cluster.address)
        try:
            wait_for(lambda: sum(n["Alive"] for n in ray.nodes()) == 3, 60, "the third node")
        finally:
            ray.shutdown()
        yield
    finally:
        node.terminate()  # the node stops its processes and leaves the cluster
        node.wait(timeout=60)
        ray.init(address=ray_cluster.address)
        try:
            wait_for(lambda: sum(n["Alive"] for n in ray.nodes()) == 2, 120, "the third node to leave")
        finally:
            ray.shutdown()


def _can_unshare() -> bool:
    return subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode == 0


@pytest.mark.slow
def test_ray_node_that_cannot_see_the_output_folder_stops_the_study(ray_cluster, tmp_path):
    """A node started in a mount namespace of its own, where a blank tmpfs hides the test's
    folder: it is a node with a local folder at the output folder's path."""
    if not _can_unshare():
        pytest.skip("needs `unshare -m` (root, mount namespaces) to start a node with its own view of the filesystem")
    hidden = tmp_path / "shared"
    hidden.mkdir()
    argv = ["unshare", "-m", "--propagation", "private", "sh", "-c",
            f"mount -t tmpfs none {hidden} && exec {sys.executable} {ROOT / 'ray_node.py'} {ray_cluster.address}"]
    with _third_node(ray_cluster, argv):
        with pytest.raises(GenbenchError, match=rf"cannot see the output folder {hidden / 'grid'} \(its sentinel file "
                                                rf"is unreadable: No such file or directory\): put --out on a "
                                                rf"filesystem every node mounts"):
            genbench.run_study(STUDY, hidden / "grid", executor="ray",
                               executor_options={"address": ray_cluster.address}, runtime=QUIET)
        assert not list((hidden / "grid").glob("moons/mlp-*/seed*")) and not progress(hidden / "grid")  # no task ran


@pytest.mark.slow
def test_ray_node_without_genbench_stops_the_study_in_one_line(ray_cluster, tmp_path):
    """A node whose Python cannot import genbench (here a stub package first on its
    PYTHONPATH that fails as a missing one does): the study stops before any task, naming
    the node and what to install, not with the probe's traceback."""
    stub = tmp_path / "stub" / "genbench"
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text('raise ModuleNotFoundError("No module named \'genbench\'", name="genbench")\n')
    env = {**os.environ, "PYTHONPATH": str(stub.parent)}
    with _third_node(ray_cluster, [sys.executable, str(ROOT / "ray_node.py"), ray_cluster.address], env):
        with pytest.raises(GenbenchError) as stopped:
            genbench.run_study(STUDY, tmp_path / "grid", executor="ray",
                               executor_options={"address": ray_cluster.address}, runtime=QUIET)
        assert re.fullmatch(r"Ray node 127\.0\.0\.1 cannot run genbench's code \((ModuleNotFoundError: No module "
                            r"named 'genbench'|RuntimeError: The remote function failed to import on the worker)\); "
                            r"install genbench and its dependencies, as on this machine, on every node",
                            str(stopped.value)), str(stopped.value)
        assert not list((tmp_path / "grid").glob("moons/mlp-*/seed*")) and not progress(tmp_path / "grid")


def test_slurm_stops_an_array_with_one_scancel(tmp_path, monkeypatch):
    """Ctrl-C on a Slurm study: one ``scancel`` of the array ids, not one per task."""
    pytest.importorskip("submitit", reason="submitit is not installed: pip install 'genbench[slurm]'")
    from genbench.executors.slurm import SlurmExecutor

    calls = tmp_path / "scancel.log"
    (tmp_path / "bin").mkdir()
    scancel = tmp_path / "bin" / "scancel"
    scancel.write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    scancel.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    from submitit.slurm.slurm import SlurmJob

    tasks = [SlurmJob(tmp_path / "logs", job_id) for job_id in ("4242_0", "4242_3", "4243_1")]
    SlurmExecutor()._cancel(tasks)
    assert calls.read_text() == "4242 4243\n"
