"""The study report, rebuilt from a study folder alone: tables of mean ± 95% CI over
seeds beside the oracle and the study's published numbers, and a figure per dataset.

``report.md`` links the figures in ``figures/``; ``report.html`` embeds them, so it can be
mailed or opened anywhere as one file.
"""
from __future__ import annotations

import base64
import html
import io
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from genbench.config import StudyConfig
from genbench.data import DATASETS
from genbench.errors import GenbenchError
from genbench.io import write_text
from genbench.layout import ORACLE, StudyFolder, load_splits
from genbench.metrics import result_keys
from genbench.plugins import activate, check_records, load_study_plugins
from genbench.report.figures import class_histogram, dataset_figure, epochs_figure, image_dataset_figure
from genbench.report.stats import mean_ci, verdict

MIN_FIGURE_WIDTH = 400  # px; image grids saved at 1 px per pixel are shown at least this wide


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


def human_seconds(seconds: float) -> str:
    """``29.4 s``, ``12.5 min``, ``1.52 h``."""
    if seconds < 60:
        return f"{seconds:.3g} s"
    if seconds < 3600:
        return f"{seconds / 60:.3g} min"
    return f"{seconds / 3600:.3g} h"


def human_rate(per_second: float) -> str:
    """``850/s``, ``295k/s``, ``1.2M/s``."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if per_second >= scale:
            return f"{per_second / scale:.3g}{suffix}/s"
    return f"{per_second:.3g}/s"


def human_count(n: float) -> str:
    return f"{int(n):,d}"


COSTS = {  # metrics.json key -> (column, how to show one value)
    "n_params": ("parameters", human_count),
    "train_seconds": ("training time per run", human_seconds),
    "samples_per_second": ("sampling speed", human_rate),
}


def _fmt_range(values: list[float], show) -> str:
    """Mean (min–max): wall-clock costs vary with the machine's load, not with the seed,
    so a confidence interval over seeds would mislead."""
    if len(set(values)) == 1:
        return show(values[0])
    return f"{show(float(np.mean(values)))} ({show(min(values))}–{show(max(values))})"


def summary_values(rows: list[dict]) -> dict[tuple[str, str, str], dict[int, float]]:
    """(dataset, model, metric) -> seed -> value, from summary rows."""
    values: dict[tuple[str, str, str], dict[int, float]] = defaultdict(dict)
    for row in rows:
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
            scores = {m: values.get((dataset, m, key), {}) for m in config.entries(dataset)}
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


def metric_tables(config: StudyConfig, values: dict[tuple[str, str, str], dict[int, float]]) -> list[Table]:
    models = [*config.models, *config.external]
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
            source = f"; published: {config.published_source}" if published and config.published_source else ""
            tables.append(Table(metric, f"{description}; {direction}{source}", header, rows))
    cost_rows = []
    for dataset in config.datasets:
        for model in config.models:
            cells = []
            for key, (_, show) in COSTS.items():
                got = values.get((dataset, model, key))
                cells.append(_fmt_range(list(got.values()), show) if got else "–")
            cost_rows.append([dataset, model, *cells])
    tables.append(Table("costs", "mean (min–max) over seeds; seeds trained together share wall time equally; "
                        "sampling speed: evaluation samples drawn per second",
                        ["dataset", "model", *(column for column, _ in COSTS.values())], cost_rows))
    return tables


def published_not_compared(config: StudyConfig) -> Table | None:
    """Published numbers this study cannot stand beside, because it does not compute the
    same metric with the same features (an Inception FD is only compared with an
    Inception FD): listed with the reason rather than silently dropped."""
    computed = set(result_key_info(config))
    rows = []
    for metric, per_dataset in config.published.items():
        if metric in computed:
            continue
        for dataset, per_model in per_dataset.items():
            if dataset not in config.datasets:
                continue  # a preset extended to other data keeps its parent's numbers
            for model, value in per_model.items():
                rows.append([metric, dataset, model, f"{value:.4f}"])
    if not rows:
        return None
    source = f" ({config.published_source})" if config.published_source else ""
    return Table("published figures not compared", f"this study does not compute these metrics with the same "
                 f"features{source}, so they are not set beside its numbers; add the feature extractor they name "
                 f"(e.g. `features: [evaluator, inception]`) to compare", ["metric", "dataset", "model", "published"], rows)


D_LOSS_FLOOR = 0.05  # a discriminator loss below this means D tells real from fake almost perfectly
SIMILAR_PAIRS_FLAG = 0.05  # share of near-identical sample pairs that suggests collapse
LOSS_FLAG_EPOCHS = 3  # fewer epochs say too little about whether a loss went down
# A WGAN critic's Wasserstein estimate falls as the generator catches up; ending this many
# times above its low of the second half of training (and near its peak), it is diverging.
WASSERSTEIN_RISE = 1.5
# The critic's estimate on hold-out images below this share of its estimate on training
# images: it scores unseen real images like fakes, so it has memorised the training set.
CRITIC_HOLDOUT_SHARE = 0.5


def critic_flags(history: list[dict[str, float]]) -> list[str]:
    """A Wasserstein critic (``wasserstein`` and ``holdout_wasserstein`` columns) whose
    estimate grows over the second half of training (the critic loss diverging), or that
    scores hold-out images far below training ones (Gulrajani et al. 2017, Fig. 4)."""
    if len(history) < 2 * LOSS_FLAG_EPOCHS or "wasserstein" not in history[0]:
        return []
    flags = []
    estimate = [row["wasserstein"] for row in history]
    half = len(estimate) // 2
    low_at = min(range(half, len(estimate)), key=estimate.__getitem__)
    low, last = estimate[low_at], estimate[-1]
    if low > 0 and last > WASSERSTEIN_RISE * low and last >= 0.5 * max(estimate):
        flags.append(f"critic's Wasserstein estimate rose from {low:.4g} (epoch {low_at + 1}) to {last:.4g} at epoch "
                     f"{len(estimate)}: the critic loss is diverging (a lower learning rate or more critic steps?)")
    held = history[-1].get("holdout_wasserstein")
    if held is not None and last > 0 and held < CRITIC_HOLDOUT_SHARE * last:
        flags.append(f"critic's Wasserstein estimate on hold-out images is {held:.4g} against {last:.4g} on training "
                     f"images at epoch {len(estimate)}: the critic memorises the training set")
    return flags


def training_flags(history: list[dict[str, float]], metrics: dict) -> list[str]:
    """Failure signs a reader should not have to dig for: a discriminator that wins for
    many epochs, a Wasserstein critic that diverges or memorises, a loss (VAEs, flows,
    diffusion) no lower at the end than over the first epoch, near-identical samples,
    samples that cover little of the data."""
    flags = critic_flags(history)
    if len(history) >= LOSS_FLAG_EPOCHS and "loss" in history[0]:
        first, last = history[0]["loss"], history[-1]["loss"]
        if last >= first:  # the first epoch's mean includes the untrained start: healthy runs end far below
            flags.append(f"loss did not decrease: {first:.4g} over epoch 1, {last:.4g} at epoch {len(history)}; "
                         f"the model learnt nothing (learning rate too high or too low?)")
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


def health_table(config: StudyConfig, study: StudyFolder) -> Table | None:
    """Runs that failed (diverged) and runs with failure signs, so they are not hidden."""
    rows = []
    for dataset in config.datasets:
        for model in config.models:
            for seed in config.seed_list():
                run = study.run(dataset, model, seed)
                failed = run.read_failed()
                if failed is not None:
                    rows.append([dataset, model, str(seed), "failed", failed["error"]])
                elif run.metrics_file.exists():
                    for flag in training_flags(run.read_history(), run.read_metrics()):
                        rows.append([dataset, model, str(seed), "flag", flag])
    if not rows:
        return None
    return Table("failures and warning signs", "runs that diverged are left out of every other table",
                 ["dataset", "model", "seed", "status", "what"], rows)


@dataclass
class Section:
    """One dataset's figures, each (caption, png path)."""
    title: str
    figures: list[tuple[str, Path]]


