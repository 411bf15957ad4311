"""WGAN-GP training (Gulrajani et al. 2017, algorithm 1): a Wasserstein critic with a
gradient penalty, several critic steps per generator step.

Critic loss, per seed and batch: D(G(z)) - D(x) averaged, plus lambda (the model's
``gp_weight``, 10 in the paper) times the penalty (||grad D(x_hat)||_2 - 1)^2 averaged over
x_hat = eps x + (1 - eps) G(z), eps ~ U(0, 1) drawn per example (eq. 3). Generator loss:
-D(G(z)) averaged. The paper's defaults (``d_steps`` 5 critic steps per generator step,
Adam 1e-4 with betas (0, 0.9)) are the registered models' training defaults.
"""
from __future__ import annotations

import torch
from torch import Tensor

from genbench.train.gan import GANTrainer


class WGANGPTrainer(GANTrainer):
    """Per epoch: ``critic_loss`` (what the critic minimises), ``g_loss``, ``wasserstein``
    (E D(x) - E D(G(z)), the critic's estimate of the Wasserstein-1 distance, which falls
    as the generator improves), ``gp`` (the penalty before its weight), and on the
    hold-out split against fresh fakes ``holdout_critic_loss`` and
    ``holdout_wasserstein``: a critic that scores held-out real images much lower than
    training ones is memorising the training set (the paper's Fig. 4).

    The penalty differentiates the critic's gradient, so the critic's step runs a second
    backward pass through it (``create_graph``); it works on stacked seeds as on one, since
    each seed's scores depend only on its own inputs and weights. Under bf16 autocast
    (``precision``) the penalty's gradient is taken in bf16 like the rest of the step.
    """

    columns = ("critic_loss", "g_loss", "wasserstein", "gp")
    objective = "critic_loss"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.gp_weight = self.models[0].gp_weight
        # The critic's step stays eager under ``compile``: AOTAutograd cannot run the double
        # backward the penalty needs ("does not currently support double backward"); the
        # generator and its loss compile as in every GAN.
        self.d_step_losses = self.discriminator_loss

    def gradient_penalty(self, real: Tensor, fake: Tensor) -> Tensor:
        """Per seed: mean (||grad_x D(x_hat)||_2 - 1)^2 over the batch. The interpolation
        weights come from the seed's stream as standard normals u (eps = Phi(u) is uniform).
        While training, the gradient keeps its graph so the critic's step can differentiate
        it; on the hold-out (under no_grad) only its value is taken."""
        u = self.streams.randn(real.shape[1])
        eps = torch.special.ndtr(u).view(*u.shape, *[1] * (real.dim() - 2))
        keep_graph = torch.is_grad_enabled()
        with torch.enable_grad():
            x_hat = (eps * real + (1 - eps) * fake.detach()).requires_grad_(True)
            scores = self.disc(x_hat).float()
            grad, = torch.autograd.grad(scores.sum(), x_hat, create_graph=keep_graph)
        return (grad.float().flatten(2).norm(dim=2) - 1).pow(2).mean(dim=1)

    def discriminator_loss(self, real: Tensor, fake: Tensor) -> dict[str, Tensor]:
        real_scores, fake_scores = self.disc(real).float(), self.disc(fake).float()
        wasserstein = real_scores.mean(dim=1) - fake_scores.mean(dim=1)
        gp = self.gradient_penalty(real, fake)
        return {"critic_loss": -wasserstein + self.gp_weight * gp, "wasserstein": wasserstein.detach(),
                "gp": gp.detach()}

    def generator_loss(self, fake: Tensor) -> Tensor:
        return -self.disc(fake).float().mean(dim=1)

    def holdout_values(self, real: Tensor, fake: Tensor) -> dict[str, Tensor]:
        values = self.discriminator_loss(real, fake)
        return {"holdout_critic_loss": values["critic_loss"].detach(), "holdout_wasserstein": values["wasserstein"]}
