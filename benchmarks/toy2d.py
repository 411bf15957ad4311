"""Benchmark study 000 two ways, in one process, and write JSON.

(a) reference: the study-faithful configuration (toy2d-paper) trained by a plain loop as
    the study wrote it: DataLoader with shuffle, per-batch tensors, default Adam, one seed
    at a time, the study's epochs and batch 128. Scored by genbench's metrics.
(b) genbench: `genbench run toy2d` (seeds stacked, in-memory batches, fused Adam, the
    local executor's defaults: one worker process per core on a CPU), timed whole:
    training, metrics, oracle, plots and report. Wall time and CPU time (this process
    and its workers) are both recorded: on a machine shared with other work the wall
    time says how long it took, the CPU time how long it would take on idle cores.

Every cell's mean kde_ll_study, kde_ll_test and mmd2 is checked against the 95% CI of a
baseline (default: the results file this run replaces): within it, or better.

Usage: python benchmarks/toy2d.py [--ref-seeds 1] [--seeds 5] [--device cpu|cuda] [--baseline FILE]
                                  [--workers auto|N] [--set KEY=VALUE ...]
                                  [--out benchmarks/results/toy2d.json (toy2d-gpu.json on cuda)]
       python benchmarks/toy2d.py --quick   # 3 epochs each: checks the script, not a result
       python benchmarks/toy2d.py --ref-seeds 0   # genbench's study only
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from machine import OtherLoad, cpu_seconds, machine_facts  # benchmarks/machine.py, beside this script
from torch.utils.data import DataLoader, TensorDataset

from genbench.config import apply_overrides, load_preset, parse_sets, resolve, set_all_epochs
from genbench.executors import EXECUTORS
from genbench.io import write_json
from genbench.layout import StudyFolder, load_splits
from genbench.metrics import evaluate
from genbench.models import build_model
from genbench.report import summary_values
from genbench.report.stats import mean_ci
from genbench.runtime import Runtime, resolve_device
from genbench.scoring import eval_context, sample_run
from genbench.study import plan, run_study
from genbench.train.gan import d_loss, g_loss
from genbench.train.loop import steps_per_epoch
from genbench.train.vae import vae_loss


QUALITY = {"kde_ll_study": "higher", "kde_ll_test": "higher", "mmd2": "lower"}


def quality_checks(runs: dict, baseline: dict, label: str) -> list[dict]:
    """Per cell and metric of QUALITY: the new mean within the baseline's 95% CI, or better."""
    checks = []
    for cell, entry in runs.items():
        old = baseline.get(cell, {}).get("metrics", {})
        for metric, better in QUALITY.items():
            if metric not in old or metric not in entry["metrics"]:
                continue
            new, ref = entry["metrics"][metric]["mean"], old[metric]
            ok = abs(new - ref["mean"]) <= ref["ci95"] or (new > ref["mean"] if better == "higher" else new < ref["mean"])
            checks.append({"target": f"{cell} {metric} within the 95% CI of {label} or better", "value": new,
                           "bound": ref["mean"] - ref["ci95"] if better == "higher" else ref["mean"] + ref["ci95"],
                           "met": ok})
    return checks


