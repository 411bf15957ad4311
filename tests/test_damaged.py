"""A damaged result file in any folder gives every command one line naming the file and
what to do (exit 2), and `genbench run` redoes the run whose results are damaged."""
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

STUDY = {"name": "dmg", "seeds": 1, "datasets": {"moons": {}},
         "data": {"protocol": "genbench", "n_train": 200, "n_holdout": 50, "n_test": 200, "data_seed": 3},
         "models": {"mlp-vae": {"params": {"hidden": 16, "n_res": 1}, "train": {"epochs": 2, "batch_size": 50}}},
         "metrics": ["mmd2"], "n_samples": 200}


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "genbench", *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("damaged")
    (folder / "study.yaml").write_text(yaml.safe_dump(STUDY))
    assert _cli("run", str(folder / "study.yaml"), "--quiet", "--out", str(folder / "out")).returncode == 0
    return folder / "study.yaml", folder / "out"


def _truncate(path: Path) -> bytes:
    original = path.read_bytes()
    path.write_bytes(original[: len(original) // 2] + b"\x00{[")
    return original


RUN = Path("moons") / "mlp-vae" / "seed0"
CASES = {  # damaged file -> commands that must refuse it in one line naming it, and the advice
    "study.yaml": [(["report", "{out}"], "run the study again")],
    f"{RUN}/config.yaml": [(["report", "{out}"], "run the study again"),
                            (["sample", "{out}/" + str(RUN), "-n", "5", "--out", "{tmp}/s.npy"], "run the study again"),
                            (["evaluate", "{out}/" + str(RUN), "--quiet"], "run the study again")],
    f"{RUN}/metrics.json": [(["report", "{out}"], "genbench evaluate")],
    f"{RUN}/history.csv": [(["report", "{out}"], "run the study again")],
    "moons/oracle/seed0/metrics.json": [(["report", "{out}"], "run the study again")],
}


@pytest.mark.parametrize("name", list(CASES))
def test_every_command_names_a_damaged_file(finished, tmp_path, name):
    _, out = finished
    path = out / name
    original = _truncate(path)
    try:
        for args, advice in CASES[name]:
            proc = _cli(*(a.format(out=out, tmp=tmp_path) for a in args))
            assert proc.returncode == 2, (args, proc.stderr)
            lines = proc.stderr.strip().splitlines()
            assert len(lines) == 1 and str(path) in lines[0] and "is damaged" in lines[0], (args, proc.stderr)
            assert advice in lines[0], lines[0]
    finally:
        path.write_bytes(original)


@pytest.mark.parametrize("name", ["metrics.json", "config.yaml", "history.csv"])
def test_run_redoes_a_run_whose_results_are_damaged_and_says_so(finished, name):
    study, out = finished
    path = out / RUN / name
    before = (out / RUN / "history.csv").read_text()
    _truncate(path)
    proc = _cli("run", str(study), "--quiet", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert f"{path} is damaged" in proc.stderr and "training the run again" in proc.stderr
    assert (out / RUN / "history.csv").read_text() == before  # retrained to the same result
    yaml.safe_load((out / RUN / "config.yaml").read_text())


def test_evaluate_rewrites_a_damaged_metrics_json(finished):
    _, out = finished
    path = out / RUN / "metrics.json"
    _truncate(path)
    proc = _cli("evaluate", str(out / RUN), "--quiet")
    assert proc.returncode == 0 and f"{path} is damaged" in proc.stderr and "writing it anew" in proc.stderr
    assert "mmd2" in path.read_text()


def test_a_folder_that_is_not_a_study_or_run_is_named(tmp_path):
    for args, expected in ((["report", str(tmp_path)], "is not a study folder (study.yaml is missing)"),
                           (["sample", str(tmp_path), "-n", "3", "--out", str(tmp_path / "s.npy")],
                            "is not a run folder (no config.yaml)")):
        proc = _cli(*args)
        assert proc.returncode == 2 and expected in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
