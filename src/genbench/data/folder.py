"""Datasets that are folders of image files: any folder (study 003's 64x64 cats) and
CelebA's aligned faces (study 001: CenterCrop(178), then resize to 64).

Decoding, cropping and resizing use Pillow. The split is a fixed function of each file's
path (a hash), so it is stable however many files there are or in which order they are
listed; CelebA uses its official ``list_eval_partition.txt`` when it is present.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from genbench.data.image_data import SPLITS, ImageData, check_split
from genbench.errors import GenbenchError

EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


def image_files(root: Path) -> list[Path]:
    if not root.is_dir():
        raise GenbenchError(f"image folder {root} does not exist; pass --data-dir with your images")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in EXTENSIONS and p.is_file())
    if not files:
        raise GenbenchError(f"no images ({', '.join(sorted(EXTENSIONS))}) under {root}")
    return files


def load_image(path: Path, size: int, crop: int | None) -> np.ndarray:
    """RGB uint8 (3, size, size): centre crop to ``crop`` (default: the shorter side), then
    a bicubic resize."""
    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            side = crop or min(im.size)
            left, top = (im.width - side) // 2, (im.height - side) // 2
            im = im.crop((left, top, left + side, top + side)).resize((size, size), Image.BICUBIC)
            return np.asarray(im, dtype=np.uint8).transpose(2, 0, 1)
    except (UnidentifiedImageError, OSError) as exc:
        raise GenbenchError(f"cannot read image {path} ({exc}); remove it from the folder") from None


def in_test_split(path: Path, root: Path, test_frac: float) -> bool:
    digest = hashlib.sha1(path.relative_to(root).as_posix().encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < test_frac


def load_folder(root: Path, split: str, size: int = 64, crop: int | None = None, test_frac: float = 0.1,
                partition: dict[str, str] | None = None):
    """Images of ``root`` in ``split``; ``partition`` maps file names to a split and
    overrides the hash split for the files it names."""
    check_split(f"image folder {root}", split, SPLITS)
    chosen = []
    for path in image_files(root):
        where = partition.get(path.name) if partition else None
        where = where or ("test" if in_test_split(path, root, test_frac) else "train")
        if where == split:
            chosen.append(path)
    if not chosen:
        raise GenbenchError(f"no images of split {split!r} under {root}")
    return ImageData(np.stack([load_image(p, size, crop) for p in chosen]), None)


def celeba_partition(root: Path) -> dict[str, str] | None:
    """CelebA's official split (0 train, 1 validation, 2 test), validation kept with train."""
    for candidate in (root / "list_eval_partition.txt", root.parent / "list_eval_partition.txt"):
        if candidate.is_file():
            names = {"0": "train", "1": "train", "2": "test"}
            rows = (line.split() for line in candidate.read_text().splitlines() if line.strip())
            return {name: names[code] for name, code in rows}
    return None


def load_celeba64(split: str, data_dir: Path | None = None, mirrors: list[str] | None = None):
    if data_dir is None:
        raise GenbenchError("celeba64 needs --data-dir: the folder of CelebA's aligned images (img_align_celeba)")
    return load_folder(data_dir, split, size=64, crop=178, partition=celeba_partition(data_dir))


def load_image_folder(split: str, data_dir: Path | None = None, mirrors: list[str] | None = None, size: int = 64):
    if data_dir is None:
        raise GenbenchError("image-folder needs --data-dir: a folder of .jpg/.png images")
    return load_folder(data_dir, split, size=size)
