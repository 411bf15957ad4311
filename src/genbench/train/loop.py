"""What every training loop shares: data held as one tensor on the device, per-seed
random streams, Adam with an optional cosine schedule, mixed precision, per-epoch history
rows, and the trainer state a checkpoint holds.

A family's trainer (``vae.py``, ``gan.py``) subclasses :class:`Trainer` and writes only
its batch step, its validation and its snapshot images.
"""
from __future__ import annotations

import contextlib
import math
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from genbench.config import TrainSettings
from genbench.distributed import DataParallel, World
from genbench.errors import GenbenchError, TrainingDiverged
from genbench.hardware import keep_freed_memory, narrow_products, resolve_precision
from genbench.train.adam import LeanAdam
from genbench.train.stacked import Stacked

VALIDATION_CHUNK = 1000  # hold-out examples per forward pass when validating
COMPILE_MIN_STEPS = 10_000  # compile: auto compiles runs of at least this many steps (Trainer.compiles)
FINITE_CHECK_EVERY = 32  # steps between checks that the logged values are finite (Trainer.check_finite)


class SeedStreams:
    """One ``torch.Generator`` per seed, so a seed's batches, noise and hence result do
    not depend on which other seeds it is trained beside."""

    def __init__(self, seeds: list[int], device: torch.device) -> None:
        self.device = device
        self.generators = [torch.Generator(device=device).manual_seed(10_000 + s) for s in seeds]
        # Data-parallel training: n -> (rows of the whole batch, this rank's rows) for a
        # per-example draw of n rows (see genbench.distributed); None alone.
        self.shard: Callable[[int], tuple[int, slice] | None] | None = None

    def randn(self, *shape: int) -> Tensor:
        part = self.shard(shape[0]) if self.shard is not None and shape else None
        if part is not None:
            return self.randn(part[0], *shape[1:])[:, part[1]]
        return torch.stack([torch.randn(*shape, generator=g, device=self.device) for g in self.generators])

    def batches(self, n: int, batch_size: int) -> list[Tensor]:
        """One epoch of (S, b) index tensors: a fresh permutation per seed, last batch
        smaller when ``batch_size`` does not divide ``n`` (as a DataLoader would)."""
        perm = torch.stack([torch.randperm(n, generator=g, device=self.device) for g in self.generators])
        return list(perm.split(batch_size, dim=1))

    def state(self) -> list[Tensor]:
        return [g.get_state() for g in self.generators]

    def load_state(self, states: list[Tensor]) -> None:
        for g, s in zip(self.generators, states):
            g.set_state(s)


class Tensors:
    """A data split as one tensor, scaled on the fly to the model's value range.

    Images stay uint8 (a quarter of the memory of float32) and become floats one batch
    at a time; 2D points are float already. The tensor lives on the device when it takes
    less than half of the device's free memory, else in pinned host memory.
    """

    def __init__(self, array: np.ndarray, value_range: tuple[float, float] | None, device: torch.device) -> None:
        data = torch.from_numpy(np.array(array))  # a copy: loaders hand out read-only cached arrays
        if device.type == "cuda" and data.nbytes > torch.cuda.mem_get_info(device)[0] // 2:
            data = data.pin_memory()
        else:
            data = data.to(device)
        self.data, self.device = data, device
        if data.dtype == torch.uint8:
            lo, hi = value_range or (0.0, 1.0)
            self.scale, self.shift = (hi - lo) / 255.0, lo
        else:
            self.scale, self.shift = 1.0, 0.0

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, idx: Tensor) -> Tensor:
        x = self.data[idx.to(self.data.device)].to(self.device, non_blocking=True)
        return x.float() * self.scale + self.shift if self.data.dtype == torch.uint8 else x

    def chunks(self, seeds: int) -> Iterator[Tensor]:
        """The whole split in (S, chunk, ...) pieces, the same examples for every seed."""
        for start in range(0, len(self), VALIDATION_CHUNK):
            idx = torch.arange(start, min(start + VALIDATION_CHUNK, len(self)), device=self.device)
            x = self[idx]
            yield x.expand(seeds, *x.shape)


def make_optimizer(params: list[Tensor], lr: float, betas: tuple[float, float], fused: bool) -> torch.optim.Adam:
    """Adam; fused, with the lean step of :class:`~genbench.train.adam.LeanAdam`, unless
    ``fused_adam: false``."""
    return LeanAdam(params, lr=lr, betas=betas) if fused else torch.optim.Adam(params, lr=lr, betas=betas)


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
    """Per-seed sums weighted by batch size; ``mean()`` gives epoch averages. A value may
    be added on only some batches (a GAN's G loss with several D steps per G step)."""

    names: tuple[str, ...]
    sums: dict[str, Tensor] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, batch: int, **values: Tensor) -> None:
        for name, value in values.items():
            v = value.detach().float() * batch
            self.sums[name] = self.sums[name] + v if name in self.sums else v
            self.counts[name] = self.counts.get(name, 0) + batch

    def mean(self, seeds: int) -> dict[str, Tensor]:
        """Epoch averages; NaN for a value no batch of the epoch produced."""
        nan = torch.full((seeds,), float("nan"))
        return {name: self.sums[name] / self.counts[name] if name in self.sums else nan for name in self.names}


