"""Today's baselines beside the studies' models, measured: the toy2d-modern and
fashion-modern presets, and the training throughput that sets fashion-modern's
equal wall-clock budget.

calibrate   trains each fashion-modern model for timed steps at its preset settings
            (genbench's trainer, real Fashion-MNIST batches), best of ``--repeats``
            alternating rounds, and prints the epochs each needs for ``--budget-min``
            minutes of training: the numbers fashion-modern.yaml states.
toy2d       runs toy2d-modern whole and records, per dataset and model, every metric
            (mean and 95% CI over seeds) beside the oracle, the exact and bounded
            likelihoods, costs, and the target: mlp-flow within 0.02 nats of the oracle's
            kde_ll_test on every dataset.
fashion     runs fashion-modern, or a shortened equal budget (``--budget-min-run``
            minutes per run at the calibrated throughputs, on ``--n-train`` images, with
            ``--seeds``, ``--n-samples``), and records the image metrics, costs and the
            measured ranking by evaluator FD, with the papers' CIFAR-10 Inception FIDs
            beside (a different metric and dataset: not compared).

Usage: python benchmarks/modern.py calibrate [--budget-min 10] [--steps 20] [--repeats 3]
       python benchmarks/modern.py toy2d [--seeds 5] [--out benchmarks/results/toy2d-modern.json]
       python benchmarks/modern.py fashion [--budget-min-run 6 --n-train 12000] [--seeds 1] [--n-samples 2000]
       (--keep DIR keeps the study folder; with --tabulate, the same settings tabulate the runs done there)
       (--models a,b runs only those; --merge FILE keeps FILE's rows of the other models, which must have
        been measured with the same settings, and writes the merged table)
       (--quick: a few epochs everywhere, checks the script, not a result)
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from machine import OtherLoad, machine_facts  # benchmarks/machine.py, beside this script

from genbench.config import load_preset, resolve, set_all_epochs
from genbench.io import write_json
from genbench.layout import StudyFolder, load_splits
from genbench.models import build_model
from genbench.report import summary_values
from genbench.report.stats import mean_ci
from genbench.runtime import Runtime
from genbench.study import run_study
from genbench.train import make_trainer

# The papers' own CIFAR-10 Inception FIDs (unconditional), for the README's "published
# figures not compared": another dataset, another feature extractor, nets and budgets
# hundreds of times larger.
PUBLISHED_CIFAR10_FID = {
    "wgan-gp": {"fid": 40.2, "source": "Miyato et al. 2018, Table 2, WGAN-GP with the standard CNN (Gulrajani et "
                                       "al. 2017 report Inception scores only: 7.86 with a ResNet, Table 3)"},
    "sngan": {"fid": 25.5, "source": "Miyato et al. 2018, Table 2, SN-GANs with the hinge loss, standard CNN "
                                     "(29.3 with the BCE loss; 21.7 with a ResNet)"},
    "ddpm": {"fid": 3.17, "source": "Ho et al. 2020, Table 1 (L_simple, 1000 sampling steps)"},
    "flow-matching": {"fid": 6.35, "source": "Lipman et al. 2023, Table 1, FM w/ OT (adaptive dopri5, 142 function "
                                             "evaluations); Liu et al. 2023, Table 1: 1-rectified flow 2.58 (RK45)"},
}


def summarise(values: dict, dataset: str, model: str, metric: str) -> dict | None:
    got = values.get((dataset, model, metric))
    if not got:
        return None
    mean, half = mean_ci(list(got.values()))
    return {"mean": mean, "ci95": half, "n": len(got)}


def images_per_second(name: str, entry, data: np.ndarray, steps: int) -> float:
    """Training images per second of one seed of ``name`` at its preset settings: real
    batches through genbench's trainer, after 3 warm-up steps."""
    torch.manual_seed(0)
    model = build_model(name, data.shape[1:], entry.params)
    trainer = make_trainer([model], data, data[:256], entry.train, [0])
    batches = trainer.streams.batches(len(data), entry.train.batch_size)
    for i in range(3 + steps):
        if i == 3:
            start = time.perf_counter()
        trainer.train_batch(trainer.batch(batches[i % len(batches)]))
    return steps * entry.train.batch_size / (time.perf_counter() - start)


