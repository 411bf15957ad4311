import base64
import csv
import io
import json
import re

import pytest
from PIL import Image

from genbench.runtime import Runtime
from genbench.config import resolve
from genbench.errors import GenbenchError
from genbench.report import build_report
from genbench.study import run_study

QUIET = Runtime(quiet=True)


def _read(path):
    return path.read_text()


def _numbers(root):
    """Every summary row but wall-clock timings, which no seed can fix."""
    return [line for line in _read(root / "summary.csv").splitlines() if ",train_seconds," not in line]



def test_study_writes_every_result_and_is_deterministic(tiny_study, tmp_path):
    config = resolve(tiny_study)
    first = run_study(config, tmp_path / "a", QUIET)
    second = run_study(config, tmp_path / "b", QUIET)
    assert _numbers(first) == _numbers(second)
    assert len(_numbers(first)) > 50

    run = first / "moons" / "mlp-vae" / "seed1"
    for name in ["config.yaml", "history.csv", "metrics.json", "model.pt", "samples.npy", "run.png"]:
        assert (run / name).stat().st_size > 0, name
    metrics = json.loads(_read(run / "metrics.json"))
    assert all(isinstance(v, (int, float)) for v in metrics.values())
    assert {"kde_ll_study", "kde_ll_test", "kde_ll_reverse", "mmd2", "n_params", "train_seconds"} <= set(metrics)
    assert metrics["n_params"] == 208_690
    with open(run / "history.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 3 and float(rows[-1]["holdout_loss"]) > 0

    with open(first / "summary.csv", newline="") as fh:
        summary = list(csv.DictReader(fh))
    assert list(summary[0]) == ["study", "dataset", "model", "seed", "metric", "value"]
    models = {r["model"] for r in summary}
    assert models == {"mlp-vae", "mlp-gan", "oracle"}
    mixture_metrics = {r["metric"] for r in summary if r["dataset"] == "gaussian-mixture"}
    assert {"modes_covered", "high_quality_frac"} <= mixture_metrics
    assert "modes_covered" not in {r["metric"] for r in summary if r["dataset"] == "moons"}
    oracle = [float(r["value"]) for r in summary if r["model"] == "oracle" and r["metric"] == "high_quality_frac"]
    assert min(oracle) > 0.97  # real mixture samples lie within 3 std of a mode


def test_report_tables_and_embedded_figures(tiny_study, tmp_path):
    tiny_study["published"] = {"kde_ll_study": {"moons": {"mlp-vae": -1.5}}}
    root = run_study(resolve(tiny_study), tmp_path / "s", QUIET)
    md, page = root / "report.md", root / "report.html"
    text = _read(md)
    assert "## kde_ll_study" in text and "published mlp-vae" in text and "-1.5000" in text
    assert re.search(r"\| moons \| -?\d+\.\d{4} ± \d+\.\d{4} \|", text)
    assert "| moons | mlp-vae | 208,690 |" in text  # the same on every seed: shown once, no "± 0"
    assert "(figures/moons.png)" in text and (root / "figures" / "moons.png").exists()
    images = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", _read(page))
    assert len(images) == 2
    for data in images:
        assert Image.open(io.BytesIO(base64.b64decode(data))).size[0] > 300
    # Rebuilt from the folder alone, the report is the same.
    before = _read(page)
    (root / "report.html").unlink()
    build_report(root)
    assert _read(page) == before


def test_finished_runs_are_kept_and_changed_ones_rerun(tiny_study, tmp_path):
    tiny_study["datasets"] = {"moons": {}}
    root = run_study(resolve(tiny_study), tmp_path / "s", QUIET)
    done = root / "moons" / "mlp-gan" / "seed0" / "metrics.json"
    stamp = done.stat().st_mtime_ns
    run_study(resolve(tiny_study), root, QUIET)
    assert done.stat().st_mtime_ns == stamp
    tiny_study["models"]["mlp-gan"]["train"]["epochs"] = 4
    run_study(resolve(tiny_study), root, QUIET)
    assert done.stat().st_mtime_ns != stamp
    with open(root / "moons" / "mlp-gan" / "seed0" / "history.csv") as fh:
        assert len(fh.readlines()) == 5


def test_report_of_a_folder_that_is_not_a_study(tmp_path):
    with pytest.raises(GenbenchError, match="not a study folder"):
        build_report(tmp_path)
