"""Training loops, one per model family, each training one or several seeds at once."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from genbench.config import TrainSettings
from genbench.train.gan import GANTrainer
from genbench.train.loop import Tensors, Trainer
from genbench.train.vae import VAETrainer

TRAINERS: dict[str, type[Trainer]] = {"vae": VAETrainer, "gan": GANTrainer}


def make_trainer(models: list[nn.Module], train: np.ndarray, holdout: np.ndarray, settings: TrainSettings,
                 seeds: list[int], device: torch.device | str = "cpu") -> Trainer:
    """The family's trainer for ``models`` (one per seed, same architecture) on arrays:
    float points, or uint8 images scaled to the models' value range."""
    device = torch.device(device)
    value_range = models[0].value_range
    return TRAINERS[models[0].family](models, Tensors(train, value_range, device), Tensors(holdout, value_range, device),
                                      settings, seeds, device)


def fit(models: list[nn.Module], train: np.ndarray, holdout: np.ndarray, settings: TrainSettings,
        seeds: list[int], device: torch.device | str = "cpu") -> list[list[dict[str, float]]]:
    """Train ``models`` for ``settings.epochs`` and return each seed's per-epoch history;
    the trained weights end up in ``models`` (on the CPU, in eval mode)."""
    trainer = make_trainer(models, train, holdout, settings, seeds, device)
    while trainer.epoch < settings.epochs:
        trainer.run_epoch()
    trainer.finish()
    return trainer.histories
