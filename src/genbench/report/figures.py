"""Figures: loss curves (train vs hold-out); for 2D runs scatter plots of real vs
generated and KDE heatmaps, for image runs sample grids. Matplotlib with the Agg
backend, so no display is needed."""
from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from PIL import Image
from scipy.stats import gaussian_kde

from genbench.data import DATASETS
from genbench.io import atomic_write_bytes
from genbench.report.grid import make_grid

HOLDOUT = "holdout_"  # a history column's hold-out twin carries this prefix


def loss_columns(row: dict[str, float]) -> list[str]:
    """The training losses a history row holds (``loss`` and every ``*_loss``, whatever
    the trainer), each drawn with its ``holdout_`` twin where there is one."""
    return [k for k in row if not k.startswith(HOLDOUT) and (k == "loss" or k.endswith("_loss"))]


def _save(fig: plt.Figure, path: Path, dpi: int) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def _bounds(points: np.ndarray, pad: float = 0.15) -> tuple[float, float, float, float]:
    lo, hi = np.percentile(points, 0.5, axis=0), np.percentile(points, 99.5, axis=0)
    span = hi - lo
    return lo[0] - pad * span[0], hi[0] + pad * span[0], lo[1] - pad * span[1], hi[1] + pad * span[1]


def plot_losses(ax: plt.Axes, histories: list[list[dict[str, float]]] | None, title: str) -> None:
    """Mean over seeds of each training loss and its hold-out twin, shaded min-max; on a
    log axis when every loss is positive, so a first-epoch spike does not flatten the rest.
    Samples from elsewhere (no ``histories``) say so instead."""
    if not histories:
        ax.axis("off")
        ax.text(0.5, 0.5, f"{title.split(':')[0]}:\nsamples made elsewhere\n(no training curves)", ha="center",
                va="center", fontsize=9)
        return
    epochs = np.array([row["epoch"] for row in histories[0]])
    positive = True
    for train_key in loss_columns(histories[0][0]):
        for key, style in ((train_key, "-"), (HOLDOUT + train_key, "--")):
            if key not in histories[0][0]:
                continue
            values = np.array([[row[key] for row in h] for h in histories])
            positive = positive and bool((values > 0).all())
            marker = "o" if len(epochs) < 10 else None  # a one-epoch run still shows its points
            line, = ax.plot(epochs, values.mean(0), style, lw=1.2, marker=marker, ms=3, label=key.replace("_", " "))
            if len(values) > 1:
                ax.fill_between(epochs, values.min(0), values.max(0), color=line.get_color(), alpha=0.2, lw=0)
    if positive:
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)


def plot_scatter(ax: plt.Axes, real: np.ndarray, generated: np.ndarray | None, title: str,
                 box: tuple[float, float, float, float]) -> None:
    ax.scatter(real[:, 0], real[:, 1], s=2, alpha=0.25, c="0.5", label="real", rasterized=True)
    if generated is not None:
        ax.scatter(generated[:, 0], generated[:, 1], s=2, alpha=0.5, c="C3", label="generated", rasterized=True)
    ax.set_xlim(box[0], box[1])
    ax.set_ylim(box[2], box[3])
    ax.set_aspect("equal")
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


def plot_kde(ax: plt.Axes, points: np.ndarray, title: str, box: tuple[float, float, float, float], grid: int = 100) -> None:
    xs, ys = np.linspace(box[0], box[1], grid), np.linspace(box[2], box[3], grid)
    xx, yy = np.meshgrid(xs, ys)
    density = gaussian_kde(points.T.astype(np.float64))(np.vstack([xx.ravel(), yy.ravel()])).reshape(grid, grid)
    ax.imshow(density, origin="lower", extent=box, cmap="viridis", aspect="equal")
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