def reference_run(config, dataset: str, model_name: str, seed: int) -> dict:
    """The study's own loop, one seed, one model (as in its vae.py / gan.py)."""
    settings = config.train_settings(dataset, model_name)
    splits = load_splits(config, dataset)
    torch.manual_seed(seed)
    model = build_model(model_name, (2,), config.models[model_name].params)
    loader = DataLoader(TensorDataset(torch.from_numpy(splits.train)), batch_size=settings.batch_size, shuffle=True)
    steps = 0
    start, cpu = time.perf_counter(), time.process_time()
    if model.family == "vae":
        opt = torch.optim.Adam(model.parameters(), lr=settings.lr, betas=settings.betas)
        for _ in range(settings.epochs):
            for (x,) in loader:
                recon, mu, logvar = model(x, torch.randn(len(x), model.latent_dim))
                loss = vae_loss(model, x[None], recon[None], mu[None], logvar[None])["loss"].sum()
                opt.zero_grad()
                loss.backward()
                opt.step()
                steps += 1
    else:
        opt_g = torch.optim.Adam(model.generator.parameters(), lr=settings.lr, betas=settings.betas)
        opt_d = torch.optim.Adam(model.discriminator.parameters(), lr=settings.lr, betas=settings.betas)
        for _ in range(settings.epochs):
            for (x,) in loader:
                fake = model.generator(torch.randn(len(x), model.latent_dim))
                loss_d = d_loss(model.discriminator(x)[None], model.discriminator(fake.detach())[None]).sum()
                opt_d.zero_grad()
                loss_d.backward()
                opt_d.step()
                loss_g = g_loss(model.discriminator(fake)[None]).sum()
                opt_g.zero_grad()
                loss_g.backward()
                opt_g.step()
                steps += 1
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    samples = sample_run(model, config.n_samples, seed, torch.device("cpu"))
    metrics = evaluate(config.metrics, samples, eval_context(dataset, config.datasets[dataset], splits, []))
    return {"seconds": seconds, "cpu_seconds": cpu, "steps": steps, "steps_per_s": steps / seconds, "metrics": metrics}


