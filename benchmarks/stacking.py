"""Per-step cost of training study 000's models: one seed in a plain loop, S seeds with
torch.func.vmap over stacked weights, S seeds with genbench's seed-batched layers
(`train/stacked.py`), and S seeds through genbench's own trainer (the real step: also the
LR scheduler, the per-step NaN check, the epoch meter and per-seed noise). Batch 128,
fused Adam for the stacked variants, CPU.

Each step's FLOPs are counted from the layer shapes (a Linear costs 2*in*out per example
forward and twice that backward) and checked against torch's FlopCounterMode; the
machine's fp32 and bf16 matmul peak is measured in the same run, so every variant also
reports GFLOP/s and its fraction of peak. Variants alternate for ``--repeats`` rounds and
the best round counts (the machine may be shared); each result records how many cores
other processes kept busy while it ran.

Usage: python benchmarks/stacking.py [--steps 200] [--repeats 3] [--seeds 5 [10 20]]
                                     [--out benchmarks/results/stacking.json]
"""
from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap
from torch.utils.flop_counter import FlopCounterMode

from machine import OtherLoad, machine_facts, matmul_peak  # benchmarks/machine.py, beside this script

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


def trainer_stepper(model_name: str, seeds: int):
    """genbench's own training step (toy2d settings: cosine LambdaLR, fused Adam), as
    Trainer.run_epoch runs it: train_batch, check_finite (one sync), EpochMeter.add."""
    settings = resolve(load_preset("toy2d")).train_settings("pinwheel", model_name)
    models = []
    for seed in range(seeds):
        torch.manual_seed(seed)
        models.append(build_model(model_name, (2,), {}))
    rng = np.random.default_rng(0)
    trainer = make_trainer(models, rng.normal(size=(2000, 2)).astype(np.float32),
                           rng.normal(size=(500, 2)).astype(np.float32), settings, list(range(seeds)), "cpu")
    state = {"batches": iter(()), "step": 0, "meter": None}

    def step() -> None:
        idx = next(state["batches"], None)
        if idx is None:  # a new epoch: fresh permutations, fresh meter
            state["batches"] = iter(trainer.streams.batches(len(trainer.train), settings.batch_size))
            state["step"], state["meter"] = 0, EpochMeter(trainer.columns)
            idx = next(state["batches"])
        state["step"] += 1
        values = trainer.train_batch(trainer.batch(idx))
        trainer.check_finite(values, state["step"])
        state["meter"].add(idx.shape[1], **values)
    return step


def timed(step, steps: int) -> tuple[float, float | None]:
    """ms per step over ``steps`` steps, and the cores other processes used meanwhile."""
    with OtherLoad() as load:
        start = time.perf_counter()
        for _ in range(steps):
            step()
        ms = (time.perf_counter() - start) / steps * 1e3
    return ms, load.cores


def counted_flops(step) -> int:
    with FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3, help="alternating rounds; the best counts")
    parser.add_argument("--seeds", type=int, nargs="+", default=[5], help="stack sizes to time")
    parser.add_argument("--out", default="benchmarks/results/stacking.json")
    args = parser.parse_args()
    torch.set_flush_denormal(True)
    torch.manual_seed(0)

    peaks = {"fp32": matmul_peak(torch.float32), "bf16": matmul_peak(torch.bfloat16)}
    print(f"matmul peak: fp32 {peaks['fp32']:.1f} GFLOP/s, bf16 {peaks['bf16']:.1f} GFLOP/s", flush=True)

    variants = {"plain_1_seed_adam": (lambda ms: _plain(ms[0]), 1, False)}
    for s in args.seeds:
        variants[f"vmap_{s}_seeds_fused"] = (VmapStacked, s, True)
        variants[f"seed_layers_{s}_seeds_fused"] = (Stacked, s, True)
        variants[f"genbench_trainer_{s}_seeds"] = (None, s, True)
    flops = {"mlp-vae": vae_step_flops(build_model("mlp-vae", (2,), {})),
             "mlp-gan": gan_step_flops(build_model("mlp-gan", (2,), {}))}
    makers = {"mlp-vae": vae_stepper, "mlp-gan": gan_stepper}

    steppers, seeds_of = {}, {}
    for model in makers:
        for name, (wrap, seeds, fused) in variants.items():
            key = f"{model}/{name}"
            steppers[key] = trainer_stepper(model, seeds) if wrap is None else makers[model](wrap, seeds, fused)
            seeds_of[key] = seeds
    # The analytic count must match what torch counts for one real step.
    counted = {model: counted_flops(steppers[f"{model}/seed_layers_{args.seeds[0]}_seeds_fused"]) / args.seeds[0]
               for model in makers}

    best: dict[str, tuple[float, float | None]] = {}
    for step in steppers.values():
        for _ in range(WARMUP):
            step()
    for _ in range(args.repeats):
        for key, step in steppers.items():
            ms, load = timed(step, args.steps)
            if key not in best or ms < best[key][0]:
                best[key] = (ms, load)
    peaks_end = {"fp32": matmul_peak(torch.float32), "bf16": matmul_peak(torch.bfloat16)}

    result = {"batch": BATCH, "steps": args.steps, "repeats": args.repeats, "machine": machine_facts(),
              "peak_gflops": {k: max(peaks[k], peaks_end[k]) for k in peaks},
              "peak_gflops_start_end": {"start": peaks, "end": peaks_end},
              "flops_per_seed_step": flops, "flops_per_seed_step_counted": counted,
              "ms_per_step": {}, "ms_per_seed_step": {}, "gflops": {}, "fraction_of_fp32_peak": {},
              "other_load_cores": {}}
    peak = result["peak_gflops"]["fp32"]
    for key, (ms, load) in best.items():
        model, name = key.split("/")
        seeds = seeds_of[key]
        gflops = flops[model] * seeds / (ms / 1e3) / 1e9
        result["ms_per_step"][key] = ms
        result["ms_per_seed_step"][key] = ms / seeds
        result["gflops"][key] = gflops
        result["fraction_of_fp32_peak"][key] = gflops / peak
        result["other_load_cores"][key] = load
        print(f"{model:8s} {name:28s} {ms:7.2f} ms/step  {ms / seeds:5.2f} ms/seed-step  {gflops:6.1f} GFLOP/s "
              f"({gflops / peak:5.1%} of fp32 peak)  other load {load if load is None else round(load, 2)}",
              flush=True)
    for model in makers:
        print(f"{model}: {flops[model] / 1e6:.1f} MFLOP per seed-step (torch counts {counted[model] / 1e6:.1f})")
    write_json(Path(args.out), result)


if __name__ == "__main__":
    main()
