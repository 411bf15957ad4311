import os
import stat

import pytest

from genbench.errors import GenbenchError
from genbench.io import atomic_write_bytes, ensure_writable_dir, load_yaml, write_json, write_yaml


def test_atomic_write_replaces_whole_files_with_the_umask_mode(tmp_path):
    path = tmp_path / "deep" / "r.json"
    write_json(path, {"a": 1})
    write_json(path, {"a": 2})
    assert path.read_text() == '{\n  "a": 2\n}\n'
    assert list(path.parent.iterdir()) == [path]  # no temp files left
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask


def test_a_failed_write_leaves_the_old_file(tmp_path):
    path = tmp_path / "r.bin"
    atomic_write_bytes(path, b"old")
    with pytest.raises(TypeError):
        atomic_write_bytes(path, object())  # not bytes: the write fails mid-way
    assert path.read_bytes() == b"old" and list(tmp_path.iterdir()) == [path]


def test_unwritable_folder_is_a_one_line_error(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(GenbenchError, match="is not writable"):
        ensure_writable_dir(tmp_path / "f" / "sub")


def test_a_full_disk_is_a_one_line_error_and_the_old_file_survives(tmp_path, monkeypatch):
    import errno

    import genbench.io as gio

    path = tmp_path / "r.json"
    write_json(path, {"a": 1})

    def no_space(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(gio.os, "fsync", no_space)
    with pytest.raises(GenbenchError, match=r"cannot write .*r\.json \(No space left on device\); earlier results "
                                            r"are untouched"):
        write_json(path, {"a": 2})
    assert path.read_text() == '{\n  "a": 1\n}\n' and list(tmp_path.iterdir()) == [path]


def test_yaml_reads_back_what_it_wrote_and_names_a_broken_document(tmp_path):
    import yaml

    value = {"lr": 2e-3, "betas": [0.5, 0.9], "note": "caf\udcff", "on": True}  # a lone surrogate: libyaml refuses it
    write_yaml(tmp_path / "a.yaml", value)
    assert load_yaml((tmp_path / "a.yaml").read_text()) == value
    with pytest.raises(yaml.YAMLError):
        load_yaml("a: [1, 2")
