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