def calibrate(args: argparse.Namespace) -> dict:
    config = resolve(load_preset("fashion-modern"))
    dataset = next(iter(config.datasets))
    train = load_splits(config, dataset).train
    rates: dict[str, list[float]] = {m: [] for m in config.models}
    with OtherLoad() as load:
        for _ in range(args.repeats):  # alternating rounds: a slow spell of the CPU hits every model
            for name, entry in config.models.items():
                rates[name].append(images_per_second(name, entry, train, args.steps))
                print(f"{name}: {rates[name][-1]:.1f} img/s", flush=True)
    budget = args.budget_min * 60
    out = {}
    for name, got in rates.items():
        best = max(got)
        epochs = max(1, round(budget * best / len(train)))
        out[name] = {"images_per_s": best, "all_rounds": got, "epochs_for_budget": epochs,
                     "seconds_per_epoch": len(train) / best}
        print(f"{name:14s} {best:8.1f} img/s  {len(train) / best:7.1f} s/epoch  -> {epochs} epochs in "
              f"{args.budget_min} min", flush=True)
    return {"budget_minutes": args.budget_min, "train_images": len(train), "steps": args.steps,
            "repeats": args.repeats, "other_load_cores": load.cores, "models": out}


def study_table(config, root: Path, wall: float) -> dict:
    values = summary_values(StudyFolder(root).collect_summary(config))
    keys = sorted({k for (_, _, k) in values})
    table: dict = {}
    for dataset in config.datasets:
        for model in [*config.models, "oracle"]:
            stats = {k: s for k in keys if (s := summarise(values, dataset, model, k))}
            if stats:
                table[f"{dataset}/{model}"] = stats
    return {"wall_seconds": wall, "runs": table, "settings": {
        m: {d: config.train_settings(d, m).model_dump() for d in config.datasets} for m in config.models}}


def run(config, root: Path) -> tuple[dict, float]:
    start = time.perf_counter()
    with OtherLoad() as load:
        run_study(config, root, Runtime(quiet=True))
    return study_table(config, root, time.perf_counter() - start), load.cores


def toy2d(args: argparse.Namespace) -> dict:
    raw = load_preset("toy2d-modern")
    raw["seeds"] = args.seeds
    if args.quick:
        raw = set_all_epochs(raw, 3)
    config = resolve(raw)
    with tempfile.TemporaryDirectory() as tmp:
        result, load = run(config, Path(args.keep or tmp) / "toy2d-modern")
    targets = []
    for dataset in config.datasets:
        flow = result["runs"][f"{dataset}/mlp-flow"]["kde_ll_test"]["mean"]
        oracle = result["runs"][f"{dataset}/oracle"]["kde_ll_test"]["mean"]
        targets.append({"target": f"{dataset}: mlp-flow kde_ll_test within 0.02 nats of the oracle",
                        "value": oracle - flow, "bound": 0.02, "met": oracle - flow <= 0.02})
    return {**result, "seeds": args.seeds, "quick": args.quick, "other_load_cores": load, "targets": targets}


def shortened_epochs(calibration: dict, budget_min: float, n_train: int) -> dict[str, int]:
    """Each model's epochs for ``budget_min`` minutes of training on ``n_train`` images at
    the calibrated throughput (at least one)."""
    return {name: max(1, round(budget_min * 60 * entry["images_per_s"] / n_train))
            for name, entry in calibration["models"].items()}


def fashion(args: argparse.Namespace) -> dict:
    raw = load_preset("fashion-modern")
    raw["seeds"] = args.seeds
    if args.n_samples:
        raw["n_samples"] = args.n_samples
    if args.models:
        unknown = sorted(set(args.models) - set(raw["models"]))
        if unknown:
            raise SystemExit(f"--models: {', '.join(unknown)} not in fashion-modern "
                             f"(it has {', '.join(raw['models'])})")
        raw["models"] = {name: entry for name, entry in raw["models"].items() if name in args.models}
    shortened = None
    if args.budget_min_run is not None:  # a shorter equal budget, from the calibrated throughputs
        calibration = json.loads(Path(args.calibration).read_text())
        if args.n_train:
            raw["data"] = {**raw.get("data", {}), "n_train": args.n_train}
        n_train = args.n_train or calibration["train_images"]
        shortened = shortened_epochs(calibration, args.budget_min_run, n_train)
        for name in raw["models"]:
            raw["models"][name]["train"]["epochs"] = shortened[name]
    if args.quick:
        raw = set_all_epochs(raw, 1)
    config = resolve(raw)
    if args.tabulate:  # the table of the runs done in --keep, nothing trained (n per cell: the seeds done)
        result, load = study_table(config, Path(args.keep) / "fashion-modern", None), None
    else:
        with tempfile.TemporaryDirectory() as tmp:
            result, load = run(config, Path(args.keep or tmp) / "fashion-modern")
    dataset = next(iter(config.datasets))
    models = list(config.models)
    merged_from = None
    if args.merge:
        result, models, merged_from = merge(result, models, config, args, shortened)
    fd = {m: result["runs"][f"{dataset}/{m}"]["fd_evaluator"]["mean"] for m in models
          if "fd_evaluator" in result["runs"].get(f"{dataset}/{m}", {})}
    return {**result, "merged_from": merged_from, "seeds": args.seeds, "n_samples": config.n_samples,
            "n_train": config.data.n_train, "budget_minutes_per_run": args.budget_min_run,
            "shortened_epochs": shortened, "quick": args.quick,
            "other_load_cores": load, "ranking_by_fd_evaluator": sorted(fd, key=fd.get),
            "published_cifar10_inception_fid_not_compared": PUBLISHED_CIFAR10_FID}


