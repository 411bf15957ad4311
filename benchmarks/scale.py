"""Scaling out: a small image study's wall time with the local executor against Ray on
this machine, and (``--device cuda``) runs packed onto one GPU.

CPU part (``--parts study``, the default on the CPU): the ``digits`` study below (8x8
images; ``linear-vae``'s three seeds train stacked as one task, ``linear-gan``'s, which
has Dropout, as three: four tasks) run by ``genbench run`` as a fresh process each time:
``--executor local`` with one torch thread (as each Ray task has) and with torch's default
threads, ``--executor ray`` starting its own Ray instance, and ``--executor ray`` on a Ray
head started once beforehand (``--ray-address``). Rounds alternate; the best of
``--repeats`` is kept per way. On a 2-core machine this shows Ray's cost, not a speed-up:
``overhead_per_task_s`` is (Ray on a running head - local at one thread) / tasks.

GPU part (``--device cuda``): for ``dcgan`` and ``conv-vae`` at 32 px with the
``cifar10`` preset's settings on random data of CIFAR-10's shape (50,000 3x32x32 images),
one run alone on the GPU (a Ray task with ``num_gpus=1``) against four packed on it (four
concurrent tasks with ``num_gpus=0.25``): images/s of each run and their sum, and the
wall time of ``--epochs`` epochs. ``--device cpu --packing`` runs the same code on the CPU
(tasks of half a CPU, ``--packing-n`` images) to check it without a GPU.
``--parts study,packing`` runs both.

Writes ``benchmarks/results/scale-cpu.json`` (or ``scale-cuda.json``) with the machine.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from machine import machine_facts  # benchmarks/machine.py, beside this script

HERE = Path(__file__).resolve().parent
STUDY = {
    "name": "scale", "seeds": 3, "datasets": {"digits": {}},
    "models": {"linear-vae": {"params": {"hidden": [128, 64]}, "train": {"epochs": 5, "batch_size": 64}},
               "linear-gan": {"params": {"g_hidden": [64, 128], "d_hidden": [128, 64]},
                              "train": {"epochs": 5, "batch_size": 64}}},
    "metrics": ["collapse", "recon"], "features": [], "analysis": False, "n_samples": 500, "checkpoint_every": 1,
}
PACKED = 4


def genbench_run(study: Path, out: Path, *extra: str, env: dict | None = None) -> float:
    """Wall seconds of one ``genbench run`` process (start-up, oracle, training, report)."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "genbench", "run", str(study), "--quiet", "--device", "cpu", "--out",
                    str(out), *extra], check=True, env={**os.environ, **(env or {})}, capture_output=True)
    return time.perf_counter() - start


def tasks_of(out: Path) -> int:
    return len(list((out / ".genbench" / "progress").glob("*.json")))


def cpu_part(repeats: int) -> dict:
    import ray

    work = Path(tempfile.mkdtemp(prefix="genbench-scale-"))
    study = work / "study.yaml"
    study.write_text(yaml.safe_dump(STUDY, sort_keys=False))
    ray.init(include_dashboard=False, num_cpus=os.cpu_count())  # a head for the "running cluster" way
    address = ray.get_runtime_context().gcs_address
    ways = {
        "local, 1 thread": lambda out: genbench_run(study, out, env={"OMP_NUM_THREADS": "1"}),
        "local, torch's default threads": lambda out: genbench_run(study, out),
        "ray, own instance": lambda out: genbench_run(study, out, "--executor", "ray", env={"RAY_ADDRESS": "local"}),
        "ray, running head": lambda out: genbench_run(study, out, "--executor", "ray", "--ray-address", address),
    }
    times: dict[str, list[float]] = {way: [] for way in ways}
    tasks = 0
    try:
        for round_ in range(repeats):
            for i, (way, run) in enumerate(ways.items()):
                out = work / f"r{round_}-{i}"
                times[way].append(run(out))
                tasks = tasks or tasks_of(out)
                print(f"round {round_}: {way}: {times[way][-1]:.1f} s", flush=True)
    finally:
        ray.shutdown()
    best = {way: min(t) for way, t in times.items()}
    return {
        "study": STUDY, "tasks": tasks, "repeats": repeats, "wall_s": times, "best_wall_s": best,
        "overhead_per_task_s": (best["ray, running head"] - best["local, 1 thread"]) / tasks,
        "ray_startup_s": best["ray, own instance"] - best["ray, running head"],
        "cpus": os.cpu_count(),
    }