def _epoch_grids(folder: Path, kind: str) -> list[tuple[int, Path]]:
    return [(int(p.stem.split("_")[1]), p) for p in sorted((folder / kind).glob("epoch_*.png"))]


def _draw(path: Path, redraw: bool, draw, *args) -> None:
    """Draw a figure file, or keep the one there when its dataset's runs did not change
    since it was drawn (``redraw`` False: the report rewritten while a study runs)."""
    if redraw or not path.exists():
        draw(path, *args)


def _image_run_figures(study: StudyFolder, dataset: str, shown: dict[str, int], redraw: bool) -> list[tuple[str, Path]]:
    """Samples over epochs for every model, then each model's reconstructions and
    analysis figures from the seed ``shown`` for it (its first finished one)."""
    out = []
    firsts = {m: study.run(dataset, m, seed).path for m, seed in shown.items()}
    grids = {m: _epoch_grids(f, "samples") for m, f in firsts.items()}
    grids = {m: g for m, g in grids.items() if g}
    if any(len(g) > 1 for g in grids.values()):  # one grid each: the dataset figure shows it already
        path = study.figures / f"{dataset}-epochs.png"
        _draw(path, redraw, epochs_figure, grids)
        out.append(("samples over epochs", path))
    for model, folder in firsts.items():
        seed = shown[model]
        recon = _epoch_grids(folder, "recon")
        if recon:
            epoch, png = recon[-1]
            out.append((f"{model} (seed {seed}): hold-out images (odd rows) above their reconstructions, "
                        f"epoch {epoch}", png))
        figures = study.run(dataset, model, seed).read_metrics().get("figures", {})
        out += [(f"{model} (seed {seed}): {caption}", folder / name)
                for name, caption in figures.items() if (folder / name).exists()]
    return out


