"""GAN training: BCE discriminator, non-saturating generator (Goodfellow et al. 2014, sec. 3)."""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genbench.config import TrainSettings
from genbench.train.loop import EpochMeter, SeedStreams, make_optimizer, make_scheduler, steps_per_epoch, append_epoch
from genbench.train.stacked import Stacked


def d_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """-log D(x) - log(1 - D(G(z))), each averaged over the batch; per seed."""
    real = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits), reduction="none")
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits), reduction="none")
    return real.mean(dim=1) + fake.mean(dim=1)


def g_loss(fake_logits: Tensor) -> Tensor:
    """Non-saturating generator loss -log D(G(z)); per seed."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits), reduction="none").mean(dim=1)


def train_gan(
    models: list[nn.Module],
    train: Tensor,
    holdout: Tensor,
    settings: TrainSettings,
    seeds: list[int],
    on_epoch: Callable[[int], None] | None = None,
) -> list[list[dict[str, float]]]:
    """Train one GAN per seed (stacked), one D step then one G step per batch, the G step
    on the same fake batch scored by the updated D (as study 000 did).

    History per epoch: d_loss, g_loss, d_real = mean D(x), d_fake = mean D(G(z)), and
    holdout_d_loss: D's loss on hold-out points against fresh fakes.
    """
    gen = Stacked([m.generator for m in models])
    disc = Stacked([m.discriminator for m in models])
    streams = SeedStreams(seeds)
    latent = models[0].latent_dim
    opt_g = make_optimizer(gen.parameters(), settings.lr, settings.betas, settings.fused_adam)
    opt_d = make_optimizer(disc.parameters(), settings.lr_d or settings.lr, settings.betas_d or settings.betas, settings.fused_adam)
    total = settings.epochs * steps_per_epoch(len(train), settings.batch_size)
    scheds = [make_scheduler(opt, settings, total) for opt in (opt_g, opt_d)]
    histories: list[list[dict[str, float]]] = [[] for _ in seeds]
    holdout_x = holdout.expand(len(seeds), *holdout.shape)
    for epoch in range(1, settings.epochs + 1):
        meter = EpochMeter(("d_loss", "g_loss", "d_real", "d_fake"))
        for idx in streams.batches(len(train), settings.batch_size):
            x = train[idx]
            fake = gen(streams.randn(idx.shape[1], latent))
            real_logits = disc(x)
            fake_logits = disc(fake.detach())
            loss_d = d_loss(real_logits, fake_logits)
            opt_d.zero_grad(set_to_none=True)
            loss_d.sum().backward()
            opt_d.step()
            loss_g = g_loss(disc(fake))
            opt_g.zero_grad(set_to_none=True)
            loss_g.sum().backward(inputs=gen.parameters())  # G's gradients only; D keeps none
            opt_g.step()
            for sched in scheds:
                sched.step()
            meter.add(
                idx.shape[1],
                d_loss=loss_d,
                g_loss=loss_g,
                d_real=torch.sigmoid(real_logits.detach()).mean(dim=1),
                d_fake=torch.sigmoid(fake_logits.detach()).mean(dim=1),
            )
        with torch.no_grad():
            fakes = gen(streams.randn(len(holdout), latent))
            held = d_loss(disc(holdout_x), disc(fakes))
        append_epoch(histories, epoch, {**meter.mean(), "holdout_d_loss": held})
        if on_epoch:
            on_epoch(epoch)
    gen.write_back()
    disc.write_back()
    return histories
