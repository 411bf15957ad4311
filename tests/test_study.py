import base64
import csv
import importlib
import io
import json
import re

import numpy as np
import pytest
from PIL import Image

from genbench.config import resolve
from genbench.errors import GenbenchError
from genbench.layout import StudyFolder
from genbench.report import build_report
from genbench.runtime import Runtime
from genbench.study import run_study
from genbench.train import Trainer

QUIET = Runtime(quiet=True)


def _read(path):
    return path.read_text()


def _numbers(root):
    """Every summary row but wall-clock timings, which no seed can fix."""
    timings = (",train_seconds,", ",samples_per_second,", ",analysis_seconds,")
    return [line for line in _read(root / "summary.csv").splitlines() if not any(t in line for t in timings)]

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
    tiny_study["published"] = {"kde_ll_study": {"moons": {"mlp-vae": -1.5}},
                               "fd_inception": {"moons": {"mlp-gan": 18.24}, "mnist": {"mlp-gan": 3.0}}}
    tiny_study["published_source"] = "study 000, one seed"
    root = run_study(resolve(tiny_study), tmp_path / "s", QUIET)
    md, page = root / "report.md", root / "report.html"
    text = _read(md)
    assert "2 seeds per run; cells are mean ± 95% CI" in text
    assert "## kde_ll_study" in text and "published mlp-vae" in text and "-1.5000" in text
    assert "; published: study 000, one seed_" in text
    # A published number of a metric the study does not compute is listed, never set beside
    # another metric's numbers; one for a dataset outside the study is left out.
    assert "## published figures not compared" in text and "| fd_inception | moons | mlp-gan | 18.2400 |" in text
    assert "3.0000" not in text
    assert re.search(r"\| moons \| -?\d+\.\d{4} ± \d+\.\d{4} \|", text)
    assert "| moons | mlp-vae | 208,690 |" in text  # the same on every seed: shown once, no "± 0"
    # Verdicts: one row per dataset and metric, from a paired test over the 2 seeds.
    assert text.index("## verdicts") < text.index("## kde_ll_study")
    assert re.search(r"\| moons \| mmd2 \| \(?mlp-(vae|gan)\)? \| mlp-(vae|gan) \| [\d.e-]+ \(\d+%\) \| "
                     r"(holds across seeds|no significant difference) \(paired t-test p=[\d.e-]+\) \|", text)
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


def _image_study() -> dict:
    """Two small convolutional models on scikit-learn's 8x8 digits, one seed, 3 epochs."""
    return {
        "name": "img", "seeds": 1, "datasets": {"digits": {}},
        "data": {"n_train": 256, "n_holdout": 64, "n_test": 64},
        "models": {
            "conv-vae": {"params": {"latent": 4, "width": 8}, "train": {"epochs": 3, "batch_size": 64}},
            "dcgan": {"params": {"latent": 8, "ngf": 8, "ndf": 8}, "train": {"epochs": 3, "batch_size": 64}},
        },
        "metrics": [], "n_samples": 100, "sample_every": 1, "analysis": False,
    }


def test_image_study_writes_grids_over_epochs_checkpoints_and_report(tmp_path):
    root = run_study(resolve(_image_study()), tmp_path / "s", QUIET)
    vae = root / "digits" / "conv-vae" / "seed0"
    for epoch in (1, 2, 3):
        for kind in ("samples", "recon"):
            with Image.open(vae / kind / f"epoch_{epoch:03d}.png") as png:
                assert png.size == (8 * 10 + 2, 8 * 10 + 2) and png.mode == "L"  # 8x8 tiles of 8 px, 2 px gaps
    assert not (root / "digits" / "dcgan" / "seed0" / "recon").exists()
    samples = np.load(vae / "samples.npy")
    assert samples.dtype == np.uint8 and samples.shape == (100, 1, 8, 8)
    assert (root / "digits" / "conv-vae" / "checkpoint-seed0.pt").exists()
    assert np.load(root / "digits" / "real.npy").shape == (64, 1, 8, 8)
    page = _read(root / "report.html")
    assert "<h2>digits</h2>" in page and "data:image/png;base64," in page
    md = _read(root / "report.md")
    assert "one seed, so no confidence intervals" in md
    assert "(figures/digits-epochs.png)" in md and (root / "figures" / "digits-epochs.png").exists()
    assert "(digits/conv-vae/seed0/recon/epoch_003.png)" in md


