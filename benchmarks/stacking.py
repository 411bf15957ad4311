"""Per-step cost of training study 000's models: one seed in a plain loop, 5 seeds with
torch.func.vmap over stacked weights, and 5 seeds with genbench's seed-batched layers
(`train/stacked.py`). Batch 128, fused Adam for the stacked variants, CPU.

Usage: python benchmarks/stacking.py [--steps 200] [--out benchmarks/results/stacking.json]
"""
from __future__ import annotations

import argparse
import copy
import os
import time
from pathlib import Path

import torch
from torch.func import functional_call, stack_module_state, vmap

from genbench.io import write_json
from genbench.models import build_model
from genbench.train.gan import d_loss, g_loss
from genbench.train.stacked import Stacked
from genbench.train.vae import vae_loss

SEEDS, BATCH = 5, 128


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


def time_vae(wrap, seeds: int, steps: int, fused: bool) -> float:
    models = [build_model("mlp-vae", (2,), {}) for _ in range(seeds)]
    net = wrap(models)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, fused=fused)
    data = torch.randn(2000, 2)
    for step in range(steps + 20):
        if step == 20:
            start = time.perf_counter()
        x = data[torch.randint(0, 2000, (seeds, BATCH))]
        loss = vae_loss(models[0], x, *net(x, torch.randn(seeds, BATCH, 24)))["loss"].sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return (time.perf_counter() - start) / steps * 1e3


def time_gan(wrap, seeds: int, steps: int, fused: bool) -> float:
    models = [build_model("mlp-gan", (2,), {}) for _ in range(seeds)]
    gen, disc = wrap([m.generator for m in models]), wrap([m.discriminator for m in models])
    opt_g = torch.optim.Adam(gen.parameters(), lr=1e-3, betas=(0.5, 0.9), fused=fused)
    opt_d = torch.optim.Adam(disc.parameters(), lr=1e-3, betas=(0.5, 0.9), fused=fused)
    data = torch.randn(2000, 2)
    for step in range(steps + 20):
        if step == 20:
            start = time.perf_counter()
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
    return (time.perf_counter() - start) / steps * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--out", default="benchmarks/results/stacking.json")
    args = parser.parse_args()
    torch.set_flush_denormal(True)
    torch.manual_seed(0)
    variants = {
        "plain_1_seed_adam": (lambda ms: _plain(ms[0]), 1, False),
        "vmap_5_seeds_fused": (VmapStacked, SEEDS, True),
        "seed_layers_5_seeds_fused": (Stacked, SEEDS, True),
    }
    result = {"batch": BATCH, "steps": args.steps, "cpu_count": os.cpu_count(), "torch": torch.__version__,
              "ms_per_step": {}, "ms_per_seed_step": {}}
    for model, timer in (("mlp-vae", time_vae), ("mlp-gan", time_gan)):
        for name, (wrap, seeds, fused) in variants.items():
            ms = timer(wrap, seeds, args.steps, fused)
            result["ms_per_step"][f"{model}/{name}"] = ms
            result["ms_per_seed_step"][f"{model}/{name}"] = ms / seeds
            print(f"{model:8s} {name:28s} {ms:6.2f} ms/step  {ms / seeds:5.2f} ms/seed-step", flush=True)
    write_json(Path(args.out), result)


if __name__ == "__main__":
    main()
