"""Finding dataset files on disk, and downloading them when they are not there.

Look-up order for a dataset ``name``: the ``--data-dir`` folder, ``$GENBENCH_DATA``,
``~/.cache/genbench/<name>``, then any folder the dataset adds (e.g. a Debian package's).
In each, a file may sit directly or in a ``<name>/`` sub-folder. A download goes to the
``--data-dir`` folder if given, else the cache; it is written to a ``.part`` file, its
MD5 checked, and only then renamed, so a broken transfer never looks like data.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.request
from pathlib import Path

from genbench.errors import GenbenchError


def search_dirs(name: str, data_dir: Path | None, extra: tuple[Path, ...] = ()) -> list[Path]:
    roots = [data_dir] if data_dir else []
    if os.environ.get("GENBENCH_DATA"):
        roots.append(Path(os.environ["GENBENCH_DATA"]))
    dirs = []
    for root in roots:
        dirs += [root, root / name]
    return dirs + [cache_dir(name), *extra]


def cache_dir(name: str) -> Path:
    return Path.home() / ".cache" / "genbench" / name


def _stream(url: str, fh, digest, timeout: float) -> tuple[int, bool]:
    """Copy ``url`` into ``fh``, hashing as it goes: (bytes received, whether every byte
    the server promised arrived)."""
    received = 0
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            promised = response.headers.get("Content-Length")
            for chunk in iter(lambda: response.read(1 << 20), b""):
                fh.write(chunk)
                digest.update(chunk)
                received += len(chunk)
    except http.client.IncompleteRead:
        return received, False
    # A connection closed early ends the loop quietly: compare with what was promised.
    return received, not (promised is not None and promised.isdigit() and received < int(promised))


def download(url: str, dest: Path, md5: str, timeout: float = 60.0) -> Path:
    """Fetch ``url`` into ``dest`` via ``dest.part``; the rename happens only when every
    promised byte arrived and the MD5 matches, and the ``.part`` file never outlives the call."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    digest = hashlib.md5(usedforsecurity=False)
    try:
        with open(part, "wb") as fh:
            received, complete = _stream(url, fh, digest, timeout)
        if not complete:
            raise GenbenchError(f"download of {url} was truncated after {received} bytes; try again")
        if digest.hexdigest() != md5:
            raise GenbenchError(
                f"download of {url} is corrupt (MD5 {digest.hexdigest()}, expected {md5}); try again or another mirror")
        os.replace(part, dest)
    finally:
        part.unlink(missing_ok=True)
    return dest


def ensure_files(name: str, files: dict[str, str], mirrors: list[str], data_dir: Path | None = None,
                 extra_dirs: tuple[Path, ...] = ()) -> dict[str, Path]:
    """Path of every file in ``files`` (file name -> MD5 of the official file), found on
    disk or downloaded from the first mirror that serves it intact."""
    dirs = search_dirs(name, data_dir, extra_dirs)
    found: dict[str, Path] = {}
    for fname, md5 in files.items():
        local = next((d / fname for d in dirs if (d / fname).is_file()), None)
        if local is not None:
            found[fname] = local
            continue
        target = (data_dir or cache_dir(name)) / fname
        problems = []
        for mirror in mirrors:
            try:
                found[fname] = download(mirror.rstrip("/") + "/" + fname, target, md5)
                break
            except (urllib.error.URLError, OSError) as exc:
                problems.append(f"{mirror}: {getattr(exc, 'reason', exc)}")
            except GenbenchError as exc:
                problems.append(str(exc))
        else:
            raise GenbenchError(
                f"{name}: {fname} is not on disk and could not be downloaded ({'; '.join(problems) or 'no mirror'}); "
                f"put the files in {target.parent} or pass --data-dir"
            )
    return found
