"""Short settings of the toy2d-modern and fashion-modern presets, run whole: every new
model trains, samples, is scored and reported, and a study stopped in each model's
training resumes to the same results; the critic's warning signs."""
import copy
import csv
import json
from pathlib import Path

import numpy as np
import pytest

from genbench.config import load_preset, resolve
from genbench.layout import load_splits
from genbench.metrics.density import mixture_log_density
from genbench.report import training_flags
from genbench.runtime import Runtime
from genbench.study import run_study
from genbench.train import Trainer

QUIET = Runtime(quiet=True)
FASHION = Path("/usr/share/datasets/fashion-mnist")
TIMINGS = (",train_seconds,", ",samples_per_second,", ",analysis_seconds,")


def _summary(root):
    with open(root / "summary.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def _numbers(root):
    """Every summary row but wall-clock timings, which no seed can fix."""
    return [line for line in (root / "summary.csv").read_text().splitlines() if not any(t in line for t in TIMINGS)]


def short_toy2d_modern() -> dict:
    raw = copy.deepcopy(load_preset("toy2d-modern"))
    raw.update(seeds=2, n_samples=300, datasets={"gaussian-mixture": {}}, train_overrides={},
               data={"protocol": "genbench", "n_train": 256, "n_holdout": 64, "n_test": 200, "data_seed": 3})
    raw["models"]["mlp-vae"]["params"] = {"hidden": 16, "latent": 4, "n_res": 1}
    raw["models"]["mlp-flow"]["params"] = {"hidden": 16, "n_res": 1, "sample_steps": 8}
    for entry in raw["models"].values():
        entry["train"].update(epochs=3, batch_size=64)
    return raw


def test_short_toy2d_modern_scores_every_model_with_the_likelihoods_that_exist(tmp_path):
    config = resolve(short_toy2d_modern())
    assert list(config.models) == ["mlp-vae", "mlp-gan", "mlp-wgan-gp", "mlp-flow"]
    root = run_study(config, tmp_path / "s", QUIET)
    got = {(r["model"], r["seed"], r["metric"]): float(r["value"]) for r in _summary(root)}
    truth = float(mixture_log_density(load_splits(config, "gaussian-mixture").test,
                                      np.array([[1.2 * np.cos(a), 1.2 * np.sin(a)]
                                                for a in 2 * np.pi * np.arange(7) / 7]), 0.12).mean())
    for seed in ("0", "1"):
        assert got["oracle", seed, "ll_exact_test"] == got["oracle", seed, "ll_iwae_test"] == pytest.approx(truth)
        assert got["mlp-flow", seed, "ll_exact_test"] < truth and ("mlp-flow", seed, "ll_iwae_test") not in got
        assert got["mlp-vae", seed, "ll_iwae_test"] < truth and ("mlp-vae", seed, "ll_exact_test") not in got
        for gan in ("mlp-gan", "mlp-wgan-gp"):  # no likelihood: the KDE numbers only
            assert not any((gan, seed, k) in got for k in ("ll_exact_test", "ll_iwae_test"))
            assert (gan, seed, "kde_ll_test") in got
    run = root / "gaussian-mixture" / "mlp-wgan-gp" / "seed1"
    with open(run / "history.csv", newline="") as fh:
        assert list(next(csv.DictReader(fh))) == ["epoch", "critic_loss", "g_loss", "wasserstein", "gp",
                                                  "holdout_critic_loss", "holdout_wasserstein"]
    assert (root / "gaussian-mixture" / "mlp-wgan-gp" / "checkpoint-seed0-1.pt").exists()  # seeds stacked
    md = (root / "report.md").read_text()
    assert "## ll_iwae_test" in md and "## ll_exact_test" in md and "GANs only the KDE numbers apply" in md
    assert "| gaussian-mixture | mlp-wgan-gp |" in md  # the costs table


def _crash_once_per_model(monkeypatch):
    """Stop the study (as Ctrl-C would) after the first epoch of each model not yet
    stopped: every model's training then resumes from its checkpoint."""
    original, stopped = Trainer.run_epoch, set()

    def run_epoch(self):
        model = type(self.models[0]).__name__
        if self.epoch == 1 and model not in stopped:
            stopped.add(model)
            raise KeyboardInterrupt
        return original(self)

    monkeypatch.setattr(Trainer, "run_epoch", run_epoch)
    return stopped


def _resume_until_done(config, root, monkeypatch, models):
    stopped = _crash_once_per_model(monkeypatch)
    for _ in models:
        with pytest.raises(KeyboardInterrupt):
            run_study(config, root, QUIET)
    run_study(config, root, QUIET)
    assert len(stopped) == len(models)


@pytest.mark.slow
def test_short_toy2d_modern_stopped_in_every_model_resumes_identically(tmp_path, monkeypatch):
    config = resolve(short_toy2d_modern())
    straight = run_study(config, tmp_path / "straight", QUIET)
    _resume_until_done(config, tmp_path / "stopped", monkeypatch, config.models)
    assert _numbers(straight) == _numbers(tmp_path / "stopped")


def short_fashion_modern() -> dict:
    """fashion-modern's models, settings and metrics on scikit-learn's 8x8 digits (bundled,
    so its evaluator trains in seconds where Fashion-MNIST's takes minutes), tiny nets,
    without the latent analysis (its t-SNE would be most of the time; tested elsewhere)."""
    raw = copy.deepcopy(load_preset("fashion-modern"))
    gan, unet = {"latent": 8, "ngf": 8, "ndf": 8}, {"width": 8, "channel_mult": [1, 2], "sample_steps": 3}
    raw.update(seeds=1, n_samples=200, datasets={"digits": {}}, analysis=False,  # analysis: tested on its own
               data={"protocol": "genbench", "n_train": 384, "n_holdout": 64, "n_test": 200})
    for name, params in (("dcgan", gan), ("wgan-gp", gan), ("sngan", gan), ("conv-vae", {"latent": 4, "width": 8}),
                         ("flow-matching", unet), ("ddpm", unet)):
        raw["models"][name]["params"] = params
        raw["models"][name]["train"].update(epochs=2, batch_size=64)
    return raw


@pytest.mark.slow
def test_short_fashion_modern_trains_scores_and_resumes_every_model(tmp_path, monkeypatch):
    config = resolve(short_fashion_modern())
    settings = {m: config.train_settings("digits", m) for m in config.models}
    assert (settings["wgan-gp"].lr, settings["wgan-gp"].betas, settings["wgan-gp"].d_steps) == (1e-4, (0.0, 0.9), 5)
    assert (settings["sngan"].lr, settings["sngan"].betas, settings["sngan"].d_steps) == (2e-4, (0.5, 0.999), 1)
    straight = run_study(config, tmp_path / "straight", QUIET)
    rows = _summary(straight)
    for model in config.models:
        scores = {r["metric"] for r in rows if r["model"] == model}
        assert {"fd_evaluator", "kid_evaluator", "precision_evaluator", "recall_evaluator", "coverage_evaluator",
                "classes_covered_evaluator", "similar_pairs_frac", "samples_per_second"} <= scores, model
        run = straight / "digits" / model / "seed0"
        assert (run / "samples" / "epoch_001.png").exists() and (run / "samples" / "epoch_002.png").exists()
        assert np.load(run / "samples.npy").shape == (200, 1, 8, 8)
    assert {r["metric"] for r in rows if r["model"] == "conv-vae"} >= {"recon_mse", "recon_ssim"}
    for model, column in (("sngan", "real_score"), ("wgan-gp", "holdout_wasserstein"), ("ddpm", "holdout_loss")):
        with open(straight / "digits" / model / "seed0" / "history.csv", newline="") as fh:
            assert column in next(csv.DictReader(fh))
    md = (straight / "report.md").read_text()
    assert all(f"| digits | {m} |" in md for m in config.models)  # the costs table, sampling speed included
    assert "(figures/digits-epochs.png)" in md
    _resume_until_done(config, tmp_path / "stopped", monkeypatch, config.models)
    assert _numbers(straight) == _numbers(tmp_path / "stopped")
    for model in config.models:
        a, b = (root / "digits" / model / "seed0" for root in (straight, tmp_path / "stopped"))
        assert (a / "model.pt").read_bytes() == (b / "model.pt").read_bytes(), model


@pytest.mark.skipif(not FASHION.exists(), reason="needs Debian's dataset-fashion-mnist (make test installs it)")
def test_fashion_modern_preset_is_the_papers_settings_on_fashion_mnist():
    config = resolve(load_preset("fashion-modern"))
    assert list(config.datasets) == ["fashion-mnist"] and config.seeds == 3
    assert set(config.metrics) == {"fd", "kid", "is", "pr", "dc", "class_coverage", "collapse", "recon"}
    for name in ("dcgan", "wgan-gp", "sngan"):  # one net, three losses and normalisations
        assert config.models[name].params == {}
    gp, sn = config.train_settings("fashion-mnist", "wgan-gp"), config.train_settings("fashion-mnist", "sngan")
    assert (gp.lr, gp.betas, gp.d_steps, sn.lr, sn.betas, sn.d_steps) == (1e-4, (0.0, 0.9), 5, 2e-4, (0.5, 0.999), 1)


def _critic_history(wasserstein, holdout=None):
    return [{"epoch": e, "critic_loss": -w, "g_loss": 0.0, "wasserstein": w, "gp": 0.01,
             "holdout_critic_loss": -w, "holdout_wasserstein": w if holdout is None else holdout}
            for e, w in enumerate(wasserstein, start=1)]


def test_critic_warning_signs():
    healthy = _critic_history([0.5, 2.0, 1.6, 1.2, 1.0, 0.8, 0.7, 0.65, 0.6, 0.62])
    assert training_flags(healthy, {}) == []
    diverging = _critic_history([0.5, 2.0, 1.6, 1.2, 1.0, 0.8, 1.1, 1.6, 2.2, 3.0])
    assert training_flags(diverging, {}) == [
        "critic's Wasserstein estimate rose from 0.8 (epoch 6) to 3 at epoch 10: the critic loss is diverging "
        "(a lower learning rate or more critic steps?)"]
    memorising = _critic_history([0.5, 2.0, 1.6, 1.2, 1.0, 0.8, 0.7, 0.65, 0.6, 0.62], holdout=0.2)
    assert training_flags(memorising, {}) == [
        "critic's Wasserstein estimate on hold-out images is 0.2 against 0.62 on training images at epoch 10: "
        "the critic memorises the training set"]
    assert training_flags(diverging[:5], {}) == []  # too few epochs to say
    hinge = [{"epoch": e, "d_loss": 0.01, "g_loss": 3.0, "real_score": 2.0, "fake_score": -2.0} for e in range(1, 9)]
    assert training_flags(hinge, {})[0].startswith("D loss below 0.05 for 8 consecutive epochs from epoch 1")
