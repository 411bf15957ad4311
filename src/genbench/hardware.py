"""What this CPU can do, and the speed settings that follow from it.

The model name and the ISA extensions that decide which kernels PyTorch picks (AVX-512,
AVX512-BF16, AMX) are read once per process from /proc/cpuinfo; elsewhere (macOS,
Windows) the flags are unknown and the defaults that depend on them take their
conservative side.

``precision: auto`` resolves here: bf16 where the CPU has native bf16 dot products
(AVX512-BF16, or AMX tiles) and no oneDNN ISA cap set by the user (``ONEDNN_MAX_CPU_ISA``
or ``DNNL_MAX_CPU_ISA``) forbids them, fp32 elsewhere (without them bf16 is emulated and
slower than fp32). Measured with ``benchmarks/stacking.py`` (2 cores, batch 128): on an
Intel Xeon with AMX a bf16 batched matmul of study 000's shapes ran 2.3-3.7x faster than
fp32; on an AMD EPYC (Zen 4: AVX512-BF16, no AMX) the matmul peak was 390 against 180
GFLOP/s, and toy2d's compiled 5-seed VAE step 2.49 against 3.51 ms on one thread. (An
earlier reading, oneDNN held to ``AVX512_CORE_BF16`` on the Intel machine to imitate a
Zen 4, had bf16 at half of fp32's speed: the real Zen 4 says otherwise.) Models whose
products are all narrow (:func:`narrow_products`, toy2d's GAN) stay fp32 where bf16 runs
on AMX tiles, which slow such small products (:func:`auto_precision`).

On Linux, a training process also keeps the memory it frees for its next step
(:func:`keep_freed_memory`).
"""
from __future__ import annotations

import ctypes
import functools
import os
import re
from pathlib import Path

import torch
from torch import nn

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


# oneDNN's ISA names (``ONEDNN_MAX_CPU_ISA``) below which it has no native bf16 kernels.
NO_BF16_CAPS = ("SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2", "AVX512_CORE", "AVX512_CORE_VNNI")


def bf16_allowed(cap: str | None) -> bool:
    """Whether a oneDNN ISA cap leaves its bf16 kernels on (``AVX512_CORE_BF16`` and every
    level above it: ``AVX512_CORE_AMX``, ``AVX10_1_512``, ..., ``ALL``)."""
    return cap not in NO_BF16_CAPS


def native_bf16(flags: frozenset[str], cap: str | None) -> bool:
    """Whether oneDNN can run bf16 matrix products natively: the CPU has AVX512-BF16 or
    AMX-BF16 (``flags``) and no ISA cap (``cap``) holds oneDNN below them."""
    return bool({"avx512_bf16", "amx_bf16"} & flags) and bf16_allowed(cap)


def amx_used(flags: frozenset[str], cap: str | None) -> bool:
    """Whether oneDNN runs bf16 matrix products on AMX tiles: the CPU has AMX-BF16 and no
    ISA cap holds oneDNN below its AMX levels (``AVX512_CORE_AMX``, ``AVX10_1_512_AMX``,
    ``ALL``)."""
    return "amx_bf16" in flags and (cap is None or cap == "ALL" or "AMX" in cap)


# Matrix products this narrow (every Linear's inputs and outputs, see narrow_products) are
# slower in bf16 where oneDNN runs them on AMX tiles.
NARROW_WIDTH = 64


def narrow_products(model: nn.Module) -> bool:
    """Whether every weighted layer of ``model`` is a Linear of at most ``NARROW_WIDTH``
    inputs and outputs, or a LayerNorm (toy2d's GAN: 32 and 42 wide)."""
    weighted = [m for m in model.modules() if next(m.parameters(recurse=False), None) is not None]
    return bool(weighted) and all(
        isinstance(m, nn.LayerNorm)
        or (isinstance(m, nn.Linear) and max(m.in_features, m.out_features) <= NARROW_WIDTH) for m in weighted)


def auto_precision(device: torch.device, narrow: bool = False) -> str:
    """What ``precision: auto`` trains in on ``device``: bf16 on a CUDA GPU that has it
    and on a CPU with native bf16 dot products, fp32 elsewhere (see the module docstring).
    ``narrow`` (:func:`narrow_products`): the model's products are so small that on a CPU
    whose bf16 runs on AMX tiles, bf16 slows them, so they stay fp32 there. Measured on
    toy2d's GAN (genbench's trainer step, 5 seeds, one thread; ``benchmarks/stacking.py``):
    on an Intel Xeon with AMX 1.13 ms per seed-step in bf16 against 0.89 in fp32; without
    AMX, on AVX512-BF16 dot products, about even on an AMD Zen 4 (1.42 against 1.45) and
    faster on a Zen 5 (0.60 against 0.67, the same step timed alone). On a GPU narrow
    models stay fp32 too: their steps are bound by kernel launches, which bf16's casts
    add to (not measured on a GPU yet); and only a GPU with bf16 in hardware (Ampere on)
    counts, not one that emulates it."""
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported(including_emulation=False) and not narrow else "fp32"
    flags, cap = cpu_info()[1], onednn_cap()
    if device.type == "cpu" and native_bf16(flags, cap) and not (narrow and amx_used(flags, cap)):
        return "bf16"
    return "fp32"


def resolve_precision(precision: str, device: torch.device, narrow: bool = False) -> str:
    """``fp32`` or ``bf16``: a setting as given, ``auto`` decided for ``device`` (and
    ``narrow``, see :func:`auto_precision`)."""
    return auto_precision(device, narrow) if precision == "auto" else precision


# glibc's mallopt parameters (malloc.h) and the values keep_freed_memory sets.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD = 32 << 20  # the most glibc accepts on 64-bit: larger blocks are still mapped anew
TRIM_THRESHOLD = 256 << 20  # free memory kept at the top of the heap before some goes back
MALLOC_ENV = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_MMAP_MAX_")


def glibc() -> bool:
    """Whether this process's C library is glibc."""
    try:
        return bool(os.confstr("CS_GNU_LIBC_VERSION"))
    except (AttributeError, ValueError, OSError):  # no confstr (Windows), not glibc (macOS, musl)
        return False


@functools.lru_cache(maxsize=1)
def keep_freed_memory() -> bool:
    """Have glibc's malloc keep freed blocks of up to 32 MiB for reuse; True if it now does.

    By default glibc serves a block above its (adaptive) mmap threshold with fresh pages
    from the kernel and trims freed memory at the heap's top back to the kernel; a CPU
    training step frees and allocates the same activation buffers every step, so each
    step pays again for zero-filled pages: study 001's dcgan at batch 128 took about
    6,000 page faults per step in bf16 on two threads (48 ms per step, 40 ms without
    them), 10,000-30,000 in fp32 on one; a 3-epoch toy2d run 1.7 million (0.24 million
    without). PyTorch's CPU allocator is plain malloc, so the fix is malloc's own: fixed
    mmap and trim thresholds (``mallopt``), with which a process keeps at most
    ``TRIM_THRESHOLD`` of freed memory. Applied once per process, for the rest of it;
    skipped where the C library is not glibc, where the user configures malloc (any of
    ``MALLOC_ENV`` set, or ``glibc.malloc`` tunables in ``GLIBC_TUNABLES``) or sets
    ``GENBENCH_KEEP_MEMORY=0``.
    """
    if os.environ.get("GENBENCH_KEEP_MEMORY", "1") == "0" or any(name in os.environ for name in MALLOC_ENV):
        return False
    if "glibc.malloc" in os.environ.get("GLIBC_TUNABLES", "") or not glibc():
        return False
    mallopt = ctypes.CDLL(None).mallopt
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
