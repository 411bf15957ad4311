"""Per-step cost of training study 000's models: one seed in a plain loop, S seeds with
torch.func.vmap over stacked weights, S seeds with genbench's seed-batched layers
(`train/stacked.py`), and S seeds through genbench's own trainer (the real step: also the
LR scheduler, the per-step NaN check, the epoch meter and per-seed noise) in fp32 and
bf16, eager and compiled (torch.compile, inductor). Batch 128, fused Adam for the
stacked variants, CPU. Every variant is timed at each ``--threads`` count, and the
toy2d preset's own settings also as two single-threaded processes stepping at once
(the local executor's worker processes): their pair rate is what a study gets from two
cores.

Each step's FLOPs are counted from the layer shapes (a Linear costs 2*in*out per example
forward and twice that backward) and checked against torch's FlopCounterMode; the
machine's fp32 and bf16 matmul peak is measured in the same run, so every variant also
reports GFLOP/s and its fraction of peak. Variants alternate for ``--repeats`` rounds and
the best round counts (the machine may be shared); each result records how many cores
other processes kept busy while it ran and its CPU time per step (which other processes
inflate far less than wall time).

Usage: python benchmarks/stacking.py [--steps 200] [--repeats 3] [--seeds 5 [10 20]] [--threads 2 1]
                                     [--out benchmarks/results/stacking.json]
"""
from __future__ import annotations

import argparse
import copy
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap
from torch.utils.flop_counter import FlopCounterMode

from machine import OtherLoad, machine_facts, matmul_peak, sync  # benchmarks/machine.py, beside this script

from genbench.config import load_preset, resolve
from genbench.io import write_json
from genbench.models import build_model
from genbench.train import make_trainer
from genbench.train.gan import d_loss, g_loss
from genbench.train.loop import EpochMeter
from genbench.train.stacked import Stacked
from genbench.train.vae import vae_loss

BATCH = 128
WARMUP = 20


class VmapStacked:
    """The alternative genbench measured and did not keep: vmap over functional_call."""

    def __init__(self, modules):
        params, _ = stack_module_state(modules)
        self.params = {k: v.detach().requires_grad_() for k, v in params.items()}
        base = copy.deepcopy(modules[0]).to("meta")
        self.call = vmap(lambda p, *a: functional_call(base, p, a))

    def __call__(self, *args):
        return self.call(self.params, *args)

    def parameters(self):
        return list(self.params.values())


def _plain(module):
    """One seed, no stacking: the (S=1) path of Stacked."""
    return Stacked([module])


# -- FLOPs, counted from layer shapes ---------------------------------------------------
def _linears(module: nn.Module) -> list[nn.Linear]:
    return [m for m in module.modules() if isinstance(m, nn.Linear)]


def _forward_flops(module: nn.Module, batch: int) -> int:
    """Multiply-adds of every Linear, x2, for one forward pass of ``batch`` examples."""
    return sum(2 * m.in_features * m.out_features for m in _linears(module)) * batch


def _first_layer_flops(module: nn.Module, batch: int) -> int:
    first = _linears(module)[0]
    return 2 * first.in_features * first.out_features * batch


def vae_step_flops(model: nn.Module, batch: int = BATCH) -> int:
    """One seed's step: forward F, weight gradients F, input gradients F less the first
    layer's (the data needs none). Element-wise work is left out (a few percent)."""
    fwd = _forward_flops(model, batch)
    return 3 * fwd - _first_layer_flops(model.encoder, batch)


def gan_step_flops(model: nn.Module, batch: int = BATCH) -> int:
    """One seed's step: G forward; D step on real and fake (forward, weight and input
    gradients, none into the data or the detached fakes); G step: D forward on the fakes,
    D's input gradients only (backward(inputs=G)), G's weight and input gradients (none
    into the noise)."""
    g, d = _forward_flops(model.generator, batch), _forward_flops(model.discriminator, batch)
    d_step = 2 * (3 * d - _first_layer_flops(model.discriminator, batch))
    g_step = d + d + 2 * g - _first_layer_flops(model.generator, batch)
    return g + d_step + g_step


# -- the timed steps -------------------------------------------------------------------
def vae_stepper(wrap, seeds: int, fused: bool):
    models = [build_model("mlp-vae", (2,), {}) for _ in range(seeds)]
    net = wrap(models)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, fused=fused)
    data = torch.randn(2000, 2)

    def step() -> None:
        x = data[torch.randint(0, 2000, (seeds, BATCH))]
        loss = vae_loss(models[0], x, *net(x, torch.randn(seeds, BATCH, 24)))["loss"].sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return step


