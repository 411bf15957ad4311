"""Training speed of every image model: genbench's loop at its image defaults (data held
as one uint8 tensor on the device, bf16 autocast, channels_last for convolutional
models as the presets set it (all but dcgan-tf28), fused Adam, matrix products for the
convolutions on tiny maps and from the latent code) against a straightforward reference
loop (DataLoader over a float TensorDataset, per-batch ``.to()``, default Adam, fp32,
contiguous layout, every convolution the plain torch layer), side by side, batch 128,
images per second over timed steps after warm-up, best of ``--repeats``. The reference
runs in a fresh process for each model with glibc's default malloc, as a user's loop would;
genbench's trainer makes its process keep freed memory (``hardware.keep_freed_memory``),
so the reference is also timed there (``reference_kept_memory_img_s``) to show what that
part of the speed-up is.

Random images of each model's shape stand in for data: speed does not depend on pixel
values. Quality at bf16 is checked separately (``--quality``): a GAN (default ``dcgan``,
which trains stably in a few epochs; study 002's dcgan28 collapses under its own settings
in fp32 and bf16 alike) trained on real Fashion-MNIST in fp32 and in bf16 in its preset's
layout (channels_last but for ``dcgan-tf28``) for the same steps and seeds (and, on the
CPU for a model with genbench's CPU layers, in bf16 with the plain torch layers), scored
by evaluator FD, precision and recall of 10,000 samples against the test split.

Usage: python benchmarks/images.py [--steps 15] [--repeats 3] [--device cpu] [--threads N] [--models dcgan28,...]
       [--quality] [--out benchmarks/results/images-cpu.json (images-gpu.json with --device cuda)]
"""
from __future__ import annotations

import argparse
import hashlib
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch
from torch import nn
from machine import machine_facts, sync  # benchmarks/machine.py, beside this script
from torch.utils.data import DataLoader, TensorDataset

from genbench.config import TrainSettings
from genbench.io import write_json
from genbench.models import MODELS, build_model, count_parameters
from genbench.models.dcgan import LatentConvTranspose2d
from genbench.models.tf28 import TinyMapConv2d
from genbench.runtime import resolve_device
from genbench.train import make_trainer
from genbench.train.gan import d_loss, g_loss
from genbench.train.vae import vae_loss

BATCH = 128
CONV = ("dcgan28", "conv-vae28", "dcgan-tf28", "conv-vae-tf28", "dcgan", "conv-vae", "dcgan64")
SHAPES = {"dcgan": (1, 28, 28), "conv-vae": (1, 28, 28)}  # study 001's MNIST size; others: their own
CONTIGUOUS = ("dcgan-tf28",)  # convolutional, but the mnist preset trains it contiguous (faster, see --sweep)


def reference_images_per_s(name: str, data: np.ndarray, steps: int, warmup: int, device: torch.device) -> float:
    """pytorch/examples style: DataLoader, .to(device) per batch, Adam, fp32."""
    torch.manual_seed(0)
    model = build_model(name, data.shape[1:], {}).to(device).train()
    plain_convolutions(model)  # the reference runs every convolution as a plain nn.Conv2d
    lo, hi = model.value_range
    images = torch.from_numpy(data).float() / 255 * (hi - lo) + lo
    loader = DataLoader(TensorDataset(images), batch_size=BATCH, shuffle=True, drop_last=True)
    if model.family == "vae":
        opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    else:
        opt_g = torch.optim.Adam(model.generator.parameters(), lr=2e-4)
        opt_d = torch.optim.Adam(model.discriminator.parameters(), lr=2e-4)
    done, start = 0, 0.0
    while True:
        for (x,) in loader:
            if done == warmup:
                sync(device)
                start = time.perf_counter()
            x = x.to(device)
            if model.family == "vae":
                out = model(x, torch.randn(len(x), model.latent_dim, device=device))
                loss = vae_loss(model, x[None], *(t[None] for t in out))["loss"].sum()
                opt.zero_grad()
                loss.backward()
                opt.step()
            else:
                fake = model.generator(torch.randn(len(x), model.latent_dim, device=device))
                ld = d_loss(model.discriminator(x)[None], model.discriminator(fake.detach())[None]).sum()
                opt_d.zero_grad()
                ld.backward()
                opt_d.step()
                lg = g_loss(model.discriminator(fake)[None]).sum()
                opt_g.zero_grad()
                lg.backward()
                opt_g.step()
            done += 1
            if done == warmup + steps:
                sync(device)
                return steps * BATCH / (time.perf_counter() - start)


def reference_process(threads: int | None) -> ProcessPoolExecutor:
    """A fresh process for the reference loop: this CPU's settings (denormals flushed, the
    thread count), malloc left at glibc's defaults (no genbench trainer runs there). Fresh
    for each model: glibc's thresholds adapt to the largest blocks freed so far, so a
    process that trained a larger model before pays fewer page faults than a user's would."""
    return ProcessPoolExecutor(1, multiprocessing.get_context("spawn"), initializer=cpu_settings, initargs=(threads,))


