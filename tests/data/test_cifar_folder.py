import hashlib
import os
import pickle
import re
import tarfile

import numpy as np
import pytest
from PIL import Image

from genbench.data import DATASETS, cifar
from genbench.errors import GenbenchError
from tests.http_mirror import LocalMirror


def _write_cifar(folder, per_batch=4):
    """Batches in CIFAR-10's real format: pickled dicts with bytes keys, uint8 rows of
    3072 (R, G, B planes), labels as a list."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    written = {}
    for name in [*cifar.BATCHES["train"], "test_batch"]:
        data = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, per_batch).tolist()
        with open(folder / name, "wb") as fh:
            pickle.dump({b"batch_label": name.encode(), b"labels": labels, b"data": data}, fh, protocol=2)
        written[name] = (data, labels)
    return written


def test_cifar_batches_load_in_order(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    written = _write_cifar(tmp_path / "d" / cifar.FOLDER)
    train = DATASETS.get("cifar10").load("train", data_dir=tmp_path / "d")
    test = DATASETS.get("cifar10").load("test", data_dir=tmp_path / "d")
    assert train.images.shape == (20, 3, 32, 32) and test.images.shape == (4, 3, 32, 32)
    first, labels = written["data_batch_1"]
    np.testing.assert_array_equal(train.images[0, 0].ravel(), first[0, :1024])  # red plane
    np.testing.assert_array_equal(train.images[0, 2].ravel(), first[0, 2048:])  # blue plane
    assert train.labels[:4].tolist() == labels


def test_cifar_tarball_is_downloaded_verified_and_extracted(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("GENBENCH_DATA", raising=False)
    _write_cifar(tmp_path / "src" / cifar.FOLDER)
    served = tmp_path / "served"
    served.mkdir()
    with tarfile.open(served / cifar.TARBALL, "w:gz") as tar:
        tar.add(tmp_path / "src" / cifar.FOLDER, arcname=cifar.FOLDER)
    monkeypatch.setattr(cifar, "TARBALL_MD5", hashlib.md5((served / cifar.TARBALL).read_bytes()).hexdigest())
    server = LocalMirror(served)
    try:
        data = DATASETS.get("cifar10").load("test", mirrors=[server.url])
    finally:
        server.close()
    assert data.images.shape == (4, 3, 32, 32)
    assert (tmp_path / "home" / ".cache" / "genbench" / "cifar10" / cifar.FOLDER / "test_batch").is_file()


class _Payload:
    def __reduce__(self):
        return (os.system, ("echo pwned > /tmp/genbench-pwned",))


def test_a_crafted_cifar_pickle_is_refused_not_run(tmp_path):
    path = tmp_path / "test_batch"
    path.write_bytes(pickle.dumps({b"data": _Payload(), b"labels": []}))
    with pytest.raises(GenbenchError, match="not a CIFAR-10 batch .*refusing to load posix.system"):
        cifar.read_batch(path)
    assert not os.path.exists("/tmp/genbench-pwned")


def test_truncated_cifar_batch_is_named(tmp_path):
    written = _write_cifar(tmp_path / "f")
    path = tmp_path / "f" / "test_batch"
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(GenbenchError, match="test_batch is not a CIFAR-10 batch"):
        cifar.read_batch(path)
    assert written


def _png(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def test_celeba64_centre_crops_178_then_resizes(tmp_path):
    face = np.zeros((218, 178, 3), dtype=np.uint8)
    face[:, :] = (255, 0, 0)
    face[:20], face[-20:] = (0, 0, 255), (0, 255, 0)  # exactly what CenterCrop(178) removes
    for i in range(12):
        _png(tmp_path / "img_align_celeba" / f"{i:06d}.png", face)
    (tmp_path / "list_eval_partition.txt").write_text("".join(f"{i:06d}.png {0 if i < 10 else 2}\n" for i in range(12)))
    load = DATASETS.get("celeba64").load
    train, test = load("train", data_dir=tmp_path / "img_align_celeba"), load("test", data_dir=tmp_path / "img_align_celeba")
    assert train.images.shape == (10, 3, 64, 64) and test.images.shape == (2, 3, 64, 64)
    assert (train.images[:, 0] == 255).all() and (train.images[:, 1:] == 0).all() and train.labels is None


def test_image_folder_split_is_stable_disjoint_and_complete(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(60):
        _png(tmp_path / "cats" / f"sub{i % 3}" / f"cat{i}.png", rng.integers(0, 256, (80, 100, 3), dtype=np.uint8))
    load = DATASETS.get("image-folder").load
    train, test = load("train", data_dir=tmp_path / "cats"), load("test", data_dir=tmp_path / "cats")
    assert train.images.shape[1:] == (3, 64, 64) and len(train.images) + len(test.images) == 60
    assert 1 <= len(test.images) <= 15
    np.testing.assert_array_equal(load("test", data_dir=tmp_path / "cats").images, test.images)


def test_folder_errors_name_the_problem(tmp_path):
    load = DATASETS.get("image-folder").load
    with pytest.raises(GenbenchError, match="needs --data-dir"):
        load("train")
    with pytest.raises(GenbenchError, match="does not exist"):
        load("train", data_dir=tmp_path / "nope")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "broken.jpg").write_bytes(b"not a jpeg")
    messages = []
    for split in ("train", "test"):  # the file falls in one split; the other is then empty
        with pytest.raises(GenbenchError) as err:
            load(split, data_dir=tmp_path / "bad")
        messages.append(str(err.value))
    assert any(re.search(r"cannot read image .*broken\.jpg", m) for m in messages), messages
    assert any("no images of split" in m for m in messages), messages
