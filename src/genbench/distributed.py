"""One run trained data-parallel by the processes ``torchrun`` starts.

``torchrun --nproc_per_node=N -m genbench train ...`` starts N copies of genbench; each
finds its rank in the environment (:meth:`World.from_env`) and joins one process group
(gloo on the CPU, NCCL on GPUs). Every rank builds the same model from the run's seed and
draws the same global batch order and noise from the run's seed streams, then trains on
its contiguous share of each batch; before every optimiser step the gradients are summed
across ranks, each weighted by its share of the batch, so the step is the one a single
process takes on the whole batch (up to float rounding). Logged values are averaged the
same way, so every rank sees the same losses, stops at the same NaN and writes the same
history; only rank 0 writes files.

Why not ``torch.nn.parallel.DistributedDataParallel``'s wrapper: its reducer syncs
gradients from autograd hooks and needs every forward pass in grad mode to be followed by
one backward pass that reaches all the module's parameters. Trainers break that as a
matter of course: a GAN's generator step runs the discriminator forward and backpropagates
into the generator only (``backward(inputs=...)``), its discriminator step calls D twice
before one backward and G's forward is used detached when ``d_steps > 1``; WGAN-GP's
gradient penalty uses ``torch.autograd.grad``, which DDP documents it does not support;
VAEs call ``decode``, flows ``generate``, not ``forward``. A hook on each optimiser's step
works for any trainer that fills ``Trainer.optimizers``, plugins' included, with no change
to their code; it is one flat all-reduce per step per optimiser (DDP's overlap of
communication with the backward pass matters little for models of genbench's size).

BatchNorm: on CUDA it becomes ``SyncBatchNorm`` (batch statistics over the global
batch, as one process computes them); on the CPU (gloo) each rank normalises its share
with its own statistics and keeps its own running averages, as DDP with
``broadcast_buffers=False`` does; rank 0's are saved. So only BatchNorm-free models
train exactly as one process does on the CPU.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

import torch
import torch.distributed as dist
from torch import Tensor, nn

from genbench.errors import GenbenchError

T = TypeVar("T")
GROUP_TIMEOUT = timedelta(hours=2)  # rank 0 may score the oracle or train the evaluator while others wait


@dataclass(frozen=True)
class World:
    """This process's place among the processes training one run (rank 0 of 1 alone)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_writer(self) -> bool:
        """Only rank 0 writes checkpoints, results and reports."""
        return self.rank == 0

    @classmethod
    def from_env(cls, device: torch.device) -> tuple[World, torch.device]:
        """The world ``torchrun`` describes in the environment (``RANK``, ``WORLD_SIZE``,
        ``LOCAL_RANK``, ``MASTER_ADDR``...), its process group joined, and this rank's
        device (``cuda`` becomes ``cuda:LOCAL_RANK``); alone without them."""
        size = int(os.environ.get("WORLD_SIZE", "1"))
        if size == 1:
            return cls(), device
        world = cls(int(os.environ["RANK"]), size, int(os.environ.get("LOCAL_RANK", "0")))
        if device.type == "cuda":
            torch.cuda.set_device(world.local_rank)
            device = torch.device("cuda", world.local_rank)
        if not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=GROUP_TIMEOUT)
        return world, device

    def from_writer(self, value: T) -> T:
        """Rank 0's ``value`` on every rank (alone: ``value``); every rank waits here for
        rank 0 (which scores the oracle first, say)."""
        if self.size == 1:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def shares(self, n: int) -> list[int]:
        """Examples of an n-example batch per rank: contiguous, as equal as they can be."""
        return [n // self.size + (r < n % self.size) for r in range(self.size)]

    def check_batches(self, n_train: int, batch_size: int) -> None:
        """Every rank gets at least one example of every batch (the last one too)."""
        last = n_train % batch_size or batch_size
        if min(batch_size, last) < self.size:
            raise GenbenchError(f"{self.size} ranks need at least {self.size} examples in every batch; batch_size "
                                f"{batch_size} on {n_train} training examples leaves {last} in the last batch: change "
                                f"batch_size or data.n_train, or use fewer ranks")


class DataParallel:
    """A trainer's side of a :class:`World`: which share of the current batch this rank
    trains on, gradient sums at every optimiser step, logged values averaged."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.offset, self.local, self.total = 0, 0, 0  # this rank's share of the current batch

    def begin_batch(self, idx: Tensor) -> Tensor:
        """This rank's share of a (S, B) index batch; noise drawn per example until the
        next batch is sliced the same way (see :meth:`per_example`)."""
        self.total = idx.shape[1]
        shares = self.world.shares(self.total)
        self.offset, self.local = sum(shares[: self.world.rank]), shares[self.world.rank]
        return idx[:, self.offset: self.offset + self.local]

    def per_example(self, n: int) -> tuple[int, slice] | None:
        """A draw of ``n`` rows during a training step is per example when ``n`` is this
        rank's share: it is drawn for the whole batch (that many rows) and sliced to this
        rank's rows, so every rank uses the noise one process would."""
        if not self.local or n != self.local:
            return None
        return self.total, slice(self.offset, self.offset + self.local)

    def end_batch(self) -> None:
        self.local = 0

    def average_gradients(self, optimizer: torch.optim.Optimizer, *_) -> None:
        """Optimiser step pre-hook: each rank's gradient of its share's mean loss, weighted
        by its share of the batch, summed across ranks: the gradient of the batch mean."""
        grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        if not grads:
            return
        flat = torch.cat([g.reshape(-1) for g in grads]).mul_(self.local / self.total)
        dist.all_reduce(flat)
        for g, part in zip(grads, flat.split([g.numel() for g in grads])):
            g.copy_(part.view_as(g))

    def batch_means(self, values: dict[str, Tensor]) -> dict[str, Tensor]:
        """Per-seed values of this rank's share -> the whole batch's, on every rank."""
        if not values:
            return values
        names = list(values)
        flat = torch.stack([values[k].detach().float() for k in names]).mul_(self.local / self.total)
        dist.all_reduce(flat)
        return dict(zip(names, flat.unbind(0)))

    def prepare(self, nets: list[nn.Module], device: torch.device) -> list[nn.Module]:
        """Nets as every rank trains them: rank 0's parameters and buffers broadcast (the
        seed makes them equal already; this makes sure), BatchNorm synchronised on CUDA."""
        prepared = []
        for net in nets:
            if device.type == "cuda":
                net = nn.SyncBatchNorm.convert_sync_batchnorm(net)
            for tensor in [*net.parameters(), *net.buffers()]:
                dist.broadcast(tensor.data, src=0)
            prepared.append(net)
        return prepared