def train_images_per_s(model_name: str, n: int, epochs: int, device: str) -> dict:
    """One run of ``model_name`` with the cifar10 preset's settings on random CIFAR-shaped
    data, in genbench's own training loop: images/s and wall seconds."""
    import numpy as np
    import torch

    from genbench.config import load_preset, resolve
    from genbench.runner import build_run_model
    from genbench.layout import run_config
    from genbench.train import make_trainer

    torch.set_flush_denormal(True)
    config = resolve(load_preset("cifar10"))
    cfg = run_config(config, "cifar10", model_name, 0)
    settings = cfg.train.model_copy(update={"epochs": epochs})
    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
    holdout = rng.integers(0, 256, (min(n // 10, 1000), 3, 32, 32), dtype=np.uint8)
    trainer = make_trainer([build_run_model(cfg)], train, holdout, settings, [0], device)
    began, start = time.time(), time.perf_counter()
    while trainer.epoch < epochs:
        trainer.run_epoch()
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return {"images_per_s": n * epochs / seconds, "wall_s": seconds, "began": began, "ended": time.time()}


def packing_part(device: str, n: int, epochs: int) -> dict:
    import ray

    ray.init(include_dashboard=False)
    alone, packed = ({"num_gpus": 1}, {"num_gpus": 1 / PACKED}) if device == "cuda" else \
        ({"num_cpus": 1}, {"num_cpus": 0.5})
    task = ray.remote(train_images_per_s)
    results = {}
    try:
        for model in ("dcgan", "conv-vae"):
            start = time.perf_counter()
            one = ray.get(task.options(**alone).remote(model, n, epochs, device))
            one_wall = time.perf_counter() - start
            start = time.perf_counter()
            four = ray.get([task.options(**packed).remote(model, n, epochs, device) for _ in range(PACKED)])
            four_wall = time.perf_counter() - start
            results[model] = {
                "alone": {**one, "task_wall_s": one_wall},
                # images of all four over the span from the first start to the last end
                "packed": {"runs": four, "task_wall_s": four_wall,
                           "aggregate_images_per_s": PACKED * n * epochs / (max(r["ended"] for r in four)
                                                                            - min(r["began"] for r in four))},
            }
            results[model]["packing_gain"] = results[model]["packed"]["aggregate_images_per_s"] / one["images_per_s"]
            print(model, f"packing gain {results[model]['packing_gain']:.2f}", flush=True)
    finally:
        ray.shutdown()
    return {"images": n, "epochs": epochs, "runs_packed": PACKED, "shares": {"alone": alone, "packed": packed},
            "models": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--repeats", type=int, default=3, help="alternating rounds of the CPU part; best kept")
    parser.add_argument("--parts", help="study, packing or both (default: study on the CPU, packing on CUDA)")
    parser.add_argument("--packing-n", type=int, default=50_000, help="random CIFAR-shaped training images")
    parser.add_argument("--epochs", type=int, default=1, help="epochs of each packed run")
    parser.add_argument("--out")
    args = parser.parse_args()
    result: dict = {"device": args.device, "machine": machine_facts(),
                    "measured": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
                    "load_average_at_start": os.getloadavg()}
    parts = (args.parts or ("study" if args.device == "cpu" else "packing")).split(",")
    if "study" in parts:
        result["local_vs_ray"] = cpu_part(args.repeats)
    if "packing" in parts:
        result["packing"] = packing_part(args.device, args.packing_n, args.epochs)
    result["load_average_at_end"] = os.getloadavg()
    out = Path(args.out or HERE / "results" / f"scale-{args.device}.json")
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"-> {out}")


if __name__ == "__main__":
    main()
