"""Latent-space figures (studies 001, 003, 004): interpolation between two codes,
traversal of single latent dimensions, and t-SNE maps coloured by class."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from genbench.models.base import is_autoencoder
from genbench.report.grid import save_image

STEPS = 10  # interpolation points between and including the two ends (studies 001 and 003)


def to_unit_range(model: nn.Module, x: torch.Tensor) -> np.ndarray:
    lo, hi = model.value_range
    return ((x.float() - lo) / (hi - lo)).clamp(0, 1).numpy()


def to_model_input(model: nn.Module, images: np.ndarray) -> torch.Tensor:
    lo, hi = model.value_range
    return torch.tensor(images, dtype=torch.float32) / 255 * (hi - lo) + lo


def interpolation_caption(model: nn.Module) -> str:
    return ("latent interpolation between the codes of two test images" if is_autoencoder(model)
            else "interpolation between two random noise draws")


@torch.no_grad()
def interpolation(path: Path, model: nn.Module, test: np.ndarray, labels: np.ndarray | None, rows: int = 6,
                  seed: int = 0) -> None:
    """Rows of STEPS images along straight lines in latent space: for an autoencoder
    (VAE) between the posterior means of two test images of different classes (where
    labels exist), the real images at both ends; for any other model between two random
    noise draws."""
    rng = np.random.default_rng(seed)
    grid = []
    for _ in range(rows):
        if not is_autoencoder(model):
            gen = torch.Generator().manual_seed(int(rng.integers(1 << 31)))
            z0, z1 = torch.randn(2, *model.noise_shape, generator=gen)
            t = torch.linspace(0, 1, STEPS).view(-1, *[1] * z0.dim())
            grid.append(to_unit_range(model, model.generate((1 - t) * z0 + t * z1)))
            continue
        i = int(rng.integers(len(test)))
        others = np.flatnonzero(labels != labels[i]) if labels is not None else np.arange(len(test))
        j = int(rng.choice(others))
        ends = to_model_input(model, test[[i, j]])
        mu = model.encode(ends)[0]
        t = torch.linspace(0, 1, STEPS)[:, None]
        path_images = to_unit_range(model, model.decode((1 - t) * mu[0] + t * mu[1]))
        real = test[[i, j]].astype(np.float32) / 255
        grid.append(np.concatenate([real[:1], path_images, real[1:]]))
    save_image(path, np.concatenate(grid), nrow=len(grid[0]))


@torch.no_grad()
def responsive_dims(model: nn.Module, test: np.ndarray, n: int = 8) -> list[int]:
    """The VAE's latent dimensions whose posterior mean varies most across test images
    (Burda et al.'s active units): the ones a traversal shows something in."""
    mu = model.encode(to_model_input(model, test[:2000]))[0]
    return mu.var(dim=0).argsort(descending=True)[: min(n, model.latent_dim)].tolist()


@torch.no_grad()
def traversal(path: Path, model: nn.Module, test: np.ndarray, dims: list[int], span: float = 3.0,
              steps: int = 9) -> None:
    """One row per dimension in ``dims``: the code of a test image with that dimension
    swept over [-span, span], the others held."""
    base = model.encode(to_model_input(model, test[:1]))[0][0]
    values = torch.linspace(-span, span, steps)
    rows = []
    for d in dims:
        z = base.repeat(steps, 1)
        z[:, d] = values
        rows.append(to_unit_range(model, model.decode(z)))
    save_image(path, np.concatenate(rows), nrow=steps)


def tsne_figure(path: Path, points: np.ndarray, labels: np.ndarray | None, title: str, n: int = 2000) -> None:
    """t-SNE (scikit-learn, PCA init, seed 0) of up to ``n`` points, coloured by label."""
    from sklearn.manifold import TSNE

    from genbench.report.figures import scatter_classes

    points = np.asarray(points[:n], dtype=np.float32).reshape(min(n, len(points)), -1)
    labels = None if labels is None else labels[:n]
    emb = TSNE(n_components=2, init="pca", random_state=0, perplexity=min(30, len(points) - 1)).fit_transform(points)
    scatter_classes(path, emb, labels, title)
