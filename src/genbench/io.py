"""File writing that never leaves a half-written result: temp file in the same folder,
then an atomic rename."""
from __future__ import annotations

import csv
import io
import json
import os
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from genbench.errors import GenbenchError


def _file_mode() -> int:
    """The mode ``open()`` would give a new file under the current umask (mkstemp's own
    0600 would hide reports from everyone else)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


_FILE_MODE = _file_mode()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to a temp file beside ``path``, sync it, then rename it over
    ``path``: a reader sees the old file or the new one, never a torn one. A full disk or
    unwritable folder becomes a one-line error; the old file stays as it was."""
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.fchmod(fd, _FILE_MODE)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise GenbenchError(f"cannot write {path} ({exc.strerror or exc}); earlier results are untouched: free "
                                f"some space or pass a writable --out, then run the same command again") from None
        raise


def write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def write_json(path: Path, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


# libyaml's parser where PyYAML was built with it (its wheels are): the same values as the
# pure-Python parser for what both read, about 5x faster. A report reads every run's config.yaml.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(text: str) -> Any:
    """``yaml.safe_load``, through libyaml when it is there; a document libyaml refuses
    goes to the pure-Python parser, which reads some that libyaml does not (a lone
    surrogate escape such as ``"\\uDCFF"``, which ``safe_dump`` writes) and otherwise
    raises its own error."""
    try:
        return yaml.load(text, Loader=_YAML_LOADER)
    except yaml.YAMLError:
        if _YAML_LOADER is yaml.SafeLoader:
            raise
        return yaml.safe_load(text)


def write_yaml(path: Path, obj: Any) -> None:
    write_text(path, yaml.safe_dump(obj, sort_keys=False))


def write_csv(path: Path, rows: Iterable[dict[str, Any]], fields: list[str]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text(path, buf.getvalue())


def save_torch(path: Path, obj: Any) -> None:
    """``torch.save`` of tensors and plain containers, written atomically."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())


def save_weights(path: Path, module: torch.nn.Module) -> None:
    save_torch(path, module.state_dict())


def load_checkpoint(path: Path) -> Any:
    """A checkpoint's contents, without unpickling arbitrary objects; None if it is
    missing or unreadable (a run then starts from scratch rather than fail)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        return None
    except Exception as exc:  # truncated or foreign: say so, then train afresh
        print(f"genbench: warning: ignoring unreadable checkpoint {path} ({type(exc).__name__})", file=sys.stderr)
        return None


def load_weights(path: Path, module: torch.nn.Module) -> None:
    """Load a state dict without unpickling arbitrary objects (``weights_only=True``)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        module.load_state_dict(state)
    except FileNotFoundError:
        raise GenbenchError(f"no weights at {path}: is this a finished run folder?") from None
    except Exception as exc:  # a corrupt or foreign file: say which, not a traceback
        raise GenbenchError(f"cannot load weights from {path}: {type(exc).__name__}: {str(exc).splitlines()[0]}") from None


def ensure_writable_dir(path: Path) -> Path:
    """Create ``path`` if needed and prove it is writable, before any work starts."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".probe."):
            pass
    except OSError as exc:
        raise GenbenchError(f"output folder {path} is not writable ({exc.strerror}); pass a writable --out") from None
    return path


def save_npy(path: Path, array: Any) -> None:
    buf = io.BytesIO()
    np.save(buf, array)
    atomic_write_bytes(path, buf.getvalue())
