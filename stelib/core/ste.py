r"""Straight-through estimators for the binary step and the multi-bit quantized ReLU.

The forward pass is always the quantizer; the backward pass replaces its (almost everywhere
zero) derivative by the derivative :math:`\mu'` of a surrogate :math:`\mu` (book: the primer):

.. math::

    \sigma(x) = 1\{x > 0\},\qquad
    \mu'_{\mathrm{identity}}(x) = 1,\quad
    \mu'_{\mathrm{relu}}(x) = 1\{x > 0\},\quad
    \mu'_{\mathrm{crelu}}(x) = 1\{0 < x < 1\}.

All inequalities are strict. Each STE is a :class:`torch.autograd.Function` whose forward and
backward rules sit next to each other, as in micrograd; ``STES`` maps names to them.

Any other surrogate is added by its derivative with :func:`register` (chapter *Which
straight-through estimators are proper?*); the name is then accepted wherever an STE name is
(binary step, coarse gradients, Monte Carlo, CGD, the closed-form models through Gaussian
quadrature, chapter parameters). A catalogue is registered on import:

.. math::

    \mu'_{\mathrm{hardtanh}}(x) = 1\{|x| < 1\},\quad
    \mu'_{\mathrm{approxsign}}(x) = \max(0, 2 - 2|x|),\quad
    \mu'_{\mathrm{sigmoid}}(x) = s(x)(1 - s(x)),\ s(x) = 1/(1 + e^{-x}).

:func:`names` lists every registered name (the three built-ins first); ``STE_NAMES`` stays the
three STEs of the papers, the default of every comparison.

Example
-------
>>> import torch
>>> x = torch.tensor([-1.0, 0.5, 2.0], requires_grad=True)
>>> binary_step(x, "crelu").sum().backward()
>>> x.grad
tensor([0., 1., 0.])
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from stelib.core._closedform import check_later
from stelib.core._validate import as_tensor, check_choice, check_positive, check_positive_int

STE_NAMES: tuple[str, ...] = ("identity", "relu", "crelu")


@dataclass(frozen=True)
class Surrogate:
    """A registered STE: ``derivative`` maps a floating tensor x to mu'(x) of the same shape.

    ``breakpoints`` are the x where mu' jumps or has a kink (Gaussian quadrature splits its
    intervals there); ``builtin`` marks the names registered by stelib itself.
    """

    name: str
    derivative: Callable[[torch.Tensor], torch.Tensor]
    description: str
    breakpoints: tuple[float, ...] = ()
    builtin: bool = False


_REGISTRY: dict[str, Surrogate] = {}
_VERSION = [0]  # bumped by every (un)registration: caches of derived quantities key on it


def registry_version() -> int:
    """A counter that increases whenever a name is registered or unregistered: it never takes
    an earlier value again, so a cache keyed on it never serves an entry of an older registry."""
    return _VERSION[0]


def names() -> tuple[str, ...]:
    """Every registered STE name, in registration order (identity, relu, crelu first)."""
    return tuple(_REGISTRY)


def check_ste(ste: str, *, name: str = "ste") -> str:
    """Return ``ste`` if it is a registered STE name, else raise ``ValueError`` listing the valid ones."""
    return check_choice(ste, names(), name=name)


def get(ste: str) -> Surrogate:
    """The :class:`Surrogate` registered as ``ste`` (``ValueError`` listing the valid names)."""
    return _REGISTRY[check_ste(ste)]


def is_builtin_closed_form(ste: str) -> bool:
    """True for identity, relu and crelu, whose Gaussian integrals are known in closed form."""
    return check_ste(ste) in STE_NAMES


def _probe(derivative, name: str) -> None:
    """Call ``derivative`` on test tensors; it must return a real tensor of the input's shape."""
    for x in (torch.linspace(-3.0, 3.0, 13, dtype=torch.float64),
              torch.linspace(-2.0, 2.0, 6, dtype=torch.float32).reshape(2, 3)):
        try:
            y = derivative(x.clone())
        except Exception as exc:  # the user's function failed on a plain tensor
            raise ValueError(f"derivative of {name!r} failed on a tensor of shape {tuple(x.shape)}: "
                             f"{type(exc).__name__}: {exc}") from exc
        if not isinstance(y, torch.Tensor) or y.shape != x.shape or not y.is_floating_point():
            got = f"shape {tuple(y.shape)}, dtype {y.dtype}" if isinstance(y, torch.Tensor) else type(y).__name__
            raise ValueError(f"derivative of {name!r} must return a floating tensor of the input's shape "
                             f"{tuple(x.shape)}, got {got}")
        if not bool(torch.isfinite(y).all()):
            raise ValueError(f"derivative of {name!r} returned non-finite values on [-3, 3]")


