"""Out-of-distribution probes (study 001).

VAE: reconstruction error on in-distribution test images against OOD images (the other
28x28 grayscale dataset, uniform noise), with the AUROC of the error as an OOD score
(1: error separates them perfectly, 0.5: not at all). GAN: samples from latents far
from the prior, N(0, 10) and N(5, 1), scored by Fréchet distance to the test split
beside N(0, 1).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from torch import nn

from genbench.analysis.latent import to_model_input, to_unit_range
from genbench.metrics.frechet import frechet_features
from genbench.report.figures import ood_histogram
from genbench.report.grid import save_image

GAN_PRIORS = {"n0_1": (0.0, 1.0), "n0_10": (0.0, 10.0), "n5_1": (5.0, 1.0)}  # name -> (mean, std)


@torch.no_grad()
def recon_errors(model: nn.Module, images: np.ndarray) -> np.ndarray:
    """Per-image MSE of the VAE's reconstruction, pixels in [0, 1]."""
    out = []
    for start in range(0, len(images), 500):
        chunk = images[start:start + 500]
        recon = to_unit_range(model, model.reconstruct(to_model_input(model, chunk)))
        out.append(((recon - chunk.astype(np.float32) / 255) ** 2).reshape(len(chunk), -1).mean(axis=1))
    return np.concatenate(out)


def vae_ood(path: Path, model: nn.Module, test: np.ndarray, ood_sets: dict[str, np.ndarray],
            title: str) -> dict[str, float]:
    """AUROC and mean error per OOD set; their error histograms into ``path``."""
    inside = recon_errors(model, test)
    out = {"ood_recon_mse_in": float(inside.mean())}
    errors = {name: recon_errors(model, images) for name, images in ood_sets.items()}
    ood_histogram(path, inside, errors, title)
    for name, outside in errors.items():
        scores = np.concatenate([inside, outside])
        truth = np.concatenate([np.zeros(len(inside)), np.ones(len(outside))])
        out[f"ood_recon_mse_{name}"] = float(outside.mean())
        out[f"ood_auroc_{name}"] = float(roc_auc_score(truth, scores))
    return out


@torch.no_grad()
def gan_ood(path: Path, model: nn.Module, features, test_features: np.ndarray, n: int = 2000,
            seed: int = 0) -> dict[str, float]:
    """FD to the test split of samples from each latent prior; a figure of 8 samples each."""
    gen = torch.Generator().manual_seed(seed)
    out, rows = {}, []
    for name, (mean, std) in GAN_PRIORS.items():
        z = mean + std * torch.randn(n, *model.noise_shape, generator=gen)
        images = np.concatenate([to_unit_range(model, model.generate(part)) for part in z.split(500)])
        pixels = np.round(images * 255).astype(np.uint8)
        out[f"ood_fd_z_{name}"] = frechet_features(test_features, features(pixels))
        rows.append(images[:8])
    save_image(path, np.concatenate(rows), nrow=8)
    return out


def noise_images(shape: tuple[int, ...], n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, *shape), dtype=np.uint8)
