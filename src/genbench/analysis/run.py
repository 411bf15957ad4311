"""Every analysis of one finished image run, into its folder."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from genbench.analysis.latent import (
    interpolation,
    interpolation_caption,
    responsive_dims,
    to_model_input,
    traversal,
    tsne_figure,
)
from genbench.analysis.ood import gan_ood, noise_images, vae_ood
from genbench.data import load_image_split
from genbench.errors import GenbenchError
from genbench.metrics import EvalContext
from genbench.models.base import is_autoencoder

# OOD partners: datasets of the same shape whose test split is a natural OOD set.
OOD_PARTNERS = {"mnist": "fashion-mnist", "fashion-mnist": "mnist"}
OOD_N = 2000


def ood_sets(dataset: str, shape: tuple[int, ...], data_dir: Path | None) -> dict[str, np.ndarray]:
    """Uniform noise always; the partner dataset's test split where its files are found."""
    sets = {"noise": noise_images(shape, OOD_N)}
    partner = OOD_PARTNERS.get(dataset)
    if partner:
        try:
            sets[partner.replace("-", "_")] = load_image_split(partner, {}, "test", data_dir).images[:OOD_N]
        except GenbenchError:
            pass  # not on this machine: the noise probe still runs
    return sets


def has_latent_code(model: nn.Module) -> bool:
    """Whether the model's noise is a latent vector (GANs) rather than noise of the data's
    own shape (flows, diffusion): only a latent code has a prior to stray far from, and
    drawing thousands of samples through an ODE or DDIM sampler costs an hour on a CPU."""
    return len(model.noise_shape) == 1


def analyse_run(folder: Path, model: nn.Module, samples: np.ndarray, ctx: EvalContext, dataset: str,
                data_dir: Path | None, extractor: str | None) -> dict[str, Any]:
    """Write the figures of one run into ``folder``; return its numbers and, under
    ``figures``, each figure file written with its caption."""
    figures, numbers = {}, {}
    interpolation(folder / "interpolation.png", model, ctx.test, ctx.test_labels)
    figures["interpolation.png"] = interpolation_caption(model)
    if is_autoencoder(model):
        dims = responsive_dims(model, ctx.test)
        traversal(folder / "traversal.png", model, ctx.test, dims)
        figures["traversal.png"] = "latent traversal of the most responsive dimensions"
        numbers["traversal_dims"] = dims
        with torch.no_grad():
            mu = model.encode(to_model_input(model, ctx.test[:2000]))[0].numpy()
        tsne_figure(folder / "tsne.png", mu, ctx.test_labels, f"t-SNE of test-set posterior means ({dataset})")
        figures["tsne.png"] = "t-SNE of the test set's posterior means, by label"
        numbers.update(vae_ood(folder / "ood_hist.png", model, ctx.test[:OOD_N],
                               ood_sets(dataset, ctx.test.shape[1:], data_dir),
                               f"reconstruction error, {dataset} test vs OOD sets"))
        figures["ood_hist.png"] = "out-of-distribution: reconstruction error histograms"
    elif extractor:
        feats, probs = ctx.features(extractor, samples[:2000])
        labels = None if probs is None else probs.argmax(1)
        tsne_figure(folder / "tsne.png", feats, labels,
                    f"t-SNE of {extractor} features of samples, by predicted class ({dataset})")
        figures["tsne.png"] = f"t-SNE of the samples' {extractor} features, by predicted class"
        if has_latent_code(model):
            test_feats = ctx.features(extractor, ctx.test)[0]
            ood = gan_ood(folder / "ood_latents.png", model, ctx.extractor(extractor).features, test_feats)
            numbers.update({k.replace("ood_fd_", f"ood_fd_{extractor}_"): v for k, v in ood.items()})
            figures["ood_latents.png"] = "out-of-distribution latents: rows drawn from N(0,1), N(0,10), N(5,1)"
    numbers["figures"] = figures
    return numbers
