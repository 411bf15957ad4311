"""Plugins: a user's models, datasets, metrics and trainers, loaded from a study file,
--plugin or an entry point, recorded per run and checked by every later command."""
import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import yaml

import genbench
from genbench import plugins
from genbench.errors import GenbenchError
from genbench.models import MODELS
from genbench.models.dcgan import DCGAN
from genbench.registry import Registry
from genbench.train import TRAINERS

EXAMPLES = Path(__file__).parent.parent / "examples" / "plugins"
FASHION = Path("/usr/share/datasets/fashion-mnist")

# A plugin the tests write: a tiny MLP GAN for 8x8 digits with a trainer of its own
# (least squares), so every registry a run records is exercised.
TINY_PLUGIN = '''
from torch import nn
import genbench
from genbench.train.gan import GANTrainer


class TinyGAN(genbench.GAN):
    """An MLP GAN for small images."""
    trainer = "tiny-ls"

    def __init__(self, data_shape, latent: int = 4, width: int = 16):
        dim = data_shape[0] * data_shape[1] * data_shape[2]
        generator = nn.Sequential(nn.Linear(latent, width), nn.ReLU(), nn.Linear(width, dim), nn.Tanh(),
                                  nn.Unflatten(-1, tuple(data_shape)))
        discriminator = nn.Sequential(nn.Flatten(-3), nn.Linear(dim, width), nn.LeakyReLU(0.2), nn.Linear(width, 1),
                                      nn.Flatten(-2))
        super().__init__(generator, discriminator, latent, data_shape)


class LeastSquares(GANTrainer):
    def discriminator_loss(self, real, fake):
        r, f = self.disc(real).float(), self.disc(fake).float()
        return {"d_loss": ((r - 1) ** 2).mean(1) + (f ** 2).mean(1), "d_real": r.detach().mean(1),
                "d_fake": f.detach().mean(1)}

    def generator_loss(self, fake):
        return ((self.disc(fake).float() - 1) ** 2).mean(1)


genbench.register_trainer("tiny-ls", LeastSquares)
genbench.register_model("tiny-gan", TinyGAN, example_shape=(1, 8, 8))
'''


def _study(plugin: str) -> dict:
    return {"name": "plug", "seeds": 1, "datasets": {"digits": {}}, "plugins": [plugin],
            "data": {"n_train": 200, "n_holdout": 50, "n_test": 100},
            "models": {"tiny-gan": {"params": {}, "train": {"epochs": 2, "batch_size": 50}}},
            "metrics": ["collapse"], "n_samples": 50, "analysis": False}


def _cli(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """genbench in a new process, as a user runs it."""
    return subprocess.run([sys.executable, "-m", "genbench", *args], capture_output=True, text=True, cwd=cwd, env=env)


def _one_line_error(proc: subprocess.CompletedProcess, *patterns: str) -> str:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("genbench: error: "), proc.stderr
    for pattern in patterns:
        assert pattern in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def tiny_study_file(tmp_path) -> Path:
    (tmp_path / "tiny_plugin.py").write_text(TINY_PLUGIN)
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(_study("tiny_plugin.py")))  # relative to the study file
    return path


@pytest.mark.slow
def test_a_plugin_run_folder_works_with_every_command_from_new_processes(tiny_study_file, tmp_path):
    out = tmp_path / "out"
    run = _cli("run", str(tiny_study_file), "--quiet", "--out", str(out), cwd=tmp_path.parent)
    assert run.returncode == 0, run.stderr
    folder = out / "digits" / "tiny-gan" / "seed0"
    config = yaml.safe_load((folder / "config.yaml").read_text())
    plugin = tmp_path / "tiny_plugin.py"
    assert config["plugins"] == [{"source": str(plugin), "sha256": hashlib.sha256(plugin.read_bytes()).hexdigest()}]
    history = (folder / "history.csv").read_text().splitlines()
    assert history[0].startswith("epoch,d_loss") and len(history) == 3
    # Each command from a fresh process, in another folder: the plugin is found again.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    sample = _cli("sample", str(folder), "-n", "12", "--out", str(elsewhere / "s.npy"), cwd=elsewhere)
    assert sample.returncode == 0, sample.stderr
    samples = np.load(elsewhere / "s.npy")
    assert samples.shape == (12, 1, 8, 8) and samples.dtype == np.uint8
    evaluate = _cli("evaluate", str(folder), "--quiet", cwd=elsewhere)
    assert evaluate.returncode == 0 and "similar_pairs_frac" in evaluate.stdout, evaluate.stderr
    (out / "report.html").unlink()
    report = _cli("report", str(out), cwd=elsewhere)
    assert report.returncode == 0, report.stderr
    assert "tiny-gan" in (out / "report.md").read_text() and (out / "report.html").exists()
    listed = _cli("list", "models", "--plugin", str(plugin), cwd=elsewhere)
    assert "tiny-gan" in listed.stdout and f"[plugin {plugin}]" in listed.stdout


