"""Several seeds of one model trained as one: weights stacked along a leading seed axis.

Small models leave a CPU idle between tiny matrix products; stacking S seeds turns S
small products into one batched product (``torch.func.vmap`` over
``stack_module_state``), about 2x the throughput for study 000's VAE. Adam is
element-wise and the summed loss gives each seed's weights exactly that seed's gradient, so
stacked training is S independent trainings, not an ensemble.

All inputs and outputs carry the seed axis first: ``(S, batch, ...)``.
"""
from __future__ import annotations

import copy
from typing import Any

import torch
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state, vmap


class Stacked:
    """Call S copies of a module, each with its own weights, on (S, ...) inputs."""

    def __init__(self, modules: list[nn.Module]) -> None:
        self.modules = modules
        if len(modules) == 1:
            self._params = list(modules[0].parameters())
            return
        if any(True for _ in modules[0].buffers()):
            raise ValueError("stacked training needs modules without buffers (e.g. no BatchNorm)")
        params, _ = stack_module_state(modules)
        self._stacked = {name: p.detach().requires_grad_() for name, p in params.items()}
        self._params = list(self._stacked.values())
        base = copy.deepcopy(modules[0]).to("meta")
        self._call = vmap(lambda p, *args: functional_call(base, p, args))

    def __call__(self, *args: Tensor) -> Any:
        if len(self.modules) == 1:
            out = self.modules[0](*(a[0] for a in args))
            return tuple(o.unsqueeze(0) for o in out) if isinstance(out, tuple) else out.unsqueeze(0)
        return self._call(self._stacked, *args)

    def parameters(self) -> list[Tensor]:
        return self._params

    def write_back(self) -> None:
        """Copy the trained stacked weights into the original per-seed modules."""
        if len(self.modules) == 1:
            return
        with torch.no_grad():
            for i, module in enumerate(self.modules):
                for name, p in module.named_parameters():
                    p.copy_(self._stacked[name][i])
