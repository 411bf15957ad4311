"""Flow matching and diffusion in whole studies: their metrics, grids, costs and
warning signs reach the run folders and the report."""
import csv
import json

import numpy as np
import pytest
from PIL import Image

from genbench.config import resolve
from genbench.metrics.density import mixture_log_density
from genbench.layout import load_splits
from genbench.report import training_flags
from genbench.runtime import Runtime
from genbench.study import run_study

QUIET = Runtime(quiet=True)


def test_mlp_flow_study_reports_exact_likelihoods_beside_the_true_density(tiny_study, tmp_path):
    tiny_study["models"] = {"mlp-flow": {"params": {"hidden": 32, "n_res": 1, "sample_steps": 10},
                                         "train": {"epochs": 3, "lr": 2e-3}}}
    tiny_study["metrics"] = ["kde_ll_test", "ll_exact_test"]
    tiny_study["data"]["n_test"] = 150
    config = resolve(tiny_study)
    root = run_study(config, tmp_path / "s", QUIET)
    with open(root / "summary.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["metric"] == "ll_exact_test"]
    got = {(r["dataset"], r["model"], r["seed"]): float(r["value"]) for r in rows}
    assert {k for k in got if k[1] == "mlp-flow"} == {(d, "mlp-flow", s) for d in ("gaussian-mixture", "moons")
                                                      for s in ("0", "1")}
    # The oracle's number is the mixture's true density on the test split; moons has none.
    test = load_splits(config, "gaussian-mixture").test
    centres = np.array([[1.2 * np.cos(a), 1.2 * np.sin(a)] for a in 2 * np.pi * np.arange(7) / 7])
    truth = float(mixture_log_density(test, centres, 0.12).mean())
    assert got["gaussian-mixture", "oracle", "0"] == pytest.approx(truth, rel=1e-6)
    assert ("moons", "oracle", "0") not in got
    assert all(v < truth for k, v in got.items() if k[1] == "mlp-flow")  # 3 epochs: far below the truth
    md = (root / "report.md").read_text()
    assert "## ll_exact_test" in md and "GANs have none" in md


def test_flow_and_diffusion_image_study_writes_grids_costs_and_report(tmp_path):
    tiny = {"width": 8, "channel_mult": [1, 2], "sample_steps": 4}
    raw = {"name": "img", "seeds": 1, "datasets": {"digits": {}},
           "data": {"n_train": 128, "n_holdout": 32, "n_test": 32},
           "models": {name: {"params": tiny, "train": {"epochs": 2, "batch_size": 64, "lr": 2e-3}}
                      for name in ("flow-matching", "ddpm")},
           "metrics": [], "features": [], "n_samples": 40, "sample_every": 1, "analysis": True}
    root = run_study(resolve(raw), tmp_path / "s", QUIET)
    for name in ("flow-matching", "ddpm"):
        run = root / "digits" / name / "seed0"
        for epoch in (1, 2):
            with Image.open(run / "samples" / f"epoch_{epoch:03d}.png") as png:
                assert png.size == (8 * 10 + 2, 8 * 10 + 2)  # 64 samples: 8x8 tiles of 8 px, 2 px gaps
        samples = np.load(run / "samples.npy")
        assert samples.dtype == np.uint8 and samples.shape == (40, 1, 8, 8)
        metrics = json.loads((run / "metrics.json").read_text())
        assert metrics["samples_per_second"] > 0 and metrics["figures"] == {
            "interpolation.png": "interpolation between two random noise draws"}
        with open(run / "history.csv", newline="") as fh:
            assert list(next(csv.DictReader(fh))) == ["epoch", "loss", "holdout_loss"]
    md = (root / "report.md").read_text()
    assert "| digits | flow-matching |" in md and "| digits | ddpm |" in md  # the costs table
    assert "(figures/digits-epochs.png)" in md


def test_a_loss_that_does_not_fall_is_flagged_and_a_healthy_one_is_not():
    healthy = [{"epoch": e, "loss": 2.0 / e + 0.05 * (-1) ** e, "holdout_loss": 1.0} for e in range(1, 30)]
    assert training_flags(healthy, {}) == []
    stuck = [{"epoch": e, "loss": 1.0 + 0.01 * (-1) ** e} for e in range(1, 30)]
    assert training_flags(stuck, {}) == ["loss did not decrease: 0.99 over epoch 1, 0.99 at epoch 29; the model "
                                         "learnt nothing (learning rate too high or too low?)"]
    rising = [{"epoch": e, "loss": float(e)} for e in range(1, 4)]
    assert training_flags(rising, {})[0].startswith("loss did not decrease: 1 over epoch 1, 3 at epoch 3")
    assert training_flags(rising[:2], {}) == []  # two epochs say too little
