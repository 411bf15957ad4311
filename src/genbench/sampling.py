"""Draw samples from a finished run folder."""
from __future__ import annotations

from pathlib import Path

import torch
import yaml

from genbench.data.image_data import to_uint8
from genbench.errors import GenbenchError
from genbench.io import load_weights, save_npy
from genbench.models import build_model
from genbench.report.grid import save_image


def read_run_config(run_dir: Path) -> dict:
    """A run folder's ``config.yaml``, or a one-line error saying what is wrong."""
    try:
        cfg = yaml.safe_load((run_dir / "config.yaml").read_text())
        if not isinstance(cfg, dict) or not {"model", "model_params", "data_shape"} <= set(cfg):
            raise KeyError
        return cfg
    except FileNotFoundError:
        raise GenbenchError(f"{run_dir} is not a run folder (no config.yaml); pass e.g. runs/toy2d/pinwheel/mlp-vae/seed0") from None
    except (yaml.YAMLError, KeyError, TypeError):
        raise GenbenchError(f"{run_dir / 'config.yaml'} is damaged; re-run the study to rewrite it") from None


def load_run_model(run_dir: Path) -> torch.nn.Module:
    """Rebuild a run's model from its config.yaml and load its weights."""
    cfg = read_run_config(run_dir)
    try:
        shape = tuple(int(d) for d in cfg["data_shape"])
    except (TypeError, ValueError):
        raise GenbenchError(f"{run_dir / 'config.yaml'} is damaged; re-run the study to rewrite it") from None
    model = build_model(cfg["model"], shape, cfg["model_params"])
    load_weights(run_dir / "model.pt", model)
    return model.eval()


def sample_from_run(run_dir: Path, n: int, out: Path, seed: int = 0) -> None:
    """``n`` samples into ``out``: a .npy array (images as uint8 pixels), or for image
    models a .png grid."""
    model = load_run_model(run_dir)
    samples = model.sample(n, generator=torch.Generator().manual_seed(seed)).numpy()
    if model.value_range is None:
        if out.suffix == ".png":
            raise GenbenchError(f"{run_dir} is a 2D model; write its samples to a .npy file")
        save_npy(out, samples)
    elif out.suffix == ".png":
        save_image(out, samples, value_range=model.value_range)
    else:
        save_npy(out, to_uint8(samples, model.value_range))