def summarise(values: dict, dataset: str, model: str, metric: str) -> dict | None:
    got = values.get((dataset, model, metric))
    if not got:
        return None
    mean, half = mean_ci(list(got.values()))  # read_summary gives seed -> value
    return {"mean": mean, "ci95": half, "n": len(got)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref-seeds", type=int, default=1, help="seeds of the slow reference loop (a)")
    parser.add_argument("--seeds", type=int, default=5, help="seeds of genbench's toy2d (b)")
    parser.add_argument("--quick", action="store_true", help="3 epochs everywhere: checks the script only")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (genbench's study; the reference stays on the CPU)")
    parser.add_argument("--baseline", help="results file whose CIs the quality is checked against "
                                           "(default: the one --out replaces)")
    parser.add_argument("--workers", default="auto",
                        help="the local executor's worker processes for (b): auto (its default) or a number")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a value of (b)'s toy2d config, as genbench run --set does "
                             "(e.g. models.mlp-vae.train.precision=fp32; repeatable)")
    parser.add_argument("--out")
    args = parser.parse_args()
    torch.set_flush_denormal(True)
    device = resolve_device(args.device)
    args.out = args.out or f"benchmarks/results/toy2d{'-gpu' if device.type == 'cuda' else ''}.json"
    baseline_file = Path(args.baseline or args.out)
    baseline = json.loads(baseline_file.read_text()) if baseline_file.exists() else None

    paper_raw, fast_raw = load_preset("toy2d-paper"), load_preset("toy2d")
    fast_raw["seeds"] = args.seeds
    fast_raw = apply_overrides(fast_raw, parse_sets(args.set))
    if args.quick:
        paper_raw, fast_raw = set_all_epochs(paper_raw, 3), set_all_epochs(fast_raw, 3)
    paper, fast = resolve(paper_raw), resolve(fast_raw)

    result: dict = {
        "machine": machine_facts(),
        "quick": args.quick,
        "reference": {"config": "toy2d-paper, plain DataLoader loop, default Adam, one seed at a time",
                      "seeds": args.ref_seeds, "runs": {}},
        "genbench": {"config": "toy2d", "seeds": args.seeds, "workers": args.workers, "set": args.set},
    }
    ref_total = 0.0
    for dataset in paper.datasets if args.ref_seeds else []:
        for model in paper.models:
            runs = [reference_run(paper, dataset, model, seed) for seed in range(args.ref_seeds)]
            ref_total += sum(r["seconds"] for r in runs)
            metrics = defaultdict(list)
            for r in runs:
                for k, v in r["metrics"].items():
                    metrics[k].append(v)
            result["reference"]["runs"][f"{dataset}/{model}"] = {
                "seconds_per_run": float(np.mean([r["seconds"] for r in runs])),
                "cpu_seconds_per_run": float(np.mean([r["cpu_seconds"] for r in runs])),
                "steps_per_s": float(np.mean([r["steps_per_s"] for r in runs])),
                "metrics": {k: float(np.mean(v)) for k, v in metrics.items()},
            }
            print(f"reference {dataset}/{model}: {result['reference']['runs'][f'{dataset}/{model}']}", flush=True)
    result["reference"]["train_seconds_total"] = ref_total

    with tempfile.TemporaryDirectory() as tmp:
        runtime = Runtime(device=device, quiet=True)
        executor = EXECUTORS.get("local")(workers=args.workers if args.workers == "auto" else int(args.workers))
        # How many worker processes the study gets, decided before the clock starts (planned
        # silently: run_study plans again and says what it runs).
        jobs = plan(fast, Path(tmp) / "toy2d", say=lambda _: None)
        result["genbench"]["worker_processes"] = executor.workers_for(jobs, runtime)
        with OtherLoad() as load:
            start, cpu = time.perf_counter(), cpu_seconds()
            run_study(fast, Path(tmp) / "toy2d", runtime, executor)
            wall, cpu = time.perf_counter() - start, cpu_seconds() - cpu
        values = summary_values(StudyFolder(Path(tmp) / "toy2d").collect_summary(fast))
    runs = {}
    checks = []
    for dataset in fast.datasets:
        for model in fast.models:
            settings = fast.train_settings(dataset, model)
            steps = settings.epochs * steps_per_epoch(fast.data.n_train, settings.batch_size)
            train_s = summarise(values, dataset, model, "train_seconds")["mean"]
            entry = {"train_seconds_per_run": train_s, "steps_per_s_per_seed": steps / train_s, "metrics": {}}
            for metric in fast.metrics:
                stat = summarise(values, dataset, model, metric)
                if stat:
                    entry["metrics"][metric] = stat
                    entry["metrics"][f"{metric}_oracle"] = summarise(values, dataset, "oracle", metric)
            published = fast.published.get("kde_ll_study", {}).get(dataset, {}).get(model)
            if published is not None:
                entry["kde_ll_study_published"] = published
                checks.append({"target": f"{dataset}/{model} kde_ll_study >= published",
                               "value": entry["metrics"]["kde_ll_study"]["mean"], "bound": published,
                               "met": entry["metrics"]["kde_ll_study"]["mean"] >= published})
            # The oracle's unbiased MMD^2 is centred on 0 (it can be negative), so "within 2x
            # of the oracle" is read against its noise floor: the mean |MMD^2| over seeds.
            floor = float(np.mean(np.abs(list(values[dataset, "oracle", "mmd2"].values()))))
            entry["metrics"]["mmd2_oracle_noise_floor"] = floor
            bound = 2 * floor
            checks.append({"target": f"{dataset}/{model} mmd2 <= 2x oracle noise floor",
                           "value": entry["metrics"]["mmd2"]["mean"], "bound": bound,
                           "met": entry["metrics"]["mmd2"]["mean"] <= bound})
            runs[f"{dataset}/{model}"] = entry
    bound = 60.0 if device.type == "cuda" else 300.0
    checks.append({"target": f"whole study wall seconds <= {bound:.0f}", "value": wall, "bound": bound,
                   "met": wall <= bound})
    if baseline and not args.quick:
        checks += quality_checks(runs, baseline["genbench"]["runs"], str(baseline_file))
    result["genbench"].update(wall_seconds=wall, cpu_seconds=cpu, other_load_cores=load.cores, runs=runs)
    result["targets"] = checks
    if args.ref_seeds:
        ref_per_seed = ref_total / args.ref_seeds
        gen_per_seed = sum(r["train_seconds_per_run"] for r in runs.values())
        result["speedup_training_per_seed"] = ref_per_seed / gen_per_seed
    write_json(Path(args.out), result)
    for check in checks:
        print(f"{'MET ' if check['met'] else 'MISS'} {check['target']}: {check['value']:.4f} vs {check['bound']:.4f}")
    print(f"genbench toy2d wall {wall:.1f}s (CPU {cpu:.1f}s, other load {load.cores:.2f} cores) for {args.seeds} "
          f"seeds -> {args.out}")
    if args.ref_seeds:
        print(f"training speed-up per seed {result['speedup_training_per_seed']:.2f}x over the reference loop")
    return 0


if __name__ == "__main__":
    sys.exit(main())
