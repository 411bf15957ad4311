"""Adam whose fused step skips ``torch.optim.Adam.step``'s Python bookkeeping.

A toy2d step takes about 5 ms, and ``Adam.step`` spent about 130 us of it per optimiser
(a GAN has two) preparing the same lists of tensors before two calls to fused kernels.
:class:`LeanAdam` keeps those lists and calls the kernel itself: the same kernel with the
same arguments, so the weights are bit-identical to ``Adam(fused=True)``. It falls back to
``Adam.step`` for anything but the plain case it was built for: one parameter group of one
device and dtype, every parameter with a gradient, no AMSGrad, no maximize, no
differentiable or capturable mode.
State dicts are Adam's, so checkpoints load either way.
"""
from __future__ import annotations

import torch
from torch import Tensor


class LeanAdam(torch.optim.Adam):
    """``torch.optim.Adam(params, lr, betas, fused=True)`` with a cheaper ``step``."""

    def __init__(self, params: list[Tensor], lr: float, betas: tuple[float, float]) -> None:
        super().__init__(params, lr=lr, betas=betas, fused=True)
        self._lists: tuple[list[Tensor], ...] | None = None  # moments and steps; None: rebuild
        # Parameters of several devices or dtypes: the kernel takes one of each, so every step
        # is Adam.step's (which groups them), without trying to build the lists again.
        self._mixed = False

    def _plain(self) -> bool:
        if len(self.param_groups) != 1:
            return False
        group = self.param_groups[0]
        return not (group["amsgrad"] or group["maximize"] or group["differentiable"] or group["capturable"]
                    or group["decoupled_weight_decay"])

    def _build(self) -> tuple[list[Tensor], ...] | None:
        """The kernel's state lists, once Adam's own first step has made the state."""
        params = self.param_groups[0]["params"]
        states = [self.state.get(p) for p in params]
        if any(s is None or "exp_avg" not in s for s in states):
            return None
        if len({(p.device, p.dtype) for p in params}) > 1:
            self._mixed = True
            return None
        return [s["exp_avg"] for s in states], [s["exp_avg_sq"] for s in states], [s["step"] for s in states]

    @torch.no_grad()
    def step(self, closure=None):  # noqa: ANN001, ANN201 - Optimizer.step's signature
        params = self.param_groups[0]["params"]
        grads = [p.grad for p in params]
        if closure is not None or self._mixed or not self._plain() or any(g is None for g in grads):
            self._lists = None
            return _adam_step(self, closure)
        if self._lists is None:
            _adam_step(self)
            self._lists = self._build()
            return None
        exp_avgs, exp_avg_sqs, steps = self._lists
        group = self.param_groups[0]
        torch._foreach_add_(steps, 1)
        beta1, beta2 = group["betas"]
        torch._fused_adam_(params, grads, exp_avgs, exp_avg_sqs, [], steps, amsgrad=False, lr=group["lr"],
                           beta1=beta1, beta2=beta2, weight_decay=group["weight_decay"], eps=group["eps"],
                           maximize=False, grad_scale=None, found_inf=None)
        return None

    def load_state_dict(self, state_dict: dict) -> None:
        super().load_state_dict(state_dict)
        self._lists = None


def _adam_step(optimizer: LeanAdam, closure=None):  # noqa: ANN001, ANN202
    """``Adam.step`` itself, without the step hooks that already ran around ``LeanAdam.step``
    (``Optimizer`` wraps a class's ``step`` in its hooks the first time it is built)."""
    step = torch.optim.Adam.step
    return (step.__wrapped__ if getattr(step, "hooked", False) else step)(optimizer, closure)
