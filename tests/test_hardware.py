import os
import subprocess
import sys

import pytest
import torch
from pydantic import ValidationError

from genbench import hardware
from genbench.config import TrainSettings
from genbench.hardware import auto_precision, bf16_allowed, native_bf16, resolve_precision

SAPPHIRE_RAPIDS = frozenset({"avx2", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8"})
ZEN4 = frozenset({"avx2", "avx512f", "avx512_bf16", "avx512_vnni"})
SKYLAKE = frozenset({"avx2", "avx512f", "avx512bw"})


@pytest.mark.parametrize("cap, allowed", [(None, True), ("ALL", True), ("avx512_core_amx", True), ("AVX10_1_512_AMX", True),
                                          ("AVX10_2_512", True), ("AVX512_CORE_BF16", True), ("AVX512_CORE", False),
                                          ("AVX512_CORE_VNNI", False), ("AVX2", False)])
def test_onednn_caps_that_leave_bf16_on(cap, allowed):
    assert bf16_allowed(cap.upper() if cap else None) is allowed


def test_native_bf16_needs_the_cpu_flags_and_no_cap_below_them():
    assert native_bf16(SAPPHIRE_RAPIDS, None) and native_bf16(ZEN4, None)
    assert native_bf16(SAPPHIRE_RAPIDS, "AVX512_CORE_BF16")
    assert not native_bf16(ZEN4, "AVX512_CORE") and not native_bf16(SKYLAKE, None)


@pytest.mark.parametrize("flags, cap, want", [(SAPPHIRE_RAPIDS, None, "bf16"), (SAPPHIRE_RAPIDS, "AVX2", "fp32"),
                                              (ZEN4, None, "bf16"), (ZEN4, "AVX512_CORE_VNNI", "fp32"),
                                              (SKYLAKE, None, "fp32"), (frozenset(), None, "fp32")])
def test_auto_precision_on_the_cpu_follows_the_isa(monkeypatch, flags, cap, want):
    monkeypatch.setattr(hardware, "cpu_info", lambda: ("a CPU", flags))
    monkeypatch.delenv("DNNL_MAX_CPU_ISA", raising=False)
    if cap:
        monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", cap.lower())
    else:
        monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    assert auto_precision(torch.device("cpu")) == want
    assert resolve_precision("auto", torch.device("cpu")) == want
    assert resolve_precision("fp32", torch.device("cpu")) == "fp32"  # a precision given is kept
    assert resolve_precision("bf16", torch.device("cpu")) == "bf16"


def test_precision_and_compile_settings_are_checked():
    assert TrainSettings(epochs=1, precision="auto", compile="auto").compile == "auto"
    for bad in ({"precision": "fp16"}, {"compile": "sometimes"}):
        with pytest.raises(ValidationError, match=next(iter(bad))):
            TrainSettings(epochs=1, **bad)


def test_cpu_info_reads_model_and_flags():
    model, flags = hardware.cpu_info()
    if model is None:
        pytest.skip("no /proc/cpuinfo here")
    assert isinstance(model, str) and isinstance(flags, frozenset)
    assert set(hardware.isa()) == set(hardware.ISA_FLAGS)


def test_models_of_narrow_linear_layers_are_told_apart():
    from genbench.models import build_model
    from genbench.hardware import narrow_products

    assert narrow_products(build_model("mlp-gan", (2,), {}))  # toy2d's GAN: 32 and 42 wide
    assert not narrow_products(build_model("mlp-vae", (2,), {}))  # 128 wide
    assert not narrow_products(build_model("dcgan28", (1, 28, 28), {}))  # convolutions


@pytest.mark.parametrize("flags, cap, want", [(SAPPHIRE_RAPIDS, None, "fp32"), (SAPPHIRE_RAPIDS, "ALL", "fp32"),
                                              (SAPPHIRE_RAPIDS, "AVX512_CORE_AMX", "fp32"),
                                              (SAPPHIRE_RAPIDS, "AVX512_CORE_BF16", "bf16"),  # AMX held off
                                              (ZEN4, None, "bf16"), (SKYLAKE, None, "fp32")])
def test_auto_keeps_narrow_models_in_fp32_where_bf16_runs_on_amx(monkeypatch, flags, cap, want):
    from genbench.models import build_model

    monkeypatch.setattr(hardware, "cpu_info", lambda: ("a CPU", flags))
    monkeypatch.delenv("DNNL_MAX_CPU_ISA", raising=False)
    if cap:
        monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", cap)
    else:
        monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    assert auto_precision(torch.device("cpu"), narrow=True) == want
    # The trainers decide it from their models: toy2d's GAN narrow, its VAE not.
    from genbench.train import make_trainer
    points = torch.randn(64, 2).numpy()
    settings = TrainSettings(epochs=1, batch_size=32, precision="auto")
    gan = make_trainer([build_model("mlp-gan", (2,), {})], points, points, settings, [0])
    vae = make_trainer([build_model("mlp-vae", (2,), {})], points, points, settings, [0])
    assert gan.precision == want
    assert vae.precision == ("fp32" if flags == SKYLAKE else "bf16")


def test_auto_on_a_gpu_takes_bf16_only_where_it_is_in_hardware_and_not_for_narrow_models(monkeypatch):
    asked = []

    def bf16_supported(including_emulation=True):
        asked.append(including_emulation)
        return True  # a GPU with bf16 in hardware

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", bf16_supported)
    gpu = torch.device("cuda")
    assert auto_precision(gpu) == "bf16" and auto_precision(gpu, narrow=True) == "fp32"
    assert asked and not any(asked)  # emulated bf16 (a V100, a T4) does not count
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: including_emulation)
    assert auto_precision(gpu) == "fp32"  # only emulated here


# Study 001's dcgan training on the CPU (batch 128): by default glibc hands a step's
# freed activation buffers back to the kernel and the next step faults them in again.
FAULTS_PER_STEP = """
import resource, numpy as np, torch
from genbench.config import TrainSettings
from genbench.hardware import keep_freed_memory
from genbench.models import build_model
from genbench.train import make_trainer
torch.set_num_threads(1)
data = np.random.default_rng(0).integers(0, 256, (512, 1, 28, 28), dtype=np.uint8)
trainer = make_trainer([build_model("dcgan", (1, 28, 28), {})], data, data[:64],
                       TrainSettings(epochs=1, batch_size=128, precision="fp32"), [0], torch.device("cpu"))
assert keep_freed_memory.cache_info().currsize == 1  # the trainer asked for it
batches = trainer.streams.batches(len(data), 128)
for idx in batches:
    trainer.train_batch(trainer.batch(idx))
start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for idx in batches:
    trainer.train_batch(trainer.batch(idx))
print(keep_freed_memory(), (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - start) / len(batches))
"""


def faults_per_step(**env: str) -> tuple[str, float]:
    """(whether malloc keeps freed memory, page faults per step) in a fresh process."""
    unset = (*hardware.MALLOC_ENV, "GENBENCH_KEEP_MEMORY", "GLIBC_TUNABLES")
    environ = {k: v for k, v in os.environ.items() if k not in unset}
    out = subprocess.run([sys.executable, "-c", FAULTS_PER_STEP], env={**environ, **env}, check=True,
                         capture_output=True, text=True).stdout.split()
    return out[0], float(out[1])


@pytest.mark.skipif(not hardware.glibc(), reason="glibc's malloc only")
def test_a_cpu_trainer_keeps_freed_memory_for_the_next_step_unless_the_user_says_otherwise():
    kept, kept_faults = faults_per_step()
    assert kept == "True" and kept_faults < 2000  # 0-400 here
    # glibc's defaults: 10,000-30,000 here; the user's trim threshold: about 100,000
    for env in ({"GENBENCH_KEEP_MEMORY": "0"}, {"MALLOC_TRIM_THRESHOLD_": "131072"}):
        kept, faults = faults_per_step(**env)
        assert kept == "False" and faults > 5 * max(kept_faults, 200)
