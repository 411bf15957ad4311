"""Hinge-loss GAN training (Lim & Ye 2017; Miyato et al. 2018, eqs. 16-17), the loss of
SNGAN: the discriminator is pushed to score real images >= 1 and fakes <= -1, the
generator to raise its fakes' scores.

D loss, per seed: relu(1 - D(x)) + relu(1 + D(G(z))), each averaged over the batch;
G loss: -D(G(z)) averaged. A D loss near 0 means every image is past the margin: the
discriminator tells real from fake perfectly (the report's flag for a D that wins).
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from genbench.train.gan import GANTrainer


class HingeGANTrainer(GANTrainer):
    """Per epoch: ``d_loss``, ``g_loss``, ``real_score`` and ``fake_score`` (mean raw
    D(x) and D(G(z)); the margins are +1 and -1), and ``holdout_d_loss``."""

    columns = ("d_loss", "g_loss", "real_score", "fake_score")

    def discriminator_loss(self, real: Tensor, fake: Tensor) -> dict[str, Tensor]:
        real_scores, fake_scores = self.disc(real).float(), self.disc(fake).float()
        loss = F.relu(1 - real_scores).mean(dim=1) + F.relu(1 + fake_scores).mean(dim=1)
        return {"d_loss": loss, "real_score": real_scores.detach().mean(dim=1),
                "fake_score": fake_scores.detach().mean(dim=1)}

    def generator_loss(self, fake: Tensor) -> Tensor:
        return -self.disc(fake).float().mean(dim=1)
