import gzip
import hashlib
import struct
from pathlib import Path

import numpy as np
import pytest

from genbench.data import DATASETS
from genbench.data.idx import parse_idx, read_idx
from genbench.data.images import MNIST, IdxSource, load_idx, to_float
from genbench.errors import GenbenchError
from tests.http_mirror import LocalMirror

SHARED_MNIST = Path(__file__).resolve().parents[3] / "shared" / "data" / "mnist"


def idx_bytes(array: np.ndarray) -> bytes:
    code = {np.dtype("u1"): 0x08, np.dtype(">f4"): 0x0D}[array.dtype]
    return bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def test_idx_round_trip_and_types():
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    np.testing.assert_array_equal(parse_idx(idx_bytes(images)), images)
    floats = np.array([1.5, -2.0, 3.25], dtype=">f4")
    out = parse_idx(idx_bytes(floats))
    assert out.dtype == np.float32 and out.tolist() == [1.5, -2.0, 3.25]


def test_idx_damage_is_named():
    good = idx_bytes(np.zeros((2, 2, 2), dtype=np.uint8))
    with pytest.raises(GenbenchError, match="my.idx holds 7 data bytes but its header promises 8"):
        parse_idx(good[:-1], "my.idx")
    with pytest.raises(GenbenchError, match="not an IDX file"):
        parse_idx(b"\x01" + good[1:], "my.idx")
    with pytest.raises(GenbenchError, match="truncated inside its header"):
        parse_idx(good[:6], "my.idx")


def test_read_idx_reports_a_broken_gzip(tmp_path):
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.zeros((4, 2, 2), dtype=np.uint8)))[:-9])
    with pytest.raises(GenbenchError, match="x.gz is not a readable gzip file"):
        read_idx(path)


@pytest.mark.skipif(not SHARED_MNIST.is_dir(), reason="the real MNIST test split is not beside the project (../shared/data/mnist)")
def test_real_mnist_test_split(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))  # no user cache in the way
    official = hashlib.md5((SHARED_MNIST / "t10k-images-idx3-ubyte.gz").read_bytes()).hexdigest()
    assert official == MNIST.md5["t10k-images-idx3-ubyte.gz"]
    data = DATASETS.get("mnist").load("test", data_dir=SHARED_MNIST, mirrors=["http://127.0.0.1:9/"])
    assert data.images.shape == (10_000, 1, 28, 28) and data.images.dtype == np.uint8
    assert data.labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert np.bincount(data.labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    scaled = to_float(data.images[:2], (-1.0, 1.0))
    assert scaled.min() == -1.0 and scaled.max() == 1.0


def test_digits_works_anywhere():
    train, test = DATASETS.get("digits").load("train"), DATASETS.get("digits").load("test")
    assert train.images.shape == (1437, 1, 8, 8) and test.images.shape == (360, 1, 8, 8)
    assert set(np.unique(test.labels)) == set(range(10))


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    """A local mirror serving a tiny MNIST-format test split; ``good``, ``bad`` and
    ``truncated`` URLs for it, and the IdxSource whose MD5s are the good files'."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("GENBENCH_DATA", raising=False)
    served = tmp_path / "served"
    (served / "bad").mkdir(parents=True)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (5, 28, 28), dtype=np.uint8)
    labels = np.array([3, 1, 4, 1, 5], dtype=np.uint8)
    md5 = {}
    for name, array in (("t10k-images-idx3-ubyte.gz", images), ("t10k-labels-idx1-ubyte.gz", labels)):
        blob = gzip.compress(idx_bytes(array))
        (served / name).write_bytes(blob)
        (served / "bad" / name).write_bytes(blob[:-40] + bytes(40))
        md5[name] = hashlib.md5(blob).hexdigest()
    source = IdxSource(files={"test": MNIST.files["test"]}, md5=md5, mirrors=[])
    server = LocalMirror(served)
    yield {"source": source, "images": images, "labels": labels, "url": server.url}
    server.close()


def test_download_verifies_and_renames(mirror, tmp_path):
    dest = tmp_path / "data"
    data = load_idx("mnist", mirror["source"], "test", data_dir=dest, mirrors=[mirror["url"]])
    np.testing.assert_array_equal(data.images[:, 0], mirror["images"])
    assert data.labels.tolist() == [3, 1, 4, 1, 5]
    assert sorted(p.name for p in dest.iterdir()) == ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]


def test_corrupt_download_is_refused_and_the_next_mirror_used(mirror, tmp_path):
    dest = tmp_path / "data"
    with pytest.raises(GenbenchError, match=r"is corrupt \(MD5 .*expected .*put the files in"):
        load_idx("mnist", mirror["source"], "test", data_dir=dest, mirrors=[mirror["url"] + "/bad"])
    assert not dest.exists() or not any(dest.iterdir())  # nothing half-written, no .part left
    data = load_idx("mnist", mirror["source"], "test", data_dir=dest, mirrors=[mirror["url"] + "/bad", mirror["url"]])
    assert data.labels.tolist() == [3, 1, 4, 1, 5]


def test_truncated_download_is_named(mirror, tmp_path):
    dest = tmp_path / "data"
    with pytest.raises(GenbenchError, match="was truncated after"):
        load_idx("mnist", mirror["source"], "test", data_dir=dest, mirrors=[mirror["url"] + "/truncated"])
    assert not dest.exists() or not any(dest.iterdir())


def test_offline_without_files_says_where_to_put_them(mirror, tmp_path):
    with pytest.raises(GenbenchError, match=r"not on disk and could not be downloaded.*put the files in .*home/\.cache/genbench/mnist"):
        load_idx("mnist", mirror["source"], "test", mirrors=["http://127.0.0.1:9"])


def test_lookup_order_data_dir_then_env_then_cache(mirror, tmp_path, monkeypatch):
    first = load_idx("mnist", mirror["source"], "test", mirrors=[mirror["url"]])  # downloads into the cache
    assert (tmp_path / "home" / ".cache" / "genbench" / "mnist" / "t10k-images-idx3-ubyte.gz").is_file()
    env_dir = tmp_path / "env" / "mnist"
    env_dir.mkdir(parents=True)
    other = np.full((2, 28, 28), 7, dtype=np.uint8)
    (env_dir / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(other)))
    (env_dir / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(np.array([0, 9], dtype=np.uint8))))
    monkeypatch.setenv("GENBENCH_DATA", str(tmp_path / "env"))
    assert load_idx("mnist", mirror["source"], "test", mirrors=[]).labels.tolist() == [0, 9]  # env beats cache
    assert len(first.labels) == 5
    with pytest.raises(GenbenchError, match="has no split 'valid'"):
        load_idx("mnist", mirror["source"], "valid")


DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.skipif(not DEBIAN_FASHION.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_real_fashion_mnist_from_the_debian_package(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("GENBENCH_DATA", raising=False)
    load = DATASETS.get("fashion-mnist").load
    train, test = load("train", mirrors=["http://127.0.0.1:9/"]), load("test", mirrors=["http://127.0.0.1:9/"])
    assert train.images.shape == (60_000, 1, 28, 28) and test.images.shape == (10_000, 1, 28, 28)
    # Balanced classes, 6000 and 1000 of each: the published composition.
    assert np.bincount(train.labels).tolist() == [6000] * 10 and np.bincount(test.labels).tolist() == [1000] * 10
