"""Adam whose fused step skips ``torch.optim.Adam.step``'s Python bookkeeping.

A toy2d step takes a few ms, and ``Adam.step`` spent about 130 us of it per optimiser (a
GAN has two) preparing the same lists of tensors before two calls to fused kernels.
:class:`LeanAdam` keeps those lists and calls the kernel itself: the same kernel with the
same arguments, so the weights are bit-identical to ``Adam(fused=True)``. Three more
costs of the same kind go too (on a Zen 4 they were about 5% of study 000's GAN step):

- the step counts: Adam keeps one 0-d tensor per parameter and adds 1 to each with
  ``torch._foreach_add_``, which on a CPU is a loop of adds (45 us for the GAN's 12
  parameters); here each parameter's count is one element of one tensor, added to once;
- the wrapper ``Optimizer`` puts around every ``step`` (a profiler record and the loops
  over step hooks, about 30 us): ``step`` runs the hooks itself, through that wrapper,
  only when a hook is registered or the profiler is on;
- ``zero_grad``'s profiler record and grouping (about 15 us): with ``set_to_none`` it
  sets each gradient to None.

It falls back to ``Adam.step`` for anything but the plain case it was built for: one
parameter group of one device and dtype, every parameter with a gradient, no AMSGrad, no
maximize, no differentiable or capturable mode, no ``GradScaler``. State dicts are Adam's, so checkpoints
load either way.
"""
from __future__ import annotations

import torch
import torch.optim.optimizer as optimizer_module
from torch import Tensor


class LeanAdam(torch.optim.Adam):
    """``torch.optim.Adam(params, lr, betas, fused=True)`` with a cheaper ``step``."""

    def __init__(self, params: list[Tensor], lr: float, betas: tuple[float, float]) -> None:
        super().__init__(params, lr=lr, betas=betas, fused=True)
        self._forget_lists()

    def _forget_lists(self) -> None:
        self._lists: tuple[list[Tensor], ...] | None = None  # moments and steps; None: rebuild
        self._steps: Tensor | None = None  # every parameter's step count, the lists' steps are its elements
        # Parameters of several devices or dtypes: the kernel takes one of each, so every step
        # is Adam.step's (which groups them), without trying to build the lists again.
        self._mixed = False

    def __setstate__(self, state: dict) -> None:
        """A copy or an unpickled one (``Optimizer`` pickles only its state and groups)
        builds its lists again from its own state."""
        super().__setstate__(state)
        self._forget_lists()

    def _plain(self) -> bool:
        if len(self.param_groups) != 1:
            return False
        group = self.param_groups[0]
        return not (group["amsgrad"] or group["maximize"] or group["differentiable"] or group["capturable"]
                    or group["decoupled_weight_decay"])

    def _build(self) -> tuple[list[Tensor], ...] | None:
        """The kernel's state lists, once Adam's own first step has made the state; each
        parameter's ``step`` becomes an element of one tensor (:attr:`_steps`), so that
        one add counts them all and Adam's own step still counts each once."""
        params = self.param_groups[0]["params"]
        states = [self.state.get(p) for p in params]
        if any(s is None or "exp_avg" not in s for s in states):
            return None
        if len({(p.device, p.dtype) for p in params}) > 1:
            self._mixed = True
            return None
        self._steps = torch.stack([s["step"] for s in states])
        for state, count in zip(states, self._steps):
            state["step"] = count
        return [s["exp_avg"] for s in states], [s["exp_avg_sq"] for s in states], [s["step"] for s in states]

    def step(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201 - Optimizer.step's: (closure=None)
        # Passed on as given, so step hooks see the arguments as Adam's hooks do.
        if (self._optimizer_step_pre_hooks or self._optimizer_step_post_hooks or torch.autograd._profiler_enabled()
                or optimizer_module._global_optimizer_pre_hooks or optimizer_module._global_optimizer_post_hooks):
            return _hooked_step(self, *args, **kwargs)
        return self._step(*args, **kwargs)

    step.hooked = True  # Optimizer wraps a step without this mark in its hooks and profiler record

    @torch.no_grad()
    def _step(self, closure=None):  # noqa: ANN001, ANN202
        params = self.param_groups[0]["params"]
        grads = [p.grad for p in params]
        # A GradScaler sets grad_scale and found_inf for the step: Adam.step unscales and skips.
        scaled = getattr(self, "grad_scale", None) is not None or getattr(self, "found_inf", None) is not None
        if closure is not None or scaled or self._mixed or not self._plain() or any(g is None for g in grads):
            self._lists = None
            return _adam_step(self, closure)
        if self._lists is None:
            _adam_step(self)
            self._lists = self._build()
            return None
        exp_avgs, exp_avg_sqs, steps = self._lists
        group = self.param_groups[0]
        self._steps.add_(1)
        beta1, beta2 = group["betas"]
        torch._fused_adam_(params, grads, exp_avgs, exp_avg_sqs, [], steps, amsgrad=False, lr=group["lr"],
                           beta1=beta1, beta2=beta2, weight_decay=group["weight_decay"], eps=group["eps"],
                           maximize=False, grad_scale=None, found_inf=None)
        return None

    def zero_grad(self, set_to_none: bool = True) -> None:
        if not set_to_none or torch.autograd._profiler_enabled():
            super().zero_grad(set_to_none)
            return
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None

    def load_state_dict(self, state_dict: dict) -> None:
        super().load_state_dict(state_dict)
        self._forget_lists()


# LeanAdam's step inside the wrapper Optimizer gives other optimisers' steps: the step
# hooks (e.g. the gradient averaging of train data-parallel) and the profiler's record.
_hooked_step = torch.optim.Optimizer.profile_hook_step(LeanAdam._step)


def _adam_step(optimizer: LeanAdam, closure=None):  # noqa: ANN001, ANN202
    """``Adam.step`` itself, without the step hooks that already ran around ``LeanAdam.step``
    (``Optimizer`` wraps a class's ``step`` in its hooks the first time it is built)."""
    step = torch.optim.Adam.step
    return (step.__wrapped__ if getattr(step, "hooked", False) else step)(optimizer, closure)
