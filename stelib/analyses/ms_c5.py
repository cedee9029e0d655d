r"""Claim C5 as a table (chapter *A misspecified example*, section "Claim C5 as a table").

At every stationary point of the loss, which STE's expected coarse gradient vanishes: one row
per stationary point, one column per STE (:class:`C5Table`, whose ``str`` is what the chapter
prints). The rows of the linear teacher are computed in closed form (:func:`c5_closed_form_rows`,
prop-ms-vanishing), those of a second teacher from Monte Carlo checks
(:func:`c5_sample_rows`, from :func:`stelib.profile.coarse_at_stationary`).

Example
-------
>>> import torch
>>> a = torch.tensor([1.0, 0.5], dtype=torch.float64)
>>> print(C5Table(("relu", "crelu"), c5_closed_form_rows(a, ["relu", "crelu"])))
stationary point            loss          ReLU  clipped ReLU
linear: min +a            0.4261    NO 1.8e-01   yes  <1e-12
linear: min -a            0.4261    NO 1.8e-01   yes  <1e-12
linear: saddle            0.6250   yes  <1e-12   yes  <1e-12
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from stelib.analyses.ms_checks import DTYPE, _stes
from stelib.analyses.plotting import ste_label
from stelib.core import misspecified as ms
from stelib.core._validate import as_tensor
from stelib.core.rounding import below_floor, floor_for, fmt

__all__ = ["C5Row", "C5Table", "c5_closed_form_rows", "c5_sample_rows"]


@dataclass(frozen=True)
class C5Row:
    """One stationary point of claim C5's table: the residual |E g| of each STE there and, for a
    Monte Carlo row, the largest |z| of its coordinates (``z`` is None for a closed-form row)."""

    point: str
    loss: float
    residual: dict[str, float]
    z: dict[str, float] | None = None
    scale: float = 1.0  #: closed form: |a|^2, the size of its gradients (rounding grows with it)

    def vanishes(self, ste: str) -> bool:
        """Closed form: |E g| <= 100 floor_for(scale) (1e-10 for |a| <= 1). Monte Carlo: |z| < 4
        (at a point with v = 0 every coarse gradient is exactly 0, so z = 0:
        :func:`stelib.profile.coarse_at_stationary`)."""
        if self.z is None:
            return self.residual[ste] <= 100 * floor_for(self.scale)
        return self.z[ste] < 4

    def cell(self, ste: str) -> str:
        """The table entry of ``ste``: the verdict and |E g| (below floor_for(scale): rounding)."""
        verdict, r = f"{'yes' if self.vanishes(ste) else 'NO':>3}", self.residual[ste]
        return f"{verdict} {fmt(r, '.1e', floor=floor_for(self.scale)):>7}"

    def z_cell(self, ste: str) -> str:
        """The largest |z| of ``ste`` (Monte Carlo rows; "" for a closed-form row)."""
        if self.z is None:
            return ""
        if below_floor(self.residual[ste]):  # a zero: its z is a ratio of rounding noise
            return "-"
        return f"{self.z[ste]:.1f}"


@dataclass(frozen=True)
class C5Table:
    """Claim C5 as a table: one row per stationary point, one column per STE."""

    stes: tuple[str, ...]
    rows: tuple[C5Row, ...]

    def __str__(self) -> str:
        """One line per stationary point (verdict and |E g| per STE); a Monte Carlo row is
        followed by a line with the largest |z| of each STE (88 columns for three STEs)."""
        head = f"{'stationary point':<24}{'loss':>8}" + "".join(f"{ste_label(s):>14}" for s in self.stes)
        lines = [head]
        for r in self.rows:
            loss = f"{r.loss:.4f}" if abs(r.loss) < 1000 else f"{r.loss:.6g}"  # 8 columns for any |a|
            lines.append(f"{r.point:<24}{loss:>8}" + "".join(f"{r.cell(s):>14}" for s in self.stes))
            if r.z is not None:
                lines.append(f"{'  largest |z|':<32}" + "".join(f"{r.z_cell(s):>14}" for s in self.stes))
        return "\n".join(lines)


def c5_closed_form_rows(a, stes: Sequence[str]) -> tuple[C5Row, ...]:
    r"""The rows of the linear teacher ``a`` (n >= 2): the minima :math:`\pm\hat a` and one saddle
    direction, at |w| = 1 for the loss. Residual: :math:`|E g_{\mathrm{crelu}}|` at
    :math:`|w| = 1/\kappa^*` on a minimum; otherwise the smallest :math:`|E g_\mu|` over 41 radii
    from :math:`10^{-2}` to :math:`10^2` (prop-ms-vanishing: 0 only at the saddles)."""
    A = as_tensor(a, name="a", ndim=1, dtype=DTYPE)
    stes = _stes(stes)
    if len(A) < 2:
        raise ValueError(f"a has shape {tuple(A.shape)}; the table needs n >= 2 (a saddle direction)")
    S, model, r_star = ms.stationary_points(A), ms.LinearTeacherModel(A), ms.vanishing_norm("crelu")
    radii = torch.logspace(-2, 2, 41, dtype=DTYPE, device=A.device)[:, None]
    points = [("linear: min +a", S.min_directions[0], S.min_v[0]),
              ("linear: min -a", S.min_directions[1], S.min_v[1]),
              ("linear: saddle", S.saddle_basis[0], torch.zeros(1, dtype=DTYPE, device=A.device))]
    rows = []
    for name, d, v in points:
        res = {}
        for ste in stes:
            if ste == "crelu" and float(v.abs()) > 0:
                res[ste] = model.expected_coarse_grad(v, d * r_star, ste).norm().item()
            else:
                res[ste] = model.expected_coarse_grad(v, d * radii, ste).norm(dim=-1).min().item()
        rows.append(C5Row(name, model.loss(v, d).item(), res, scale=float(A @ A)))
    return tuple(rows)


def c5_sample_rows(checks, *, teacher: str) -> tuple[C5Row, ...]:
    """Monte Carlo rows from the checks of :func:`stelib.profile.coarse_at_stationary` (each with
    ``theta``, ``f``, ``residual`` and ``z``), named ``teacher`` and the angle in degrees."""
    if not isinstance(teacher, str):
        raise ValueError(f"teacher={teacher!r} must be a string (the name of the second teacher)")
    return tuple(C5Row(f"{teacher}: {math.degrees(c.theta):.1f} deg", c.f, dict(c.residual), dict(c.z))
                 for c in checks)
