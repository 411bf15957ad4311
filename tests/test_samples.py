"""Samples from anywhere: `genbench evaluate-samples` and a study's `external:` sources,
scored with the same metrics and real-data floor as a study's own runs."""
import json

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

from genbench.cli import main
from genbench.config import resolve
from genbench.data.samples import MIN_SAMPLES, parse_samples, read_samples
from genbench.errors import GenbenchError
from genbench.runtime import Runtime
from genbench.study import run_study

METRICS = ["fd", "kid", "is", "pr", "dc", "class_coverage", "collapse"]
DATA = {"n_train": 300, "n_holdout": 60, "n_test": 120}


def _study(**extra) -> dict:
    """One tiny VAE on scikit-learn's 8x8 digits, scored by every image metric."""
    return {"name": "ext", "seeds": 1, "datasets": {"digits": {}}, "data": DATA,
            "models": {"linear-vae": {"params": {"hidden": [32], "latent": 4}, "train": {"epochs": 1}}},
            "metrics": METRICS, "n_samples": 150, "analysis": False, **extra}


def _write_pngs(folder, images: np.ndarray) -> None:
    folder.mkdir()
    for i, image in enumerate(images):
        Image.fromarray(image[0]).save(folder / f"{i:04d}.png")


@pytest.fixture(scope="module")
def oracle_study(tmp_path_factory):
    root = run_study(resolve(_study()), tmp_path_factory.mktemp("study") / "s", Runtime(quiet=True))
    return root / "digits" / "oracle" / "seed0"


def _evaluate_samples(capsys, source, *extra) -> dict:
    sets = [f"--set=data.{k}={v}" for k, v in DATA.items()]
    assert main(["evaluate-samples", str(source), "--dataset", "digits", "--metrics", ",".join(METRICS), *sets,
                 "--quiet", *extra]) == 0
    return capsys.readouterr().out


def test_the_oracles_own_images_score_exactly_the_oracles_numbers(oracle_study, capsys, tmp_path):
    expected = json.loads((oracle_study / "metrics.json").read_text())
    out = tmp_path / "scored"
    printed = _evaluate_samples(capsys, oracle_study / "samples.npy", "--out", str(out))
    assert "150 samples of digits" in printed and "fd_evaluator" in printed
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["n"] == 150 and saved["source"] == str((oracle_study / "samples.npy").resolve())
    assert saved["metrics"] == pytest.approx(expected, rel=0, abs=0) and set(saved["metrics"]) == set(expected)
    assert saved["floor"] == saved["metrics"]  # the floor is that same real sample


def test_a_folder_of_pngs_scores_as_the_array_it_was_written_from(oracle_study, capsys, tmp_path):
    images = np.load(oracle_study / "samples.npy")
    rng = np.random.default_rng(0)
    fake = np.clip(images.astype(int) + rng.integers(-60, 60, images.shape), 0, 255).astype(np.uint8)
    np.save(tmp_path / "fake.npy", fake)
    _write_pngs(tmp_path / "pngs", fake)
    from_array, from_pngs = (_evaluate_samples(capsys, tmp_path / name, "--out", str(tmp_path / f"o-{name}"))
                             for name in ("fake.npy", "pngs"))
    scores = [json.loads((tmp_path / f"o-{name}" / "metrics.json").read_text())["metrics"]
              for name in ("fake.npy", "pngs")]
    assert scores[0] == scores[1] and scores[0]["fd_evaluator"] > 0
    # The same images as floats in [-1, 1], NHWC: read back to the same pixels.
    np.save(tmp_path / "floats.npy", (fake.transpose(0, 2, 3, 1) / 127.5 - 1).astype(np.float32))
    _evaluate_samples(capsys, tmp_path / "floats.npy", "--out", str(tmp_path / "o-floats"))
    assert json.loads((tmp_path / "o-floats" / "metrics.json").read_text())["metrics"] == scores[0]


