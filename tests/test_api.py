"""The Python API session in README.md runs as written, in a fresh process."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).parent.parent / "README.md"


def _session() -> str:
    section = README.read_text().split("\n## Python API\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 1, "the Python API section holds one session"
    return blocks[0]


@pytest.mark.slow
def test_the_readme_session_runs(tmp_path):
    (tmp_path / "session.py").write_text(_session())
    proc = subprocess.run([sys.executable, "session.py"], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "runs/api-demo/report.html" and (tmp_path / lines[0]).exists()
    assert lines[-1] == "579"  # the session's TinyGAN: (2*64+64) + (64*2+2) + (2*64+64) + (64+1)
    model_mmd, real_mmd = map(float, lines[2].split())
    assert abs(real_mmd) < model_mmd < 0.5


def test_train_and_report_are_both_functions_and_packages(tmp_path):
    """genbench.train / genbench.report call the API, and their submodules stay importable
    by every spelling (``import a.b.c as x`` fails when the attribute is a function)."""
    code = f"""
import inspect, sys
import genbench.train.adam as adam
import genbench.report.grid
import genbench
from genbench import api
assert genbench.train is sys.modules["genbench.train"] and genbench.report is sys.modules["genbench.report"]
assert genbench.report.grid.make_grid is sys.modules["genbench.report.grid"].make_grid
assert adam is genbench.train.adam and genbench.train.TRAINERS.get("vae").__name__ == "VAETrainer"
assert inspect.signature(genbench.train) == inspect.signature(api.train)
assert inspect.signature(genbench.report) == inspect.signature(api.report)
try:
    genbench.report({str(tmp_path / "missing")!r})
except genbench.GenbenchError as error:
    print(error)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"{tmp_path / 'missing'} is not a study folder (study.yaml is missing); run `genbench run` first"