def test_a_crashed_image_study_resumes_from_its_last_checkpoint(tmp_path, monkeypatch):
    config = resolve({**_image_study(), "checkpoint_seconds": 0})  # a checkpoint every epoch
    run_study(config, tmp_path / "straight", QUIET)
    original = Trainer.run_epoch
    epochs_started = []

    def crash_in_third_epoch(self):
        if self.epoch == 2:
            raise KeyboardInterrupt  # killed after epoch 2's checkpoint was written
        return original(self)

    monkeypatch.setattr(Trainer, "run_epoch", crash_in_third_epoch)
    with pytest.raises(KeyboardInterrupt):
        run_study(config, tmp_path / "crashed", QUIET)
    run = tmp_path / "crashed" / "digits" / "conv-vae" / "seed0"
    assert not (run / "metrics.json").exists()

    def counting(self):
        epochs_started.append(self.epoch)
        return original(self)

    monkeypatch.setattr(Trainer, "run_epoch", counting)
    run_study(config, tmp_path / "crashed", QUIET)
    assert epochs_started == [2, 0, 1, 2]  # conv-vae: only its third epoch; dcgan: all three
    for model in ("conv-vae", "dcgan"):
        a, b = (tmp_path / d / "digits" / model / "seed0" for d in ("straight", "crashed"))
        assert _read(a / "history.csv") == _read(b / "history.csv")
        np.testing.assert_array_equal(np.load(a / "samples.npy"), np.load(b / "samples.npy"))
        assert (a / "model.pt").read_bytes() == (b / "model.pt").read_bytes()


def test_no_resume_trains_unfinished_runs_from_scratch(tmp_path, monkeypatch):
    config = resolve(_image_study())
    original = Trainer.run_epoch
    monkeypatch.setattr(Trainer, "run_epoch", lambda self: (_ for _ in ()).throw(KeyboardInterrupt)
                        if self.epoch == 1 else original(self))
    with pytest.raises(KeyboardInterrupt):
        run_study(config, tmp_path / "s", QUIET)
    started = []
    monkeypatch.setattr(Trainer, "run_epoch", lambda self: (started.append(self.epoch), original(self))[1])
    run_study(config, tmp_path / "s", Runtime(resume=False, quiet=True))
    assert started[:3] == [0, 1, 2]


def test_no_resume_removes_every_checkpoint_of_the_pending_seeds(tiny_study, tmp_path):
    """Also the checkpoint of the group two seeds went on in after a third diverged (another
    file name), which a cluster task, resuming whatever it finds, would otherwise pick up."""
    tiny_study.update(datasets={"moons": {}}, seeds=3)
    tiny_study["models"] = {"mlp-gan": tiny_study["models"]["mlp-gan"]}
    study = StudyFolder(tmp_path / "s")
    folder = tmp_path / "s" / "moons" / "mlp-gan"
    folder.mkdir(parents=True)
    planted = ["checkpoint-seed1-2.pt", "checkpoint-seed2.pt", "checkpoint-seed12.pt", "checkpoint-seedx.pt"]
    for name in planted:
        (folder / name).write_bytes(b"an older study's")
    assert [p.name for p in study.checkpoints_holding("moons", "mlp-gan", [0, 1, 2])] == planted[:2]
    run_study(resolve(tiny_study), tmp_path / "s", Runtime(resume=False, quiet=True))
    left = sorted(p.name for p in folder.glob("checkpoint-*.pt"))
    assert left == ["checkpoint-seed0-1-2.pt", "checkpoint-seed12.pt", "checkpoint-seedx.pt"]