def register(name: str, derivative: Callable[[torch.Tensor], torch.Tensor], *, description: str,
             breakpoints: Sequence[float] = (), replace: bool = False, _builtin: bool = False) -> str:
    """Make the STE with surrogate derivative ``derivative`` usable under ``name``; returns ``name``.

    ``derivative(x)`` takes a floating tensor and returns mu'(x) elementwise (same shape and
    floating dtype); it is probed before anything is registered, on the 13 points
    ``linspace(-3, 3, 13)`` in float64 and on ``linspace(-2, 2, 6)`` in float32 shaped 2 x 3,
    and must return finite values of the input's shape there (and wherever the library evaluates
    it later: a non-finite value raises ``ValueError`` naming the STE and the range). Give the
    points where mu' jumps or has a kink as ``breakpoints`` (e.g. ``(-1, 1)`` for
    1{|x| < 1}): expectations under Gaussian inputs are computed by quadrature split there, and
    the quadrature refuses (``ValueError``) when a jump or kink it was not told of makes it
    inaccurate.
    A name already registered raises ``ValueError`` (always for the six names stelib
    registers, otherwise unless ``replace=True``). Example (three lines)::

        import torch
        from stelib.core.ste import register
        register("leaky", lambda x: 0.1 + 0.9 * (x > 0).to(x.dtype), description="leaky ReLU")
    """
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise ValueError(f"name={name!r} must be an identifier-like string (letters, digits, _)")
    if name in _REGISTRY and (_REGISTRY[name].builtin or not replace):
        what = "a built-in STE" if _REGISTRY[name].builtin else "already registered (pass replace=True)"
        raise ValueError(f"name={name!r} is {what}; registered names: {', '.join(map(repr, names()))}")
    if not callable(derivative):
        raise ValueError(f"derivative={derivative!r} must be callable (a function of a tensor x)")
    if not isinstance(description, str) or not description.strip():
        raise ValueError(f"description={description!r} must be a non-empty string")
    if isinstance(breakpoints, str | bytes):  # "01" would otherwise read as (0, 1)
        raise ValueError(f"breakpoints={breakpoints!r} must be a sequence of numbers, not a string")
    try:
        bps = tuple(sorted({float(b) for b in breakpoints}))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"breakpoints={breakpoints!r} must be a sequence of numbers") from exc
    if not all(math.isfinite(b) for b in bps):
        raise ValueError(f"breakpoints={breakpoints!r} must be finite numbers")
    if not _builtin:
        _probe(derivative, name)
    _REGISTRY[name] = Surrogate(name, derivative, description.strip(), bps, _builtin)
    _VERSION[0] += 1
    return name


def unregister(name: str) -> None:
    """Remove a name added by :func:`register` (``ValueError`` for the built-in ones)."""
    s = get(name)
    if s.builtin:
        raise ValueError(f"name={name!r} is a built-in STE and cannot be unregistered")
    del _REGISTRY[name]
    _VERSION[0] += 1


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


