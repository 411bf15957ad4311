"""Facts about the machine a benchmark ran on, for its JSON: CPU model, the ISA
extensions that decide which kernels PyTorch can use (AVX-512, AVX512-BF16, AMX), thread
counts and library versions. Also a peak-throughput probe (one large matmul), so a
benchmark can say what fraction of the machine's peak it reached.

Usage (from a benchmark): ``from machine import machine_facts, matmul_peak, sync``.
"""
from __future__ import annotations

import os
import platform
import re
import resource
import subprocess
import time
from pathlib import Path

import torch

from genbench.hardware import MALLOC_ENV, cpu_info, isa

def _cpu_mhz() -> float | None:
    try:
        found = re.search(r"^cpu MHz\s*:\s*([\d.]+)$", Path("/proc/cpuinfo").read_text(), re.M)
    except OSError:
        return None
    return float(found.group(1)) if found else None


def _cpu_id() -> dict[str, int] | None:
    """The first CPU's family, model and stepping numbers: "AMD EPYC" alone names Zen 4
    (family 25) and Zen 5 (family 26) alike."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    found = {key: re.search(rf"^{key}\s*:\s*(\d+)$", text, re.M) for key in ("cpu family", "model", "stepping")}
    return {key.replace(" ", "_"): int(m.group(1)) for key, m in found.items() if m} or None


def _lscpu_model() -> str | None:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    found = re.search(r"^Model name:\s*(.+)$", out, re.M)
    return found.group(1).strip() if found else None


def _hypervisor(flags: set[str]) -> str | None:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=5).stdout
        found = re.search(r"^Hypervisor vendor:\s*(.+)$", out, re.M)
        if found:
            return found.group(1).strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return "unknown" if "hypervisor" in flags else None


def _onednn_version() -> str | None:
    found = re.search(r"(?:MKL-DNN|oneDNN)\s+v([\d.]+)", torch.__config__.show())
    return found.group(1) if found else None


def _mkl_version() -> str | None:
    found = re.search(r"Math Kernel Library Version ([\w.\-]+)", torch.__config__.show())
    return found.group(1) if found else None


def machine_facts() -> dict:
    """A JSON-ready description of the CPU, its ISA flags and the PyTorch build."""
    model, flags = cpu_info()
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = None
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    return {
        "cpu_model": model or _lscpu_model() or platform.processor() or None,
        "cpu_id": _cpu_id(),
        "cpu_mhz_now": _cpu_mhz(),
        "hypervisor": _hypervisor(flags),
        "cpu_count": os.cpu_count(),
        "cpus_usable": affinity,
        "isa": isa(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "mkldnn_available": torch.backends.mkldnn.is_available(),
        "onednn_version": _onednn_version(),
        "mkl_available": torch.backends.mkl.is_available(),
        "mkl_version": _mkl_version(),
        "openmp_available": torch.backends.openmp.is_available(),
        "env": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "DNNL_MAX_CPU_ISA",
                                           "ONEDNN_MAX_CPU_ISA", "TORCHINDUCTOR_CACHE_DIR", "GENBENCH_KEEP_MEMORY",
                                           "GLIBC_TUNABLES", *MALLOC_ENV) if k in os.environ},
        "load_average": load,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "gpus": _gpus(),
    }


def _gpus() -> list[dict]:
    """Each CUDA GPU torch sees: name, memory, compute capability, and the CUDA and driver
    builds torch runs with (empty on a CPU-only machine)."""
    if not torch.cuda.is_available():
        return []
    driver = _nvidia_driver()
    out = []
    for i in range(torch.cuda.device_count()):
        props = torch.cuda.get_device_properties(i)
        out.append({"name": props.name, "memory_gib": round(props.total_memory / 2 ** 30, 1),
                    "capability": f"{props.major}.{props.minor}", "multiprocessors": props.multi_processor_count,
                    "cuda": torch.version.cuda, "driver": driver})
    return out


def _nvidia_driver() -> str | None:
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return out.split()[0] if out.strip() else None


def sync(device: torch.device) -> None:
    """Wait for ``device``'s queued work, so that a clock read next counts it (a no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (a study's workers)."""
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


class OtherLoad:
    """Context manager: how many CPU cores other processes kept busy while it was open
    (Linux /proc/stat minus the CPU time of this process and of its children that ended
    inside, such as a study's worker processes). Above ~0.2 on a small machine, timings
    taken inside are contaminated; record it beside them."""

    @staticmethod
    def _busy() -> float | None:
        try:
            fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]
        except OSError:
            return None
        user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields)
        return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")

    def __enter__(self) -> "OtherLoad":
        self.cores = None
        self._t, self._cpu, self._busy0 = time.perf_counter(), cpu_seconds(), self._busy()
        return self

    def __exit__(self, *exc) -> None:
        busy = self._busy()
        if busy is None or self._busy0 is None:
            return
        wall = time.perf_counter() - self._t
        self.cores = max(0.0, (busy - self._busy0) - (cpu_seconds() - self._cpu)) / wall


def matmul_peak(dtype: torch.dtype = torch.float32, n: int = 4096, reps: int = 5) -> float:
    """Best GFLOP/s of an n x n by n x n matmul at the current thread count: the
    practical peak the other figures are measured against (bf16 uses AVX512-BF16 or AMX
    through oneDNN where the CPU has them)."""
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    torch.mm(a, b)  # warm-up: thread pool, oneDNN kernel selection
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * n ** 3 / best / 1e9


if __name__ == "__main__":
    import json

    facts = machine_facts()
    facts["peak_gflops"] = {str(d).removeprefix("torch."): round(matmul_peak(d), 1)
                            for d in (torch.float32, torch.bfloat16)}
    print(json.dumps(facts, indent=2))
