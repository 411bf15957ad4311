"""CIFAR-10 from its python pickle batches (``cifar-10-batches-py``).

The batches are pickles, and unpickling runs whatever a file asks for; the unpickler
here resolves only the few NumPy names a real batch needs, so a crafted file is refused
instead of executed.
"""
from __future__ import annotations

import io
import pickle
import tarfile
from pathlib import Path

import numpy as np

from genbench.data.fetch import ensure_files, search_dirs
from genbench.data.image_data import ImageData, check_split
from genbench.errors import GenbenchError

TARBALL = "cifar-10-python.tar.gz"
TARBALL_MD5 = "c58f30108f718f92721af3b95e74349a"
MIRRORS = ["https://www.cs.toronto.edu/~kriz/"]
FOLDER = "cifar-10-batches-py"
BATCHES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
_ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
            ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
            ("numpy._core.multiarray", "scalar"), ("_codecs", "encode")}


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (N, 3, 32, 32), labels int64) of one batch file."""
    try:
        batch = _SafeUnpickler(io.BytesIO(path.read_bytes()), encoding="bytes").load()
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = np.asarray(batch[b"labels"], dtype=np.int64)
    except FileNotFoundError:
        raise GenbenchError(f"{path} is missing; the CIFAR-10 folder is incomplete") from None
    except Exception as exc:  # random bytes make the unpickler raise almost anything (even MemoryError)
        detail = " ".join(str(exc).split())  # pickle's messages can span lines
        raise GenbenchError(f"{path} is not a CIFAR-10 batch ({type(exc).__name__}: {detail}); delete it and "
                            f"download again") from None
    if data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
        raise GenbenchError(f"{path}: data {data.shape} and labels {labels.shape} are not a CIFAR-10 batch")
    return data.reshape(-1, 3, 32, 32), labels


def find_folder(data_dir: Path | None, mirrors: list[str] | None = None) -> Path:
    """The ``cifar-10-batches-py`` folder, extracted from the (found or downloaded) tarball
    when only that is present."""
    for d in search_dirs("cifar10", data_dir):
        if (d / FOLDER / "test_batch").is_file():
            return d / FOLDER
    tarball = ensure_files("cifar10", {TARBALL: TARBALL_MD5}, mirrors or MIRRORS, data_dir)[TARBALL]
    try:
        with tarfile.open(tarball) as tar:
            tar.extractall(tarball.parent, filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise GenbenchError(f"cannot extract {tarball} ({exc}); delete it and download again") from None
    return tarball.parent / FOLDER


def load_cifar10(split: str, data_dir: Path | None = None, mirrors: list[str] | None = None) -> ImageData:
    check_split("cifar10", split, BATCHES)
    folder = find_folder(data_dir, mirrors)
    parts = [read_batch(folder / name) for name in BATCHES[split]]
    return ImageData(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
