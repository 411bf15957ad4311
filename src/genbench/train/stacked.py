"""Several seeds of one model trained as one: weights stacked along a leading seed axis.

Small models leave a CPU idle between tiny matrix products; stacking S seeds turns S
small products into one batched product. Adam is element-wise and the summed loss gives
each seed's weights exactly that seed's gradient, so stacked training is S independent
trainings, not an ensemble.

The stacked model is a copy of the original whose ``nn.Linear`` and ``nn.LayerNorm``
layers are replaced by seed-batched twins (one ``baddbmm`` / ``addcmul`` for all seeds);
every other layer is element-wise and works on the extra axis as it is. This costs far
less per operation than ``torch.func.vmap`` over ``functional_call``, which matters
because these models are overhead-bound. All inputs and outputs carry the seed axis
first: ``(S, batch, ...)``.
"""
from __future__ import annotations

import copy
from collections import Counter
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class SeedLinear(nn.Module):
    """S linear layers: weight (S, in, out), bias (S, 1, out)."""

    def __init__(self, layers: list[nn.Linear]) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.stack([layer.weight.detach().t() for layer in layers]).contiguous())
        self.bias = nn.Parameter(torch.stack([layer.bias.detach() for layer in layers]).unsqueeze(1))

    def forward(self, x: Tensor) -> Tensor:
        return torch.baddbmm(self.bias, x, self.weight)

    def write_back(self, layers: list[nn.Linear]) -> None:
        for i, layer in enumerate(layers):
            layer.weight.copy_(self.weight[i].t())
            layer.bias.copy_(self.bias[i, 0])


class SeedLayerNorm(nn.Module):
    """S layer norms over the last axis: shared normalisation, per-seed affine."""

    def __init__(self, layers: list[nn.LayerNorm]) -> None:
        super().__init__()
        self.shape, self.eps = layers[0].normalized_shape, layers[0].eps
        self.weight = nn.Parameter(torch.stack([layer.weight.detach() for layer in layers]).unsqueeze(1))
        self.bias = nn.Parameter(torch.stack([layer.bias.detach() for layer in layers]).unsqueeze(1))

    def forward(self, x: Tensor) -> Tensor:
        return torch.addcmul(self.bias, F.layer_norm(x, self.shape, eps=self.eps), self.weight)

    def write_back(self, layers: list[nn.LayerNorm]) -> None:
        for i, layer in enumerate(layers):
            layer.weight.copy_(self.weight[i, 0])
            layer.bias.copy_(self.bias[i, 0])


_SEED_TWINS = {nn.Linear: SeedLinear, nn.LayerNorm: SeedLayerNorm}
# Layers without weights that act element-wise or on trailing axes only, so they take the
# seed axis as they are. Dropout is left out: its masks come from the global generator,
# which would tie a seed's result to the seeds trained beside it.
_SEED_SAFE = (nn.ReLU, nn.LeakyReLU, nn.ELU, nn.SiLU, nn.Tanh, nn.Sigmoid, nn.Identity, nn.Flatten,
              nn.Unflatten, nn.Sequential)


def can_stack(module: nn.Module) -> bool:
    """Whether seeds of ``module`` can train stacked: every layer has a seed-batched twin
    or is seed-safe (others are custom modules built of such layers)."""
    for child in module.modules():
        if type(child) in _SEED_TWINS or isinstance(child, _SEED_SAFE):
            continue
        # A torch.nn layer, or a subclass of one (say a Conv2d computed another way).
        if any(c.__module__.startswith("torch.nn") for c in type(child).__mro__ if c is not nn.Module):
            return False
    return True


def _swap(template: nn.Module, originals: list[nn.Module], pairs: list[tuple[nn.Module, list[nn.Module]]]) -> None:
    """Replace, in place, each layer of ``template`` by its seed-batched twin built from the
    matching layers of ``originals``; record (twin, per-seed layers) in ``pairs``."""
    for name, child in template.named_children():
        kids = [getattr(m, name) for m in originals]
        twin = _SEED_TWINS.get(type(child))
        if twin is not None:
            stacked = twin(kids)
            setattr(template, name, stacked)
            pairs.append((stacked, kids))
        elif any(True for _ in child.parameters(recurse=False)) or any(True for _ in child.buffers(recurse=False)):
            raise ValueError(f"cannot train seeds stacked: no seed-batched twin for {type(child).__name__}")
        else:
            _swap(child, kids, pairs)


def _activate_in_place(net: nn.Module) -> None:
    """Make each ReLU or LeakyReLU (slope > 0) that directly follows a seed-batched twin in
    an ``nn.Sequential`` work in place, on the twin's fresh output.

    Such an output feeds only the next layer, and neither ``baddbmm`` nor ``addcmul`` keeps
    its own output for the backward, so overwriting it is safe; the activation's backward
    then reads its result, whose sign is its input's, so the gradients are bit-identical.
    Sparing a tensor's allocation and a pass over memory per activation took about 6% off
    study 000's GAN step (benchmarks/stacking.py, README "How it is fast"). An activation
    module used at more than one place is left alone: its other uses may not be fresh."""
    uses = Counter(id(module) for _, module in net.named_modules(remove_duplicate=False))
    for module in net.modules():
        if type(module) is not nn.Sequential:  # a subclass may reuse outputs in its forward
            continue
        layers = list(module)
        for before, layer in zip(layers, layers[1:]):
            fresh = type(before) in _SEED_TWINS.values()
            slope_ok = not isinstance(layer, nn.LeakyReLU) or layer.negative_slope > 0
            if fresh and type(layer) in (nn.ReLU, nn.LeakyReLU) and slope_ok and uses[id(layer)] == 1:
                layer.inplace = True


class Stacked:
    """Call S copies of a module, each with its own weights, on (S, ...) inputs."""

    def __init__(self, modules: list[nn.Module]) -> None:
        self.modules = modules
        self._pairs: list[tuple[nn.Module, list[nn.Module]]] = []  # empty for one seed
        if len(modules) == 1:
            self.net = modules[0]
            return
        self.net = copy.deepcopy(modules[0])
        _swap(self.net, modules, self._pairs)
        _activate_in_place(self.net)

    def __call__(self, *args: Tensor) -> Any:
        return self.call("forward", *args)

    def call(self, method: str, *args: Tensor) -> Any:
        """``net.<method>(*args)`` on (S, ...) inputs, e.g. ``call("decode", z)``."""
        fn = getattr(self.net, method)
        if len(self.modules) == 1:
            out = fn(*(a[0] for a in args))
            return tuple(o.unsqueeze(0) for o in out) if isinstance(out, tuple) else out.unsqueeze(0)
        return fn(*args)

    def train(self, mode: bool) -> None:
        self.net.train(mode)

    def parameters(self) -> list[Tensor]:
        return list(self.net.parameters())

    def write_back(self) -> None:
        """Copy the trained stacked weights into the original per-seed modules (a single
        seed trains its own module, so there is nothing to copy)."""
        with torch.no_grad():
            for twin, layers in self._pairs:
                twin.write_back(layers)
