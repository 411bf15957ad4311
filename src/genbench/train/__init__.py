"""Training loops, one per model family, each training one or several seeds at once.

A model names its trainer (``GenerativeModel.trainer``, default its family); a new
training procedure is a :class:`Trainer` subclass in one module plus one line here (or a
``genbench.register_trainer`` call in a plugin).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from genbench.config import TrainSettings
from genbench.registry import Registry
from genbench.train.diffusion import DiffusionTrainer
from genbench.train.flow import FlowTrainer
from genbench.train.gan import GANTrainer
from genbench.train.hinge import HingeGANTrainer
from genbench.train.loop import Tensors, Trainer
from genbench.train.vae import VAETrainer
from genbench.train.wgan_gp import WGANGPTrainer

TRAINERS: Registry[type[Trainer]] = Registry("trainer")
TRAINERS.register("vae", VAETrainer)
TRAINERS.register("gan", GANTrainer)
TRAINERS.register("flow", FlowTrainer)
TRAINERS.register("diffusion", DiffusionTrainer)
TRAINERS.register("wgan-gp", WGANGPTrainer)
TRAINERS.register("hinge-gan", HingeGANTrainer)


def make_trainer(models: list[nn.Module], train: np.ndarray, holdout: np.ndarray, settings: TrainSettings,
                 seeds: list[int], device: torch.device | str = "cpu") -> Trainer:
    """The registered trainer ``models`` name (one per seed, same architecture) on arrays:
    float points, or uint8 images scaled to the models' value range."""
    device = torch.device(device)
    value_range = models[0].value_range
    trainer = TRAINERS.get(models[0].trainer_name())
    return trainer(models, Tensors(train, value_range, device), Tensors(holdout, value_range, device),
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
