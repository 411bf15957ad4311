"""The study report, rebuilt from a study folder alone: tables of mean ± 95% CI over
seeds beside the oracle and the study's published numbers, and a figure per dataset.

``report.md`` links the figures in ``figures/``; ``report.html`` embeds them, so it can be
mailed or opened anywhere as one file.
"""
from __future__ import annotations

import base64
import csv
import html
import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from genbench.config import StudyConfig
from genbench.data import DATASETS
from genbench.errors import GenbenchError
from genbench.io import write_text
from genbench.layout import ORACLE, load_splits, run_folder
from genbench.metrics import result_keys
from genbench.report.figures import dataset_figure, image_dataset_figure
from genbench.report.stats import mean_ci, verdict

COSTS = {"n_params": "parameters", "train_seconds": "training seconds per run",
         "samples_per_second": "samples per second"}


@dataclass
class Table:
    title: str
    note: str
    header: list[str]
    rows: list[list[str]]


def _fmt(values: list[float]) -> str:
    """Mean ± 95% CI over seeds; a value that is the same on every seed (a parameter
    count, a shared wall time) is shown once, whole numbers with thousands separators."""
    if len(set(values)) == 1:
        v = values[0]
        return f"{int(v):,d}" if float(v).is_integer() else f"{v:.4f}"
    mean, half = mean_ci(values)
    return f"{mean:.4f} ± {half:.4f}"