def cpu_settings(threads: int | None) -> None:
    torch.set_flush_denormal(True)
    if threads:
        torch.set_num_threads(threads)


def genbench_settings(name: str, **overrides) -> TrainSettings:
    base = {"epochs": 1, "batch_size": BATCH, "lr": 2e-4, "precision": "auto",
            "channels_last": name in CONV and name not in CONTIGUOUS}
    return TrainSettings(**{**base, **overrides})


# genbench's CPU forms of convolutions, each a subclass of the torch layer it computes
CPU_CONVOLUTIONS = {TinyMapConv2d: nn.Conv2d, LatentConvTranspose2d: nn.ConvTranspose2d}


def has_cpu_forms(model: nn.Module) -> bool:
    """Whether ``model`` has a TinyMapConv2d or LatentConvTranspose2d layer."""
    return any(type(m) in CPU_CONVOLUTIONS for m in model.modules())


def plain_convolutions(model: nn.Module) -> None:
    """Every TinyMapConv2d and LatentConvTranspose2d computed as the plain torch layer it subclasses."""
    for layer in model.modules():
        if type(layer) in CPU_CONVOLUTIONS:
            layer.__class__ = CPU_CONVOLUTIONS[type(layer)]


def genbench_images_per_s(name: str, data: np.ndarray, steps: int, warmup: int, device: torch.device,
                          cpu_forms: bool = True, **settings) -> float:
    torch.manual_seed(0)
    model = build_model(name, data.shape[1:], {})
    if not cpu_forms:
        plain_convolutions(model)
    trainer = make_trainer([model], data, data[:256], genbench_settings(name, **settings), [0], device)
    batches = trainer.streams.batches(len(data), BATCH)
    for i in range(warmup + steps):
        if i == warmup:
            sync(device)
            start = time.perf_counter()
        trainer.train_batch(trainer.batch(batches[i % len(batches)]))
    sync(device)
    return steps * BATCH / (time.perf_counter() - start)


def sweep(name: str, data: np.ndarray, args: argparse.Namespace, device: torch.device, ref: float) -> dict:
    """img/s and speed-up over ``ref`` of genbench's loop under each precision and layout
    (and with TinyMapConv2d and LatentConvTranspose2d layers as the plain torch layers),
    best of ``args.repeats``."""
    forms = (True, False) if has_cpu_forms(build_model(name, data.shape[1:], {})) else (True,)
    combos = [(p, cl, f) for p in ("fp32", "bf16") for cl in (False, True) for f in forms]
    out = {}
    for _ in range(args.repeats):
        for precision, channels_last, cpu_forms in combos:
            key = f"{precision}{'+channels_last' if channels_last else ''}{'' if cpu_forms else '+plain_conv'}"
            rate = genbench_images_per_s(name, data, args.steps, args.warmup, device, cpu_forms, precision=precision,
                                         channels_last=channels_last)
            out[key] = max(out.get(key, 0.0), rate)
    for key, rate in out.items():
        print(f"    {key:32s} {rate:9.1f} img/s  x{rate / ref:.2f}", flush=True)
    return {key: {"img_s": round(rate, 1), "speedup": round(rate / ref, 2)} for key, rate in out.items()}


