"""VAE training: maximise the ELBO, here as reconstruction + beta * KL (study 000's form)."""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor, nn

from genbench.config import TrainSettings
from genbench.train.loop import EpochMeter, SeedStreams, make_optimizer, make_scheduler, steps_per_epoch, append_epoch
from genbench.train.stacked import Stacked


def vae_loss(model: nn.Module, x: Tensor, recon: Tensor, mu: Tensor, logvar: Tensor) -> dict[str, Tensor]:
    """Per-seed losses for (S, B, ...) tensors.

    recon = mean squared error over batch and data dims (a Gaussian decoder with fixed
    variance, up to constants); kl = KL(N(mu, sigma^2) || N(0, I)) =
    -0.5 * (1 + log sigma^2 - mu^2 - sigma^2), averaged over batch and latent dims
    (Kingma & Welling 2014, appendix B); loss = recon + beta * kl.
    """
    dims = tuple(range(1, x.dim()))
    rec = ((recon - x) ** 2).mean(dim=dims)
    kl = (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp())).mean(dim=tuple(range(1, mu.dim())))
    return {"recon": rec, "kl": kl, "loss": rec + model.beta * kl}


def train_vae(
    models: list[nn.Module],
    train: Tensor,
    holdout: Tensor,
    settings: TrainSettings,
    seeds: list[int],
    on_epoch: Callable[[int], None] | None = None,
) -> list[list[dict[str, float]]]:
    """Train one VAE per seed (stacked); return each seed's per-epoch history rows:
    recon, kl, loss on the training set and holdout_loss on the hold-out set."""
    net = Stacked(models)
    streams = SeedStreams(seeds)
    latent = models[0].latent_dim
    opt = make_optimizer(net.parameters(), settings.lr, settings.betas, settings.fused_adam)
    sched = make_scheduler(opt, settings, settings.epochs * steps_per_epoch(len(train), settings.batch_size))
    histories: list[list[dict[str, float]]] = [[] for _ in seeds]
    holdout_x = holdout.expand(len(seeds), *holdout.shape)
    for epoch in range(1, settings.epochs + 1):
        meter = EpochMeter(("recon", "kl", "loss"))
        for idx in streams.batches(len(train), settings.batch_size):
            x = train[idx]
            losses = vae_loss(models[0], x, *net(x, streams.randn(idx.shape[1], latent)))
            opt.zero_grad(set_to_none=True)
            losses["loss"].sum().backward()
            opt.step()
            sched.step()
            meter.add(idx.shape[1], **losses)
        with torch.no_grad():
            held = vae_loss(models[0], holdout_x, *net(holdout_x, streams.randn(len(holdout), latent)))
        append_epoch(histories, epoch, {**meter.mean(), "holdout_loss": held["loss"]})
        if on_epoch:
            on_epoch(epoch)
    net.write_back()
    return histories
