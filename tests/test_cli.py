import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from genbench.cli import main
from genbench.config import resolve


def _fails(capsys, argv, *patterns):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("genbench: error: "), err
    for pattern in patterns:
        assert pattern in err, err
    return err


def test_list_shows_every_registry(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for word in ["pinwheel", "8gaussians", "swissroll", "mlp-vae", "208,690", "kde_ll_study", "toy2d-paper"]:
        assert word in out


def test_unknown_names_list_the_choices(capsys, tmp_path):
    _fails(capsys, ["run", "toy3d", "--out", str(tmp_path / "x")], "unknown study 'toy3d'", "toy2d, toy2d-modern, toy2d-paper")
    _fails(capsys, ["train", "--dataset", "spirals", "--model", "mlp-vae", "--out", str(tmp_path / "x")],
           "unknown dataset 'spirals'", "2spirals")
    _fails(capsys, ["train", "--dataset", "spiral", "--model", "mlp-glow", "--out", str(tmp_path / "x")],
           "unknown model 'mlp-glow'", "mlp-vae, mlp-gan")
    _fails(capsys, ["run", "--set", "metrics=[fid]", "--out", str(tmp_path / "x")], "unknown metric 'fid'", "mmd2")
    assert not (tmp_path / "x").exists()  # nothing written before the config is valid


def test_bad_set_keys_and_values_name_the_key(capsys, tmp_path):
    out = str(tmp_path / "x")
    _fails(capsys, ["run", "--set", "models.mlp-vae.train.epoch=3", "--out", out],
           "unknown key 'models.mlp-vae.train.epoch'")
    _fails(capsys, ["run", "--set", "models.mlp-gan.train.lr=-1", "--out", out], "models.mlp-gan.train.lr=-1", "greater than 0")
    _fails(capsys, ["run", "--set", "seeds=many", "--out", out], "seeds='many'", "integer")
    _fails(capsys, ["run", "--set", "noequals", "--out", out], "--set expects key=value")
    _fails(capsys, ["run", "--set", "models.mlp-vae.params.width=3", "--out", out], "no parameter 'width'")
    _fails(capsys, ["run", "--set", "train_overrides.moons.mlp-vae.epochs=3", "--out", out], "dataset 'moons'")


def test_unwritable_out_is_an_error(capsys, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    _fails(capsys, ["train", "--dataset", "moons", "--model", "mlp-gan", "--epochs", "1", "--out", str(blocker / "sub")],
           "is not writable", "--out")


def test_study_file_errors(capsys, tmp_path):
    _fails(capsys, ["run", str(tmp_path / "missing.yaml")], "cannot read study file")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed")
    _fails(capsys, ["run", str(bad)], "not valid YAML")
    bad.write_text("extends: mnist2\nname: x\n")
    _fails(capsys, ["run", str(bad)], "unknown study 'mnist2'", "fashion-mnist, fashion-modern, mnist")


def test_train_then_sample(capsys, tmp_path):
    out = tmp_path / "t"
    assert main(["train", "--dataset", "moons", "--model", "mlp-gan", "--epochs", "2", "--quiet", "--seed", "3",
                 "--set", "n_samples=300", "--out", str(out)]) == 0
    run = out / "moons" / "mlp-gan" / "seed3"
    assert yaml.safe_load((run / "config.yaml").read_text())["train"]["epochs"] == 2
    assert main(["sample", str(run), "-n", "50", "--out", str(tmp_path / "s.npy")]) == 0
    samples = np.load(tmp_path / "s.npy")
    assert samples.shape == (50, 2) and np.isfinite(samples).all()
    _fails(capsys, ["sample", str(tmp_path), "-n", "5", "--out", str(tmp_path / "s.npy")], "not a run folder")
    _fails(capsys, ["sample", str(run), "-n", "5", "--out", str(tmp_path / "s.txt")], "must name a .npy file")
    (run / "model.pt").write_bytes(b"not a checkpoint")
    _fails(capsys, ["sample", str(run), "-n", "5", "--out", str(tmp_path / "s.npy")], "cannot load weights")


def test_module_entry_point_exit_codes():
    ok = subprocess.run([sys.executable, "-m", "genbench", "list", "models"], capture_output=True, text=True)
    assert ok.returncode == 0 and "mlp-gan" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "genbench", "run", "nope"], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0 and "Traceback" not in bad.stderr
    usage = subprocess.run([sys.executable, "-m", "genbench", "sample"], capture_output=True, text=True)
    assert usage.returncode == 2


def test_image_models_and_datasets_are_listed_with_their_sizes(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for word in ["fashion-mnist", "images 1x28x28", "cifar10", "celeba64", "image-folder", "dcgan-tf28",
                 "5,145,346", "dcgan64", "6,342,272", "mlp-vae64", "mnist", "cats64"]:
        assert word in out, word


def test_every_shipped_study_is_valid():
    from genbench.config import load_preset, preset_names, resolve

    assert {"toy2d", "toy2d-paper", "mnist", "fashion-mnist", "cifar10", "celeba64", "cats64"} <= set(preset_names())
    for name in preset_names():
        resolve(load_preset(name))
    fashion = load_preset("fashion-mnist")
    assert fashion["datasets"] == {"fashion-mnist": {}} and fashion["models"] == load_preset("mnist")["models"]


def test_train_an_image_model_and_sample_a_grid(capsys, tmp_path):
    out = tmp_path / "t"
    assert main(["train", "--dataset", "digits", "--model", "dcgan", "--preset", "cifar10", "--epochs", "1", "--quiet",
                 "--set", "n_samples=64", "--set", "models.dcgan.params={latent: 8, ngf: 8, ndf: 8}",
                 "--device", "cpu", "--out", str(out)]) == 0
    run = out / "digits" / "dcgan" / "seed0"
    assert (run / "samples" / "epoch_001.png").exists()
    assert main(["sample", str(run), "-n", "16", "--out", str(tmp_path / "grid.png")]) == 0
    with Image.open(tmp_path / "grid.png") as png:
        assert png.size == (8 * 10 + 2, 2 * 10 + 2)
    assert main(["sample", str(run), "-n", "5", "--out", str(tmp_path / "s.npy")]) == 0
    assert np.load(tmp_path / "s.npy").dtype == np.uint8


def test_device_and_data_dir_errors(capsys, tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    _fails(capsys, ["run", "--device", "cuda", "--out", str(tmp_path / "x")], "--device cuda", "--device cpu")
    _fails(capsys, ["run", "--device", "tpu", "--out", str(tmp_path / "x")], "unknown device 'tpu'", "auto, cpu, cuda")
    _fails(capsys, ["train", "--dataset", "image-folder", "--model", "dcgan64", "--preset", "cats64", "--epochs", "1",
                    "--out", str(tmp_path / "y")], "image-folder needs --data-dir")
    assert not (tmp_path / "y").exists()  # the data is checked before anything is written
    _fails(capsys, ["train", "--dataset", "digits", "--model", "dcgan28", "--out", str(tmp_path / "z")],
           "study 'toy2d' has no settings for model 'dcgan28'", "--epochs N", "fashion-mnist, mnist")


def test_evaluate_recomputes_a_finished_runs_metrics(capsys, tmp_path):
    out = tmp_path / "t"
    assert main(["train", "--dataset", "digits", "--model", "conv-vae", "--preset", "cifar10", "--epochs", "1",
                 "--quiet", "--set", "n_samples=200", "--set", "models.conv-vae.params={latent: 4, width: 8}",
                 "--set", "analysis=false", "--set", "metrics=[]", "--out", str(out)]) == 0
    run = out / "digits" / "conv-vae" / "seed0"
    before = json.loads((run / "metrics.json").read_text())
    assert "fd_evaluator" not in before and "n_params" in before
    capsys.readouterr()
    assert main(["evaluate", str(run), "--metrics", "fd,recon", "--no-analysis"]) == 0
    printed = capsys.readouterr().out
    after = json.loads((run / "metrics.json").read_text())
    assert {"fd_evaluator", "recon_mse", "recon_ssim", "n_params"} <= set(after)
    assert f"{after['fd_evaluator']:.6g}" in printed
    _fails(capsys, ["evaluate", str(run), "--metrics", "fid"], "unknown metric 'fid'")
    _fails(capsys, ["evaluate", str(run), "--features", "clip"], "unknown feature extractor 'clip'")
    _fails(capsys, ["evaluate", str(tmp_path)], "not a run folder")


def test_missing_inception_fails_before_training(capsys, tmp_path):
    try:
        import torch_fidelity  # noqa: F401
    except Exception:
        pass
    else:
        pytest.skip("torch-fidelity works here: nothing to refuse")
    _fails(capsys, ["train", "--dataset", "digits", "--model", "dcgan", "--preset", "cifar10", "--epochs", "1",
                    "--set", "features=[inception]", "--out", str(tmp_path / "x")],
           "inception features need torch-fidelity", "--set features=[]")
    assert not (tmp_path / "x").exists()


@pytest.mark.slow
def test_ctrl_c_saves_a_checkpoint_and_the_same_command_resumes(tmp_path):
    import re
    import signal
    import threading
    import time

    study = {"name": "sigint", "seeds": 1, "datasets": {"digits": {}}, "metrics": [], "n_samples": 50,
             "analysis": False, "checkpoint_every": 1000,  # only the Ctrl-C checkpoint can exist mid-run
             "models": {"linear-vae": {"params": {"hidden": [64], "latent": 4},
                                       "train": {"epochs": 100, "batch_size": 32}}}}
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(study))
    cmd = [sys.executable, "-m", "genbench", "run", str(path), "--quiet", "--out", str(tmp_path / "out")]
    # Without --quiet, so the progress bar says when training has begun: Ctrl-C lands in an
    # epoch however slow the start-up (oracle, first report, data) is on a busy machine.
    proc = subprocess.Popen([c for c in cmd if c != "--quiet"], stderr=subprocess.PIPE, text=True)
    printed: list[str] = []
    reader = threading.Thread(target=lambda: printed.extend(iter(lambda: proc.stderr.read(1), "")), daemon=True)
    reader.start()
    deadline = time.monotonic() + 300
    while not re.search(r"\| *[1-9]\d*/100 \[", "".join(printed)):  # the bar: seed-epochs done
        assert proc.poll() is None and time.monotonic() < deadline, "training never started: " + "".join(printed)
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=120)
    reader.join(timeout=10)
    err = "".join(printed)
    assert proc.returncode == 130, err
    assert "checkpoint saved" in err and "run the same command again to resume" in err
    ckpt = tmp_path / "out" / "digits" / "linear-vae" / "checkpoint-seed0.pt"
    import torch

    stopped_at = torch.load(ckpt, weights_only=True)["trainer"]["epoch"]
    assert 0 < stopped_at < 100
    assert not (tmp_path / "out" / "digits" / "linear-vae" / "seed0" / "metrics.json").exists()
    # The same command continues from the checkpoint and ends exactly where a run that was
    # never interrupted ends.
    assert subprocess.run(cmd, capture_output=True).returncode == 0
    straight = [sys.executable, "-m", "genbench", "run", str(path), "--quiet", "--out", str(tmp_path / "straight")]
    assert subprocess.run(straight, capture_output=True).returncode == 0
    resumed, uninterrupted = (tmp_path / d / "digits" / "linear-vae" / "seed0" / "history.csv"
                              for d in ("out", "straight"))
    assert resumed.read_text() == uninterrupted.read_text()
    assert len(resumed.read_text().splitlines()) == 101


@pytest.mark.parametrize("path", sorted((Path(__file__).parent.parent / "examples").glob("*.yaml")), ids=lambda p: p.name)
def test_example_study_files_validate(path):
    from genbench.config import study_source

    config = resolve(study_source(str(path)))
    assert config.models and config.datasets
