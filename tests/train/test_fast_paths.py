"""The fast paths compute what the plain ones do: compiled against eager steps, D scoring
real and fake batches in one pass against two."""
import os

import numpy as np
import pytest
import torch

from genbench.config import TrainSettings
from genbench.errors import GenbenchError
from genbench.models import build_model
from genbench.train import loop, make_trainer
from genbench.train.loop import COMPILE_MIN_STEPS, compile_step

POINTS = np.random.default_rng(0).normal(size=(256, 2)).astype(np.float32)


def _trainer(model: str, settings: TrainSettings, seeds=(0, 1), params=None):
    models = []
    for seed in seeds:
        torch.manual_seed(seed)
        models.append(build_model(model, (2,), params or {}))
    return make_trainer(models, POINTS, POINTS[:64], settings, list(seeds))


def test_compile_auto_compiles_only_runs_long_enough_to_repay_it():
    steps_per_epoch = 256 // 64
    short = TrainSettings(epochs=3, batch_size=64, compile="auto")
    long = short.model_copy(update={"epochs": COMPILE_MIN_STEPS // steps_per_epoch})
    assert not _trainer("mlp-gan", short).compiles()
    assert _trainer("mlp-gan", long).compiles()
    assert _trainer("mlp-gan", short.model_copy(update={"compile": True})).compiles()
    assert not _trainer("mlp-gan", long.model_copy(update={"compile": False})).compiles()


def test_compiled_code_is_cached_under_genbench_unless_the_user_says_where(monkeypatch, tmp_path):
    from torch._inductor.runtime.cache_dir_utils import default_cache_dir

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    for preset in (None, default_cache_dir()):  # unset, or torch's own temporary default
        if preset is None:
            monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
        else:
            monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", preset)
        compile_step(lambda x: x + 1)  # lazy: compiles at the first call only
        assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == str(tmp_path / "genbench" / "inductor")
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "mine"))
    compile_step(lambda x: x + 1)
    assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == str(tmp_path / "mine")


def test_compile_without_a_cpp_compiler_is_named(monkeypatch):
    monkeypatch.setattr(loop.shutil, "which", lambda name: None)
    with pytest.raises(GenbenchError, match="compile: true needs a C\\+\\+ compiler"):
        compile_step(lambda x: x + 1)


@pytest.mark.slow
def test_compiled_vae_steps_match_eager_ones(monkeypatch, request):
    """Three steps of two stacked seeds, compiled by inductor and eager, from the same
    weights and streams: the same losses and weights up to float reassociation. The
    compiled code is cached in pytest's cache folder (not the user's), so reruns skip
    the C++ compiler."""
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(request.config.cache.mkdir("inductor")))
    params = {"hidden": 16, "latent": 4, "n_res": 0}
    runs = {}
    for flag in (False, True):
        trainer = _trainer("mlp-vae", TrainSettings(epochs=1, batch_size=64, compile=flag), params=params)
        losses = [trainer.train_batch(trainer.batch(idx))["loss"] for idx in trainer.streams.batches(256, 64)[:3]]
        runs[flag] = (torch.stack(losses), [p.detach().clone() for p in trainer.net.parameters()])
    torch.testing.assert_close(runs[True][0], runs[False][0], rtol=1e-4, atol=1e-5)
    for compiled, eager in zip(runs[True][1], runs[False][1]):
        torch.testing.assert_close(compiled, eager, rtol=1e-4, atol=1e-5)
    assert not torch.equal(runs[True][1][0], _trainer("mlp-vae", TrainSettings(epochs=1), params=params).net.parameters()[0])


def test_one_discriminator_pass_over_real_and_fake_gives_the_two_passes_logits():
    trainer = _trainer("mlp-gan", TrainSettings(epochs=1, batch_size=64))
    assert trainer.joint_d
    real, fake = torch.randn(2, 64, 2), torch.randn(2, 48, 2)
    joint = trainer.d_logits(real, fake)
    trainer.joint_d = False
    apart = trainer.d_logits(real, fake)
    assert [t.shape for t in joint] == [(2, 64), (2, 48)]
    for a, b in zip(joint, apart):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_a_discriminator_with_batch_statistics_scores_real_and_fake_apart():
    models = [build_model("dcgan28", (1, 28, 28), {})]
    images = np.zeros((8, 1, 28, 28), np.uint8)
    trainer = make_trainer(models, images, images, TrainSettings(epochs=1, batch_size=4), [0])
    assert not trainer.joint_d  # BatchNorm: a joint pass would mix real and fake batch statistics