REAL_IMAGES = "real (training images)"


def _class_histograms(config: StudyConfig, study: StudyFolder, dataset: str,
                      values: dict[tuple[str, str, str], dict[int, float]], redraw: bool) -> list[tuple[str, Path]]:
    """Per feature extractor with class shares in the summary: the real images' shares
    (oracle) beside each model's, averaged over seeds."""
    out = []
    for extractor in config.features:
        shares = {}
        for model in [ORACLE, *config.entries(dataset)]:
            per_class = []
            while (got := values.get((dataset, model, f"class_share{len(per_class)}_{extractor}"))):
                per_class.append(np.mean(list(got.values())))
            if per_class:
                shares[REAL_IMAGES if model == ORACLE else model] = np.array(per_class)
        if len(shares) > 1:
            path = study.figures / f"{dataset}-classes-{extractor}.png"
            caption = f"predicted classes ({extractor}), share of images, mean over seeds"
            _draw(path, redraw, class_histogram, shares, f"{dataset}: {caption}", REAL_IMAGES)
            out.append((f"class coverage: {caption}", path))
    return out


def _real_images(study: StudyFolder, dataset: str) -> np.ndarray:
    path = study.real_images(dataset)
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise GenbenchError(f"{path} is missing or damaged ({type(exc).__name__}); run the study again (genbench "
                            f"run) to rewrite it") from None


def make_sections(config: StudyConfig, study: StudyFolder, values: dict[tuple[str, str, str], dict[int, float]],
                  redraw: Collection[str] | None = None) -> list[Section]:
    """Each dataset's figures; only those of the datasets in ``redraw`` (None: all) are
    drawn again where figure files exist."""
    sections = []
    for dataset in config.datasets:
        again = redraw is None or dataset in redraw
        histories, samples, shown = {}, {}, {}  # shown: model -> the seed whose samples are shown
        for model in config.entries(dataset):
            done = [s for s in config.seeds_of(model) if study.run(dataset, model, s).metrics_file.exists()]
            if not done:
                continue
            if model in config.models:  # external samples have no training history
                histories[model] = [study.run(dataset, model, s).read_history() for s in done]
            samples[model] = study.run(dataset, model, done[0]).read_samples()
            shown[model] = done[0]
        if not samples:
            continue
        path = study.figures / f"{dataset}.png"
        if DATASETS.get(dataset).kind == "images":
            grids = {m: s[:64] for m, s in samples.items()}
            _draw(path, again, image_dataset_figure, dataset, _real_images(study, dataset), histories, grids, shown)
            figures = [("loss curves (all seeds) and samples", path),
                       *_class_histograms(config, study, dataset, values, again),
                       *_image_run_figures(study, dataset, shown, again)]
        else:
            _draw(path, again, dataset_figure, dataset, load_splits(config, dataset).train, histories, samples, shown)
            figures = [("loss curves (all seeds), samples and KDE heatmaps", path)]
        sections.append(Section(dataset, figures))
    return sections


def progress_note(config: StudyConfig, study: StudyFolder) -> str | None:
    """While a study runs its report is rewritten as each group of runs finishes; until
    every run has a result (or failed) it says how far it got, so a half-filled table is
    not read as the study's answer. None once the study is complete."""
    expected = done = 0
    for dataset in config.datasets:
        for model in config.models:
            for seed in config.seed_list():
                run = study.run(dataset, model, seed)
                expected += 1
                done += run.metrics_file.exists() or run.failed_file.exists()
    if done == expected:
        return None
    return (f"In progress: {done} of {expected} runs finished. This report is rewritten as each group of runs "
            f"finishes; cells marked – are still training.")


def _intro(config: StudyConfig) -> str:
    kinds = {DATASETS.get(d).kind for d in config.datasets}
    floor = []
    if "points" in kinds:
        floor.append("for 2D datasets it scores a fresh real sample of the same size: the level a perfect model reaches")
    if "images" in kinds:
        floor.append("for image datasets it scores real training images against the test split: "
                     "the real-data level no model is expected to beat")
    seeds = f"{config.seeds} seed{'s' if config.seeds != 1 else ''} per run"
    ci = "cells are mean ± 95% CI (Student t) over seeds" if config.seeds > 1 else \
        "one seed, so no confidence intervals: run more seeds (--seeds) before trusting a difference"
    return f"{seeds}; {ci}. The `{ORACLE}` column is real data: {'; '.join(floor)}."