def compile_step(fn):
    """``fn`` compiled by inductor, shapes fixed (a training step sees two batch sizes,
    each compiled once). Compiled code is cached on disk (inductor's FX graph and
    autograd caches, under ``~/.cache/genbench/inductor`` unless
    ``TORCHINDUCTOR_CACHE_DIR`` says otherwise), so only a machine's first run pays the
    compile time."""
    from torch._inductor.runtime.cache_dir_utils import default_cache_dir

    # Unset, or set by torch itself to its default (a temporary folder, emptied at reboot).
    if os.environ.get("TORCHINDUCTOR_CACHE_DIR") in (None, default_cache_dir()):
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = os.path.join(base, "genbench", "inductor")
    if not any(shutil.which(c) for c in (os.environ.get("CXX", "g++"), "g++", "clang++")):
        raise GenbenchError("compile: true needs a C++ compiler (g++ or clang++) for torch.compile; install one "
                            "or set compile: false")
    return torch.compile(fn, dynamic=False)


def steps_per_epoch(n: int, batch_size: int) -> int:
    return -(-n // batch_size)


class Trainer:
    """The epoch loop for S seeds of one model trained together (stacked, see
    ``train.stacked``; S is 1 for models that cannot stack).

    Subclasses set ``columns`` (the per-epoch training values) and implement
    :meth:`train_batch`, :meth:`validate` and :meth:`snapshot`. Everything that changes
    during training is in :meth:`state_dict`, so a run resumed from a checkpoint continues
    exactly as if it had not stopped.
    """

    columns: tuple[str, ...] = ()

    def __init__(self, models: list[nn.Module], train: Tensors, holdout: Tensors, settings: TrainSettings,
                 seeds: list[int], device: torch.device) -> None:
        self.models, self.train, self.holdout = models, train, holdout
        self.settings, self.seeds, self.device = settings, seeds, device
        if device.type == "cpu":
            keep_freed_memory()  # a step's buffers are reused, not faulted in anew each step
        for model in models:
            model.to(device)
            if settings.channels_last:
                model.to(memory_format=torch.channels_last)
        self.streams = SeedStreams(seeds, device)
        # "auto" decided for this machine and the size of the model's products
        self.precision = resolve_precision(settings.precision, device, narrow_products(models[0]))
        self.noise_shape = models[0].noise_shape
        self.epoch = 0
        self.histories: list[list[dict[str, float]]] = [[] for _ in seeds]
        self.nets: dict[str, Stacked] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.schedulers: dict[str, torch.optim.lr_scheduler.LambdaLR] = {}
        self.parallel: DataParallel | None = None  # set by distribute()

    # -- for subclasses -------------------------------------------------------------
    def train_batch(self, x: Tensor) -> dict[str, Tensor]:
        """One optimisation step on a (S, B, ...) batch; per-seed values to log."""
        raise NotImplementedError

    def validate(self) -> dict[str, Tensor]:
        """Per-seed hold-out values (under ``no_grad`` and eval mode)."""
        raise NotImplementedError

    def snapshot(self, n: int) -> list[dict[str, np.ndarray]]:
        """Per seed, named image batches to save (samples from fixed latents, ...)."""
        raise NotImplementedError

    # -- shared -----------------------------------------------------------------------
    def autocast(self) -> contextlib.AbstractContextManager:
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16")

    def compiled(self, fn):
        """``fn`` compiled (:func:`compile_step`) when the settings ask for it, else ``fn``."""
        return compile_step(fn) if self.compiles() else fn

    def compiles(self) -> bool:
        """``compile``'s setting, ``auto`` decided by the run's length: compiling takes
        about 10 s with a warm cache (a minute or more cold, on 2 cores) and saved about
        2 ms per step on study 000's VAE, so it pays from about 10,000 steps."""
        if self.settings.compile != "auto":
            return self.settings.compile
        return self.settings.epochs * steps_per_epoch(len(self.train), self.settings.batch_size) >= COMPILE_MIN_STEPS

    def batch(self, idx: Tensor) -> Tensor:
        x = self.train[idx]
        if self.settings.channels_last and x.dim() == 5 and len(self.seeds) == 1:
            x = x[0].contiguous(memory_format=torch.channels_last).unsqueeze(0)
        return x

    def fixed_noise(self, n: int) -> Tensor:
        """(S, n, *noise_shape) noise fixed by each seed: the same faces at every snapshot."""
        return torch.stack([torch.randn(n, *self.noise_shape, generator=torch.Generator().manual_seed(30_000 + s))
                            for s in self.seeds]).to(self.device)

    def check_finite(self, steps: list[tuple[int, dict[str, Tensor]]]) -> None:
        """Stop at the first NaN or infinite value among ``steps`` ((step, logged values)
        pairs), naming it. :meth:`run_epoch` checks every ``FINITE_CHECK_EVERY`` steps and
        at the epoch's end, not every step: each check waits for the device, and on a GPU
        a wait per step leaves it idle while the host queues a small model's next kernels
        (on a CPU, where nothing waits, it is a few operations either way: 12-20 against
        26-40 us per step of study 000's models). A diverged seed is discarded anyway, so
        deferring wastes at most that many of its steps."""
        if not steps or bool(torch.cat([v.detach().reshape(-1).float() for _, values in steps
                                        for v in values.values()]).isfinite().all()):
            return
        for step, values in steps:
            for name, value in values.items():
                value = value.detach()
                bad = ~torch.isfinite(value)
                if bad.any():
                    i = int(bad.nonzero()[0, 0])
                    raise TrainingDiverged(name, float(value[i]), self.epoch + 1, step, self.seeds[i])

    def log_step(self, meter: EpochMeter, unchecked: list[tuple[int, dict[str, Tensor]]], step: int, n: int,
                 values: dict[str, Tensor]) -> None:
        """Add step ``step``'s values (of a batch of ``n``) to the epoch's ``meter`` and to
        the ``unchecked`` ones, checking those when ``FINITE_CHECK_EVERY`` have gathered."""
        meter.add(n, **values)
        unchecked.append((step, values))
        if len(unchecked) == FINITE_CHECK_EVERY:
            self.check_finite(unchecked)
            unchecked.clear()

    def distribute(self, world: World) -> None:
        """Train this one run data-parallel across ``world``'s ranks (``torchrun``; see
        ``genbench.distributed``). Called once the trainer is built, so it covers whatever
        nets and optimisers a trainer (a plugin's too) put in ``nets`` and ``optimizers``."""
        if world.size == 1:
            return
        if len(self.seeds) != 1:
            raise GenbenchError(f"torchrun trains one run data-parallel; this group trains {len(self.seeds)} seeds "
                                f"together: run one seed (--seeds 1) or use --executor ray for a grid of runs")
        world.check_batches(len(self.train), self.settings.batch_size)
        self.parallel = DataParallel(world)
        for stacked, net in zip(self.nets.values(), self.parallel.prepare([s.net for s in self.nets.values()],
                                                                           self.device)):
            stacked.net = net
        for optimizer in self.optimizers.values():
            optimizer.register_step_pre_hook(self.parallel.average_gradients)
        self.streams.shard = self.parallel.per_example

    def set_mode(self, training: bool) -> None:
        for net in self.nets.values():
            net.train(training)

    def run_epoch(self) -> dict[str, float]:
        """Train one epoch, validate, append a history row per seed; return seed 0's row."""
        self.set_mode(True)
        meter = EpochMeter(self.columns)
        unchecked: list[tuple[int, dict[str, Tensor]]] = []
        for step, idx in enumerate(self.streams.batches(len(self.train), self.settings.batch_size), start=1):
            n = idx.shape[1]
            if self.parallel:  # this rank's share of the batch; values of the whole batch back
                values = self.parallel.batch_means(self.train_batch(self.batch(self.parallel.begin_batch(idx))))
                self.parallel.end_batch()
            else:
                values = self.train_batch(self.batch(idx))
            self.log_step(meter, unchecked, step, n, values)
        self.check_finite(unchecked)
        self.set_mode(False)
        with torch.no_grad(), self.autocast():
            held = self.validate()
        self.set_mode(True)
        self.epoch += 1
        # One copy to the host per value, not one per seed and value (each waits for a GPU).
        values = {k: v.detach().float().reshape(len(self.seeds)).tolist()
                  for k, v in {**meter.mean(len(self.seeds)), **held}.items()}
        for i, history in enumerate(self.histories):
            history.append({"epoch": self.epoch, **{k: v[i] for k, v in values.items()}})
        return self.histories[0][-1]

    @torch.no_grad()
    def images(self, n: int) -> list[dict[str, np.ndarray]]:
        self.set_mode(False)
        try:
            with self.autocast():
                return [{k: v.float().cpu().numpy() for k, v in shots.items()} for shots in self.snapshot(n)]
        finally:
            self.set_mode(True)

    def finish(self) -> None:
        """Copy stacked weights back into the per-seed models, in eval mode on the CPU."""
        for net in self.nets.values():
            net.write_back()
        for model in self.models:
            model.to("cpu", memory_format=torch.contiguous_format).eval()

    def state_dict(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "histories": self.histories,
            "nets": {k: v.net.state_dict() for k, v in self.nets.items()},
            "optimizers": {k: v.state_dict() for k, v in self.optimizers.items()},
            "schedulers": {k: v.state_dict() for k, v in self.schedulers.items()},
            "streams": self.streams.state(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else [],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch = state["epoch"]
        self.histories = state["histories"]
        for k, net in self.nets.items():
            net.net.load_state_dict(state["nets"][k])
        for k, opt in self.optimizers.items():
            opt.load_state_dict(state["optimizers"][k])
        for k, sched in self.schedulers.items():
            sched.load_state_dict(state["schedulers"][k])
        self.streams.load_state(state["streams"])
        torch.set_rng_state(state["torch_rng"])
        if state["cuda_rng"] and self.device.type == "cuda":
            torch.cuda.set_rng_state_all(state["cuda_rng"])
