"""Flow-matching training (Lipman et al. 2023; rectified flow, Liu et al. 2023): regress
the velocity of straight paths from noise to data.

With x0 ~ N(0, I) (noise), x1 a data point and t ~ U(0, 1):
x_t = (1 - t) x0 + t x1, target x1 - x0, loss = mean squared error (eq. 23 of Lipman et
al. with sigma_min = 0). The regression is one method, so a trainer of another
noise-to-data regression (diffusion's eps prediction, ``train/diffusion.py``) overrides
:meth:`FlowTrainer.regression` only.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from genbench.train.loop import Trainer, make_optimizer, make_scheduler, steps_per_epoch
from genbench.train.stacked import Stacked

HOLDOUT_STREAM = 40_000  # hold-out noise and times are drawn from a generator seeded 40_000 + seed


class FlowTrainer(Trainer):
    """Per epoch: ``loss`` on the training set and ``holdout_loss``, the same loss on the
    hold-out split with noise and times fixed per seed (the same draws every epoch, so
    the curve moves only when the model does).

    Every random draw comes from the seed's streams as standard normals: the noise, and
    the time through u ~ N(0, 1) (t = Phi(u) is uniform on (0, 1)), so seeds do not
    depend on their neighbours and a resumed run ends identically.
    """

    columns = ("loss",)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        s = self.settings
        self.net = Stacked(self.models)
        self.nets = {"model": self.net}
        self.optimizers = {"model": make_optimizer(self.net.parameters(), s.lr, s.betas, s.fused_adam)}
        total = s.epochs * steps_per_epoch(len(self.train), s.batch_size)
        self.schedulers = {"model": make_scheduler(self.optimizers["model"], s, total)}

    def regression(self, x: Tensor, noise: Tensor, u: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(network input, its time, regression target) for data ``x`` (S, B, ...), noise
        of the same shape and standard normals ``u`` (S, B), one per example."""
        t = torch.special.ndtr(u)
        tx = t.view(*t.shape, *[1] * (x.dim() - 2))
        return (1 - tx) * noise + tx * x, t, x - noise

    def losses(self, x: Tensor, noise: Tensor, u: Tensor) -> Tensor:
        """Per seed: squared error averaged over dimensions and the batch."""
        inputs, t, target = self.regression(x, noise, u)
        with self.autocast():
            pred = self.net(inputs, t)
        return (pred.float() - target).pow(2).flatten(2).mean(2).mean(1)

    def train_batch(self, x: Tensor) -> dict[str, Tensor]:
        b = x.shape[1]
        loss = self.losses(x, self.streams.randn(b, *self.noise_shape), self.streams.randn(b))
        opt = self.optimizers["model"]
        opt.zero_grad(set_to_none=True)
        loss.sum().backward()
        opt.step()
        self.schedulers["model"].step()
        return {"loss": loss}

    def validate(self) -> dict[str, Tensor]:
        gens = [torch.Generator(device=self.device).manual_seed(HOLDOUT_STREAM + s) for s in self.seeds]

        def draw(*shape: int) -> Tensor:
            return torch.stack([torch.randn(*shape, generator=g, device=self.device) for g in gens])

        total, n = 0.0, 0
        for x in self.holdout.chunks(len(self.seeds)):
            b = x.shape[1]
            total = total + self.losses(x, draw(b, *self.noise_shape), draw(b)) * b
            n += b
        return {"holdout_loss": total / n}

    def snapshot(self, n: int) -> list[dict[str, np.ndarray]]:
        """Samples from fixed noise, drawn by the model's own sampler and step count."""
        samples = self.net.call("generate", self.fixed_noise(n))
        return [{"samples": samples[i]} for i in range(len(self.seeds))]