def run_figure(path: Path, history: list[dict[str, float]], real: np.ndarray, generated: np.ndarray, title: str) -> None:
    """One run: its loss curves beside its samples over the training data."""
    fig, (ax_loss, ax_pts) = plt.subplots(1, 2, figsize=(8, 3.6))
    plot_losses(ax_loss, [history], "losses")
    plot_scatter(ax_pts, real, generated, "samples", _bounds(real))
    fig.suptitle(title, fontsize=10)
    _save(fig, path, dpi=70)


def dataset_figure(path: Path, dataset: str, real: np.ndarray, histories: dict[str, list[list[dict[str, float]]]],
                   samples: dict[str, np.ndarray], seeds: dict[str, int]) -> None:
    """Per dataset: loss curves (all seeds), scatter and KDE heatmap of real data and of
    each model's samples from one seed (``seeds``: model -> seed shown)."""
    models = list(samples)
    cols = 1 + len(models)
    fig, axes = plt.subplots(3, cols, figsize=(3.2 * cols, 9.4), squeeze=False)
    box = _bounds(real)
    axes[0, 0].axis("off")
    axes[0, 0].text(0.5, 0.5, f"{dataset}\n{len(real)} training points", ha="center", va="center", fontsize=11)
    plot_scatter(axes[1, 0], real, None, "real (training)", box)
    plot_kde(axes[2, 0], real, "KDE of real", box)
    for col, model in enumerate(models, start=1):
        plot_losses(axes[0, col], histories.get(model), f"{model}: train vs hold-out")
        plot_scatter(axes[1, col], real, samples[model], f"{model} samples (seed {seeds[model]})", box)
        plot_kde(axes[2, col], samples[model], f"KDE of {model}", box)
    fig.tight_layout()
    _save(fig, path, dpi=80)


