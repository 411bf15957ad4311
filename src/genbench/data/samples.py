"""Samples made by any generator, read for scoring: an ``.npy``/``.npz`` array or a
folder of PNG/JPEG files, checked against the shape of the dataset they imitate.

Images come back as uint8 (N, C, H, W), the form a study stores its own samples in, so
the same metrics see the same pixels; 2D samples as float32 (N, 2). Everything that
could be read two ways (NCHW or NHWC, a value range) is decided from the dataset's shape
and the values, and where it cannot be decided the error says so and what to pass.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from genbench.data.image_data import to_uint8
from genbench.errors import GenbenchError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
VALUE_RANGES = {"0,1": (0.0, 1.0), "-1,1": (-1.0, 1.0), "0,255": (0.0, 255.0)}
MIN_SAMPLES = 10  # the Inception Score's 10 splits and k-NN metrics need at least this many
RANGE_TOLERANCE = 1e-3  # float rounding beyond a range's ends is clipped, not refused


def _shape_text(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape))


def _layout(array: np.ndarray, shape: tuple[int, ...], name: str) -> np.ndarray:
    """``array`` as (N, *shape): image arrays may be NCHW or NHWC (or NHW for one channel)."""
    if len(shape) != 3:
        if array.ndim != 1 + len(shape) or array.shape[1:] != shape:
            raise GenbenchError(f"{name} has shape {array.shape}; samples of this dataset must be "
                                f"(N, {', '.join(map(str, shape))})")
        return array
    c, h, w = shape
    if array.ndim == 3 and c == 1 and array.shape[1:] == (h, w):
        return array[:, None]
    if array.ndim == 4:
        nchw, nhwc = array.shape[1:] == (c, h, w), array.shape[1:] == (h, w, c)
        if nchw and nhwc:
            raise GenbenchError(f"{name} has shape {array.shape}, which reads both as NCHW and as NHWC for "
                                f"{_shape_text(shape)} images; transpose it to (N, C, H, W) with distinct sizes")
        if nchw:
            return array
        if nhwc:
            return array.transpose(0, 3, 1, 2)
    raise GenbenchError(f"{name} has shape {array.shape}; this dataset's images are {_shape_text(shape)} (C x H x W), "
                        f"so samples must be (N, {c}, {h}, {w}) or (N, {h}, {w}, {c})")


def _pixels(array: np.ndarray, value_range: str | None, name: str) -> np.ndarray:
    """uint8 pixels from integer or float samples."""
    if array.dtype == np.uint8 and value_range in (None, "0,255"):
        return array
    if array.dtype.kind in "iu":
        if value_range not in (None, "0,255"):
            raise GenbenchError(f"{name} holds integers, which can only be pixels in 0..255; drop --value-range")
        lo, hi = int(array.min()), int(array.max())
        if lo < 0 or hi > 255:
            raise GenbenchError(f"{name} holds integers from {lo} to {hi}; pixel values must lie in 0..255")
        return array.astype(np.uint8)
    lo, hi = float(array.min()), float(array.max())
    if value_range is None:
        if lo >= -RANGE_TOLERANCE and hi <= 1 + RANGE_TOLERANCE:
            value_range = "0,1"
        elif lo >= -1 - RANGE_TOLERANCE and hi <= 1 + RANGE_TOLERANCE:
            value_range = "-1,1"
        else:
            raise GenbenchError(f"{name} holds floats from {lo:.4g} to {hi:.4g}, neither [0, 1] nor [-1, 1]; scale "
                                f"them, or pass --value-range 0,255 if they are pixel values")
    low, high = VALUE_RANGES[value_range]
    if lo < low - RANGE_TOLERANCE * (high - low) or hi > high + RANGE_TOLERANCE * (high - low):
        raise GenbenchError(f"{name} holds floats from {lo:.4g} to {hi:.4g}, outside --value-range {value_range}")
    return to_uint8(array, (low, high))


def parse_samples(array: np.ndarray, shape: tuple[int, ...], value_range: str | None = None,
                  name: str = "the array") -> np.ndarray:
    """Check ``array`` against a dataset's sample ``shape`` and return it as genbench
    stores samples: uint8 (N, C, H, W) images, or float32 points. ``value_range`` (one
    of ``VALUE_RANGES``) says how to read float images when their values cannot tell."""
    if value_range is not None and value_range not in VALUE_RANGES:
        raise GenbenchError(f"--value-range {value_range!r}: choose one of {', '.join(VALUE_RANGES)}")
    array = np.asarray(array)
    if array.dtype.kind not in "iuf":
        raise GenbenchError(f"{name} holds {array.dtype} values; samples must be numbers (uint8 pixels, or floats)")
    if array.ndim == 0 or len(array) < MIN_SAMPLES:
        got = 0 if array.ndim == 0 else len(array)
        raise GenbenchError(f"{name} holds {got} samples; the metrics need at least {MIN_SAMPLES}")
    array = _layout(array, tuple(shape), name)
    if array.dtype.kind == "f":
        bad = int(np.count_nonzero(~np.isfinite(array)))
        if bad:
            raise GenbenchError(f"{name} holds {bad} NaN or infinite values; drop or fix those samples")
    if len(shape) != 3:
        if value_range is not None:
            raise GenbenchError("--value-range applies to images only")
        return _canonical(array.astype(np.float32))
    return _canonical(_pixels(array, value_range, name))


def _canonical(array: np.ndarray) -> np.ndarray:
    """C order with the usual strides, also for axes of size 1: a transposed (N, 1, H, W)
    array keeps channels-last strides there, which PyTorch takes as channels_last and
    convolves by another algorithm, changing features in the last bits."""
    contiguous = np.ascontiguousarray(array)
    return contiguous.reshape(-1).reshape(array.shape)


def _load_array(path: Path) -> np.ndarray:
    try:
        loaded = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise GenbenchError(f"no samples at {path}: pass an existing .npy/.npz file or folder of images") from None
    except (OSError, ValueError, EOFError) as exc:
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise GenbenchError(f"cannot read {path} as a NumPy array ({why}); write it with numpy.save") from None
    if isinstance(loaded, np.lib.npyio.NpzFile):
        with loaded:
            keys = list(loaded.files)
            key = keys[0] if len(keys) == 1 else "samples" if "samples" in keys else None
            if key is None:
                raise GenbenchError(f"{path} holds arrays {', '.join(keys) or '(none)'}; save one array, or name "
                                    f"the samples 'samples'")
            try:
                return loaded[key]
            except (OSError, ValueError, EOFError) as exc:
                raise GenbenchError(f"cannot read array {key!r} of {path} ({type(exc).__name__})") from None
    return loaded


def _load_folder(folder: Path, shape: tuple[int, ...]) -> np.ndarray:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise GenbenchError(f"{folder} holds no {'/'.join(IMAGE_SUFFIXES)} files")
    if len(shape) != 3:
        raise GenbenchError(f"{folder} is a folder of images, but this dataset's samples are 2D points; pass an "
                            f".npy array of shape (N, 2)")
    c, h, w = shape
    mode = {1: "L", 3: "RGB"}.get(c)
    if mode is None:
        raise GenbenchError(f"images from files have 1 or 3 channels; this dataset's have {c}")
    images = []
    for path in files:
        try:
            with Image.open(path) as img:
                img.load()
                if img.size != (w, h):
                    raise GenbenchError(f"{path} is {img.size[0]}x{img.size[1]} pixels; this dataset's images are "
                                        f"{w}x{h}: resize the samples first")
                images.append(np.asarray(img.convert(mode)).reshape(h, w, c))
        except (UnidentifiedImageError, OSError) as exc:
            raise GenbenchError(f"cannot read image {path} ({type(exc).__name__}); remove it or replace it") from None
    return np.stack(images).transpose(0, 3, 1, 2)


def read_samples(source: str | Path, shape: tuple[int, ...], value_range: str | None = None) -> np.ndarray:
    """Samples from an ``.npy``/``.npz`` file or a folder of PNG/JPEG images, checked
    against ``shape`` (see :func:`parse_samples`)."""
    path = Path(source)
    if path.is_dir():
        return parse_samples(_load_folder(path, tuple(shape)), shape, None, str(path))
    if path.suffix.lower() not in (".npy", ".npz"):
        raise GenbenchError(f"{path}: samples must be an .npy/.npz file or a folder of PNG/JPEG images")
    return parse_samples(_load_array(path), shape, value_range, str(path))


def source_digest(source: str | Path) -> str:
    """SHA-256 of a samples file, or of a folder's image files (names and bytes)."""
    path = Path(source)
    h = hashlib.sha256()
    try:
        if path.is_dir():
            for file in sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()):
                h.update(file.name.encode() + b"\0" + file.read_bytes())
        else:
            h.update(path.read_bytes())
    except OSError as exc:
        raise GenbenchError(f"cannot read samples {path} ({exc.strerror or exc})") from None
    return h.hexdigest()