def weights_digest(model: nn.Module) -> str:
    """SHA-256 of every parameter and buffer's values (16 hex digits): equal digests mean
    bit-identical weights, whatever their memory layout."""
    digest = hashlib.sha256()
    for tensor in model.state_dict().values():
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def quality_check(device: torch.device, epochs: int, model_name: str, seeds: list[int]) -> dict:
    """``model_name`` on Fashion-MNIST, fp32 (contiguous) vs bf16 autocast in the layout its
    preset trains in (``genbench_settings``: channels_last but for CONTIGUOUS), with the
    DCGAN paper's Adam (2e-4, betas 0.5/0.999), for each seed the same init, batches and
    steps in both precisions: final losses and evaluator FD / precision / recall of 10,000
    samples against the test split, per seed and as the mean over seeds, and a digest of
    each seed's trained weights (equal digests: bit-identical training). A model with
    genbench's CPU layers (TinyMapConv2d, LatentConvTranspose2d) is also trained in bf16
    with the plain torch layers instead (``bf16_plain_layers``): the same maths, rounded
    differently, so its scores show what the layers alone change."""
    from genbench.data import make_splits
    from genbench.features import FeatureRequest, extractor_loader
    from genbench.metrics import EvalContext, evaluate
    from genbench.scoring import sample_run

    splits = make_splits("fashion-mnist", {}, "study", None, 2000, None, 0)
    evaluator = extractor_loader("evaluator", FeatureRequest("fashion-mnist", {}))()
    ctx = EvalContext(train=splits.train, test=splits.test, modes=None, kind="images",
                      test_labels=splits.labels["test"], extractors={"evaluator": lambda: evaluator})
    arms = [("fp32", "fp32", True), ("bf16", "bf16", True)]  # (name, precision, genbench's CPU layers)
    if device.type == "cpu" and has_cpu_forms(build_model(model_name, (1, 28, 28), {})):
        arms.append(("bf16_plain_layers", "bf16", False))  # what the CPU layers change, alone
    out = {"epochs": epochs, "seeds": seeds}
    for arm, precision, cpu_forms in arms:
        per_seed = {}
        for seed in seeds:
            torch.manual_seed(seed)
            model = build_model(model_name, (1, 28, 28), {})
            if not cpu_forms:
                plain_convolutions(model)
            layout = {} if precision == "bf16" else {"channels_last": False}  # bf16 as its preset; fp32 plain
            settings = genbench_settings(model_name, epochs=epochs, precision=precision, betas=(0.5, 0.999), **layout)
            trainer = make_trainer([model], splits.train, splits.holdout, settings, [seed], device)
            start = time.perf_counter()
            while trainer.epoch < epochs:
                trainer.run_epoch()
            seconds = time.perf_counter() - start
            trainer.finish()
            scores = evaluate(["fd", "pr"], sample_run(model, 10000, seed, device), ctx)
            last = trainer.histories[0][-1]
            per_seed[seed] = {"train_seconds": round(seconds, 1), "d_loss": round(last["d_loss"], 4),
                              "g_loss": round(last["g_loss"], 4), **{k: round(v, 4) for k, v in scores.items()},
                              "weights_sha256": weights_digest(model)}
            print(arm, seed, per_seed[seed], flush=True)
        keys = [k for k in per_seed[seeds[0]] if k != "weights_sha256"]
        out[arm] = {"precision": precision, "channels_last": settings.channels_last, "plain_layers": not cpu_forms,
                    "seeds": per_seed,
                    "mean": {k: round(float(np.mean([r[k] for r in per_seed.values()])), 4) for k in keys}}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3, help="timings per model and loop; the best is kept")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's, one per core); 1 gives steadier "
                                                    "ratios on a machine shared with other work")
    parser.add_argument("--models", default=",".join(n for n, s in MODELS.items() if len(s.example_shape) == 3))
    parser.add_argument("--quality", action="store_true", help="also train a GAN fp32 vs bf16 on Fashion-MNIST (and bf16 with the plain torch layers "
                                                                 "on the CPU, for a model with genbench's CPU layers)")
    parser.add_argument("--quality-model", default="dcgan")
    parser.add_argument("--quality-epochs", type=int, default=1)
    parser.add_argument("--quality-seeds", default="0", help="comma-separated seeds, each trained in every arm")
    parser.add_argument("--sweep", action="store_true",
                        help="also time genbench's loop in fp32/bf16 x contiguous/channels_last (x genbench's CPU "
                             "forms of convolutions on/off where a model has TinyMapConv2d or LatentConvTranspose2d "
                             "layers), to pick per-CPU defaults")
    parser.add_argument("--out")
    args = parser.parse_args()
    cpu_settings(args.threads)
    device = resolve_device(args.device)
    rows = {}
    for name in args.models.split(","):
        shape = SHAPES.get(name, MODELS.get(name).example_shape)
        data = np.random.default_rng(0).integers(0, 256, (BATCH * 8, *shape), dtype=np.uint8)
        # Best of --repeats, alternating: this VM's CPU has hiccups that halve a rate now and then.
        ref = ours = ref_kept = 0.0
        with reference_process(args.threads) as reference:  # one per model, as a user runs one
            for _ in range(args.repeats):
                ref = max(ref, reference.submit(reference_images_per_s, name, data, args.steps, args.warmup,
                                                device).result())
                ours = max(ours, genbench_images_per_s(name, data, args.steps, args.warmup, device))
                ref_kept = max(ref_kept, reference_images_per_s(name, data, args.steps, args.warmup, device))
        rows[name] = {"shape": list(shape), "params": count_parameters(build_model(name, shape, {})),
                      "reference_img_s": round(ref, 1), "genbench_img_s": round(ours, 1), "speedup": round(ours / ref, 2),
                      "reference_kept_memory_img_s": round(ref_kept, 1)}
        if args.sweep:
            rows[name]["sweep"] = sweep(name, data, args, device, ref)
        print(f"{name:14s} {'x'.join(map(str, shape)):8s} reference {ref:9.1f} img/s  genbench {ours:9.1f} img/s  "
              f"x{ours / ref:.2f}  (reference keeping freed memory {ref_kept:9.1f} img/s)", flush=True)
    result = {"device": str(device), "machine": machine_facts(), "batch": BATCH, "steps": args.steps, "repeats": args.repeats,
              "models": rows}
    if device.type == "cuda":
        result["gpu"] = torch.cuda.get_device_name(device)
    if args.quality:
        seeds = [int(x) for x in args.quality_seeds.split(",")]
        quality = quality_check(device, args.quality_epochs, args.quality_model, seeds)
        result[f"quality_{args.quality_model}_fashion_mnist"] = quality
        print(quality)
    out = Path(args.out or f"benchmarks/results/images-{'gpu' if device.type == 'cuda' else 'cpu'}.json")
    write_json(out, result)
    print(f"-> {out}")


if __name__ == "__main__":
    main()
