"""Plugins: a user's models, datasets, metrics, feature extractors and trainers, added
without forking genbench.

A plugin is a Python module that calls ``genbench.register_model`` (and the other
``register_*`` functions) when imported. genbench imports it from
- a ``.py`` file: a study file's ``plugins:`` list (paths relative to the study file) or
  ``--plugin PATH`` on any command;
- an importable module name, given the same ways;
- an installed package's entry point in the group ``genbench.plugins``
  (``[project.entry-points."genbench.plugins"] mine = "my_package.genbench_plugin"``),
  loaded by every command.

Each plugin is known by its *source* (the resolved file path, or the module name) and
the SHA-256 of its code (the file, or every ``.py`` file of a package). Every run folder
records the plugins that provide what it uses, so a later ``sample``, ``evaluate`` or
``report`` from a new process loads them again and refuses, in one line, a plugin that is
missing or changed since training (``--allow-changed-plugin`` goes on anyway).
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import sys
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType

from pydantic import BaseModel, ConfigDict

from genbench.errors import GenbenchError

ENTRY_POINT_GROUP = "genbench.plugins"


class PluginRecord(BaseModel):
    """Where a plugin came from and a hash of its code, as a run folder records it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str  # resolved .py path, or module name
    sha256: str


_loaded: dict[str, PluginRecord] = {}  # source -> record, in load order
_loading: list[str] = []  # sources being imported right now (innermost last)
_entry_points_done = False
_warned: set[str] = set()


def loading_source() -> str | None:
    """The plugin being imported right now, which registrations are credited to."""
    return _loading[-1] if _loading else None


def loaded() -> list[PluginRecord]:
    return list(_loaded.values())


def is_file_spec(spec: str) -> bool:
    return spec.endswith(".py") or "/" in spec or "\\" in spec


def resolve_source(spec: str, base: Path | None = None) -> str:
    """A file spec as an absolute path (relative ones against ``base``, else the working
    folder); a module name as it is."""
    if not isinstance(spec, str) or not spec.strip():
        raise GenbenchError(f"plugin {spec!r}: expected a .py file path or an importable module name")
    if is_file_spec(spec):
        path = Path(spec).expanduser()
        return str(((base or Path.cwd()) / path).resolve() if not path.is_absolute() else path.resolve())
    if not all(part.isidentifier() for part in spec.split(".")):
        raise GenbenchError(f"plugin {spec!r} is neither a .py file path nor a module name (like my_pkg.plugin)")
    return spec


