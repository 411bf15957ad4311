"""GAN training: BCE discriminator, non-saturating generator (Goodfellow et al. 2014, sec. 3)."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from genbench.train.loop import Trainer, make_optimizer, make_scheduler, steps_per_epoch
from genbench.train.stacked import Stacked, can_stack


def d_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """-log D(x) - log(1 - D(G(z))), each averaged over the batch; per seed. With D = sigmoid
    of the logit l: -log sigmoid(l) = softplus(-l) and -log(1 - sigmoid(l)) = softplus(l),
    binary cross-entropy against targets 1 and 0 in one kernel each."""
    return F.softplus(-real_logits).mean(dim=1) + F.softplus(fake_logits).mean(dim=1)


def g_loss(fake_logits: Tensor) -> Tensor:
    """Non-saturating generator loss -log D(G(z)) = softplus(-l); per seed."""
    return F.softplus(-fake_logits).mean(dim=1)


class GANTrainer(Trainer):
    """Per batch one D step; every ``d_steps``-th batch also one G step, on the same fake
    batch scored by the updated D (as studies 000, 002 and 003 did).

    The losses are methods, so a GAN with another objective (hinge, least squares,
    Wasserstein) subclasses this trainer and overrides :meth:`discriminator_loss`,
    :meth:`generator_loss` and, if its hold-out numbers differ, :meth:`holdout_values`
    (``objective`` names the value D minimises).

    Per epoch: d_loss, g_loss, d_real = mean D(x), d_fake = mean D(G(z)), and
    holdout_d_loss: D's loss on hold-out images against fresh fakes (a D that scores the
    hold-out much worse than the training set is memorising it).
    """

    columns = ("d_loss", "g_loss", "d_real", "d_fake")
    objective = "d_loss"  # the value of discriminator_loss that D minimises

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        s = self.settings
        self.gen = Stacked([m.generator for m in self.models])
        self.disc = Stacked([m.discriminator for m in self.models])
        self.nets = {"generator": self.gen, "discriminator": self.disc}
        self.optimizers = {
            "generator": make_optimizer(self.gen.parameters(), s.lr, s.betas, s.fused_adam),
            "discriminator": make_optimizer(self.disc.parameters(), s.lr_d or s.lr, s.betas_d or s.betas, s.fused_adam),
        }
        batches = s.epochs * steps_per_epoch(len(self.train), s.batch_size)
        self.schedulers = {
            "generator": make_scheduler(self.optimizers["generator"], s, batches // s.d_steps),
            "discriminator": make_scheduler(self.optimizers["discriminator"], s, batches),
        }
        self.batches_seen = 0
        # A D whose layers treat examples independently (no BatchNorm) scores the real and
        # the fake batch in one pass: half the calls, 8% off study 000's GAN step.
        self.joint_d = can_stack(self.models[0].discriminator)
        self.generate = self.compiled(self.gen.__call__)
        self.d_step_losses = self.compiled(self.discriminator_loss)
        self.g_step_loss = self.compiled(self.generator_loss)

    def d_logits(self, real: Tensor, fake: Tensor) -> tuple[Tensor, Tensor]:
        """D's logits on a real and a fake batch, (S, B, ...) each."""
        if not self.joint_d:
            return self.disc(real), self.disc(fake)
        logits = self.disc(torch.cat([real, fake], dim=1))
        return logits.split([real.shape[1], fake.shape[1]], dim=1)

    def discriminator_loss(self, real: Tensor, fake: Tensor) -> dict[str, Tensor]:
        """Per seed: ``d_loss`` (what D minimises) and other values to log, here the mean
        D(x) and D(G(z)) as probabilities."""
        real_logits, fake_logits = (logits.float() for logits in self.d_logits(real, fake))
        return {"d_loss": d_loss(real_logits, fake_logits), "d_real": torch.sigmoid(real_logits.detach()).mean(dim=1),
                "d_fake": torch.sigmoid(fake_logits.detach()).mean(dim=1)}

    def generator_loss(self, fake: Tensor) -> Tensor:
        """Per seed: what G minimises."""
        return g_loss(self.disc(fake).float())

    def train_batch(self, x: Tensor) -> dict[str, Tensor]:
        opt_g, opt_d = self.optimizers["generator"], self.optimizers["discriminator"]
        with self.autocast():
            fake = self.generate(self.streams.randn(x.shape[1], *self.noise_shape))
            values = self.d_step_losses(x, fake.detach())
        opt_d.zero_grad(set_to_none=True)
        values[self.objective].sum().backward()
        opt_d.step()
        self.schedulers["discriminator"].step()
        values = {k: v.detach() for k, v in values.items()}
        self.batches_seen += 1
        if self.batches_seen % self.settings.d_steps == 0:
            with self.autocast():
                loss_g = self.g_step_loss(fake)
            opt_g.zero_grad(set_to_none=True)
            loss_g.sum().backward(inputs=self.gen.parameters())  # G's gradients only; D keeps none
            opt_g.step()
            self.schedulers["generator"].step()
            values["g_loss"] = loss_g
        return values

    def holdout_values(self, real: Tensor, fake: Tensor) -> dict[str, Tensor]:
        """Per seed, what to log for hold-out images ``real`` against fresh fakes."""
        return {"holdout_d_loss": self.discriminator_loss(real, fake)["d_loss"]}

    def validate(self) -> dict[str, Tensor]:
        totals: dict[str, Tensor] = {}
        n = 0
        for x in self.holdout.chunks(len(self.seeds)):
            fake = self.gen(self.streams.randn(x.shape[1], *self.noise_shape))
            for name, value in self.holdout_values(x, fake).items():
                totals[name] = totals[name] + value * x.shape[1] if name in totals else value * x.shape[1]
            n += x.shape[1]
        return {name: total / n for name, total in totals.items()}

    def snapshot(self, n: int) -> list[dict[str, np.ndarray]]:
        samples = self.gen(self.fixed_noise(n))
        return [{"samples": samples[i]} for i in range(len(self.seeds))]

    def state_dict(self) -> dict:
        return {**super().state_dict(), "batches_seen": self.batches_seen}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.batches_seen = state["batches_seen"]
