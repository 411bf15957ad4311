import numpy as np
import pytest
import torch
from PIL import Image

from genbench.analysis.latent import interpolation, responsive_dims, traversal
from genbench.analysis.ood import noise_images, vae_ood
from genbench.models import build_model


class ConstantReconstruction(torch.nn.Module):
    """A stand-in VAE whose reconstruction of anything is one fixed grey image."""

    family, value_range = "vae", (0.0, 1.0)

    def __init__(self, level: float) -> None:
        super().__init__()
        self.level = level

    def reconstruct(self, x):
        return torch.full_like(x, self.level)


def test_ood_auroc_scores_reconstruction_error_as_the_ood_signal(tmp_path):
    rng = np.random.default_rng(0)
    inside = np.clip(51 + rng.integers(-3, 4, (300, 1, 8, 8)), 0, 255).astype(np.uint8)  # ~0.2 grey
    out = vae_ood(tmp_path / "hist.png", ConstantReconstruction(0.2), inside,
                  {"noise": noise_images((1, 8, 8), 300)}, "errors")
    assert out["ood_recon_mse_in"] < 1e-3
    assert out["ood_recon_mse_noise"] == pytest.approx(1 / 12 + (0.5 - 0.2) ** 2, rel=0.1)  # Var U + bias^2
    assert out["ood_auroc_noise"] == 1.0
    with Image.open(tmp_path / "hist.png") as png:
        assert png.size[0] > 300


def test_traversal_sweeps_the_most_responsive_dimensions(tmp_path):
    torch.manual_seed(0)
    vae = build_model("linear-vae", (1, 8, 8), {"hidden": [16], "latent": 5}).eval()
    with torch.no_grad():
        vae.fc_mu.weight[[0, 2, 4]] = 0  # dims 0, 2, 4 ignore the input: no variance across images
        vae.fc_mu.bias[[0, 2, 4]] = 0
    test = np.random.default_rng(1).integers(0, 256, (100, 1, 8, 8), dtype=np.uint8)
    dims = responsive_dims(vae, test, n=2)
    assert sorted(dims) == [1, 3]
    traversal(tmp_path / "t.png", vae, test, dims, steps=7)
    with Image.open(tmp_path / "t.png") as png:
        assert png.size == (7 * 10 + 2, 2 * 10 + 2)
    labels = np.arange(100) % 10
    interpolation(tmp_path / "i.png", vae, test, labels, rows=3)
    with Image.open(tmp_path / "i.png") as png:
        assert png.size == (12 * 10 + 2, 3 * 10 + 2)  # real, 10 steps, real