def plot_grid(ax: plt.Axes, images: np.ndarray, title: str) -> None:
    """uint8 (N, C, H, W) images as one tiled picture."""
    grid = make_grid(images, nrow=8, value_range=(0, 255))
    ax.imshow(grid[:, :, 0] if grid.shape[2] == 1 else grid, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.axis("off")


def image_run_figure(path: Path, history: list[dict[str, float]], real: np.ndarray, samples: np.ndarray,
                     title: str) -> None:
    """One image run: its loss curves beside grids of its final samples and real images."""
    fig, (ax_loss, ax_img, ax_real) = plt.subplots(1, 3, figsize=(11.5, 3.6))
    plot_losses(ax_loss, [history], "losses")
    plot_grid(ax_img, samples[:64], "samples")
    plot_grid(ax_real, real[:64], "real (training)")
    fig.suptitle(title, fontsize=10)
    _save(fig, path, dpi=90)


RUN_FIGURES = {"points": run_figure, "images": image_run_figure}  # dataset kind -> one run's figure


def run_figure_of(dataset: str) -> Callable[[Path, list[dict[str, float]], np.ndarray, np.ndarray, str], None]:
    """The figure of one run (``run.png``) for a dataset's kind of data."""
    return RUN_FIGURES[DATASETS.get(dataset).kind]


def image_dataset_figure(path: Path, dataset: str, real: np.ndarray, histories: dict[str, list[list[dict[str, float]]]],
                         samples: dict[str, np.ndarray], seeds: dict[str, int]) -> None:
    """Per image dataset: real training images, then per model its loss curves (all
    seeds) above a grid of samples from one seed (``seeds``: model -> seed shown); wide
    studies wrap to at most four models a row."""
    slots = [None, *samples]  # None: the real-data column
    cols = min(5, len(slots))
    blocks = -(-len(slots) // cols)
    fig, axes = plt.subplots(2 * blocks, cols, figsize=(3.4 * cols, 7 * blocks), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, model in enumerate(slots):
        ax_loss, ax_grid = axes[2 * (i // cols), i % cols], axes[2 * (i // cols) + 1, i % cols]
        if model is None:
            ax_loss.text(0.5, 0.5, dataset, ha="center", va="center", fontsize=11)
            plot_grid(ax_grid, real, "real (training)")
            continue
        ax_loss.axis("on")
        plot_losses(ax_loss, histories.get(model), f"{model}: train vs hold-out")
        plot_grid(ax_grid, samples[model], f"{model} samples (seed {seeds[model]})")
    fig.tight_layout()
    _save(fig, path, dpi=90)


def scatter_classes(path: Path, points: np.ndarray, labels: np.ndarray | None, title: str) -> None:
    """A 2D embedding, one colour per class (tab10), with a legend."""
    fig, ax = plt.subplots(figsize=(5.2, 4.6))
    if labels is None:
        ax.scatter(points[:, 0], points[:, 1], s=3, alpha=0.6, c="C0", rasterized=True)
    else:
        for c in np.unique(labels):
            pts = points[labels == c]
            ax.scatter(pts[:, 0], pts[:, 1], s=3, alpha=0.6, label=str(c), color=plt.cm.tab10(int(c) % 10),
                       rasterized=True)
        ax.legend(markerscale=4, fontsize=7, loc="best", ncol=2)
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    _save(fig, path, dpi=90)


def epochs_figure(path: Path, grids: dict[str, list[tuple[int, Path]]], max_columns: int = 6) -> None:
    """Samples over epochs: a row per model, its saved grids (epoch, png) left to right,
    thinned evenly to ``max_columns`` that always keep the last epoch."""
    columns = min(max_columns, max(len(g) for g in grids.values()))
    fig, axes = plt.subplots(len(grids), columns, figsize=(2.2 * columns, 2.4 * len(grids)), squeeze=False)
    for row, (model, epochs) in enumerate(grids.items()):
        picks = sorted({round(i) for i in np.linspace(0, len(epochs) - 1, min(columns, len(epochs)))})
        for col in range(columns):
            ax = axes[row, col]
            ax.axis("off")
            if col < len(picks):
                epoch, png = epochs[picks[col]]
                with Image.open(png) as im:
                    ax.imshow(np.asarray(im.convert("RGB")), interpolation="nearest")
                ax.set_title(f"{model}, epoch {epoch}", fontsize=8)
    fig.tight_layout()
    _save(fig, path, dpi=90)


def ood_histogram(path: Path, inside: np.ndarray, outside: dict[str, np.ndarray], title: str) -> None:
    """Per-image reconstruction error of test images against each OOD set, on a shared
    log-spaced axis: the further apart, the better the error flags OOD inputs."""
    every = np.concatenate([inside, *outside.values()])
    bins = np.geomspace(max(every.min(), 1e-6), every.max() * 1.01, 60)
    fig, ax = plt.subplots(figsize=(5.2, 3.4))
    ax.hist(inside, bins=bins, alpha=0.6, density=True, label="test (in-distribution)")
    for name, errors in outside.items():
        ax.hist(errors, bins=bins, alpha=0.5, density=True, label=name.replace("_", "-"))
    ax.set_xscale("log")
    ax.set_xlabel("reconstruction MSE per image")
    ax.set_ylabel("density")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    _save(fig, path, dpi=90)


def class_histogram(path: Path, shares: dict[str, np.ndarray], title: str, real: str | None) -> None:
    """Share of images per predicted class, one bar group per class and a bar per source
    (``real``, the real images' label, in grey): the classes a model drops or
    over-produces at a glance."""
    classes = len(next(iter(shares.values())))
    width = 0.8 / len(shares)
    colours = iter(f"C{i}" for i in range(len(shares)))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.7 * classes + 2), 3.4))
    for i, (label, values) in enumerate(shares.items()):
        ax.bar(np.arange(classes) + (i - (len(shares) - 1) / 2) * width, values, width, label=label,
               color="0.6" if label == real else next(colours))
    ax.set_xticks(np.arange(classes))
    ax.set_xlabel("predicted class")
    ax.set_ylabel("share of images")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, ncol=min(len(shares), 5))
    ax.grid(axis="y", alpha=0.3)
    _save(fig, path, dpi=90)