@pytest.mark.slow
def test_a_changed_or_missing_plugin_is_refused_in_one_line(tiny_study_file, tmp_path):
    out = tmp_path / "out"
    assert _cli("run", str(tiny_study_file), "--quiet", "--out", str(out)).returncode == 0
    folder = out / "digits" / "tiny-gan" / "seed0"
    plugin = tmp_path / "tiny_plugin.py"
    trained_with = hashlib.sha256(plugin.read_bytes()).hexdigest()
    plugin.write_text(TINY_PLUGIN + "\n# edited\n")
    for args in (["sample", str(folder), "-n", "4", "--out", str(tmp_path / "s.npy")], ["evaluate", str(folder)],
                 ["report", str(out)]):
        _one_line_error(_cli(*args), str(plugin), "changed since", trained_with[:12], "--allow-changed-plugin")
    going_on = _cli("sample", str(folder), "-n", "4", "--out", str(tmp_path / "s.npy"), "--allow-changed-plugin")
    assert going_on.returncode == 0 and "going on with it as it is now" in going_on.stderr
    # Moved: the old path is gone; passing the new path with the same code works.
    moved = tmp_path / "moved" / "tiny_plugin.py"
    moved.parent.mkdir()
    moved.write_text(TINY_PLUGIN)
    plugin.unlink()
    _one_line_error(_cli("report", str(out)), str(plugin), "cannot be loaded", "--plugin PATH")
    assert _cli("report", str(out), "--plugin", str(moved)).returncode == 0
    # The study run again with the edited plugin retrains the run: its config changed.
    moved.write_text(TINY_PLUGIN + "\n# edited\n")
    study = yaml.safe_load(tiny_study_file.read_text())
    study["plugins"] = [str(moved)]
    tiny_study_file.write_text(yaml.safe_dump(study))
    assert _cli("run", str(tiny_study_file), "--quiet", "--out", str(out)).returncode == 0
    assert yaml.safe_load((folder / "config.yaml").read_text())["plugins"][0]["source"] == str(moved)


@pytest.mark.slow
def test_module_plugins_and_entry_points(tmp_path):
    """A plugin by module name (--plugin), and one an installed package declares in the
    genbench.plugins entry-point group, loaded by every command."""
    site = tmp_path / "site"
    (site / "tinypkg").mkdir(parents=True)
    (site / "tinypkg" / "__init__.py").write_text("")
    (site / "tinypkg" / "models.py").write_text(TINY_PLUGIN)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), *filter(None, [os.environ.get("PYTHONPATH")])])}
    by_name = _cli("list", "models", "--plugin", "tinypkg.models", env=env)
    assert by_name.returncode == 0 and "tiny-gan" in by_name.stdout and "[plugin tinypkg.models]" in by_name.stdout
    assert "tiny-gan" not in _cli("list", "models", env=env).stdout  # not installed as an entry point yet
    dist = site / "tinypkg-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: tinypkg\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[genbench.plugins]\ntiny = tinypkg.models\n")
    listed = _cli("list", "trainers", env=env)
    assert listed.returncode == 0 and "tiny-ls" in listed.stdout and "[plugin tinypkg.models]" in listed.stdout
    _one_line_error(_cli("list", "--plugin", "no_such_pkg.plugin", env=env), "no_such_pkg.plugin", "PYTHONPATH")


@pytest.fixture
def unload():
    """Forget the plugins a test loads in this process, so other tests see clean registries."""
    sources = []
    yield sources.append
    for source in sources:
        for registry in Registry.instances:
            registry.forget(source)
        plugins._loaded.pop(source, None)


def test_a_plugin_that_fails_half_way_is_undone_and_named(tmp_path, unload):
    path = tmp_path / "broken.py"
    unload(str(path))
    path.write_text(TINY_PLUGIN.replace('genbench.register_model("tiny-gan"', 'raise RuntimeError("oops")\n#'))
    with pytest.raises(GenbenchError, match=r"plugin .*broken.py failed to load: RuntimeError: oops"):
        plugins.load_plugin(str(path))
    assert "tiny-ls" not in TRAINERS  # registered before the failure, then undone
    path.write_text(TINY_PLUGIN)
    record = plugins.load_plugin(str(path))
    assert "tiny-gan" in MODELS and MODELS.provider("tiny-gan") == record.source
    with pytest.raises(GenbenchError, match=r"cannot read plugin file .*nope.py"):
        plugins.load_plugin(str(tmp_path / "nope.py"))


