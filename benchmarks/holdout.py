"""What the VAE's per-epoch hold-out pass costs, compiled (genbench's default when the step
is compiled) against eager (the same trainer with that pass's compiled function swapped
for the plain method), at the toy2d settings: 5 seeds, one thread, CPU.

Two figures per variant: the hold-out pass alone (``Trainer.validate``, as ``run_epoch``
calls it: eval mode, no gradients, autocast), and whole epochs (``run_epoch``: 16 steps,
the pass, the history rows), which also catch the pass's effect on the steps after it.
The variants are two trainers built alike; they alternate for ``--repeats`` rounds of
``--epochs`` epochs each, best and median of CPU time per round.

Usage: python benchmarks/holdout.py [--repeats 12] [--epochs 20] [--out benchmarks/results/holdout.json]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from machine import OtherLoad, machine_facts  # benchmarks/machine.py, beside this script
from stacking import toy2d_trainer  # benchmarks/stacking.py

from genbench.io import write_json

PASSES = 50  # hold-out passes per round when timing the pass alone


def hold_out_ms(trainer) -> float:
    """CPU ms per hold-out pass, as run_epoch runs it."""
    trainer.set_mode(False)
    try:
        start = time.process_time()
        for _ in range(PASSES):
            with torch.no_grad(), trainer.autocast():
                trainer.validate()
        return (time.process_time() - start) / PASSES * 1e3
    finally:
        trainer.set_mode(True)


def epoch_ms(trainer, epochs: int) -> float:
    """CPU ms per training epoch (run_epoch)."""
    start = time.process_time()
    for _ in range(epochs):
        trainer.run_epoch()
    return (time.process_time() - start) / epochs * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=12)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--out", default="benchmarks/results/holdout.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    trainers = {"compiled": toy2d_trainer("mlp-vae", 5), "eager": toy2d_trainer("mlp-vae", 5)}
    if not trainers["compiled"].compiles():
        raise SystemExit("the toy2d VAE does not compile here (compile: auto); nothing to compare")
    trainers["eager"].holdout_losses = trainers["eager"].holdout_losses_of
    for trainer in trainers.values():  # compile (or load) every graph before timing
        epoch_ms(trainer, 3)
    rounds = {name: {"pass": [], "epoch": []} for name in trainers}
    with OtherLoad() as load:
        for _ in range(args.repeats):
            for name, trainer in trainers.items():
                rounds[name]["pass"].append(hold_out_ms(trainer))
                rounds[name]["epoch"].append(epoch_ms(trainer, args.epochs))
    summary = {name: {kind: {"best": min(v), "median": float(np.median(v)), "rounds": v} for kind, v in r.items()}
               for name, r in rounds.items()}
    ratio = {kind: {stat: summary["compiled"][kind][stat] / summary["eager"][kind][stat] for stat in ("best", "median")}
             for kind in ("pass", "epoch")}
    result = {"model": "mlp-vae", "seeds": 5, "threads": 1, "epochs_per_round": args.epochs,
              "passes_per_round": PASSES, "repeats": args.repeats, "cpu_ms": summary,
              "compiled_over_eager": ratio, "other_load_cores": load.cores, "machine": machine_facts()}
    write_json(Path(args.out), result)
    for kind in ("pass", "epoch"):
        print(f"hold-out {kind}: compiled best {summary['compiled'][kind]['best']:.1f} / median "
              f"{summary['compiled'][kind]['median']:.1f} ms, eager {summary['eager'][kind]['best']:.1f} / "
              f"{summary['eager'][kind]['median']:.1f} ms ({ratio[kind]['best']:.3f}x best, "
              f"{ratio[kind]['median']:.3f}x median)")
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
