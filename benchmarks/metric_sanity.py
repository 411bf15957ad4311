"""Do the image metrics respond to what they claim to measure? On real Fashion-MNIST,
with genbench's evaluator features: disturb 10,000 real images (Gaussian noise, blur,
dropping classes; the disturbance tests of the FID paper) and score them against the
test split. The floor is undisturbed real training images against real test images.

Also times the evaluation of 10,000 samples (features, FD, KID, IS, PR, DC, class
coverage), cold (test features computed) and warm (test features cached, as in a study).

Usage: python benchmarks/metric_sanity.py [--n 10000] [--out benchmarks/results/metric_sanity.json]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from scipy.ndimage import gaussian_filter

from genbench.data import make_splits
from genbench.features import FeatureRequest, extractor_loader
from genbench.io import write_json
from machine import machine_facts  # benchmarks/machine.py, beside this script
from genbench.metrics import EvalContext, evaluate

METRICS = ["fd", "kid", "is", "pr", "dc", "class_coverage"]
KEYS = ["fd_evaluator", "kid_evaluator", "precision_evaluator", "recall_evaluator", "density_evaluator",
        "coverage_evaluator", "is_evaluator", "classes_covered_evaluator"]
# Which way each metric should move as the disturbance grows (None: no claim).
EXPECTED = {
    "noise": {"fd_evaluator": +1, "kid_evaluator": +1, "precision_evaluator": -1, "density_evaluator": -1},
    "blur": {"fd_evaluator": +1, "kid_evaluator": +1, "precision_evaluator": -1, "density_evaluator": -1},
    "drop_classes": {"fd_evaluator": +1, "kid_evaluator": +1, "recall_evaluator": -1, "coverage_evaluator": -1,
                     "classes_covered_evaluator": -1},
}


def disturb(images: np.ndarray, labels: np.ndarray, kind: str, level: float, rng: np.random.Generator) -> np.ndarray:
    x = images.astype(np.float32) / 255
    if kind == "noise":
        x = x + rng.normal(0, level, x.shape)
    elif kind == "blur" and level > 0:
        x = gaussian_filter(x, sigma=(0, 0, level, level))
    elif kind == "drop_classes" and level > 0:
        keep = np.flatnonzero(labels >= int(level))  # drop classes 0 .. level-1, keep the count
        x = x[rng.choice(keep, len(x), replace=True)]
    return np.round(np.clip(x, 0, 1) * 255).astype(np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10000)
    parser.add_argument("--out", default="benchmarks/results/metric_sanity.json")
    args = parser.parse_args()
    torch.set_flush_denormal(True)
    splits = make_splits("fashion-mnist", {}, "genbench", None, None, None, 0)
    start = time.perf_counter()
    evaluator = extractor_loader("evaluator", FeatureRequest("fashion-mnist", {}))()
    evaluator_seconds = time.perf_counter() - start
    ctx = EvalContext(train=splits.train, test=splits.test, modes=None, kind="images",
                      test_labels=splits.labels["test"], extractors={"evaluator": lambda: evaluator})
    rng = np.random.default_rng(0)
    pick = rng.choice(len(splits.train), args.n, replace=False)
    real, labels = splits.train[pick], splits.labels["train"][pick]

    start = time.perf_counter()
    floor = evaluate(METRICS, real, ctx)
    cold = time.perf_counter() - start
    start = time.perf_counter()
    evaluate(METRICS, real, ctx)
    warm = time.perf_counter() - start
    print(f"evaluating {args.n} images: {cold:.1f} s cold, {warm:.1f} s with test features cached")

    levels = {"noise": [0.0, 0.05, 0.1, 0.2, 0.4], "blur": [0.0, 0.5, 1.0, 1.5, 2.0], "drop_classes": [0, 2, 4, 6, 8]}
    results, checks = {}, {}
    for kind, values in levels.items():
        rows = []
        for level in values:
            scores = evaluate(METRICS, disturb(real, labels, kind, level, np.random.default_rng(1)), ctx)
            rows.append({"level": level, **{k: round(scores[k], 5) for k in KEYS}})
            print(kind, level, {k: rows[-1][k] for k in KEYS}, flush=True)
        results[kind] = rows
        for key, sign in EXPECTED[kind].items():
            steps = np.diff([r[key] for r in rows]) * sign
            checks[f"{kind}:{key}"] = bool((steps >= 0).all())
    out = {"machine": machine_facts(), "n": args.n, "evaluator_hash": evaluator.hash, "evaluator_test_accuracy": round(evaluator.test_accuracy, 4),
           "evaluator_seconds_to_load_or_train": round(evaluator_seconds, 1),
           "evaluate_seconds_cold": round(cold, 1), "evaluate_seconds_warm": round(warm, 1),
           "floor_train_vs_test": {k: round(floor[k], 5) for k in KEYS}, "disturbances": results,
           "monotone_as_expected": checks}
    write_json(Path(args.out), out)
    print(f"monotone as expected: {sum(checks.values())}/{len(checks)} -> {args.out}")


if __name__ == "__main__":
    main()