IMAGE_METRICS = ["fd", "kid", "is", "pr", "dc", "class_coverage", "collapse", "recon"]


def test_image_metrics_fill_metrics_json_with_the_real_data_floor(tmp_path):
    raw = _image_study()
    raw.update(metrics=IMAGE_METRICS, n_samples=300, sample_every=0, seeds=2, analysis=True)
    root = run_study(resolve(raw), tmp_path / "s", QUIET)
    vae = json.loads((root / "digits" / "conv-vae" / "seed0" / "metrics.json").read_text())
    gan = json.loads((root / "digits" / "dcgan" / "seed0" / "metrics.json").read_text())
    oracle = json.loads((root / "digits" / "oracle" / "seed0" / "metrics.json").read_text())
    feature_keys = {f"{k}_evaluator" for k in ("fd", "kid", "kid_std", "is", "is_std", "precision", "recall",
                                                 "density", "coverage", "classes_covered", "class_kl")}
    for scores in (vae, gan, oracle):
        assert feature_keys | {"similar_pairs_frac"} <= set(scores)
    assert {"recon_mse", "recon_ssim", "recon_mse_class0"} <= set(vae) and "recon_mse" not in gan
    # Three epochs of tiny models are far from the data; real training images are not.
    assert oracle["fd_evaluator"] < 0.5 * min(vae["fd_evaluator"], gan["fd_evaluator"])
    assert oracle["precision_evaluator"] > 0.5 and oracle["classes_covered_evaluator"] == 10
    for scores in (vae, gan, oracle):  # the class histogram: shares of samples per predicted class
        shares = [scores[f"class_share{c}_evaluator"] for c in range(10)]
        assert sum(shares) == pytest.approx(1.0) and "class_share10_evaluator" not in scores
    assert 0 < vae["recon_mse"] < 0.25 and -1 < vae["recon_ssim"] < 1
    md = _read(root / "report.md")
    for table in ("## fd_evaluator", "## recall_evaluator", "## recon_ssim", "## similar_pairs_frac"):
        assert table in md
    assert "## kid_std_evaluator" not in md  # spreads stay in summary.csv
    # Latent and OOD analysis: figures listed in metrics.json, numbers beside the metrics.
    for run, scores in ((root / "digits" / "conv-vae" / "seed0", vae), (root / "digits" / "dcgan" / "seed0", gan)):
        for name in scores["figures"]:
            with Image.open(run / name) as png:
                assert png.size[0] > 50
    assert set(vae["figures"]) == {"interpolation.png", "traversal.png", "tsne.png", "ood_hist.png"}
    assert set(gan["figures"]) == {"interpolation.png", "tsne.png", "ood_latents.png"}
    assert len(vae["traversal_dims"]) == 4  # latent 4: every dimension, most responsive first
    assert 0 <= vae["ood_auroc_noise"] <= 1 and vae["ood_recon_mse_noise"] > 0
    assert all(gan[f"ood_fd_evaluator_z_{p}"] > 0 for p in ("n0_1", "n0_10", "n5_1"))
    assert "figures" not in _read(root / "summary.csv")
    md = _read(root / "report.md")  # every analysis figure of the first seed is in the report
    for name in ("interpolation", "traversal", "tsne", "ood_hist"):
        assert f"(digits/conv-vae/seed0/{name}.png)" in md
    assert "(digits/dcgan/seed0/ood_latents.png)" in md
    assert "(figures/digits-classes-evaluator.png)" in md
    with Image.open(root / "figures" / "digits-classes-evaluator.png") as png:
        assert png.size[0] > 400