def merge(result: dict, models: list[str], config, args: argparse.Namespace,
          shortened: dict | None) -> tuple[dict, list[str], dict]:
    """Keeps the rows of ``args.merge``'s table for the models not run now (the oracle
    too, if not run now), after checking that table was measured with the same settings:
    a table of two runs must differ only in which run measured which rows."""
    earlier = json.loads(Path(args.merge).read_text())
    for key, now in (("n_samples", config.n_samples), ("n_train", config.data.n_train),
                     ("budget_minutes_per_run", args.budget_min_run), ("seeds", args.seeds),
                     ("quick", args.quick)):
        if earlier.get(key) != now:
            raise SystemExit(f"--merge: {args.merge} has {key}={earlier.get(key)!r}, this run {now!r}; "
                             "merge only tables measured with the same settings")
    for model in models:
        if shortened and earlier.get("shortened_epochs", {}).get(model) != shortened[model]:
            raise SystemExit(f"--merge: {args.merge} trained {model} for another number of epochs")
    kept = [m for m in earlier["settings"] if m not in models]
    runs = dict(result["runs"])
    for key, row in earlier["runs"].items():
        if key.split("/", 1)[1] in kept or key not in runs:
            runs[key] = row
    order = [m for m in load_preset("fashion-modern")["models"] if m in kept or m in models]
    settings = {m: earlier["settings"].get(m) or result["settings"][m] for m in kept}
    settings.update(result["settings"])
    settings = {m: settings[m] for m in order}
    # The real-data row of the earlier table: its runs were scored by its evaluator, which
    # another CPU (or a machine whose cache was emptied) trains again, to the same weights
    # only on the same CPU.
    earlier_oracle = {key: row for key, row in earlier["runs"].items() if key.endswith("/oracle")}
    merged_from = {"file": args.merge, "command": earlier.get("command"), "rows_kept": kept,
                   "how_measured": earlier.get("how_measured"), "its_oracle_rows": earlier_oracle}
    return {**result, "runs": runs, "settings": settings}, order, merged_from


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("calibrate", "toy2d", "fashion"))
    parser.add_argument("--seeds", type=int, default=None, help="seeds (default: the preset's)")
    parser.add_argument("--budget-min", type=float, default=10.0, help="calibrate: training minutes per run")
    parser.add_argument("--steps", type=int, default=20, help="calibrate: timed steps per round")
    parser.add_argument("--repeats", type=int, default=3, help="calibrate: alternating rounds")
    parser.add_argument("--budget-min-run", type=float, default=None,
                        help="fashion: a shorter equal budget, minutes of training per run, from --calibration")
    parser.add_argument("--calibration", default="benchmarks/results/modern-calibration.json")
    parser.add_argument("--n-train", type=int, default=None, help="fashion: cap the training images")
    parser.add_argument("--n-samples", type=int, default=None, help="fashion: samples scored per run")
    parser.add_argument("--keep", default=None, help="keep the study folder under this directory")
    parser.add_argument("--quick", action="store_true", help="a few epochs everywhere: checks the script only")
    parser.add_argument("--tabulate", action="store_true",
                        help="fashion: tabulate the runs done in --keep (with the same settings) without training")
    parser.add_argument("--models", type=lambda v: v.split(","), default=None,
                        help="fashion: run only these models (comma-separated)")
    parser.add_argument("--merge", default=None,
                        help="fashion: keep this earlier table's rows of the models not run now (same settings)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    torch.set_flush_denormal(True)
    if args.seeds is None:
        args.seeds = load_preset("toy2d-modern" if args.what == "toy2d" else "fashion-modern")["seeds"]
    result = {"machine": machine_facts(), "command": " ".join(sys.argv),
              **{"calibrate": calibrate, "toy2d": toy2d, "fashion": fashion}[args.what](args)}
    out = Path(args.out or f"benchmarks/results/{'modern-calibration' if args.what == 'calibrate' else args.what + '-modern'}.json")
    write_json(out, result)
    for target in result.get("targets", []):
        print(f"{'MET ' if target['met'] else 'MISS'} {target['target']}: {target['value']:.4f} vs {target['bound']}")
    if "ranking_by_fd_evaluator" in result:
        print("ranking by fd_evaluator (best first):", ", ".join(result["ranking_by_fd_evaluator"]))
    print(f"-> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
