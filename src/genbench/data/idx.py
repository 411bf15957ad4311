"""The IDX format of MNIST and Fashion-MNIST (LeCun et al.): a big-endian header
(two zero bytes, a type code, the number of dimensions, each dimension as uint32), then
the raw array. Optionally gzip-compressed, as the official files are."""
from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

from genbench.errors import GenbenchError

IDX_TYPES = {0x08: np.dtype("u1"), 0x09: np.dtype("i1"), 0x0B: np.dtype(">i2"),
             0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def parse_idx(data: bytes, name: str = "IDX data") -> np.ndarray:
    """Decode IDX bytes; a wrong header or a size that does not match the header is a
    one-line :class:`GenbenchError` naming ``name``."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in IDX_TYPES:
        raise GenbenchError(f"{name} is not an IDX file (bad header); delete it and download it again")
    dtype, ndim = IDX_TYPES[data[2]], data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise GenbenchError(f"{name} is truncated inside its header; delete it and download it again")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) - header != expected:
        raise GenbenchError(
            f"{name} holds {len(data) - header} data bytes but its header promises {expected} "
            f"(shape {shape}): the file is truncated or damaged; delete it and download it again"
        )
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file, gunzipping it when it starts with the gzip magic bytes."""
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except FileNotFoundError:
        raise GenbenchError(f"{path} does not exist") from None
    except (OSError, EOFError, zlib.error) as exc:
        raise GenbenchError(f"{path} is not a readable gzip file ({exc}); delete it and download it again") from None
    return parse_idx(raw, str(path))