def test_a_diverging_run_is_marked_failed_and_the_study_carries_on(tiny_study, tmp_path, capsys):
    tiny_study["models"]["mlp-gan"]["train"]["lr"] = 1e30  # weights overflow within the first epoch
    root = run_study(resolve(tiny_study), tmp_path / "s", QUIET)
    failed = json.loads((root / "moons" / "mlp-gan" / "seed0" / "failed.json").read_text())
    assert failed["epoch"] == 1 and failed["step"] >= 1 and failed["loss"] in ("d_loss", "g_loss", "d_real", "d_fake")
    assert "became" in failed["error"] and "last good checkpoint" in failed["error"]
    assert not (root / "moons" / "mlp-gan" / "seed0" / "metrics.json").exists()
    assert (root / "moons" / "mlp-vae" / "seed0" / "metrics.json").exists()  # the others finished
    assert "failed" in capsys.readouterr().err
    md = _read(root / "report.md")
    assert "## failures and warning signs" in md and "| moons | mlp-gan | 0 | failed |" in md
    assert ",mlp-gan," not in _read(root / "summary.csv")
    # Started again, the failed run is not retried (it would diverge again).
    before = (root / "moons" / "mlp-gan" / "seed0" / "failed.json").stat().st_mtime_ns
    run_study(resolve(tiny_study), root, QUIET)
    assert (root / "moons" / "mlp-gan" / "seed0" / "failed.json").stat().st_mtime_ns == before
    # --no-resume retries it (here it fails again), and leaves finished runs alone.
    finished = (root / "moons" / "mlp-vae" / "seed0" / "metrics.json").stat().st_mtime_ns
    run_study(resolve(tiny_study), root, Runtime(resume=False, quiet=True))
    assert (root / "moons" / "mlp-gan" / "seed0" / "failed.json").stat().st_mtime_ns != before
    assert (root / "moons" / "mlp-vae" / "seed0" / "metrics.json").stat().st_mtime_ns == finished


def test_training_flags_name_gan_failure_signs():
    from genbench.report import training_flags

    history = [{"epoch": e, "d_loss": 0.01 if e > 2 else 1.0, "g_loss": 5.0} for e in range(1, 11)]
    flags = training_flags(history, {"similar_pairs_frac": 0.3, "recall_evaluator": 0.02})
    assert any("8 consecutive epochs from epoch 3" in f for f in flags)
    assert any("30.0% of sample pairs" in f for f in flags)
    assert any("recall_evaluator = 0.020" in f for f in flags)
    assert training_flags([{"epoch": 1, "d_loss": 1.2}], {"similar_pairs_frac": 0.0}) == []


def test_tensorboard_logs_losses_per_epoch_and_sample_grids(tmp_path):
    pytest.importorskip("tensorboard", reason="tensorboard is not installed: pip install -e '.[test]'")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    root = run_study(resolve(_image_study()), tmp_path / "s", Runtime(quiet=True, tensorboard=True))
    for model, losses in (("conv-vae", {"loss", "recon", "kl", "holdout_loss"}), ("dcgan", {"d_loss", "g_loss"})):
        run = root / "digits" / model / "seed0"
        events = EventAccumulator(str(run / "tensorboard")).Reload()
        assert losses <= set(events.Tags()["scalars"])
        with open(run / "history.csv", newline="") as fh:
            history = list(csv.DictReader(fh))
        logged = events.Scalars(sorted(losses)[0])
        assert [e.step for e in logged] == [1, 2, 3]
        assert [e.value for e in logged] == pytest.approx([float(r[sorted(losses)[0]]) for r in history])
        grids = events.Images("samples")
        assert [g.step for g in grids] == [1, 2, 3]
        assert Image.open(io.BytesIO(grids[-1].encoded_image_string)).size == (82, 82)


