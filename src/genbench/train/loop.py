"""What every training loop shares: per-seed random streams, mini-batches drawn from one
in-memory tensor, Adam with an optional cosine schedule, and per-epoch history rows."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import Tensor

from genbench.config import TrainSettings


class SeedStreams:
    """One ``torch.Generator`` per seed, so a seed's batches, noise and hence result do
    not depend on which other seeds it is trained beside."""

    def __init__(self, seeds: list[int]) -> None:
        self.generators = [torch.Generator().manual_seed(10_000 + s) for s in seeds]

    def randn(self, *shape: int) -> Tensor:
        return torch.stack([torch.randn(*shape, generator=g) for g in self.generators])

    def batches(self, n: int, batch_size: int) -> list[Tensor]:
        """One epoch of (S, b) index tensors: a fresh permutation per seed, last batch
        smaller when ``batch_size`` does not divide ``n`` (as a DataLoader would)."""
        perm = torch.stack([torch.randperm(n, generator=g) for g in self.generators])
        return list(perm.split(batch_size, dim=1))


def make_optimizer(params: list[Tensor], lr: float, betas: tuple[float, float], fused: bool) -> torch.optim.Adam:
    return torch.optim.Adam(params, lr=lr, betas=betas, fused=fused)


def make_scheduler(opt: torch.optim.Optimizer, settings: TrainSettings, total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Constant, or linear warm-up then cosine decay to zero over ``total_steps``."""
    if settings.lr_schedule == "constant":
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0)
    warmup = int(settings.warmup_frac * total_steps)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total_steps - warmup)
        return 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))

    return torch.optim.lr_scheduler.LambdaLR(opt, factor)


@dataclass
class EpochMeter:
    """Sums of per-seed losses weighted by batch size; ``mean()`` gives epoch averages."""

    names: tuple[str, ...]
    sums: dict[str, Tensor] = field(default_factory=dict)
    count: int = 0

    def add(self, batch: int, **values: Tensor) -> None:
        for name in self.names:
            v = values[name].detach() * batch
            self.sums[name] = self.sums[name] + v if name in self.sums else v
        self.count += batch

    def mean(self) -> dict[str, Tensor]:
        return {name: self.sums[name] / self.count for name in self.names}


def steps_per_epoch(n: int, batch_size: int) -> int:
    return -(-n // batch_size)


def append_epoch(histories: list[list[dict[str, float]]], epoch: int, values: dict[str, Tensor]) -> None:
    """Split (S,)-shaped epoch values into one history row per seed."""
    for i, history in enumerate(histories):
        history.append({"epoch": epoch, **{k: float(v[i]) for k, v in values.items()}})