class RegisteredSTE(torch.autograd.Function):
    """Forward 1{x > 0}; backward mu'(x) of a surrogate added with :func:`register`."""

    @staticmethod
    def forward(ctx, x, ste):
        ctx.save_for_backward(x)
        ctx.ste = ste
        return _step(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * surrogate_derivative(x, ctx.ste).to(grad.dtype), None


STES: dict[str, type[torch.autograd.Function]] = {
    "identity": IdentitySTE,
    "relu": ReLUSTE,
    "crelu": ClippedReLUSTE,
}


def sigmoid_derivative(temperature: float = 1.0) -> Callable[[torch.Tensor], torch.Tensor]:
    """mu'_T(x) = s(x/T)(1 - s(x/T))/T, the derivative of the logistic s(x/T) (T = temperature)."""
    t = check_positive(temperature, name="temperature")

    def derivative(x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(x / t) * torch.sigmoid(-x / t) / t

    return derivative


def _builtin(name, derivative, description, breakpoints=()):
    register(name, derivative, description=description, breakpoints=breakpoints, _builtin=True)


_builtin("identity", torch.ones_like, "mu(x) = x, mu'(x) = 1")
_builtin("relu", lambda x: (x > 0).to(x.dtype), "mu(x) = max(x, 0), mu'(x) = 1{x > 0}", (0.0,))
_builtin("crelu", lambda x: ((x > 0) & (x < 1)).to(x.dtype),
         "clipped ReLU, mu'(x) = 1{0 < x < 1}", (0.0, 1.0))
_builtin("hardtanh", lambda x: (x.abs() < 1).to(x.dtype),
         "window of the sign STE (BinaryNet, larq ste_sign) at 0, mu'(x) = 1{|x| < 1}",
         (-1.0, 1.0))
_builtin("approxsign", lambda x: torch.clamp(2 - 2 * x.abs(), min=0),
         "Bi-Real Net's ApproxSign, mu'(x) = max(0, 2 - 2|x|)", (-1.0, 0.0, 1.0))
_builtin("sigmoid", sigmoid_derivative(1.0),
         "logistic sigmoid s (Bengio et al.'s sigmoid STE), mu'(x) = s(x)(1 - s(x))")

CATALOGUE: tuple[str, ...] = names()


def surrogate(x, ste: str) -> torch.Tensor:
    """The surrogate mu(x) itself: x, max(x, 0) or min(max(x, 0), 1) (built-in three only)."""
    if check_ste(ste) not in STE_NAMES:
        raise ValueError(f"ste={ste!r}: the surrogate mu itself is known only for "
                         f"{', '.join(map(repr, STE_NAMES))}; registered STEs give mu' only")
    x = as_tensor(x, name="x")
    if ste == "identity":
        return x.clone()
    if ste == "relu":
        return torch.clamp(x, min=0)
    return torch.clamp(x, 0, 1)


def surrogate_derivative(x, ste: str, *, upper: float = 1.0) -> torch.Tensor:
    """mu'(x) for the STE named ``ste`` with strict inequalities.

    ``upper`` is the output range of the quantizer (1 for the binary step, (2^b - 1) alpha for
    a b-bit quantized ReLU); the derivative used is mu'(x / upper), the derivative of the
    surrogate upper * mu(x / upper). For ``crelu`` this is 1{0 < x < upper}; identity and
    relu do not depend on it. Returns a tensor of the dtype of ``x`` (float64 for NumPy input).
    """
    check_ste(ste)
    upper = check_positive(upper, name="upper")
    return derivative_unchecked(as_tensor(x, name="x"), ste, upper)


def derivative_unchecked(x: torch.Tensor, ste: str, upper: float = 1.0) -> torch.Tensor:
    """:func:`surrogate_derivative` for a floating tensor ``x``, a registered ``ste`` and a
    checked ``upper``, as the library's step loops call it: for the three built-in STEs nothing
    is read back from the device; a registered surrogate's output is still checked."""
    if ste == "identity":
        return torch.ones_like(x)
    if ste == "relu":
        return (x > 0).to(x.dtype)
    if ste == "crelu":
        return ((x > 0) & (x < upper)).to(x.dtype)
    y = _REGISTRY[ste].derivative(x / upper)  # x / 1.0 is x exactly
    if not isinstance(y, torch.Tensor) or y.shape != x.shape:
        raise ValueError(f"derivative of {ste!r} returned {type(y).__name__} of shape "
                         f"{tuple(getattr(y, 'shape', ()))} for x of shape {tuple(x.shape)}")
    bad = ~torch.isfinite(y) & torch.isfinite(x)  # a non-finite input is the caller's to report

    def message():
        xs = x.detach()[bad]
        return (f"derivative of {ste!r} is not finite at {int(bad.sum())} of {x.numel()} points, "
                f"x in [{float(xs.min()):.6g}, {float(xs.max()):.6g}]: mu' must be finite wherever "
                f"the library evaluates it")

    check_later(bad.any(), message)  # in a trusted loop on a GPU: at its next record
    return y.to(x.dtype)


def binary_step(x, ste: str) -> torch.Tensor:
    """sigma(x) = 1{x > 0} as floats, differentiable through the named STE.

    Raises ``ValueError`` for an unknown ``ste``.
    """
    check_ste(ste)
    x = as_tensor(x, name="x")
    if ste in STES:
        return STES[ste].apply(x)
    return RegisteredSTE.apply(x, ste)


class QuantizedReLUSTE(torch.autograd.Function):
    r"""b-bit quantized ReLU (Yin et al., 2019, Section 4 and their appendix) with a chosen STE.

    Forward: 0 for x <= 0, k alpha for (k-1) alpha < x <= k alpha, (2^b - 1) alpha beyond.
    Backward: 1 (identity), 1{x > 0} (relu) or 1{0 < x < (2^b - 1) alpha} (crelu, "clipped");
    a registered STE uses mu'(x / ((2^b - 1) alpha)) (:func:`surrogate_derivative`).
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
        return grad * derivative_unchecked(x, ctx.ste, ctx.upper), None, None, None  # checked in apply


def quantized_relu(x, bits: int, alpha: float = 1.0, *, ste: str = "crelu") -> torch.Tensor:
    """Quantized ReLU with ``bits`` bits and step ``alpha``; backward through ``ste``."""
    check_positive_int(bits, name="bits", maximum=16)
    check_positive(alpha, name="alpha")
    check_ste(ste)
    return QuantizedReLUSTE.apply(as_tensor(x, name="x"), int(bits), float(alpha), ste)

