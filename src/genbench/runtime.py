"""How a study runs, as opposed to what it computes: the device, where data files are,
whether to resume. None of it enters a run's config."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from genbench.distributed import World
from genbench.errors import GenbenchError

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(name: str) -> torch.device:
    """``auto``: CUDA when PyTorch sees a GPU, else the CPU."""
    if name not in DEVICES:
        raise GenbenchError(f"unknown device {name!r}; choose one of: {', '.join(DEVICES)}")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise GenbenchError("--device cuda: PyTorch sees no CUDA GPU here (a CPU build, or no driver); use --device cpu")
    return torch.device(name)


@dataclass(frozen=True)
class Runtime:
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    data_dir: Path | None = None  # first place to look for dataset files (--data-dir)
    resume: bool = True  # continue unfinished runs from their last checkpoint
    quiet: bool = False
    inception_weights: Path | None = None  # local InceptionV3 weights for the inception features
    tensorboard: bool = False  # also log scalars and sample grids per run under <run>/tensorboard
    world: World = World()  # the torchrun ranks training one run together (alone: rank 0 of 1)
