"""Property-based tests: parsers and config validation on random and truncated input
give a GenbenchError (one line, exit 2 in the CLI) or a valid result, never another
exception and never a hang."""
import pickle
import struct

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from genbench.config import apply_overrides, parse_sets, resolve, set_all_epochs, study_source
from genbench.data.cifar import read_batch
from genbench.data.idx import parse_idx, read_idx
from genbench.errors import GenbenchError

FAST = settings(max_examples=200, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _idx(array: np.ndarray) -> bytes:
    return bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


@FAST
@given(st.binary(max_size=64))
def test_idx_random_bytes_parse_or_say_why(data):
    try:
        array = parse_idx(data, "f")
    except GenbenchError as exc:
        assert str(exc).startswith("f ") and "\n" not in str(exc)
    else:
        assert array.nbytes == len(data) - 4 - 4 * data[3]


@FAST
@given(st.lists(st.integers(0, 6), min_size=1, max_size=3), st.data())
def test_idx_every_truncation_is_named(shape, data):
    array = np.arange(int(np.prod(shape)), dtype=np.uint8).reshape(shape)
    blob = _idx(array)
    np.testing.assert_array_equal(parse_idx(blob), array)
    cut = data.draw(st.integers(0, len(blob) - 1))
    with pytest.raises(GenbenchError, match="not an IDX file|truncated"):
        parse_idx(blob[:cut])


@FAST
@given(st.integers(1, 255), st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=8))
def test_idx_huge_headers_are_refused_without_allocating(ndim, dims):
    dims = (dims * ndim)[:ndim]
    blob = bytes([0, 0, 0x08, ndim]) + struct.pack(f">{ndim}I", *dims) + b"\x00" * 16
    try:
        array = parse_idx(blob)
    except GenbenchError:
        return
    assert array.size == 16  # only a header whose sizes multiply to the 16 bytes present parses


@settings(max_examples=60, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=200))
def test_gzipped_idx_random_bytes(tmp_path, data):
    path = tmp_path / "x-idx1-ubyte.gz"
    path.write_bytes(b"\x1f\x8b" + data)
    try:
        read_idx(path)
    except GenbenchError:
        pass


def _cifar_batch(n: int) -> bytes:
    batch = {b"data": np.zeros((n, 3072), np.uint8), b"labels": list(range(n)), b"batch_label": b"x"}
    return pickle.dumps(batch, protocol=2)


@settings(max_examples=100, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(st.binary(max_size=300), st.integers(0, 10_000).map(lambda cut: _cifar_batch(2)[:cut])))
def test_cifar_random_and_truncated_batches(tmp_path, data):
    path = tmp_path / "data_batch_1"
    path.write_bytes(data)
    try:
        images, labels = read_batch(path)
    except GenbenchError as exc:
        assert "\n" not in str(exc)
    else:
        assert images.shape[1:] == (3, 32, 32) and len(labels) == len(images)


# Config values: anything YAML can hold (no subnormal floats: conftest flushes denormals).
YAML_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_subnormal=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
TOP_KEYS = ["name", "seeds", "datasets", "models", "metrics", "features", "data", "n_samples", "train_overrides",
            "published", "sample_every", "checkpoint_every", "analysis", "extends", "description", "first_seed"]
VALID = {"name": "p", "seeds": 1, "datasets": {"moons": {}}, "models": {"mlp-vae": {"train": {"epochs": 1}}},
         "metrics": ["mmd2"]}


@FAST
@given(st.dictionaries(st.sampled_from(TOP_KEYS) | st.text(max_size=6), YAML_VALUES, max_size=6))
def test_random_configs_validate_or_name_the_key(raw):
    for candidate in (raw, {**VALID, **raw}):
        try:
            resolve(candidate)
        except GenbenchError as exc:
            assert "\n" not in str(exc)


SET_KEYS = TOP_KEYS + ["models.mlp-vae.train.epochs", "models.mlp-vae.params.latent", "models.mlp-vae.train",
                      "datasets.moons.noise", "data.protocol", "models.nope.train.lr", "seeds.x"]
ASSIGNMENTS = st.text(max_size=20) | st.builds(lambda k, v: f"{k}={v}", st.sampled_from(SET_KEYS),
                                              st.text(max_size=10) | YAML_VALUES.map(lambda v: yaml.safe_dump(v).strip()))


@FAST
@given(st.lists(ASSIGNMENTS, max_size=4), st.integers(1, 5))
@example(["\n=\t"], 1)  # a key holding a newline once put the newline into the message
@example(["a\nb=2", "a\nb.c=1"], 1)
def test_random_set_assignments_and_epochs(assignments, epochs):
    try:
        resolve(apply_overrides(set_all_epochs(VALID, epochs), parse_sets(assignments)))
    except GenbenchError as exc:
        assert "\n" not in str(exc)


@settings(max_examples=150, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(st.text(max_size=200), YAML_VALUES.map(yaml.safe_dump),
                 st.dictionaries(st.sampled_from(TOP_KEYS), YAML_VALUES, max_size=5).map(yaml.safe_dump)))
def test_random_study_files(tmp_path, text):
    path = tmp_path / "study.yaml"
    path.write_text(text)
    try:
        raw = study_source(str(path))
        resolve(set_all_epochs(raw, 2))
    except GenbenchError as exc:
        assert "\n" not in str(exc)