def gan_stepper(wrap, seeds: int, fused: bool):
    models = [build_model("mlp-gan", (2,), {}) for _ in range(seeds)]
    gen, disc = wrap([m.generator for m in models]), wrap([m.discriminator for m in models])
    opt_g = torch.optim.Adam(gen.parameters(), lr=1e-3, betas=(0.5, 0.9), fused=fused)
    opt_d = torch.optim.Adam(disc.parameters(), lr=1e-3, betas=(0.5, 0.9), fused=fused)
    data = torch.randn(2000, 2)

    def step() -> None:
        x = data[torch.randint(0, 2000, (seeds, BATCH))]
        fake = gen(torch.randn(seeds, BATCH, 2))
        loss_d = d_loss(disc(x), disc(fake.detach())).sum()
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        loss_g = g_loss(disc(fake)).sum()
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward(inputs=gen.parameters())
        opt_g.step()
    return step


def toy2d_settings(model_name: str, **overrides):
    """The toy2d preset's settings for the model on pinwheel, with ``overrides``."""
    settings = resolve(load_preset("toy2d")).train_settings("pinwheel", model_name)
    return settings.model_copy(update=overrides)


def toy2d_trainer(model_name: str, seeds: int, device: str = "cpu", **overrides):
    """genbench's trainer for ``seeds`` seeds of the model at the toy2d settings (with
    ``overrides``), on 2,000 training and 500 hold-out points (the study's split sizes),
    on ``device``."""
    settings = toy2d_settings(model_name, **overrides)
    models = []
    for seed in range(seeds):
        torch.manual_seed(seed)
        models.append(build_model(model_name, (2,), {}))
    rng = np.random.default_rng(0)
    return make_trainer(models, rng.normal(size=(2000, 2)).astype(np.float32),
                        rng.normal(size=(500, 2)).astype(np.float32), settings, list(range(seeds)), torch.device(device))


def trainer_stepper(model_name: str, seeds: int, device: str = "cpu", **overrides):
    """genbench's own training step (toy2d settings: cosine LambdaLR, fused Adam, with
    ``overrides``), as Trainer.run_epoch runs it: train_batch, then log_step (the epoch
    meter, and check_finite's one sync every FINITE_CHECK_EVERY steps), check_finite
    again at an epoch's end."""
    trainer = toy2d_trainer(model_name, seeds, device, **overrides)
    settings = trainer.settings
    state = {"batches": iter(()), "step": 0, "meter": None, "unchecked": []}

    def step() -> None:
        idx = next(state["batches"], None)
        if idx is None:  # a new epoch: the last one's values checked, fresh permutations, fresh meter
            trainer.check_finite(state["unchecked"])
            state["batches"] = iter(trainer.streams.batches(len(trainer.train), settings.batch_size))
            state["step"], state["meter"], state["unchecked"] = 0, EpochMeter(trainer.columns), []
            idx = next(state["batches"])
        state["step"] += 1
        values = trainer.train_batch(trainer.batch(idx))
        trainer.log_step(state["meter"], state["unchecked"], state["step"], idx.shape[1], values)
    step.precision, step.compiled = trainer.precision, trainer.compiles()
    return step


def timed(step, steps: int, device: torch.device = torch.device("cpu")) -> tuple[float, float, float | None]:
    """Wall and CPU ms per step over ``steps`` steps (``device`` synchronised before the
    clock stops), and the cores other processes used meanwhile."""
    with OtherLoad() as load:
        sync(device)
        start, cpu = time.perf_counter(), time.process_time()
        for _ in range(steps):
            step()
        sync(device)
        ms = (time.perf_counter() - start) / steps * 1e3
        cpu_ms = (time.process_time() - cpu) / steps * 1e3
    return ms, cpu_ms, load.cores


def child_main(model: str, seeds: int, steps: int, device: str, repeats: int, warmup: int) -> None:
    """One of K processes: one thread, the toy2d settings, warm up, then wait for the go
    line on stdin so that all K time the same seconds; print the best round's wall and CPU
    ms per step."""
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    dev = torch.device(device)
    step = trainer_stepper(model, seeds, device)
    for _ in range(warmup):
        step()
    sync(dev)
    print("ready", flush=True)
    sys.stdin.readline()
    ms, cpu_ms, _ = min((timed(step, steps, dev) for _ in range(repeats)), key=lambda r: r[0])  # best wall
    print(json.dumps({"ms": ms, "cpu_ms": cpu_ms}), flush=True)