def read_summary(root: Path) -> dict[tuple[str, str, str], dict[int, float]]:
    """(dataset, model, metric) -> seed -> value."""
    values: dict[tuple[str, str, str], dict[int, float]] = defaultdict(dict)
    with open(root / "summary.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            values[row["dataset"], row["model"], row["metric"]][int(row["seed"])] = float(row["value"])
    return values


def result_key_info(config: StudyConfig) -> dict[str, tuple[str, bool]]:
    """Every number the study's metrics write: key -> (description, higher is better)."""
    return {k: info for metric in config.metrics for k, info in result_keys(metric, config.features).items()}


def verdict_table(config: StudyConfig, values: dict[tuple[str, str, str], dict[int, float]]) -> Table | None:
    """Per dataset and metric: the better model, its margin over the runner-up, and
    whether that margin holds across seeds."""
    rows = []
    for dataset in config.datasets:
        for key, (_, higher) in result_key_info(config).items():
            scores = {m: values.get((dataset, m, key), {}) for m in config.models}
            v = verdict(scores, higher)
            if v is None:
                continue
            margin = f"{v['gap']:.4g}" + (f" ({100 * v['relative']:.0f}%)" if np.isfinite(v["relative"]) else "")
            rows.append([dataset, key, v["best"] if v["significant"] or v["p"] is None else f"({v['best']})",
                         v["runner_up"], margin, v["text"]])
    if not rows:
        return None
    return Table("verdicts", "computed from the runs: the better model on each metric, its margin over the "
                 "runner-up, and a paired t-test over seeds (a model in parentheses is ahead on the mean only)",
                 ["dataset", "metric", "better", "than", "by", "across seeds"], rows)


def metric_tables(config: StudyConfig, values: dict[tuple[str, str, str], list[float]]) -> list[Table]:
    models = list(config.models)
    tables = []
    for metric, (description, higher_is_better) in result_key_info(config).items():
        published = config.published.get(metric, {})
        header = ["dataset", *models, ORACLE] + [f"published {m}" for m in models if any(m in p for p in published.values())]
        rows = []
        for dataset in config.datasets:
            cells = []
            for model in [*models, ORACLE]:
                got = values.get((dataset, model, metric))
                cells.append(_fmt(list(got.values())) if got else "–")
            if not any(c != "–" for c in cells):
                continue  # the metric does not apply to this dataset
            extra = [f"{published[dataset][m]:.4f}" if m in published.get(dataset, {}) else "–"
                     for m in models if any(m in p for p in published.values())]
            rows.append([dataset, *cells, *extra])
        if rows:
            direction = "higher is better" if higher_is_better else "lower is better"
            tables.append(Table(metric, f"{description}; {direction}", header, rows))
    cost_rows = []
    for dataset in config.datasets:
        for model in models:
            cells = []
            for key in COSTS:
                got = values.get((dataset, model, key))
                cells.append(_fmt(list(got.values())) if got else "–")
            cost_rows.append([dataset, model, *cells])
    tables.append(Table("costs", "seeds trained together share wall time equally", ["dataset", "model", *COSTS.values()], cost_rows))
    return tables


D_LOSS_FLOOR = 0.05  # a discriminator loss below this means D tells real from fake almost perfectly
SIMILAR_PAIRS_FLAG = 0.05  # share of near-identical sample pairs that suggests collapse


def training_flags(history: list[dict[str, float]], metrics: dict) -> list[str]:
    """GAN failure signs a reader should not have to dig for: a discriminator that wins
    for many epochs, near-identical samples, samples that cover little of the data."""
    flags = []
    if history and "d_loss" in history[0]:
        longest, run, best_start = 0, 0, 0
        for row in history:
            run = run + 1 if row["d_loss"] < D_LOSS_FLOOR else 0
            if run > longest:
                longest, best_start = run, int(row["epoch"]) - run + 1
        if longest >= max(3, len(history) // 5):
            flags.append(f"D loss below {D_LOSS_FLOOR} for {longest} consecutive epochs from epoch {best_start}: "
                         f"the discriminator overpowers the generator")
    share = metrics.get("similar_pairs_frac")
    if isinstance(share, (int, float)) and share > SIMILAR_PAIRS_FLAG:
        flags.append(f"{100 * share:.1f}% of sample pairs are near-identical (cosine > 0.9): possible mode collapse")
    for key, value in metrics.items():
        if key.startswith("recall_") and isinstance(value, (int, float)) and value < 0.1:
            flags.append(f"{key} = {value:.3f}: the samples cover little of the data")
    return flags


def health_table(config: StudyConfig, root: Path) -> Table | None:
    """Runs that failed (diverged) and runs with failure signs, so they are not hidden."""
    rows = []
    for dataset in config.datasets:
        for model in config.models:
            for seed in config.seed_list():
                folder = run_folder(root, dataset, model, seed)
                try:
                    failed = json.loads((folder / "failed.json").read_text())
                    rows.append([dataset, model, str(seed), "failed", failed["error"]])
                    continue
                except (OSError, ValueError, KeyError):
                    pass
                if not (folder / "metrics.json").exists():
                    continue
                metrics = json.loads((folder / "metrics.json").read_text())
                for flag in training_flags(_read_history(folder / "history.csv"), metrics):
                    rows.append([dataset, model, str(seed), "flag", flag])
    if not rows:
        return None
    return Table("failures and warning signs", "runs that diverged are left out of every other table",
                 ["dataset", "model", "seed", "status", "what"], rows)


def _read_history(path: Path) -> list[dict[str, float]]:
    with open(path, newline="") as fh:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(fh)]


def make_figures(config: StudyConfig, root: Path) -> dict[str, Path]:
    figures = {}
    seeds = config.seed_list()
    for dataset in config.datasets:
        histories, samples = {}, {}
        for model in config.models:
            folders = [run_folder(root, dataset, model, s) for s in seeds]
            folders = [f for f in folders if (f / "metrics.json").exists()]
            if not folders:
                continue
            histories[model] = [_read_history(f / "history.csv") for f in folders]
            samples[model] = np.load(folders[0] / "samples.npy")
        if not samples:
            continue
        path = root / "figures" / f"{dataset}.png"
        if DATASETS.get(dataset).kind == "images":
            grids = {m: s[:64] for m, s in samples.items()}
            image_dataset_figure(path, dataset, np.load(root / dataset / "real.npy"), histories, grids, seeds[0])
        else:
            dataset_figure(path, dataset, load_splits(config, dataset).train, histories, samples, seeds[0])
        figures[dataset] = path
    return figures


def _markdown(config: StudyConfig, tables: list[Table], figures: dict[str, Path], root: Path) -> str:
    lines = [f"# {config.name}: {', '.join(config.models)}", "", config.description.strip(), "",
             f"{config.seeds} seeds per run; cells are mean ± 95% CI (Student t) over seeds. "
             f"`{ORACLE}` scores a fresh real sample of the same size: the level a perfect model reaches.", ""]
    for table in tables:
        lines += [f"## {table.title}", "", f"_{table.note}_", "",
                  "| " + " | ".join(table.header) + " |", "|" + "---|" * len(table.header)]
        lines += ["| " + " | ".join(row) + " |" for row in table.rows]
        lines.append("")
    for dataset, path in figures.items():
        lines += [f"## {dataset}", "", f"![{dataset}]({path.relative_to(root).as_posix()})", ""]
    return "\n".join(lines)


def _html(config: StudyConfig, tables: list[Table], figures: dict[str, Path]) -> str:
    esc = html.escape
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{esc(config.name)} report</title><style>",
        "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}",
        "table{border-collapse:collapse;margin:.5em 0 1.5em}th,td{border:1px solid #ccc;padding:.3em .6em;text-align:right}",
        "th:first-child,td:first-child{text-align:left}th{background:#f3f3f3}.note{color:#666;font-style:italic}",
        "img{max-width:100%}</style></head><body>",
        f"<h1>{esc(config.name)}: {esc(', '.join(config.models))}</h1><p>{esc(config.description.strip())}</p>",
        f"<p>{config.seeds} seeds per run; cells are mean ± 95% CI (Student t) over seeds. "
        f"<code>{ORACLE}</code> scores a fresh real sample of the same size: the level a perfect model reaches.</p>",
    ]
    for table in tables:
        parts.append(f"<h2>{esc(table.title)}</h2><p class='note'>{esc(table.note)}</p><table><tr>")
        parts += [f"<th>{esc(h)}</th>" for h in table.header]
        parts.append("</tr>")
        for row in table.rows:
            parts.append("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>")
        parts.append("</table>")
    for dataset, path in figures.items():
        data = base64.b64encode(path.read_bytes()).decode()
        parts.append(f"<h2>{esc(dataset)}</h2><img alt='{esc(dataset)}' src='data:image/png;base64,{data}'>")
    parts.append("</body></html>")
    return "\n".join(parts)


def build_report(root: Path) -> tuple[Path, Path]:
    """Write ``report.md``, ``report.html`` and ``figures/`` from a study folder."""
    try:
        config = StudyConfig.model_validate(yaml.safe_load((root / "study.yaml").read_text()))
        values = read_summary(root)
    except FileNotFoundError as exc:
        raise GenbenchError(f"{root} is not a study folder ({Path(exc.filename).name} is missing); run `genbench run` first") from None
    tables = metric_tables(config, values)
    for extra in (verdict_table(config, values), health_table(config, root)):
        if extra:
            tables.insert(0, extra)
    figures = make_figures(config, root)
    write_text(root / "report.md", _markdown(config, tables, figures, root))
    write_text(root / "report.html", _html(config, tables, figures))
    return root / "report.md", root / "report.html"
