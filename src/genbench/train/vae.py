"""VAE training: minimise the negative ELBO, reconstruction + beta * KL (Kingma & Welling 2014)."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genbench.train.loop import Trainer, make_optimizer, make_scheduler, steps_per_epoch
from genbench.train.stacked import Stacked


def vae_loss(model: nn.Module, x: Tensor, out: Tensor, mu: Tensor, logvar: Tensor) -> dict[str, Tensor]:
    """Per-seed losses for (S, B, ...) tensors, averaged over the batch.

    recon: squared error against the decoder mean (a Gaussian decoder with fixed
    variance, up to constants) or binary cross-entropy against Bernoulli logits;
    kl = KL(N(mu, sigma^2) || N(0, I)) = -0.5 * (1 + log sigma^2 - mu^2 - sigma^2)
    (Kingma & Welling 2014, appendix B). Both are summed over data and latent dims per
    example (``reduction='sum'``, the ELBO) or averaged (``'mean'``, study 000's form).
    loss = recon + beta * kl.
    """
    out, mu, logvar = out.float(), mu.float(), logvar.float()
    if model.likelihood == "bernoulli":
        rec = F.binary_cross_entropy_with_logits(out, x, reduction="none")
    else:
        rec = (out - x) ** 2
    kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp())
    reduce = torch.sum if model.reduction == "sum" else torch.mean
    rec = reduce(rec.flatten(2), dim=2).mean(dim=1)
    kl = reduce(kl, dim=2).mean(dim=1)
    return {"recon": rec, "kl": kl, "loss": rec + model.beta * kl}


class VAETrainer(Trainer):
    """Per epoch: recon, kl and loss on the training set, holdout_loss on the hold-out."""

    columns = ("recon", "kl", "loss")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        s = self.settings
        self.net = Stacked(self.models)
        self.nets = {"vae": self.net}
        self.optimizers = {"vae": make_optimizer(self.net.parameters(), s.lr, s.betas, s.fused_adam)}
        total = s.epochs * steps_per_epoch(len(self.train), s.batch_size)
        self.schedulers = {"vae": make_scheduler(self.optimizers["vae"], s, total)}
        self.train_losses = self.compiled(self.losses_of)
        # The hold-out pass compiled too (a graph without gradients): about half the time
        # of eager's per-layer bf16 casts on study 000's VAE (benchmarks/holdout.py).
        self.holdout_losses = self.compiled(self.holdout_losses_of)

    def losses_of(self, x: Tensor, eps: Tensor) -> dict[str, Tensor]:
        """The net's pass and the losses, called under :meth:`autocast` (entered by the
        caller: a graph that enters it itself is one torch's autograd cache refuses, so
        every process would trace and partition it again, about a second)."""
        return vae_loss(self.models[0], x, *self.net(x, eps))

    def holdout_losses_of(self, x: Tensor, eps: Tensor) -> dict[str, Tensor]:
        """:meth:`losses_of` under a function of its own, so that compiled it has its own
        cache of graphs: a training step's lookup then never tries the no-gradient graph."""
        return self.losses_of(x, eps)

    def train_batch(self, x: Tensor) -> dict[str, Tensor]:
        eps = self.streams.randn(x.shape[1], *self.noise_shape)
        with self.autocast():
            losses = self.train_losses(x, eps)
        opt = self.optimizers["vae"]
        opt.zero_grad(set_to_none=True)
        losses["loss"].sum().backward()
        opt.step()
        self.schedulers["vae"].step()
        return losses

    def validate(self) -> dict[str, Tensor]:
        total, n = 0.0, 0
        for x in self.holdout.chunks(len(self.seeds)):
            eps = self.streams.randn(x.shape[1], *self.noise_shape)
            total = total + self.holdout_losses(x, eps)["loss"] * x.shape[1]
            n += x.shape[1]
        return {"holdout_loss": total / n}

    def snapshot(self, n: int) -> list[dict[str, np.ndarray]]:
        """Samples from fixed latents, and hold-out images above their reconstructions."""
        samples = self.net.call("decode", self.fixed_noise(n))
        real = next(self.holdout.chunks(len(self.seeds)))[:, : n // 2]
        per_row = min(8, real.shape[1])
        real = real[:, : real.shape[1] // per_row * per_row]
        recon = self.net.call("reconstruct", real).to(real.dtype)
        # Rows of `per_row` originals, each followed by the row of their reconstructions.
        pairs = torch.stack([real.unflatten(1, (-1, per_row)), recon.unflatten(1, (-1, per_row))], dim=2).flatten(1, 3)
        return [{"samples": samples[i], "recon": pairs[i]} for i in range(len(self.seeds))]
