"""What this CPU can do: its model name and the ISA extensions that decide which kernels
PyTorch picks (AVX-512, AVX512-BF16, AMX). Read once per process from /proc/cpuinfo;
elsewhere (macOS, Windows) the flags are unknown and the defaults that depend on them
take their conservative side."""
from __future__ import annotations

import functools
import re
from pathlib import Path

# /proc/cpuinfo flag names worth recording and deciding on.
ISA_FLAGS = ("avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16", "avx512_fp16",
             "amx_tile", "amx_bf16", "amx_int8")


@functools.lru_cache(maxsize=1)
def cpu_info() -> tuple[str | None, frozenset[str]]:
    """(model name, flag set) of the first CPU; (None, empty) where /proc/cpuinfo is absent."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None, frozenset()
    model = re.search(r"^model name\s*:\s*(.+)$", text, re.M)
    flags = re.search(r"^flags\s*:\s*(.+)$", text, re.M)
    return (model.group(1).strip() if model else None, frozenset(flags.group(1).split()) if flags else frozenset())


def isa() -> dict[str, bool]:
    """Each flag of :data:`ISA_FLAGS`: whether this CPU has it."""
    flags = cpu_info()[1]
    return {name: name in flags for name in ISA_FLAGS}
