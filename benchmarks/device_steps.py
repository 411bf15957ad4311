"""Study 000's training step on one device (a GPU, or the CPU): genbench's own trainer at
the toy2d settings (S seeds stacked, the real step: LR scheduler, epoch meter, NaN check,
per-seed noise) in fp32 and bf16, eager and compiled, one process; then the toy2d
settings in K processes stepping at once on the same device, as the local executor's
workers do, and their combined rate.

It answers two questions the toy study's wall time depends on: which precision and
compile setting gives the fastest step on this device, and whether one process can keep
the device busy (on a GPU each kernel of these small MLPs takes microseconds, less than
the host takes to launch the next, so K processes may step at nearly K times the rate).

Times are ms per stacked step (all S seeds), best of ``--repeats`` rounds, the device
synchronised before the clock stops. Writes JSON with the machine's facts.

Usage: python benchmarks/device_steps.py [--device cuda] [--steps 500] [--repeats 3] [--seeds 5]
                                         [--processes 1 8] [--out benchmarks/results/device-steps-DEVICE.json]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch
from machine import machine_facts  # benchmarks/machine.py, beside this script
# benchmarks/stacking.py: genbench's trainer step as run_epoch runs it, and K processes stepping it at once
from stacking import step_in_processes, timed, trainer_stepper

from genbench.io import write_json
from genbench.runtime import resolve_device

MODELS = ("mlp-vae", "mlp-gan")
WARMUP = 30  # steps before timing: compiling, CUDA's lazy start, cuBLAS handles


def variants(args: argparse.Namespace, device: torch.device) -> dict:
    """ms per step of each model in each precision, eager and compiled, best of the rounds."""
    combos = [(m, p, c) for m in MODELS for p in ("fp32", "bf16") for c in (False, True)]
    steppers = {}
    for model, precision, compiled in combos:
        step = trainer_stepper(model, args.seeds, str(device), precision=precision, compile=compiled)
        for _ in range(WARMUP):
            step()
        steppers[model, precision, compiled] = step
    best: dict = {}
    for _ in range(args.repeats):  # alternating: a shared machine's hiccups hit every variant alike
        for key, step in steppers.items():
            best[key] = min(best.get(key, float("inf")), timed(step, args.steps, device)[0])
    out: dict = {}
    for (model, precision, compiled), ms in best.items():
        name = f"{precision}{'+compiled' if compiled else ''}"
        out.setdefault(model, {})[name] = {"ms_per_step": round(ms, 4), "ms_per_seed_step": round(ms / args.seeds, 4)}
        print(f"{model:8s} {name:14s} {ms:8.3f} ms per {args.seeds}-seed step", flush=True)
    return out


def shared(model: str, k: int, args: argparse.Namespace, device: torch.device) -> dict:
    """K processes stepping ``model`` at the toy2d settings at once: each one's ms per
    step, and the steps per second of all K together."""
    results, _ = step_in_processes(model, args.seeds, args.steps, k, str(device), args.repeats, WARMUP)
    ms = [r["ms"] for r in results]
    rate = sum(1e3 / m for m in ms)
    print(f"{model:8s} {k} processes: {max(ms):8.3f} ms per step each (slowest), {rate:8.0f} steps/s together",
          flush=True)
    return {"processes": k, "ms_per_step_each": [round(m, 4) for m in ms], "steps_per_s_together": round(rate, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3, help="rounds; the best counts")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 8],
                        help="process counts K to step the toy2d settings in at once")
    parser.add_argument("--out")
    args = parser.parse_args()
    torch.set_flush_denormal(True)
    device = resolve_device(args.device)
    out = Path(args.out or f"benchmarks/results/device-steps-{device.type}.json")
    result = {"machine": machine_facts(), "device": str(device), "seeds": args.seeds, "steps": args.steps,
              "repeats": args.repeats, "variants": variants(args, device), "shared": {}}
    write_json(out, result)  # written after each part: a run stopped at a time limit keeps what it measured
    for model in MODELS:
        for k in args.processes:
            result["shared"].setdefault(model, []).append(shared(model, k, args, device))
            write_json(out, result)
    print(f"-> {out}")


if __name__ == "__main__":
    main()
