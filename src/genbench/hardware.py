"""What this CPU can do, and the speed settings that follow from it.

The model name and the ISA extensions that decide which kernels PyTorch picks (AVX-512,
AVX512-BF16, AMX) are read once per process from /proc/cpuinfo; elsewhere (macOS,
Windows) the flags are unknown and the defaults that depend on them take their
conservative side.

``precision: auto`` resolves here. bf16 pays on the CPU only where oneDNN can run its
matrix products on AMX tiles: measured on an Intel Xeon with AMX (2 cores, batch 128,
``benchmarks/stacking.py`` and ``benchmarks/images.py``), a bf16 batched matmul of study
000's shapes ran 2.3-3.7x faster than fp32; with oneDNN held to AVX512-BF16 (the kernels
an AMD Zen 4 gets: ``ONEDNN_MAX_CPU_ISA=AVX512_CORE_BF16``) the same bf16 product ran at
half of fp32's speed, and without AVX512-BF16 at a sixth. A cap set by the user through
``ONEDNN_MAX_CPU_ISA`` (or ``DNNL_MAX_CPU_ISA``) counts, so one machine can try both.
"""
from __future__ import annotations

import functools
import os
import re
from pathlib import Path

import torch

# /proc/cpuinfo flag names worth recording and deciding on.
ISA_FLAGS = ("avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16", "avx512_fp16",
             "amx_tile", "amx_bf16", "amx_int8")
PRECISIONS = ("auto", "fp32", "bf16")


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


def onednn_cap() -> str | None:
    """The ISA oneDNN is held to by ``ONEDNN_MAX_CPU_ISA`` / ``DNNL_MAX_CPU_ISA``, upper-case; None if unset."""
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA") or os.environ.get("DNNL_MAX_CPU_ISA")
    return cap.strip().upper() if cap else None


def amx_allowed(cap: str | None) -> bool:
    """Whether a oneDNN ISA cap leaves AMX on (oneDNN's names: ``AVX512_CORE_AMX``,
    ``AVX10_1_512_AMX``, ..., ``ALL``; every AVX10.2 level includes AMX)."""
    return cap is None or cap in ("ALL", "DEFAULT") or "AMX" in cap or cap.startswith("AVX10_2")


def amx_bf16(flags: frozenset[str], cap: str | None) -> bool:
    """Whether oneDNN can run bf16 matrix products on AMX tiles: the CPU has them
    (``flags``) and no ISA cap (``cap``) forbids them."""
    return "amx_bf16" in flags and "amx_tile" in flags and amx_allowed(cap)


def auto_precision(device: torch.device) -> str:
    """What ``precision: auto`` trains in on ``device``: bf16 on a CUDA GPU that has it
    and on a CPU with AMX (where its products are 2-4x faster), fp32 elsewhere
    (AVX512-BF16 alone made bf16 products slower than fp32; see the module docstring)."""
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    if device.type == "cpu" and amx_bf16(cpu_info()[1], onednn_cap()):
        return "bf16"
    return "fp32"


def resolve_precision(precision: str, device: torch.device) -> str:
    """``fp32`` or ``bf16``: a setting as given, ``auto`` decided for ``device``."""
    return auto_precision(device) if precision == "auto" else precision
