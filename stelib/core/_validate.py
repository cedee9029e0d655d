"""Argument checks shared by the library: each names the parameter, its value and what is allowed.

Every public function validates before computing, so a bad value fails fast with a message a
reader can act on, and never half-way through a sweep.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from numbers import Integral, Real

import numpy as np
import torch


def check_choice(value, choices: Sequence[str], *, name: str) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name}={value!r} is not valid; choose one of {', '.join(map(repr, choices))}")
    return value


def check_choices(values: Iterable[str], choices: Sequence[str], *, name: str) -> tuple[str, ...]:
    if isinstance(values, str):
        values = (values,)
    values = tuple(values)
    if not values:
        raise ValueError(f"{name}=() is empty; give at least one of {', '.join(map(repr, choices))}")
    for v in values:
        check_choice(v, choices, name=name)
    return values


def check_positive_int(value, *, name: str, minimum: int = 1, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral | np.integer):
        raise ValueError(f"{name}={value!r} must be an integer >= {minimum}")
    if value < minimum or (maximum is not None and value > maximum):
        upper = f" and <= {maximum}" if maximum is not None else ""
        raise ValueError(f"{name}={value!r} must be an integer >= {minimum}{upper}")
    return int(value)


def check_real(value, *, name: str, low: float = -math.inf, high: float = math.inf,
               low_open: bool = False, high_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, Real | np.floating | np.integer):
        raise ValueError(f"{name}={value!r} must be a real number")
    x = float(value)
    bad = (not math.isfinite(x) or (x <= low if low_open else x < low)
           or (x >= high if high_open else x > high))
    if bad:
        lo = "(" if low_open else "["
        hi = ")" if high_open else "]"
        raise ValueError(f"{name}={value!r} must be a finite number in {lo}{low}, {high}{hi}")
    return x


def check_positive(value, *, name: str) -> float:
    return check_real(value, name=name, low=0.0, low_open=True)


def as_tensor(x, *, name: str, dtype: torch.dtype | None = None, ndim: int | tuple[int, ...] | None = None,
              finite: bool = True) -> torch.Tensor:
    """Convert NumPy arrays, lists and numbers to a floating tensor (float64 from NumPy/Python)."""
    if isinstance(x, torch.Tensor):
        t = x
        if t.is_complex() or t.dtype == torch.bool:
            raise ValueError(f"{name} must be a real number or array, got a tensor of dtype {t.dtype}")
        if not t.is_floating_point():
            t = t.to(torch.get_default_dtype() if dtype is None else dtype)
    else:
        try:
            raw = np.asarray(x)
            if raw.dtype.kind == "O" and (raw.ndim == 0 or any(e is None for e in raw.flat)):
                raise TypeError  # None (numpy would read it as nan), or an object it cannot read
            if raw.dtype.kind in "bcUS":  # bool, complex and strings are refused, never converted
                what = {"b": "bool", "c": "complex", "U": "a string", "S": "a string"}[raw.dtype.kind]
                raise ValueError(f"{name}={_short(x)} must be a real number or array, got {what}")
            arr = np.asarray(raw, dtype=np.float64)
        except TypeError as exc:
            raise ValueError(f"{name} must be numeric, got {type(x).__name__}") from exc
        except ValueError as exc:
            if str(exc).startswith(f"{name}="):
                raise
            raise ValueError(f"{name} must be numeric, got {type(x).__name__}") from exc
        t = torch.from_numpy(arr)
    if dtype is not None:
        t = t.to(dtype)
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else ndim
        if t.ndim not in allowed:
            raise ValueError(f"{name} must have {' or '.join(map(str, allowed))} dimension(s), got shape {tuple(t.shape)}")
    # One summing pass (nan/inf propagate through a sum); the elementwise test only runs when
    # the sum is not finite, which also covers a sum that merely overflowed.
    if finite and t.numel() and not math.isfinite(float(t.detach().sum())) and not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} contains non-finite values (nan or inf)")
    return t


def _short(x) -> str:
    text = repr(x)
    return text if len(text) <= 60 else text[:57] + "..."


def check_nonzero_rows(w: torch.Tensor, *, name: str = "w") -> None:
    """Reject w = 0 (the angle and the direction of w are undefined there); a tiny non-zero w
    whose squared norm underflows is allowed."""
    if bool((~(w != 0).any(dim=-1)).any()):
        raise ValueError(f"{name} = 0 is not allowed: the direction w/|w| is undefined at the origin")


DEVICES = ("cpu", "cuda", "auto")


def resolve_device(device: str) -> torch.device:
    """The device a chapter's ``device`` parameter names: ``"cpu"``, ``"cuda"`` (``ValueError``
    if PyTorch sees no CUDA GPU) or ``"auto"`` (a GPU when one is present, else the CPU)."""
    check_choice(device, DEVICES, name="device")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was asked for, but no CUDA GPU is available; use 'cpu' or 'auto'")
    return torch.device(device)


def as_device(device, *, name: str = "device") -> torch.device:
    """``device`` (a string such as ``"cpu"`` or ``"cuda:0"``, or a ``torch.device``) as a
    ``torch.device``; ``ValueError`` naming ``name`` when it is not one."""
    try:
        return torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"{name}={device!r} is not a device; give e.g. 'cpu', 'cuda' or a torch.device") from None
