"""``genbench`` as a torchrun rank that records which files under a folder it opened:
``torchrun ... tests/ddp_audit.py FOLDER REPORT_DIR genbench-args...``. A Python audit hook
sees every ``open`` (and ``os.open``) and rename; at exit the rank writes
``REPORT_DIR/rank<RANK>.json`` with the paths under FOLDER it wrote and read, so a test can
tell which rank wrote the run's files and which read its checkpoint."""
import json
import os
import sys
from pathlib import Path

WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


def main() -> int:
    folder, report, argv = os.path.realpath(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:]
    seen = {"writes": set(), "reads": set()}

    def hook(event: str, args: tuple) -> None:
        if event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
            path, mode, flags = os.path.realpath(os.fsdecode(args[0])), args[1], args[2]
            writes = any(c in mode for c in "wax+") if isinstance(mode, str) else bool(flags & WRITE_FLAGS)
            if path.startswith(folder):
                seen["writes" if writes else "reads"].add(path)
        elif event == "os.rename" and isinstance(args[1], (str, bytes, os.PathLike)):
            path = os.path.realpath(os.fsdecode(args[1]))
            if path.startswith(folder):
                seen["writes"].add(path)

    sys.addaudithook(hook)
    from genbench.cli import main as genbench

    code = genbench(argv)
    report.mkdir(parents=True, exist_ok=True)
    (report / f"rank{os.environ['RANK']}.json").write_text(json.dumps({k: sorted(v) for k, v in seen.items()}))
    return code


if __name__ == "__main__":
    sys.exit(main())