@pytest.mark.parametrize("make, pattern", [
    (lambda d: np.save(d / "x.npy", np.zeros((20, 1, 9, 9), np.uint8)), "samples must be (N, 1, 8, 8) or (N, 8, 8, 1)"),
    (lambda d: np.save(d / "x.npy", np.full((20, 1, 8, 8), np.nan)), "holds 1280 NaN or infinite values"),
    (lambda d: np.save(d / "x.npy", np.zeros((3, 1, 8, 8), np.uint8)), f"holds 3 samples; the metrics need at least {MIN_SAMPLES}"),
    (lambda d: np.save(d / "x.npy", np.full((20, 1, 8, 8), 7.5)), "neither [0, 1] nor [-1, 1]"),
    (lambda d: np.save(d / "x.npy", np.zeros((20, 1, 8, 8), bool)), "holds bool values"),
    (lambda d: np.savez(d / "x.npz", a=np.zeros(3), b=np.zeros(3)), "holds arrays a, b; save one array"),
    (lambda d: (d / "x.npy").write_bytes(b"\x93NUMPY garbage"), "cannot read"),
    (lambda d: (d / "x.txt").write_text("1 2 3"), "must be an .npy/.npz file or a folder"),
    (lambda d: None, "no samples at"),
])
def test_bad_samples_get_one_line_naming_the_problem(capsys, tmp_path, make, pattern):
    make(tmp_path)
    source = next(iter(sorted(tmp_path.glob("x.*"))), tmp_path / "x.npy")
    assert main(["evaluate-samples", str(source), "--dataset", "digits", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and pattern in err, err


def test_a_folder_with_a_wrong_sized_image_is_named(capsys, tmp_path):
    _write_pngs(tmp_path / "pngs", np.zeros((12, 1, 8, 8), np.uint8))
    Image.fromarray(np.zeros((9, 8), np.uint8)).save(tmp_path / "pngs" / "0005.png")
    assert main(["evaluate-samples", str(tmp_path / "pngs"), "--dataset", "digits"]) == 2
    assert "0005.png is 8x9 pixels; this dataset's images are 8x8: resize" in capsys.readouterr().err


def test_external_samples_are_rows_of_every_table_one_seed_per_source(oracle_study, tmp_path):
    real = np.load(oracle_study / "samples.npy")
    np.save(tmp_path / "copy.npy", real)
    noise = np.random.default_rng(1).integers(0, 256, real.shape).astype(np.uint8)
    _write_pngs(tmp_path / "noise", noise)
    study = tmp_path / "study.yaml"
    study.write_text(yaml.safe_dump(_study(external={"elsewhere": ["copy.npy", "noise"]})))  # relative to the file
    from genbench.config import study_source

    config = resolve(study_source(study))
    root = run_study(config, tmp_path / "s", Runtime(quiet=True))
    summary = (root / "summary.csv").read_text()
    copy_fd = float(next(line for line in summary.splitlines() if ",elsewhere,0,fd_evaluator," in line).split(",")[-1])
    noise_fd = float(next(line for line in summary.splitlines() if ",elsewhere,1,fd_evaluator," in line).split(",")[-1])
    oracle = json.loads((oracle_study / "metrics.json").read_text())
    assert copy_fd == oracle["fd_evaluator"] and noise_fd > 10 * copy_fd
    report = (root / "report.md").read_text()
    assert "| dataset | linear-vae | elsewhere | oracle |" in report
    saved = yaml.safe_load((root / "digits" / "elsewhere" / "seed1" / "config.yaml").read_text())
    assert saved["kind"] == "samples" and saved["source"] == str(tmp_path / "noise")
    # Unchanged sources are not scored again; a changed one is.
    metrics = root / "digits" / "elsewhere" / "seed0" / "metrics.json"
    before = metrics.stat().st_mtime_ns
    run_study(config, root, Runtime(quiet=True))
    assert metrics.stat().st_mtime_ns == before
    np.save(tmp_path / "copy.npy", noise)
    run_study(config, root, Runtime(quiet=True))
    assert json.loads(metrics.read_text())["fd_evaluator"] == pytest.approx(noise_fd)


def test_external_names_and_datasets_are_checked():
    with pytest.raises(GenbenchError, match="external.linear-vae: the name is taken by a model"):
        resolve(_study(external={"linear-vae": "x.npy"}))
    two = _study(external={"ext": "x.npy"})
    two["datasets"] = {"digits": {}, "moons": {}}
    with pytest.raises(GenbenchError, match="the study has 2 datasets; say which one"):
        resolve(two)


IMAGE_SHAPES = [(1, 8, 8), (3, 4, 4), (3, 3, 3)]
DTYPES = [np.uint8, np.int16, np.int64, np.float16, np.float32, np.float64, np.bool_, np.complex64]


@st.composite
def sample_arrays(draw):
    target = draw(st.sampled_from(IMAGE_SHAPES + [(2,)]))
    n = draw(st.integers(0, 14))
    layouts = [target, target[1:] + target[:1], target[1:]] if len(target) == 3 else [target, (3,), ()]
    shape = (n, *draw(st.sampled_from(layouts + [(draw(st.integers(1, 5)),) * 3])))
    dtype = draw(st.sampled_from(DTYPES))
    array = draw(hnp.arrays(dtype, shape, elements=hnp.from_dtype(np.dtype(dtype), allow_subnormal=False)
                            if dtype not in (np.float16, np.float32, np.float64) else
                            st.one_of(st.floats(-1, 1, width=16, allow_subnormal=False),
                                      st.floats(allow_nan=True, width=16, allow_subnormal=False))))
    return target, array, draw(st.sampled_from([None, "0,1", "-1,1", "0,255", "bad"]))


@settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(sample_arrays())
def test_any_array_parses_to_stored_samples_or_one_line(case):
    target, array, value_range = case
    try:
        out = parse_samples(array, target, value_range)
    except GenbenchError as exc:
        assert "\n" not in str(exc)
        return
    assert out.shape == (len(array), *target) and len(out) >= MIN_SAMPLES
    assert out.dtype == (np.uint8 if len(target) == 3 else np.float32)
    if len(target) == 3 and array.dtype == np.uint8 and array.shape[1:] == target:
        np.testing.assert_array_equal(out, array)


def test_value_ranges_map_to_the_same_pixels(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (12, 1, 8, 8)).astype(np.uint8)
    for scaled, value_range in ((pixels / 255, None), (pixels / 127.5 - 1, None), (pixels.astype(float), "0,255"),
                                (pixels / 255, "0,1")):
        np.testing.assert_array_equal(parse_samples(scaled, (1, 8, 8), value_range), pixels)
    with pytest.raises(GenbenchError, match=r"reads both as NCHW and as NHWC"):
        parse_samples(np.zeros((12, 3, 3, 3), np.uint8), (3, 3, 3))
    np.savez(tmp_path / "s.npz", samples=pixels, labels=np.arange(len(pixels)))
    np.testing.assert_array_equal(read_samples(tmp_path / "s.npz", (1, 8, 8)), pixels)