def step_in_processes(model: str, seeds: int, steps: int, k: int, device: str = "cpu", repeats: int = 1,
                      warmup: int = WARMUP) -> tuple[list[dict[str, float]], float | None]:
    """K single-threaded processes stepping ``model`` at the toy2d settings at once, as
    the local executor's workers do: each one's ``{"ms", "cpu_ms"}`` per step (best of
    ``repeats`` rounds), and the cores other processes kept busy meanwhile (the K
    processes' own share taken away)."""
    cmd = [sys.executable, __file__, "--child", model, str(seeds), str(steps), device, str(repeats), str(warmup)]
    children = [subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for _ in range(k)]
    try:
        for child in children:
            if child.stdout.readline().strip() != "ready":
                raise RuntimeError(f"a child process for {model} failed before it was ready (see its error above)")
        with OtherLoad() as load:
            for child in children:
                child.stdin.write("go\n")
                child.stdin.flush()
            lines = [child.stdout.readline() for child in children]
        if not all(line.strip() for line in lines):
            raise RuntimeError(f"a child process for {model} failed while timing (see its error above)")
        results = [json.loads(line) for line in lines]
    finally:
        for child in children:  # done (they exit after printing), or one failed: end the rest
            if child.poll() is None:
                child.kill()
            child.wait()
    # OtherLoad counts the K processes too: take away their busy cores' share.
    other = None if load.cores is None else max(0.0, load.cores - sum(r["cpu_ms"] / r["ms"] for r in results))
    return results, other


def timed_pair(model: str, seeds: int, steps: int) -> tuple[float, float, float | None]:
    """Two single-threaded processes stepping the toy2d settings at once: ms per step of
    the pair (each one's wall time halved: two steps in that time), their mean CPU ms per
    step, and the other load meanwhile."""
    results, other = step_in_processes(model, seeds, steps, 2)
    return max(r["ms"] for r in results) / 2, float(np.mean([r["cpu_ms"] for r in results])), other


