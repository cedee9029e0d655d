r"""Learning problems: an input distribution, ``m`` patches per input, and a label model.

A :class:`Problem` draws ``(Z, y_star)`` with ``Z`` of shape ``(batch, m, n)`` made of
independent patches from the distribution, and labels from one of:

* ``teacher``: Yin et al.'s teacher :math:`y^* = v^{*\top}\sigma(Z w^*)` (same architecture);
* ``relu_teacher``: :math:`y^* = v^{*\top}\mathrm{relu}(Z w^*)` (misspecified);
* ``linear``: :math:`y^* = \sum_i a^\top z_i` (misspecified; book: the misspecified example for m = 1);
* ``sign``: :math:`y^* = \sum_i \operatorname{sign}(a^\top z_i)` (misspecified);

plus optional Gaussian label noise of standard deviation ``noise`` (book: the scale-symmetry chapter: the
scale symmetry holds for *any* labels). Problems have the same ``sample(batch, generator)``
method as the closed-form models, so Monte Carlo estimators and the stochastic trainer take
either.

Example
-------
>>> import torch
>>> p = Problem(make_distribution("uniform", n=3), m=2, labels="linear", a=[1.0, 0.0, 0.0])
>>> Z, y = p.sample(5, torch.Generator().manual_seed(0))
>>> Z.shape, y.shape
(torch.Size([5, 2, 3]), torch.Size([5]))
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from stelib.core._validate import (
    as_tensor,
    check_choice,
    check_nonzero_rows,
    check_positive_int,
    check_real,
)
from stelib.core.distributions import DTYPE, Distribution, make_distribution

LABEL_MODELS: tuple[str, ...] = ("teacher", "relu_teacher", "linear", "sign")

__all__ = ["LABEL_MODELS", "Problem", "make_distribution"]


@dataclass(frozen=True, eq=False)
class Problem:
    """Inputs from ``distribution`` (m patches each) with labels from ``labels``.

    ``v_star`` (m,) and ``w_star`` (n,) are needed by the teacher label models, ``a`` (n,) by
    the linear and sign ones; ``noise`` >= 0 adds N(0, noise^2) to every label.
    """

    distribution: Distribution
    m: int
    labels: str = "teacher"
    v_star: torch.Tensor | None = None
    w_star: torch.Tensor | None = None
    a: torch.Tensor | None = None
    noise: float = 0.0

    def __post_init__(self):
        if not isinstance(self.distribution, Distribution):
            raise ValueError(f"distribution must be a stelib Distribution, got {type(self.distribution).__name__}")
        check_positive_int(self.m, name="m", maximum=4096)
        check_choice(self.labels, LABEL_MODELS, name="labels")
        check_real(self.noise, name="noise", low=0.0, high=1e6)
        n = self.distribution.n
        if self.labels in ("teacher", "relu_teacher"):
            if self.v_star is None or self.w_star is None:
                raise ValueError(f"labels={self.labels!r} needs v_star (shape (m,)) and w_star (shape (n,))")
            v_star = as_tensor(self.v_star, name="v_star", ndim=1, dtype=DTYPE)
            w_star = as_tensor(self.w_star, name="w_star", ndim=1, dtype=DTYPE)
            if v_star.shape != (self.m,) or w_star.shape != (n,):
                raise ValueError(f"v_star must have shape ({self.m},) and w_star shape ({n},); "
                                 f"got {tuple(v_star.shape)} and {tuple(w_star.shape)}")
            check_nonzero_rows(w_star, name="w_star")
            object.__setattr__(self, "v_star", v_star)
            object.__setattr__(self, "w_star", w_star)
        else:
            if self.a is None:
                raise ValueError(f"labels={self.labels!r} needs a (shape (n,))")
            a = as_tensor(self.a, name="a", ndim=1, dtype=DTYPE)
            if a.shape != (n,):
                raise ValueError(f"a must have shape ({n},), got {tuple(a.shape)}")
            object.__setattr__(self, "a", a)

    @property
    def n(self) -> int:
        return self.distribution.n

    @property
    def reference_direction(self) -> torch.Tensor:
        """w* or a, normalised: the direction angles are measured from."""
        d = self.w_star if self.labels in ("teacher", "relu_teacher") else self.a
        return d / torch.linalg.vector_norm(d)

    def label(self, Z: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Labels for inputs ``Z`` of shape ``(batch, m, n)``; noise needs ``generator``."""
        dev = Z.device  # labels are computed where the inputs live
        if self.labels == "teacher":
            y = ((Z @ self.w_star.to(dev)) > 0).to(DTYPE) @ self.v_star.to(dev)
        elif self.labels == "relu_teacher":
            y = torch.clamp(Z @ self.w_star.to(dev), min=0) @ self.v_star.to(dev)
        elif self.labels == "linear":
            y = (Z @ self.a.to(dev)).sum(dim=-1)
        else:
            y = torch.sign(Z @ self.a.to(dev)).sum(dim=-1)
        if self.noise > 0:
            if generator is None:
                raise ValueError("noise > 0 needs a generator to draw the label noise")
            y = y + self.noise * torch.randn(y.shape, generator=generator, dtype=DTYPE, device=generator.device)
        return y  # (batch,)

    def sample(self, batch: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw ``(Z, y_star)``: Z of shape ``(batch, m, n)``, labels of shape ``(batch,)``."""
        batch = check_positive_int(batch, name="batch")
        Z = self.distribution.sample((batch, self.m), generator)
        return Z, self.label(Z, generator)
