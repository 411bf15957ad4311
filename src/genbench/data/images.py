"""Image datasets as uint8 arrays (N, C, H, W) with integer labels.

Models decide the value range ([-1, 1] for tanh generators, [0, 1] for sigmoid
decoders) with :func:`to_float`; loaders only find, verify and decode the files.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from genbench.data.cifar import load_cifar10
from genbench.data.fetch import ensure_files
from genbench.data.folder import load_celeba64, load_image_folder
from genbench.data.idx import read_idx
from genbench.data.image_data import SPLITS, ImageData, check_split, to_float  # noqa: F401  (re-exported)
from genbench.errors import GenbenchError


@dataclass(frozen=True)
class IdxSource:
    """An MNIST-format dataset: its official files, their MD5s and where to get them."""

    files: dict[str, dict[str, str]]  # split -> {"images"/"labels": file name}
    md5: dict[str, str]
    mirrors: list[str]
    extra_dirs: tuple[Path, ...] = ()


MNIST = IdxSource(
    files={"train": {"images": "train-images-idx3-ubyte.gz", "labels": "train-labels-idx1-ubyte.gz"},
           "test": {"images": "t10k-images-idx3-ubyte.gz", "labels": "t10k-labels-idx1-ubyte.gz"}},
    md5={"train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
         "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
         "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
         "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c"},
    mirrors=["https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"],
)
FASHION_MNIST = IdxSource(
    files=MNIST.files,
    md5={"train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
         "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
         "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
         "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310"},
    mirrors=["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"],
    # Debian's dataset-fashion-mnist (recompressed: its .gz MD5s differ, the contents do not).
    extra_dirs=(Path("/usr/share/datasets/fashion-mnist"),),
)


def load_idx(name: str, source: IdxSource, split: str, data_dir: Path | None = None,
             mirrors: list[str] | None = None) -> ImageData:
    """One split of an IDX dataset, found or downloaded, checked for consistency."""
    check_split(name, split, source.files)
    wanted = source.files[split]
    paths = ensure_files(name, {f: source.md5[f] for f in wanted.values()}, mirrors or source.mirrors,
                         data_dir, source.extra_dirs)
    images, labels = read_idx(paths[wanted["images"]]), read_idx(paths[wanted["labels"]])
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise GenbenchError(
            f"{name} {split}: images {images.shape} and labels {labels.shape} do not match; "
            f"are {paths[wanted['images']].name} and {paths[wanted['labels']].name} from the same split?")
    return ImageData(images[:, None].astype(np.uint8), labels.astype(np.int64))


def load_digits(split: str, data_dir: Path | None = None, mirrors: list[str] | None = None) -> ImageData:
    """scikit-learn's bundled 8x8 digits (1797 images, 16 grey levels), split 80/20 by a
    fixed stratified shuffle: works anywhere, for demos and tests."""
    from sklearn.datasets import load_digits as sk_digits
    from sklearn.model_selection import train_test_split

    check_split("digits", split, SPLITS)
    bunch = sk_digits()
    images = np.round(bunch.images * (255 / 16)).astype(np.uint8)[:, None]
    train_idx, test_idx = train_test_split(np.arange(len(images)), test_size=0.2, random_state=0, stratify=bunch.target)
    idx = train_idx if split == "train" else test_idx
    return ImageData(images[idx], bunch.target[idx].astype(np.int64))


@dataclass(frozen=True)
class ImageDataset:
    """An image dataset: ``load(split, data_dir=None, **params) -> ImageData`` (uint8
    (N, C, H, W) images of the ``train`` or ``test`` split, int64 labels or None) and
    ``shape(**params) -> (C, H, W)``, known before any file is read. The parameters
    ``shape`` takes are the dataset's parameters in a study file."""

    load: Callable[..., ImageData]
    description: str
    shape: Callable[..., tuple[int, int, int]]
    kind: str = "images"
    modes: None = None  # images have no closed-form modes
    uses_features: bool = True  # scored on a feature extractor's features of the images

    def real_sample(self, n: int, rng: np.random.Generator, splits, **params: Any) -> np.ndarray:
        """Real images a perfect model could have drawn: ``n`` training images at random
        (in file order), scored against the test split like any model's samples."""
        take = rng.choice(len(splits.train), min(n, len(splits.train)), replace=False)
        return splits.train[np.sort(take)]


def _load_mnist(split: str, data_dir: Path | None = None, mirrors: list[str] | None = None) -> ImageData:
    return load_idx("mnist", MNIST, split, data_dir, mirrors)


def _load_fashion(split: str, data_dir: Path | None = None, mirrors: list[str] | None = None) -> ImageData:
    return load_idx("fashion-mnist", FASHION_MNIST, split, data_dir, mirrors)


IMAGE_SPECS = {
    "mnist": ImageDataset(_load_mnist, "MNIST digits 28x28 (IDX files; downloaded if absent)", lambda: (1, 28, 28)),
    "fashion-mnist": ImageDataset(_load_fashion, "Fashion-MNIST 28x28 (IDX; Debian's dataset-fashion-mnist is found)",
                               lambda: (1, 28, 28)),
    "digits": ImageDataset(load_digits, "scikit-learn's bundled 8x8 digits (no download)", lambda: (1, 8, 8)),
    "cifar10": ImageDataset(load_cifar10, "CIFAR-10 32x32 RGB (python batches; downloaded if absent)", lambda: (3, 32, 32)),
    "celeba64": ImageDataset(load_celeba64, "CelebA aligned faces, CenterCrop(178) then 64x64 (needs --data-dir)",
                          lambda: (3, 64, 64)),
    "image-folder": ImageDataset(load_image_folder, "any folder of images, centre-cropped and resized (needs --data-dir)",
                              lambda size=64: (3, size, size)),
}