def _digest(paths: Iterable[Path], root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(paths):
        h.update(path.relative_to(root).as_posix().encode() + b"\0")
        h.update(path.read_bytes())
    return h.hexdigest()


def _module_origin(name: str) -> tuple[Path, str]:
    """(file or package folder, sha256) of an importable module, before importing it."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError) as exc:
        spec, reason = None, str(exc)
    else:
        reason = "no such module"
    if spec is None or not spec.origin or not Path(spec.origin).is_file():
        raise GenbenchError(f"cannot import plugin module {name!r} ({reason}); install it, put it on PYTHONPATH, "
                            f"or give the path of its .py file")
    origin = Path(spec.origin)
    if spec.submodule_search_locations:  # a package: hash every .py file in it
        folder = origin.parent
        return folder, _digest(folder.rglob("*.py"), folder)
    return origin, _digest([origin], origin.parent)


def _forget(source: str) -> None:
    """Drop what a plugin that failed half-way registered, so a fixed one can load."""
    from genbench.registry import Registry

    for registry in Registry.instances:
        registry.forget(source)


def _import(source: str, attr: str | None = None) -> PluginRecord:
    _loading.append(source)
    try:
        if is_file_spec(source):
            path = Path(source)
            try:
                code = path.read_bytes()
            except OSError as exc:
                raise GenbenchError(f"cannot read plugin file {path} ({exc.strerror or exc}); check the path "
                                    f"(study-file plugins are relative to the study file)") from None
            sha = hashlib.sha256(code).hexdigest()
            module = ModuleType(f"genbench_plugin_{path.stem}_{sha[:8]}")
            module.__file__ = str(path)
            sys.modules[module.__name__] = module  # classes pickle and dataclasses resolve by module name
            exec(compile(code, str(path), "exec"), module.__dict__)
        else:
            _, sha = _module_origin(source)
            module = importlib.import_module(source)
            if attr:
                getattr(module, attr)()
    except GenbenchError:
        _forget(source)
        raise
    except Exception as exc:  # the user's code failed: name the plugin, not our stack
        _forget(source)
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise GenbenchError(f"plugin {source} failed to load: {type(exc).__name__}: {first}; fix it and run the "
                            f"same command again") from None
    finally:
        _loading.pop()
    record = PluginRecord(source=source, sha256=sha)
    _loaded[source] = record
    return record


def load_plugin(spec: str, base: Path | None = None) -> PluginRecord:
    """Import a plugin once per process (a file path or a module name) and return its record."""
    source = resolve_source(spec, base)
    return _loaded.get(source) or _import(source)


def load_entry_points() -> list[PluginRecord]:
    """Installed packages' plugins (group ``genbench.plugins``), imported once per process.
    An entry point names a module (``pkg.plugin``), or a function to call
    (``pkg.plugin:register``)."""
    global _entry_points_done
    if _entry_points_done:
        return []
    _entry_points_done = True
    records = []
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        records.append(_loaded.get(ep.module) or _import(ep.module, ep.attr))
    return records


def activate(specs: Iterable[str] = (), base: Path | None = None) -> list[PluginRecord]:
    """Installed entry points, then ``specs``: what every command does before it reads a
    config, so the names those plugins register are known."""
    load_entry_points()
    return [load_plugin(spec, base) for spec in specs]


def _missing(source: str, where: Path, reason: GenbenchError, sha256: str | None = None) -> GenbenchError:
    digest = f" (sha256 {sha256[:12]})" if sha256 else ""
    return GenbenchError(f"plugin {source}{digest}, which {where} was made with, cannot be loaded ({reason}); "
                         f"restore it, or pass --plugin PATH where it is now")


def load_study_plugins(sources: Iterable[str], satisfied: set[str], where: Path) -> None:
    """Load a study's plugins, but for those its runs' records were already satisfied by
    (a moved plugin passed with ``--plugin``)."""
    for source in sources:
        if source in satisfied or source in _loaded:
            continue
        try:
            load_plugin(source)
        except GenbenchError as exc:
            raise _missing(source, where, exc) from None


def check_records(records: Iterable[PluginRecord], where: Path, allow_changed: bool = False) -> set[str]:
    """Load the plugins a run folder recorded and refuse, in one line, one that is
    missing or whose code changed since ``where`` was written. A plugin found at a new
    place (passed with ``--plugin``) is accepted when its hash matches. Returns the
    recorded sources that are satisfied."""
    satisfied = set()
    for record in records:
        satisfied.add(record.source)
        if any(r.sha256 == record.sha256 for r in _loaded.values()):
            continue
        try:
            now = load_plugin(record.source)
        except GenbenchError as exc:
            raise _missing(record.source, where, exc, record.sha256) from None
        if now.sha256 == record.sha256:
            continue
        if not allow_changed:
            raise GenbenchError(f"plugin {record.source} changed since {where} was made (sha256 "
                                f"{record.sha256[:12]} then, {now.sha256[:12]} now); restore it, run the study again "
                                f"to retrain, or pass --allow-changed-plugin to go on with it as it is")
        if record.source not in _warned:
            _warned.add(record.source)
            print(f"genbench: warning: plugin {record.source} changed since {where} was made "
                  f"(--allow-changed-plugin): going on with it as it is now", file=sys.stderr)
    return satisfied
