"""Every analysis of one finished image run, into its folder."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from genbench.analysis.latent import interpolation, responsive_dims, to_model_input, traversal, tsne_figure
from genbench.analysis.ood import gan_ood, noise_images, vae_ood
from genbench.data import load_image_split
from genbench.errors import GenbenchError
from genbench.metrics import EvalContext

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


def analyse_run(folder: Path, model: nn.Module, samples: np.ndarray, ctx: EvalContext, dataset: str,
                data_dir: Path | None, extractor: str | None) -> dict[str, Any]:
    """Write the figures of one run into ``folder``; return its numbers and, under
    ``figures``, the figure files written."""
    figures, numbers = [], {}
    interpolation(folder / "interpolation.png", model, ctx.test, ctx.test_labels)
    figures.append("interpolation.png")
    if model.family == "vae":
        dims = responsive_dims(model, ctx.test)
        traversal(folder / "traversal.png", model, ctx.test, dims)
        figures.append("traversal.png")
        numbers["traversal_dims"] = dims
        with torch.no_grad():
            mu = model.encode(to_model_input(model, ctx.test[:2000]))[0].numpy()
        tsne_figure(folder / "tsne.png", mu, ctx.test_labels, f"t-SNE of VAE test-set means ({dataset})")
        figures.append("tsne.png")
        numbers.update(vae_ood(folder / "ood_hist.png", model, ctx.test[:OOD_N],
                               ood_sets(dataset, ctx.test.shape[1:], data_dir),
                               f"VAE reconstruction error, {dataset} test vs OOD sets"))
        figures.append("ood_hist.png")
    elif extractor:
        feats, probs = ctx.features(extractor, samples[:2000])
        tsne_figure(folder / "tsne.png", feats, probs.argmax(1),
                    f"t-SNE of {extractor} features of samples, by predicted class ({dataset})")
        figures.append("tsne.png")
        test_feats = ctx.features(extractor, ctx.test)[0]
        ood = gan_ood(folder / "ood_latents.png", model, ctx.extractor(extractor).features, test_feats)
        numbers.update({k.replace("ood_fd_", f"ood_fd_{extractor}_"): v for k, v in ood.items()})
        figures.append("ood_latents.png")
    numbers["figures"] = figures
    return numbers