def test_tensorboard_missing_is_named_before_any_training(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if not installed
    with pytest.raises(GenbenchError, match=r"--tensorboard needs the tensorboard package: pip install"):
        run_study(resolve(_image_study()), tmp_path / "s", Runtime(quiet=True, tensorboard=True))
    assert not (tmp_path / "s" / "digits").exists()


def test_killed_between_scoring_two_stacked_seeds_resumes_from_the_group_checkpoint(tiny_study, tmp_path, monkeypatch):
    import genbench.runner as study

    tiny_study["datasets"] = {"moons": {}}
    config = resolve(tiny_study)
    run_study(config, tmp_path / "straight", QUIET)
    original, scored = study.score_run, []

    def killed_after_first_seed(*args, **kwargs):
        if scored:
            raise KeyboardInterrupt
        scored.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(study, "score_run", killed_after_first_seed)
    with pytest.raises(KeyboardInterrupt):
        run_study(config, tmp_path / "killed", QUIET)
    monkeypatch.setattr(study, "score_run", original)
    started, run_epoch = [], Trainer.run_epoch
    monkeypatch.setattr(Trainer, "run_epoch", lambda self: (started.append(self.epoch), run_epoch(self))[1])
    run_study(config, tmp_path / "killed", QUIET)
    assert started == [0, 1, 2]  # mlp-gan trains; mlp-vae seed 1 is scored from the finished group
    run = ("moons", "mlp-vae", "seed1")
    a, b = (tmp_path / d / "/".join(run) for d in ("straight", "killed"))
    assert (a / "model.pt").read_bytes() == (b / "model.pt").read_bytes()
    np.testing.assert_array_equal(np.load(a / "samples.npy"), np.load(b / "samples.npy"))


def test_one_diverging_seed_fails_alone_and_its_stacked_neighbours_finish(tiny_study, tmp_path, monkeypatch):
    import math

    from genbench.errors import TrainingDiverged

    tiny_study["datasets"] = {"moons": {}}
    original = Trainer.check_finite

    def seed1_blows_up(self, steps):
        if 1 in self.seeds and self.epoch == 1 and steps:  # second epoch, seed 1 only
            raise TrainingDiverged("loss", math.nan, self.epoch + 1, steps[0][0], 1)
        return original(self, steps)

    monkeypatch.setattr(Trainer, "check_finite", seed1_blows_up)
    root = run_study(resolve(tiny_study), tmp_path / "s", QUIET)
    for model in ("mlp-vae", "mlp-gan"):
        failed = json.loads((root / "moons" / model / "seed1" / "failed.json").read_text())
        assert failed["epoch"] == 2 and failed["loss"] == "loss"
        assert (root / "moons" / model / "seed0" / "metrics.json").exists()
        with open(root / "moons" / model / "seed0" / "history.csv") as fh:
            assert len(fh.readlines()) == 4  # seed 0 trained all 3 epochs
    md = _read(root / "report.md")
    assert "| moons | mlp-vae | 1 | failed |" in md and "| moons | mlp-vae | 0 | failed |" not in md
    # Started again, nothing trains: seed 0 is done, seed 1 failed (it would fail again).
    monkeypatch.setattr(Trainer, "run_epoch", lambda self: pytest.fail(f"seeds {self.seeds} trained again"))
    run_study(resolve(tiny_study), root, QUIET)


def test_a_study_stopped_after_a_seed_diverged_resumes_its_group_without_that_seed(tiny_study, tmp_path,
                                                                                      monkeypatch):
    """Seed 1 of a stacked group diverges, the group goes on as seed 0 alone, and the study
    is stopped; started again, seed 0 continues from its own checkpoint and seed 1 is not
    trained again (to diverge again)."""
    import math

    from genbench.errors import TrainingDiverged

    tiny_study.update(datasets={"moons": {}}, checkpoint_every=1, checkpoint_seconds=0)
    tiny_study["models"] = {"mlp-vae": tiny_study["models"]["mlp-vae"]}
    config = resolve(tiny_study)
    check_finite, run_epoch = Trainer.check_finite, Trainer.run_epoch

    def seed1_blows_up(self, steps):
        if 1 in self.seeds and self.epoch == 1 and steps:
            raise TrainingDiverged("loss", math.nan, self.epoch + 1, steps[0][0], 1)
        return check_finite(self, steps)

    def stop_before_the_last_epoch(self):
        if self.seeds == [0] and self.epoch == 2:
            raise KeyboardInterrupt
        return run_epoch(self)

    monkeypatch.setattr(Trainer, "check_finite", seed1_blows_up)
    monkeypatch.setattr(Trainer, "run_epoch", stop_before_the_last_epoch)
    with pytest.raises(KeyboardInterrupt):
        run_study(config, tmp_path / "s", QUIET)
    trained = []
    monkeypatch.setattr(Trainer, "run_epoch", lambda self: (trained.append((list(self.seeds), self.epoch)),
                                                            run_epoch(self))[1])
    root = run_study(config, tmp_path / "s", QUIET)
    assert trained == [([0], 2)]
    assert (root / "moons" / "mlp-vae" / "seed0" / "metrics.json").exists()
    assert (root / "moons" / "mlp-vae" / "seed1" / "failed.json").exists()


def test_report_fills_in_as_groups_finish_and_ends_as_a_rebuild(tiny_study, tmp_path, monkeypatch):
    """The report exists before any training, is rewritten after every group (saying how
    far the study got), and the finished study's report is byte-identical to one built
    from the folder afterwards, figures included, though the last report draws no figure
    again (each dataset's were drawn when its last group finished)."""
    from genbench.executors.local import LocalExecutor
    from genbench.runner import run_group

    report = importlib.import_module("genbench.report")  # the package: genbench.report is the API's function
    seen, drawn = [], []
    draw = report.dataset_figure
    monkeypatch.setattr(report, "dataset_figure", lambda path, *args: (drawn.append(path), draw(path, *args)))

    class Watching(LocalExecutor):
        def run(self, jobs, runtime, events):
            seen.append((tmp_path / "s" / "report.md").read_text())
            for job in jobs:
                events.started(job)
                events.finished(job, run_group(job, runtime, events.progress))
                seen.append((tmp_path / "s" / "report.md").read_text())

    root = run_study(resolve(tiny_study), tmp_path / "s", QUIET, Watching())
    assert len(seen) == 1 + 4  # before training, then after each (dataset, model) group
    assert "In progress: 0 of 8 runs finished" in seen[0] and "oracle" in seen[0]
    assert "In progress: 2 of 8 runs finished" in seen[1]
    assert "In progress: 6 of 8 runs finished" in seen[3]
    assert "In progress" not in seen[4]
    assert len(drawn) == 4  # none before a run is done, then the dataset of each group that finished
    final = {name: (root / name).read_bytes() for name in ("report.md", "report.html", "summary.csv")}
    figures = {path: path.read_bytes() for path in (root / "figures").glob("*.png")}
    assert len(figures) == 2
    build_report(root)
    assert len(drawn) == 4 + 2  # a rebuild draws them all
    assert {name: (root / name).read_bytes() for name in final} == final
    assert {path: path.read_bytes() for path in figures} == figures


@pytest.mark.parametrize(("every", "seconds", "saved_after"), [(1, 0, [1, 2, 3, 4, 5]), (2, 0, [2, 4, 5]),
                                                               (1, 3600, [5])])
def test_checkpoints_are_saved_every_k_epochs_but_at_most_once_per_checkpoint_seconds(
        tiny_study, tmp_path, monkeypatch, every, seconds, saved_after):
    """The last epoch always saves; a long checkpoint_seconds leaves only that one."""
    import genbench.runner

    tiny_study.update(datasets={"moons": {}}, seeds=1, checkpoint_every=every, checkpoint_seconds=seconds)
    tiny_study["models"] = {"mlp-gan": tiny_study["models"]["mlp-gan"]}
    tiny_study["models"]["mlp-gan"]["train"]["epochs"] = 5
    save_torch, saved = genbench.runner.save_torch, []

    def recording(path, obj):
        saved.append(obj["trainer"]["epoch"])
        save_torch(path, obj)

    monkeypatch.setattr(genbench.runner, "save_torch", recording)
    run_study(resolve(tiny_study), tmp_path / "s", QUIET)
    assert saved == saved_after
