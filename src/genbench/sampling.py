"""Draw samples from a finished run folder."""
from __future__ import annotations

from pathlib import Path

import torch
import yaml

from genbench.errors import GenbenchError
from genbench.io import load_weights, save_npy
from genbench.models import build_model


def load_run_model(run_dir: Path) -> torch.nn.Module:
    """Rebuild a run's model from its config.yaml and load its weights."""
    try:
        cfg = yaml.safe_load((run_dir / "config.yaml").read_text())
        name, params = cfg["model"], cfg["model_params"]
        data_dim = int(cfg["data_dim"])
    except FileNotFoundError:
        raise GenbenchError(f"{run_dir} is not a run folder (no config.yaml); pass e.g. runs/toy2d/pinwheel/mlp-vae/seed0") from None
    except (yaml.YAMLError, KeyError, TypeError):
        raise GenbenchError(f"{run_dir / 'config.yaml'} is damaged; re-run the study to rewrite it") from None
    model = build_model(name, data_dim, params)
    load_weights(run_dir / "model.pt", model)
    return model.eval()


def sample_from_run(run_dir: Path, n: int, out: Path, seed: int = 0) -> None:
    model = load_run_model(run_dir)
    samples = model.sample(n, generator=torch.Generator().manual_seed(seed)).numpy()
    save_npy(out, samples)
