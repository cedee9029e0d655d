r"""The seven input laws, and directions in their plane (book: the chapter on general inputs).

The chapter "Beyond Gaussian inputs" compares seven input laws (:data:`LAW_NAMES`,
:func:`input_laws`; section "Four kinds of input laws") by the properties its propositions
assume: symmetry :math:`z \mapsto -z`, rotation invariance and :math:`|E z|`
(:func:`law_properties`, a small frozen table that prints as the chapter shows it). Its teachers
lie in the plane of the first two axes: :func:`unit` is the teacher direction at an angle,
:func:`angle_deg` the angle from one direction to others (signed in the plane), in which the
checks of :mod:`stelib.gi_stationary` and :mod:`stelib.gi_fixed_points` report.

Example
-------
>>> import torch
>>> round(float(angle_deg(torch.tensor(unit(-45.0)), unit(0.0))), 6)   # signed in the plane
-45.0
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.stats
import torch

from stelib.core._validate import check_positive_int, check_real
from stelib.core.distributions import Distribution, make_distribution

__all__ = ["LAW_NAMES", "LawTable", "angle_deg", "input_laws", "law_properties", "unit"]

LAW_NAMES = ("gaussian", "student_t", "uniform", "laplace", "anisotropic", "mixture", "digits")


def input_laws(n: int, *, df: float, aniso_ratio: float, mix_sep: float, mix_std: float,
               mix_shift: float, digits_kind: str = "pca") -> dict[str, Distribution]:
    r"""The chapter's seven input laws in dimension ``n``, by name (:data:`LAW_NAMES`).

    Standardised Gaussian :math:`N(0, I)`; Student-t with ``df`` degrees of freedom and one radial
    scale; uniform cube; i.i.d. Laplace; anisotropic Gaussian :math:`N(0, \mathrm{diag}(s^2))`
    with :math:`s` geometric from :math:`\sqrt r` to :math:`1/\sqrt r`, :math:`r` =
    ``aniso_ratio`` >= 1; a two-component Gaussian mixture (offset ``mix_sep``, component
    standard deviation ``mix_std``, common shift ``mix_shift``); scikit-learn's digits
    (``digits_kind`` "pca" or "patch"). Section "Four kinds of input laws".
    """
    n = check_positive_int(n, name="n")
    ratio = check_real(aniso_ratio, name="aniso_ratio", low=1.0)
    scales = tuple(float(x) for x in np.geomspace(math.sqrt(ratio), 1 / math.sqrt(ratio), n))
    return {
        "gaussian": make_distribution("gaussian", n),
        "student_t": make_distribution("student_t", n, df=df),
        "uniform": make_distribution("uniform", n),
        "laplace": make_distribution("laplace", n),
        "anisotropic": make_distribution("anisotropic", n, scales=scales),
        "mixture": make_distribution("mixture", n, sep=mix_sep, std=mix_std, shift=mix_shift),
        "digits": make_distribution("digits", n, kind=digits_kind),
    }


def _laws(laws) -> dict[str, Distribution]:
    if not isinstance(laws, dict) or not laws or not all(
            isinstance(d, Distribution) for d in laws.values()):
        raise ValueError(f"laws={_short(laws)} must be a non-empty dict name -> Distribution")
    return laws


def _t_bound(replicates: int) -> float:
    """Half-width, in standard errors, of the two-sided 95 % interval of a mean over
    ``replicates`` samples: the 97.5 % quantile of Student's t with replicates - 1 degrees of
    freedom (2 when ``replicates`` is unknown, below 2)."""
    return float(scipy.stats.t.ppf(0.975, replicates - 1)) if replicates >= 2 else 2.0


def _short(x) -> str:
    text = repr(x)
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass(frozen=True)
class LawTable:
    """Per law: ``symmetric`` (z and -z equal in law), ``rotation_invariant``, ``mean_norm`` |E z|."""

    rows: dict[str, tuple[bool, bool, float]]

    def __str__(self) -> str:
        return "\n".join(f"{k:>11}: symmetric {s!s:>5}, rotation-invariant {r!s:>5}, "
                         f"|mean| = {mu:.3f}" for k, (s, r, mu) in self.rows.items())


def law_properties(laws: dict[str, Distribution]) -> LawTable:
    """Which property each law has: symmetry z -> -z, rotation invariance, and |E z|."""
    return LawTable({k: (d.symmetric, d.rotation_invariant, float(d.mean.norm()))
                     for k, d in _laws(laws).items()})


def unit(phi_deg: float, n: int = 2) -> np.ndarray:
    """(cos phi, sin phi, 0, ..., 0) of length ``n`` >= 2: the teacher direction at ``phi_deg``."""
    phi = check_real(phi_deg, name="phi_deg")
    n = check_positive_int(n, name="n", minimum=2)
    out = np.zeros(n)
    out[:2] = [math.cos(math.radians(phi)), math.sin(math.radians(phi))]
    return out


def angle_deg(x, y) -> torch.Tensor:
    """Angle from direction ``y`` (n,) to ``x`` (..., n) in degrees: signed (counter-clockwise
    positive) for n = 2, unsigned in [0, 180] otherwise."""
    x = torch.as_tensor(x, dtype=torch.float64, device=x.device if isinstance(x, torch.Tensor) else "cpu")
    y = torch.as_tensor(y, dtype=torch.float64, device=x.device)
    if x.shape[-1] == 2:
        return torch.rad2deg(torch.atan2(y[0] * x[..., 1] - y[1] * x[..., 0], x @ y))
    c = (x @ y) / (torch.linalg.vector_norm(x, dim=-1) * torch.linalg.vector_norm(y))
    return torch.rad2deg(torch.arccos(torch.clamp(c, -1.0, 1.0)))
