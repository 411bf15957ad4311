"""The report as a reader sees it: opened from a local file in headless Chromium, every
image decodes and the console stays clean. Needs Debian's ``chromium`` and
``chromium-driver`` (``make test-slow`` installs them where it can) and selenium."""
import os
import shutil
from pathlib import Path

import pytest

from genbench.config import resolve
from genbench.runtime import Runtime
from genbench.study import run_study

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed: pip install -e '.[test]'")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (CHROMIUM and DRIVER), reason="no chromium/chromedriver on PATH: "
                       "apt-get install chromium chromium-driver (make test-slow tries)"),
]


def _study() -> dict:
    """Both model families on 8x8 digits, two seeds, with every analysis figure."""
    return {
        "name": "browser", "seeds": 2, "datasets": {"digits": {}},
        "data": {"n_train": 256, "n_holdout": 64, "n_test": 200},
        "models": {
            "conv-vae": {"params": {"latent": 4, "width": 8}, "train": {"epochs": 2, "batch_size": 64}},
            "dcgan": {"params": {"latent": 8, "ngf": 8, "ndf": 8}, "train": {"epochs": 2, "batch_size": 64}},
        },
        "metrics": ["fd", "recon"], "n_samples": 200, "sample_every": 1, "analysis": True,
    }


@pytest.fixture
def browser():
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1200,900"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)  # no selenium-manager download
    yield driver
    driver.quit()


def test_report_renders_in_chromium_with_every_image_decoded(tmp_path, browser):
    root = run_study(resolve(_study()), tmp_path / "study", Runtime(quiet=True))
    browser.get((root / "report.html").resolve().as_uri())
    images = browser.execute_script(
        "return Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth, i.naturalHeight]);")
    captions = [alt for alt, *_ in images]
    assert len(images) >= 10, captions  # dataset figure, epochs, then per model its analyses
    assert not [i for i in images if not (i[1] and i[2] > 0 and i[3] > 0)], images
    for expected in ("samples over epochs", "reconstructions", "interpolation", "traversal", "t-SNE",
                     "reconstruction error histograms", "out-of-distribution latents"):
        assert any(expected in c for c in captions), (expected, captions)
    errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert errors == []
    assert browser.find_element("tag name", "h1").text.startswith("browser:")
    assert len(browser.find_elements("tag name", "table")) >= 3
    # A full-page screenshot, kept where GENBENCH_SCREENSHOT says (to look at) or in tmp.
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1200, min(height + 100, 16000))
    shot = Path(os.environ.get("GENBENCH_SCREENSHOT", tmp_path / "report.png"))
    assert browser.save_screenshot(str(shot))
    from PIL import Image

    with Image.open(shot) as png:
        assert png.size[0] >= 1000 and png.size[1] > 2000
