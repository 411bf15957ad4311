"""A check shared by the tests of genbench's CPU forms of torch layers."""
import torch
from torch import Tensor, nn


def assert_computes_as(plain: nn.Module, layer: nn.Module, x: Tensor) -> Tensor:
    """``layer`` gives ``plain``'s output for ``x``, and after the same backward pass the
    same gradients for ``x`` and for every parameter; returns ``layer``'s output."""
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    ya, yb = plain(xa), layer(xb)
    torch.testing.assert_close(yb, ya)
    grad = torch.randn_like(ya)
    ya.backward(grad)
    yb.backward(grad)
    torch.testing.assert_close(xb.grad, xa.grad)
    grads = {name: p.grad for name, p in plain.named_parameters()}
    assert grads and list(grads) == [name for name, _ in layer.named_parameters()]
    for name, p in layer.named_parameters():
        torch.testing.assert_close(p.grad, grads[name])
    return yb