def counted_flops(step) -> int:
    with FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3, help="alternating rounds; the best counts")
    parser.add_argument("--seeds", type=int, nargs="+", default=[5], help="stack sizes to time")
    parser.add_argument("--threads", type=int, nargs="+", default=[2, 1], help="torch thread counts to time each at")
    parser.add_argument("--no-pair", action="store_true", help="skip the two-process timing")
    parser.add_argument("--out", default="benchmarks/results/stacking.json")
    args = parser.parse_args()
    torch.set_flush_denormal(True)
    torch.manual_seed(0)
    torch.set_num_threads(max(args.threads))

    peaks = {"fp32": matmul_peak(torch.float32), "bf16": matmul_peak(torch.bfloat16)}
    print(f"matmul peak: fp32 {peaks['fp32']:.1f} GFLOP/s, bf16 {peaks['bf16']:.1f} GFLOP/s", flush=True)

    flops = {"mlp-vae": vae_step_flops(build_model("mlp-vae", (2,), {})),
             "mlp-gan": gan_step_flops(build_model("mlp-gan", (2,), {}))}
    makers = {"mlp-vae": vae_stepper, "mlp-gan": gan_stepper}
    steppers, seeds_of = {}, {}
    for model in makers:
        steppers[f"{model}/plain_1_seed_adam"], seeds_of[f"{model}/plain_1_seed_adam"] = \
            makers[model](lambda ms: _plain(ms[0]), 1, False), 1
        for s in args.seeds:
            steppers[f"{model}/vmap_{s}_seeds_fused"] = makers[model](VmapStacked, s, True)
            steppers[f"{model}/seed_layers_{s}_seeds_fused"] = makers[model](Stacked, s, True)
            for precision in ("fp32", "bf16"):
                for compiled in (False, True):
                    key = f"{model}/genbench_trainer_{s}_seeds_{precision}{'_compiled' if compiled else ''}"
                    start = time.perf_counter()
                    steppers[key] = trainer_stepper(model, s, precision=precision, compile=compiled)
                    steppers[key]()  # compiles (or loads from inductor's cache) here, untimed
                    print(f"{key}: built in {time.perf_counter() - start:.1f} s", flush=True)
            for key in steppers:
                seeds_of.setdefault(key, s)
    # The analytic count must match what torch counts for one real step.
    counted = {model: counted_flops(steppers[f"{model}/seed_layers_{args.seeds[0]}_seeds_fused"]) / args.seeds[0]
               for model in makers}
    preset = {model: trainer_stepper(model, 1) for model in makers}  # what toy2d resolves to here
    preset = {model: {"precision": step.precision, "compiled": step.compiled} for model, step in preset.items()}

    best: dict[str, tuple[float, float, float | None]] = {}
    for step in steppers.values():
        for _ in range(WARMUP):
            step()
    for _ in range(args.repeats):
        for threads in args.threads:
            torch.set_num_threads(threads)
            for key, step in steppers.items():
                got = timed(step, args.steps)
                name = f"{key}@{threads}t"
                if name not in best or got[0] < best[name][0]:
                    best[name] = got
        for model in ([] if args.no_pair else makers):
            s = args.seeds[0]
            got = timed_pair(model, s, args.steps)
            name = f"{model}/genbench_toy2d_{s}_seeds_two_processes@1t"
            seeds_of[f"{model}/genbench_toy2d_{s}_seeds_two_processes"] = s
            if name not in best or got[0] < best[name][0]:
                best[name] = got
    peaks_end = {"fp32": matmul_peak(torch.float32), "bf16": matmul_peak(torch.bfloat16)}

    result = {"batch": BATCH, "steps": args.steps, "repeats": args.repeats, "threads": args.threads,
              "machine": machine_facts(), "toy2d_resolves_to": preset,
              "peak_gflops": {k: max(peaks[k], peaks_end[k]) for k in peaks},
              "peak_gflops_start_end": {"start": peaks, "end": peaks_end},
              "flops_per_seed_step": flops, "flops_per_seed_step_counted": counted,
              "ms_per_step": {}, "ms_per_seed_step": {}, "cpu_ms_per_seed_step": {}, "gflops": {},
              "fraction_of_fp32_peak": {}, "fraction_of_bf16_peak": {}, "other_load_cores": {}}
    for name, (ms, cpu_ms, load) in best.items():
        key = name.split("@")[0]
        model, variant = key.split("/")
        seeds = seeds_of[key]
        gflops = flops[model] * seeds / (ms / 1e3) / 1e9
        result["ms_per_step"][name] = ms
        result["ms_per_seed_step"][name] = ms / seeds
        result["cpu_ms_per_seed_step"][name] = cpu_ms / seeds
        result["gflops"][name] = gflops
        result["fraction_of_fp32_peak"][name] = gflops / result["peak_gflops"]["fp32"]
        result["fraction_of_bf16_peak"][name] = gflops / result["peak_gflops"]["bf16"]
        result["other_load_cores"][name] = load
        print(f"{model:8s} {variant + '@' + name.split('@')[1]:46s} {ms:7.2f} ms/step  {ms / seeds:5.2f} ms/seed-step "
              f"(cpu {cpu_ms / seeds:5.2f})  {gflops:6.1f} GFLOP/s ({gflops / result['peak_gflops']['fp32']:5.1%} of "
              f"fp32 peak)  other load {load if load is None else round(load, 2)}", flush=True)
    targets = {"mlp-vae": 1.0, "mlp-gan": 0.4}
    result["targets"] = []
    for model, bound in targets.items():
        name = f"{model}/genbench_toy2d_{args.seeds[0]}_seeds_two_processes@1t"
        if name in best and args.seeds[0] == 5:
            value = result["ms_per_seed_step"][name]
            result["targets"].append({"target": f"{model} ms per seed-step at 5 seeds <= {bound}", "variant": name,
                                      "value": value, "bound": bound, "met": value <= bound})
            print(f"{'MET ' if value <= bound else 'MISS'} {model}: {value:.3f} ms per seed-step vs {bound}")
    for model in makers:
        print(f"{model}: {flops[model] / 1e6:.1f} MFLOP per seed-step (torch counts {counted[model] / 1e6:.1f})")
    write_json(Path(args.out), result)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        model, seeds, steps, device, repeats, warmup = sys.argv[2:8]
        child_main(model, int(seeds), int(steps), device, int(repeats), int(warmup))
    else:
        main()
