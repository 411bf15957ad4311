"""Command line: parse, call the Python API (``genbench.api``), print. Every user error
exits 2 with one line."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from genbench import __version__, api
from genbench.config import parse_sets
from genbench.errors import GenbenchError
from genbench.plugins import activate
from genbench.runtime import Runtime


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return value


def _workers(text: str) -> int | str:
    return "auto" if text == "auto" else _positive_int(text)


def _runtime(args: argparse.Namespace) -> Runtime:
    return api.make_runtime(args.device, getattr(args, "data_dir", None), getattr(args, "resume", True), args.quiet,
                            getattr(args, "inception_weights", None), getattr(args, "tensorboard", False))


# Cluster flags of `run`: dest -> (the executors taking it, the executor option it sets).
EXECUTOR_FLAGS = {
    "workers": (("local",), "workers"),
    "ray_address": (("ray",), "address"),
    "cpus_per_run": (("ray", "slurm"), "cpus_per_run"),
    "gpus_per_run": (("ray",), "gpus_per_run"),
    "slurm_partition": (("slurm",), "partition"),
    "slurm_time": (("slurm",), "time"),
    "slurm_gpus_per_run": (("slurm",), "gpus_per_run"),
    "array_parallelism": (("slurm",), "array_parallelism"),
    "slurm_cluster": (("slurm",), "cluster"),
}


def _executor_options(args: argparse.Namespace) -> dict:
    """The executor options the given cluster flags set; a flag of another executor is refused."""
    options = {}
    for dest, (executors, option) in EXECUTOR_FLAGS.items():
        value = getattr(args, dest)
        if value is None:
            continue
        if args.executor not in executors:
            flag = "--" + dest.replace("_", "-")
            raise GenbenchError(f"{flag} applies to --executor {' or '.join(executors)}, not {args.executor}")
        options[option] = int(value) if isinstance(value, float) and value.is_integer() and args.executor == "slurm" \
            else value
    return options


def _names(text: str | None) -> list[str] | None:
    return [n.strip() for n in text.split(",") if n.strip()] if text else None


def cmd_run(args: argparse.Namespace) -> int:
    runtime = _runtime(args)
    result = api.run_study(args.study, args.out, overrides=parse_sets(args.set or []), seeds=args.seeds,
                           epochs=args.epochs, plugins=args.plugin or [], executor=args.executor,
                           executor_options=_executor_options(args), runtime=runtime)
    if runtime.world.is_writer:  # torchrun: rank 0 speaks for all
        print(f"report: {result.report_html}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    runtime = _runtime(args)
    result = api.train(args.dataset, args.model, seed=args.seed, preset=args.preset, epochs=args.epochs,
                       overrides=parse_sets(args.set or []), out=args.out, plugins=args.plugin or [],
                       runtime=runtime)
    if runtime.world.is_writer:
        print(f"run: {result.folder}")
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from genbench.io import save_npy
    from genbench.report.grid import save_image

    out = Path(args.out)
    if out.suffix not in (".npy", ".png"):
        raise GenbenchError(f"--out must name a .npy file (or .png, a grid, for image models), got {out}")
    samples = api.sample(args.run_dir, args.n, seed=args.seed, allow_changed_plugin=args.allow_changed_plugin)
    if out.suffix == ".png":
        if samples.dtype != "uint8":
            raise GenbenchError(f"{args.run_dir} is a 2D model; write its samples to a .npy file")
        save_image(out, samples, value_range=(0, 255))
    else:
        save_npy(out, samples)
    print(f"{args.n} samples -> {out}")
    return 0


def _print_scores(scores: dict) -> None:
    for key, value in scores.items():
        print(f"{key:32s} {value:.6g}" if isinstance(value, float) else f"{key:32s} {value}")


def cmd_evaluate(args: argparse.Namespace) -> int:
    scores = api.evaluate(args.run_dir, metrics=_names(args.metrics), features=_names(args.features),
                          analysis=not args.no_analysis, runtime=_runtime(args),
                          allow_changed_plugin=args.allow_changed_plugin)
    _print_scores(scores)
    print(f"-> {Path(args.run_dir) / 'metrics.json'}")
    return 0


def cmd_evaluate_samples(args: argparse.Namespace) -> int:
    overrides = parse_sets(args.set or [])
    params = {k.split(".", 1)[1]: v for k, v in overrides.items() if k.startswith("dataset.")}
    data = {k.split(".", 1)[1]: v for k, v in overrides.items() if k.startswith("data.")}
    unknown = [k for k in overrides if not k.startswith(("dataset.", "data."))]
    if unknown:
        raise GenbenchError(f"--set {unknown[0]}: evaluate-samples takes dataset.<param>=... and data.<field>=... only")
    score = api.evaluate(args.source, dataset=args.dataset, metrics=_names(args.metrics),
                         features=_names(args.features), dataset_params=params, data=data,
                         value_range=args.value_range, runtime=_runtime(args), out=args.out)
    print(f"{score.n} samples of {score.dataset}, beside as many real images (the real-data floor):")
    print(f"{'metric':32s} {'samples':>12s} {'real data':>12s}")
    for key, value in score.metrics.items():
        print(f"{key:32s} {value:12.6g} {score.floor.get(key, float('nan')):12.6g}")
    if args.out:
        print(f"-> {Path(args.out) / 'metrics.json'}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    md, page = api.report(args.study_dir, allow_changed_plugin=args.allow_changed_plugin)
    print(f"report: {page}\n        {md}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from genbench.config import load_preset, preset_names
    from genbench.data import DATASETS
    from genbench.executors import EXECUTORS
    from genbench.features import FEATURES
    from genbench.metrics import METRICS
    from genbench.models import MODELS, build_model, count_parameters
    from genbench.train import TRAINERS

    def origin(registry, name: str) -> str:
        source = registry.provider(name)
        return f"  [plugin {source}]" if source else ""

    what = args.what
    if what in ("all", "datasets"):
        print("datasets:")
        for name, spec in DATASETS.items():
            shape = "x".join(map(str, spec.shape()))
            print(f"  {name:18s} {spec.kind:6s} {shape:8s} {spec.description}{origin(DATASETS, name)}")
    if what in ("all", "models"):
        print("models (parameters at their defaults on data of the shape shown):")
        for name, spec in MODELS.items():
            if spec.example_shape is None:
                shape, count = "-", "-"
            else:
                shape = "x".join(map(str, spec.example_shape))
                count = f"{count_parameters(build_model(name, spec.example_shape, {})):,d}"
            print(f"  {name:18s} {spec.family:9s} {shape:8s} {count:>11s}  {spec.description}{origin(MODELS, name)}")
    if what in ("all", "metrics"):
        print("metrics:")
        for name, spec in METRICS.items():
            print(f"  {name:18s} {spec.description}{origin(METRICS, name)}")
    if what in ("all", "features"):
        print("feature extractors:")
        for name, spec in FEATURES.items():
            print(f"  {name:18s} {spec.description}{origin(FEATURES, name)}")
    if what in ("all", "trainers"):
        print("trainers:")
        for name, cls in TRAINERS.items():
            print(f"  {name:18s} {cls.__name__}{origin(TRAINERS, name)}")
    if what in ("all", "executors"):
        print("executors: " + ", ".join(EXECUTORS))
    if what in ("all", "studies"):
        print("studies:")
        for name in preset_names():
            print(f"  {name:18s} {' '.join(load_preset(name).get('description', '').split())[:90]}")
    return 0


LIST_CHOICES = ["all", "datasets", "models", "metrics", "features", "trainers", "executors", "studies"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="genbench", description="Train, evaluate and compare generative models.")
    parser.add_argument("--version", action="version", version=f"genbench {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def plugins(p: argparse.ArgumentParser, changed: bool = True) -> None:
        p.add_argument("--plugin", action="append", metavar="PATH_OR_MODULE",
                       help="load a plugin (a .py file or a module) that registers models, datasets, metrics, "
                            "features or trainers (repeatable)")
        if changed:
            p.add_argument("--allow-changed-plugin", action="store_true",
                           help="go on when a plugin a run was made with has changed since")

    def machine(p: argparse.ArgumentParser) -> None:
        p.add_argument("--quiet", action="store_true", help="no progress bars")
        p.add_argument("--device", default="auto", help="auto (default: CUDA if available), cpu or cuda")
        p.add_argument("--data-dir", help="folder holding the dataset files (looked at first; image-folder and "
                                          "celeba64 read their images from here)")
        p.add_argument("--inception-weights", help="local InceptionV3 weights file for the inception features")

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--out", help="output folder (default: runs/<name>)")
        p.add_argument("--epochs", type=_positive_int, help="train every model this many epochs")
        p.add_argument("--set", action="append", metavar="KEY=VALUE",
                       help="override a config value, e.g. models.mlp-vae.train.lr=2e-3 (repeatable)")
        machine(p)
        p.add_argument("--tensorboard", action="store_true",
                       help="also log losses and sample grids per run to <run>/tensorboard (needs tensorboard)")
        p.add_argument("--resume", action=argparse.BooleanOptionalAction, default=True,
                       help="continue unfinished runs from their last checkpoint (default); --no-resume starts them "
                            "over and retries failed ones")
        plugins(p, changed=False)

    run = sub.add_parser("run", help="run a whole study (default: toy2d)")
    run.add_argument("study", nargs="?", default="toy2d", help="a study name (see `genbench list studies`) or a YAML file")
    run.add_argument("--seeds", type=_positive_int, help="number of seeds per dataset and model")
    common(run)
    cluster = run.add_argument_group("where the runs execute (see README: Scaling out)")
    cluster.add_argument("--executor", default="local",
                         help="local (default: one after another here), ray (a Ray cluster) or slurm (a job array)")
    cluster.add_argument("--workers", type=_workers,
                         help="processes training groups at once (local; default auto: one per group, at most one "
                              "per core, for small models that stack; else 1)")
    cluster.add_argument("--ray-address", help="auto (the cluster `ray start` made here) or HEAD:PORT; default: a "
                                               "Ray instance on this machine for the study")
    cluster.add_argument("--cpus-per-run", type=float, help="CPUs (torch threads) per run (ray, slurm; default 1)")
    cluster.add_argument("--gpus-per-run", type=float, help="share of a GPU per run, e.g. 0.25 packs four (ray)")
    cluster.add_argument("--slurm-partition", help="Slurm partition of the job array")
    cluster.add_argument("--slurm-time", help="time limit per array task: minutes or Slurm's form (1:00:00, default)")
    cluster.add_argument("--slurm-gpus-per-run", type=int, help="GPUs per array task (default 0)")
    cluster.add_argument("--array-parallelism", type=_positive_int, help="array tasks running at once (default 256)")
    cluster.add_argument("--slurm-cluster", help="slurm (default), or local: the array as local processes, to try "
                                                 "a study without a cluster")
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
    sample.add_argument("--out", required=True, help="output .npy file (or .png grid for image models)")
    sample.add_argument("--seed", type=int, default=0, help="seed of the noise draws")
    plugins(sample)
    sample.set_defaults(func=cmd_sample)

    evaluate = sub.add_parser("evaluate", help="recompute a finished run's metrics and analysis")
    evaluate.add_argument("run_dir")
    evaluate.add_argument("--metrics", help="comma-separated metric names (default: the run's own)")
    evaluate.add_argument("--features", help="comma-separated feature extractors: evaluator (default), inception")
    evaluate.add_argument("--no-analysis", action="store_true", help="metrics only: no latent/OOD figures")
    machine(evaluate)
    plugins(evaluate)
    evaluate.set_defaults(func=cmd_evaluate)

    samples = sub.add_parser("evaluate-samples", help="score samples from any generator against a dataset")
    samples.add_argument("source", help="an .npy/.npz array (uint8, or floats in [0,1] or [-1,1]; NCHW or NHWC) "
                                        "or a folder of PNG/JPEG files")
    samples.add_argument("--dataset", required=True, help="the dataset the samples imitate")
    samples.add_argument("--metrics", help="comma-separated metric names (default: every metric for the dataset)")
    samples.add_argument("--features", help="comma-separated feature extractors (default: evaluator)")
    samples.add_argument("--value-range", choices=["0,1", "-1,1", "0,255"],
                         help="how to read float samples when their values cannot tell")
    samples.add_argument("--set", action="append", metavar="KEY=VALUE",
                         help="dataset.<param>=... or data.<field>=... (e.g. data.n_test=5000)")
    samples.add_argument("--out", help="folder to write metrics.json into (the scores and the real-data floor)")
    machine(samples)
    plugins(samples, changed=False)
    samples.set_defaults(func=cmd_evaluate_samples)

    report = sub.add_parser("report", help="rebuild a study's report from its folder")
    report.add_argument("study_dir")
    plugins(report)
    report.set_defaults(func=cmd_report)

    lst = sub.add_parser("list", help="show what is registered: datasets, models, metrics, ...")
    lst.add_argument("what", nargs="?", default="all", choices=LIST_CHOICES)
    plugins(lst, changed=False)
    lst.set_defaults(func=cmd_list)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    torch.set_flush_denormal(True)  # tiny MLPs slow ~40% on denormals on this class of CPU
    try:
        activate(args.plugin or [])
        return args.func(args)
    except GenbenchError as exc:
        print(f"genbench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        detail = f" ({exc})" if str(exc) else ""
        print(f"genbench: interrupted{detail}; run the same command again to resume", file=sys.stderr)
        return 130