def test_registration_errors_say_what_is_wrong():
    with pytest.raises(GenbenchError, match=r"must be a class subclassing genbench.VAE, genbench.GAN"):
        genbench.register_model("x", dict)
    with pytest.raises(GenbenchError, match=r"model 'dcgan' is registered twice \(first by genbench itself"):
        genbench.register_model("dcgan", DCGAN)
    with pytest.raises(GenbenchError, match=r"kind 'video'; choose one of: points, images"):
        genbench.register_metric("m", lambda s, c: 1.0, description="", higher_is_better=True, kind="video")
    with pytest.raises(GenbenchError, match=r"must be a class subclassing genbench.Trainer"):
        genbench.register_trainer("t", object)
    with pytest.raises(GenbenchError, match=r"expected a genbench.PointDataset or genbench.ImageDataset"):
        genbench.register_dataset("d", {"load": None})
    with pytest.raises(GenbenchError, match=r"name ' x' is not usable"):
        genbench.register_features(" x", lambda request: None)


def test_a_run_records_only_the_plugins_it_uses(tiny_study_file, tmp_path):
    """A second plugin providing a metric: runs scored with it record it, a run of a model
    from the first records that one too; an unused plugin is not recorded."""
    (tmp_path / "metric_plugin.py").write_text(textwrap.dedent('''
        import genbench
        genbench.register_metric("mean_pixel", lambda s, c: float(s.mean()) / 255, description="mean pixel",
                                 higher_is_better=True, kind="images")
    '''))
    (tmp_path / "unused.py").write_text("import genbench\n")
    study = _study("tiny_plugin.py")
    study.update(plugins=["tiny_plugin.py", "metric_plugin.py", "unused.py"], metrics=["mean_pixel"],
                 models={**study["models"], "linear-vae": {"params": {"hidden": [16], "latent": 2},
                                                           "train": {"epochs": 1, "batch_size": 50}}})
    tiny_study_file.write_text(yaml.safe_dump(study))
    assert _cli("run", str(tiny_study_file), "--quiet", "--out", str(tmp_path / "out")).returncode == 0
    recorded = {model: [Path(p["source"]).name for p in
                        yaml.safe_load((tmp_path / "out" / "digits" / model / "seed0" / "config.yaml").read_text())["plugins"]]
                for model in ("tiny-gan", "linear-vae")}
    assert recorded == {"tiny-gan": ["tiny_plugin.py", "metric_plugin.py"], "linear-vae": ["metric_plugin.py"]}
    oracle = json.loads((tmp_path / "out" / "digits" / "oracle" / "seed0" / "metrics.json").read_text())
    assert 0 < oracle["mean_pixel"] < 1


@pytest.mark.slow
@pytest.mark.skipif(not FASHION.exists(), reason="needs Debian's dataset-fashion-mnist (make test installs it)")
def test_the_example_plugin_study_runs_from_the_cli(tmp_path):
    """examples/plugins/study.yaml at tiny settings: two plugin models beside dcgan and
    conv-vae, the plugin's features and metric; then every command on its folders."""
    out = tmp_path / "plugins"
    run = _cli("run", str(EXAMPLES / "study.yaml"), "--quiet", "--out", str(out), "--epochs", "1", "--seeds", "1",
               "--set", "data.n_train=256", "--set", "data.n_test=200", "--set", "n_samples=100",
               "--set", "features=[pixel-pca]", "--set", "sample_every=0", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    summary = (out / "summary.csv").read_text()
    for model in ("dcgan", "lsgan", "conv-vae", "beta-vae", "oracle"):
        assert f",fashion-mnist,{model},0,fd_pixel-pca," in summary, model
    assert ",fashion-mnist,oracle,0,copy_frac,1.0" in summary  # real training images are copies of themselves
    assert "is_pixel-pca" not in summary  # no class probabilities: no Inception Score
    lsgan = out / "fashion-mnist" / "lsgan" / "seed0"
    assert (lsgan / "interpolation.png").exists() and (lsgan / "ood_latents.png").exists()
    assert _cli("sample", str(lsgan), "-n", "8", "--out", str(tmp_path / "grid.png")).returncode == 0
    evaluate = _cli("evaluate", str(out / "fashion-mnist" / "beta-vae" / "seed0"), "--features", "pixel-pca",
                    "--no-analysis", "--quiet")
    assert evaluate.returncode == 0 and "recon_mse" in evaluate.stdout, evaluate.stderr
    assert _cli("report", str(out)).returncode == 0
    assert "beta-vae" in (out / "report.md").read_text()
