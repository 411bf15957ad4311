import numpy as np
import pytest
import torch

from genbench.data import load_image_split
from genbench.errors import GenbenchError
from genbench.features import FeatureRequest, extractor_loader
from genbench.features.evaluator import cache_dir, load_or_train_evaluator, train_evaluator


@pytest.fixture(scope="module")
def digits():
    return load_image_split("digits", {}, "train", None), load_image_split("digits", {}, "test", None)


def test_evaluator_trains_deterministically_and_classifies(digits):
    train, test = digits
    net_a, acc_a = train_evaluator(train.images, train.labels, test.images, test.labels)
    net_b, acc_b = train_evaluator(train.images, train.labels, test.images, test.labels)
    assert acc_a == acc_b
    for a, b in zip(net_a.state_dict().values(), net_b.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert acc_a > 0.8


def test_evaluator_is_cached_by_data_hash(digits, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("GENBENCH_CACHE", str(tmp_path))
    train, test = digits
    first = extractor_loader("evaluator", FeatureRequest("digits", {}))()
    assert "training the digits evaluator" in capsys.readouterr().out
    assert (cache_dir() / f"digits-{first.hash}.pt").exists()
    again = load_or_train_evaluator("digits", train.images, train.labels, test.images, test.labels)
    assert capsys.readouterr().out == ""  # loaded, not retrained
    assert again.hash == first.hash and again.test_accuracy == first.test_accuracy > 0.9
    feats, probs = again.features(test.images[:50]), again.probs(test.images[:50])
    assert feats.shape == (50, 128) and probs.shape == (50, 10)
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(feats, first.features(test.images[:50]), rtol=1e-5)


def test_extractor_errors_say_what_to_do(digits):
    train, test = digits
    with pytest.raises(GenbenchError, match="has no labels.*inception"):
        load_or_train_evaluator("image-folder", train.images, None, test.images, None)
    with pytest.raises(GenbenchError, match="unknown feature extractor 'clip'"):
        extractor_loader("clip", FeatureRequest("digits", {}))
    try:
        import torch_fidelity  # noqa: F401
    except Exception:
        with pytest.raises(GenbenchError, match="inception features need torch-fidelity"):
            extractor_loader("inception", FeatureRequest("digits", {}))()