def _markdown(config: StudyConfig, tables: list[Table], sections: list[Section], root: Path,
              progress: str | None) -> str:
    lines = [f"# {config.name}: {', '.join([*config.models, *config.external])}", ""]
    if progress:
        lines += [f"**{progress}**", ""]
    lines += [config.description.strip(), "", _intro(config), ""]
    for table in tables:
        lines += [f"## {table.title}", "", f"_{table.note}_", "",
                  "| " + " | ".join(table.header) + " |", "|" + "---|" * len(table.header)]
        lines += ["| " + " | ".join(row) + " |" for row in table.rows]
        lines.append("")
    for section in sections:
        lines += [f"## {section.title}", ""]
        for caption, path in section.figures:
            lines += [f"_{caption}_", "", f"![{caption}]({path.relative_to(root).as_posix()})", ""]
    return "\n".join(lines)


def _html(config: StudyConfig, tables: list[Table], sections: list[Section], progress: str | None) -> str:
    esc = html.escape
    intro = esc(_intro(config)).replace(f"`{ORACLE}`", f"<code>{ORACLE}</code>")
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{esc(config.name)} report</title><style>",
        "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}",
        "table{border-collapse:collapse;margin:.5em 0 1.5em}th,td{border:1px solid #ccc;padding:.3em .6em;text-align:right}",
        "th:first-child,td:first-child{text-align:left}th{background:#f3f3f3}.note{color:#666;font-style:italic}",
        "img{max-width:100%;image-rendering:pixelated}figure{margin:1em 0 2em}figcaption{color:#444;font-size:.9em}</style></head><body>",
        f"<h1>{esc(config.name)}: {esc(', '.join([*config.models, *config.external]))}</h1>",
        f"<p class='progress'><strong>{esc(progress)}</strong></p>" if progress else "",
        f"<p>{esc(config.description.strip())}</p>",
        f"<p>{intro}</p>",
    ]
    for table in tables:
        parts.append(f"<h2>{esc(table.title)}</h2><p class='note'>{esc(table.note)}</p><table><tr>")
        parts += [f"<th>{esc(h)}</th>" for h in table.header]
        parts.append("</tr>")
        for row in table.rows:
            parts.append("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>")
        parts.append("</table>")
    for section in sections:
        parts.append(f"<h2>{esc(section.title)}</h2>")
        for caption, path in section.figures:
            raw = path.read_bytes()
            data = base64.b64encode(raw).decode()
            with Image.open(io.BytesIO(raw)) as png:
                width = png.size[0] * max(1, MIN_FIGURE_WIDTH // png.size[0])  # raw pixel grids, enlarged
            parts.append(f"<figure><img alt='{esc(caption)}' width='{width}' src='data:image/png;base64,{data}'>"
                         f"<figcaption>{esc(caption)}</figcaption></figure>")
    parts.append("</body></html>")
    return "\n".join(parts)


def check_plugins(config: StudyConfig, study: StudyFolder, allow_changed: bool = False) -> None:
    """Load the plugins the runs recorded and refuse, in one line, one that is missing or
    changed since; then the study's other plugins (those no finished run recorded)."""
    activate()
    satisfied = set()
    for dataset in config.datasets:
        for model in config.entries(dataset):
            for seed in config.seeds_of(model):
                run = study.run(dataset, model, seed)
                if run.config_file.exists():
                    satisfied |= check_records(run.read_config().plugins, run.path, allow_changed)
    load_study_plugins(config.plugins, satisfied, study.study_file)


def build_report(root: Path, allow_changed_plugin: bool = False,
                 redraw: Collection[str] | None = None) -> tuple[Path, Path]:
    """Write ``summary.csv``, ``report.md``, ``report.html`` and ``figures/`` from a study
    folder's run folders alone. ``redraw``: the datasets whose figures are drawn again
    (None: all); a running study passes the dataset of the group that just finished, as
    the others' figures are unchanged (a study's last report is byte-identical to one
    rebuilt afterwards, which a test checks)."""
    study = StudyFolder(root)
    config = study.read_study()
    check_plugins(config, study, allow_changed_plugin)
    rows = study.collect_summary(config)
    study.write_summary(rows)
    values = summary_values(rows)
    tables = metric_tables(config, values)
    unmatched = published_not_compared(config)
    if unmatched:
        tables.append(unmatched)
    for extra in (verdict_table(config, values), health_table(config, study)):
        if extra:
            tables.insert(0, extra)
    sections = make_sections(config, study, values, redraw)
    progress = progress_note(config, study)
    write_text(study.report_md, _markdown(config, tables, sections, root, progress))
    write_text(study.report_html, _html(config, tables, sections, progress))
    return study.report_md, study.report_html
