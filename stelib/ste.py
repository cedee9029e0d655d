r"""Straight-through estimators for the binary step and the multi-bit quantized ReLU.

The forward pass is always the quantizer; the backward pass replaces its (almost everywhere
zero) derivative by the derivative :math:`\mu'` of a surrogate :math:`\mu` (THEORY.md section 2):

.. math::

    \sigma(x) = 1\{x > 0\},\qquad
    \mu'_{\mathrm{identity}}(x) = 1,\quad
    \mu'_{\mathrm{relu}}(x) = 1\{x > 0\},\quad
    \mu'_{\mathrm{crelu}}(x) = 1\{0 < x < 1\}.

All inequalities are strict. Each STE is a :class:`torch.autograd.Function` whose forward and
backward rules sit next to each other, as in micrograd; ``STES`` maps names to them.

Example
-------
>>> import torch
>>> x = torch.tensor([-1.0, 0.5, 2.0], requires_grad=True)
>>> binary_step(x, "crelu").sum().backward()
>>> x.grad
tensor([0., 1., 0.])
"""

from __future__ import annotations

import torch

from stelib._validate import as_tensor, check_choice, check_positive, check_positive_int

STE_NAMES: tuple[str, ...] = ("identity", "relu", "crelu")


def check_ste(ste: str, *, name: str = "ste") -> str:
    """Return ``ste`` if it is a known STE name, else raise ``ValueError`` listing the valid ones."""
    return check_choice(ste, STE_NAMES, name=name)


def _step(x: torch.Tensor) -> torch.Tensor:
    return (x > 0).to(x.dtype)


class IdentitySTE(torch.autograd.Function):
    """Forward 1{x > 0}; backward mu'(x) = 1 (the surrogate mu(x) = x)."""

    @staticmethod
    def forward(ctx, x):
        return _step(x)

    @staticmethod
    def backward(ctx, grad):
        return grad


class ReLUSTE(torch.autograd.Function):
    """Forward 1{x > 0}; backward mu'(x) = 1{x > 0} (the surrogate mu(x) = max(x, 0))."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return _step(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * (x > 0).to(grad.dtype)


class ClippedReLUSTE(torch.autograd.Function):
    """Forward 1{x > 0}; backward mu'(x) = 1{0 < x < 1} (the surrogate mu(x) = min(max(x, 0), 1))."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return _step(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * ((x > 0) & (x < 1)).to(grad.dtype)


STES: dict[str, type[torch.autograd.Function]] = {
    "identity": IdentitySTE,
    "relu": ReLUSTE,
    "crelu": ClippedReLUSTE,
}


def surrogate(x, ste: str) -> torch.Tensor:
    """The surrogate mu(x) itself: x, max(x, 0) or min(max(x, 0), 1)."""
    check_ste(ste)
    x = as_tensor(x, name="x")
    if ste == "identity":
        return x.clone()
    if ste == "relu":
        return torch.clamp(x, min=0)
    return torch.clamp(x, 0, 1)


def surrogate_derivative(x, ste: str, *, upper: float = 1.0) -> torch.Tensor:
    """mu'(x) for the STE named ``ste`` with strict inequalities.

    ``upper`` is the clipping level of ``crelu`` (1 for the binary step, (2^b - 1) alpha for
    a b-bit quantized ReLU). Returns a tensor of the dtype of ``x`` (float64 for NumPy input).
    """
    check_ste(ste)
    upper = check_positive(upper, name="upper")
    x = as_tensor(x, name="x")
    if ste == "identity":
        return torch.ones_like(x)
    if ste == "relu":
        return (x > 0).to(x.dtype)
    return ((x > 0) & (x < upper)).to(x.dtype)


def binary_step(x, ste: str) -> torch.Tensor:
    """sigma(x) = 1{x > 0} as floats, differentiable through the named STE.

    Raises ``ValueError`` for an unknown ``ste``.
    """
    check_ste(ste)
    return STES[ste].apply(as_tensor(x, name="x"))


class QuantizedReLUSTE(torch.autograd.Function):
    r"""b-bit quantized ReLU (Yin et al., 2019, eq. for :math:`\sigma_\alpha`) with a chosen STE.

    Forward: 0 for x <= 0, k alpha for (k-1) alpha < x <= k alpha, (2^b - 1) alpha beyond.
    Backward: 1 (identity), 1{x > 0} (relu) or 1{0 < x < (2^b - 1) alpha} (crelu, "clipped").
    With b = 1 and alpha = 1 this is the binary step of :func:`binary_step`.
    """

    @staticmethod
    def forward(ctx, x, bits, alpha, ste):
        levels = 2**bits - 1
        ctx.save_for_backward(x)
        ctx.upper, ctx.ste = levels * alpha, ste
        return alpha * torch.clamp(torch.ceil(x / alpha), 0, levels)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * surrogate_derivative(x, ctx.ste, upper=ctx.upper), None, None, None


def quantized_relu(x, bits: int, alpha: float = 1.0, *, ste: str = "crelu") -> torch.Tensor:
    """Quantized ReLU with ``bits`` bits and step ``alpha``; backward through ``ste``."""
    check_positive_int(bits, name="bits", maximum=16)
    check_positive(alpha, name="alpha")
    check_ste(ste)
    return QuantizedReLUSTE.apply(as_tensor(x, name="x"), int(bits), float(alpha), ste)

