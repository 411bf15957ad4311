"""Command line: parse, call the API, print. Every user error exits 2 with one line."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import yaml

from genbench import __version__
from genbench.config import (
    apply_sets,
    load_preset,
    preset_names,
    resolve,
    set_all_epochs,
    with_base,
)
from genbench.errors import GenbenchError


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return value


def _study_source(name: str) -> dict:
    """A shipped preset by name, or a YAML file of the same shape."""
    path = Path(name)
    if path.suffix in (".yaml", ".yml"):
        try:
            raw = yaml.safe_load(path.read_text())
        except OSError as exc:
            raise GenbenchError(f"cannot read study file {path}: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            raise GenbenchError(f"study file {path} is not valid YAML: {str(exc).splitlines()[0]}") from None
        if not isinstance(raw, dict):
            raise GenbenchError(f"study file {path} must hold a mapping of study settings")
        return with_base(raw)
    return load_preset(name)


def _overrides(raw: dict, args: argparse.Namespace) -> dict:
    if args.epochs:
        raw = set_all_epochs(raw, args.epochs)
    return apply_sets(raw, args.set or [])


def _run(raw: dict, args: argparse.Namespace) -> Path:
    """Apply --epochs/--set, validate, and run the study into --out (default runs/<name>)."""
    from genbench.runtime import Runtime, resolve_device
    from genbench.study import run_study

    config = resolve(_overrides(raw, args))
    out = Path(args.out) if args.out else Path("runs") / config.name
    data_dir = Path(args.data_dir) if args.data_dir else None
    weights = Path(args.inception_weights) if args.inception_weights else None
    runtime = Runtime(resolve_device(args.device), data_dir, args.resume, args.quiet, weights, args.tensorboard)
    run_study(config, out, runtime)
    return out


def cmd_run(args: argparse.Namespace) -> int:
    raw = _study_source(args.study)
    if args.seeds:
        raw["seeds"] = args.seeds
    print(f"report: {_run(raw, args) / 'report.html'}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from genbench.data import DATASETS
    from genbench.layout import run_folder
    from genbench.models import MODELS

    DATASETS.get(args.dataset)
    MODELS.get(args.model)
    raw = _study_source(args.preset)
    if args.model not in raw.get("models", {}) and not args.epochs:
        having = [p for p in preset_names() if args.model in load_preset(p).get("models", {})]
        raise GenbenchError(f"study {args.preset!r} has no settings for model {args.model!r}; pass --epochs N, "
                            f"or --preset with one that has ({', '.join(having) or 'none'})")
    model_entry = raw.get("models", {}).get(args.model, {"train": {}})
    overrides = raw.get("train_overrides", {}).get(args.dataset, {})
    raw.update(
        name=f"train-{args.dataset}-{args.model}",
        seeds=1,
        first_seed=args.seed,
        datasets={args.dataset: raw.get("datasets", {}).get(args.dataset) or {}},
        models={args.model: model_entry},
        train_overrides={args.dataset: {args.model: overrides[args.model]}} if args.model in overrides else {},
    )
    out = _run(raw, args)
    print(f"run: {run_folder(out, args.dataset, args.model, args.seed)}")
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from genbench.sampling import sample_from_run

    out = Path(args.out)
    if out.suffix not in (".npy", ".png"):
        raise GenbenchError(f"--out must name a .npy file (or .png, a grid, for image models), got {out}")
    sample_from_run(Path(args.run_dir), args.n, out, args.seed)
    print(f"{args.n} samples -> {out}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from genbench.runtime import Runtime, resolve_device
    from genbench.study import evaluate_run

    runtime = Runtime(resolve_device(args.device), Path(args.data_dir) if args.data_dir else None,
                      quiet=args.quiet, inception_weights=Path(args.inception_weights) if args.inception_weights else None)
    metrics = args.metrics.split(",") if args.metrics else None
    features = args.features.split(",") if args.features else None
    scores = evaluate_run(Path(args.run_dir), runtime, metrics, features, analysis=not args.no_analysis)
    for key, value in scores.items():
        print(f"{key:32s} {value:.6g}" if isinstance(value, float) else f"{key:32s} {value}")
    print(f"-> {Path(args.run_dir) / 'metrics.json'}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from genbench.report import build_report

    md, page = build_report(Path(args.study_dir))
    print(f"report: {page}\n        {md}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from genbench.data import DATASETS
    from genbench.metrics import METRICS
    from genbench.models import MODELS, build_model, count_parameters

    what = args.what
    if what in ("all", "datasets"):
        print("datasets:")
        for name, spec in DATASETS.items():
            shape = "x".join(map(str, spec.shape()))
            print(f"  {name:18s} {spec.kind:6s} {shape:8s} {spec.description}")
    if what in ("all", "models"):
        print("models (parameters at their defaults on data of the shape shown):")
        for name, spec in MODELS.items():
            model = build_model(name, spec.example_shape, {})
            shape = "x".join(map(str, spec.example_shape))
            print(f"  {name:18s} {spec.family:4s} {shape:8s} {count_parameters(model):>11,d}  {spec.description}")
    if what in ("all", "metrics"):
        print("metrics:")
        for name, spec in METRICS.items():
            print(f"  {name:18s} {spec.description}")
    if what in ("all", "studies"):
        print("studies:")
        for name in preset_names():
            print(f"  {name:18s} {' '.join(load_preset(name).get('description', '').split())[:90]}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="genbench", description="Train, evaluate and compare generative models.")
    parser.add_argument("--version", action="version", version=f"genbench {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--out", help="output folder (default: runs/<name>)")
        p.add_argument("--epochs", type=_positive_int, help="train every model this many epochs")
        p.add_argument("--set", action="append", metavar="KEY=VALUE",
                       help="override a config value, e.g. models.mlp-vae.train.lr=2e-3 (repeatable)")
        p.add_argument("--quiet", action="store_true", help="no progress bars")
        p.add_argument("--device", default="auto", help="auto (default: CUDA if available), cpu or cuda")
        p.add_argument("--data-dir", help="folder holding the dataset files (looked at first; image-folder and "
                                          "celeba64 read their images from here)")
        p.add_argument("--inception-weights", help="local InceptionV3 weights file for the inception features")
        p.add_argument("--tensorboard", action="store_true",
                       help="also log losses and sample grids per run to <run>/tensorboard (needs tensorboard)")
        p.add_argument("--resume", action=argparse.BooleanOptionalAction, default=True,
                       help="continue unfinished runs from their last checkpoint (default); --no-resume starts them over")

    run = sub.add_parser("run", help="run a whole study (default: toy2d)")
    run.add_argument("study", nargs="?", default="toy2d", help="a study name (see `genbench list studies`) or a YAML file")
    run.add_argument("--seeds", type=_positive_int, help="number of seeds per dataset and model")
    common(run)
    run.set_defaults(func=cmd_run)

    train = sub.add_parser("train", help="train one model on one dataset")
    train.add_argument("--dataset", required=True)
    train.add_argument("--model", required=True)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--preset", default="toy2d", help="study whose settings to start from (default: toy2d)")
    common(train)
    train.set_defaults(func=cmd_train)

    sample = sub.add_parser("sample", help="draw samples from a trained run")
    sample.add_argument("run_dir")
    sample.add_argument("-n", type=_positive_int, required=True, help="number of samples")
    sample.add_argument("--out", required=True, help="output .npy file")
    sample.add_argument("--seed", type=int, default=0, help="seed of the latent draws")
    sample.set_defaults(func=cmd_sample)

    evaluate = sub.add_parser("evaluate", help="recompute a finished run's metrics and analysis")
    evaluate.add_argument("run_dir")
    evaluate.add_argument("--metrics", help="comma-separated metric names (default: the run's own)")
    evaluate.add_argument("--features", help="comma-separated feature extractors: evaluator (default), inception")
    evaluate.add_argument("--inception-weights", help="local InceptionV3 weights file for --features inception")
    evaluate.add_argument("--data-dir", help="folder holding the dataset files")
    evaluate.add_argument("--device", default="auto", help="auto, cpu or cuda")
    evaluate.add_argument("--no-analysis", action="store_true", help="metrics only: no latent/OOD figures")
    evaluate.add_argument("--quiet", action="store_true", help="no progress bars")
    evaluate.set_defaults(func=cmd_evaluate)

    report = sub.add_parser("report", help="rebuild a study's report from its folder")
    report.add_argument("study_dir")
    report.set_defaults(func=cmd_report)

    lst = sub.add_parser("list", help="show datasets, models, metrics and studies")
    lst.add_argument("what", nargs="?", default="all", choices=["all", "datasets", "models", "metrics", "studies"])
    lst.set_defaults(func=cmd_list)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    torch.set_flush_denormal(True)  # tiny MLPs slow ~40% on denormals on this class of CPU
    try:
        return args.func(args)
    except GenbenchError as exc:
        print(f"genbench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        detail = f" ({exc})" if str(exc) else ""
        print(f"genbench: interrupted{detail}; run the same command again to resume", file=sys.stderr)
        return 130
