r"""The symmetry test of an STE, and what it predicts on the digits (chapter *Which
straight-through estimators are proper?*).

An STE keeps the scale symmetry :math:`w \mapsto cw` when :math:`\mu'(cx) = \mu'(x)` for all
:math:`c > 0`, which holds exactly when :math:`\mu'` is constant on each half-line
(prop-proper-test). Under inputs whose pre-activations have a density the coarse gradient sees
:math:`\mu'` only up to null sets: it is unchanged almost surely exactly when :math:`\mu'` is
constant almost everywhere on each half-line. The grid columns of :func:`symmetry_table` test
the pointwise condition, the sample-by-sample column the almost-sure one; for the piecewise
continuous derivatives of the catalogue they agree.

* :func:`symmetry_row`: the test three ways for one STE -- on a grid of x and c
  (:math:`\max|\mu'(cx) - \mu'(x)|`), on the half-lines (:math:`\max_{x>0}|\mu'(x) - \mu'(1)|`
  and the same on x < 0), and sample by sample on the coarse gradients of a batch
  (common random numbers); the verdict ``keeps`` comes from the sample-by-sample numbers only;
* :func:`symmetry_table`: that row for several STEs (section "The symmetry test");
* :func:`digits_summary`: accuracy and first-layer norm growth of a run on the digits next to
  each STE's verdict (section "A short run on the digits").

The tables are small frozen results that print as the chapter shows them.

Example
-------
>>> import torch
>>> row = symmetry_row("hardtanh", torch.ones(2), torch.tensor([1.0, 0.0]),
...                    torch.randn(64, 2, 2, generator=torch.Generator().manual_seed(0)),
...                    torch.zeros(64), scales=[0.5, 2.0])
>>> row["verdict"]
'breaks'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from stelib.analyses.proper_montecarlo import DTYPE, _stes
from stelib.core._validate import as_tensor, check_positive
from stelib.core.network import coarse_grads
from stelib.core.ste import check_ste, surrogate_derivative

if TYPE_CHECKING:
    from stelib.analyses.practice import PracticeResult

__all__ = ["DigitsSummary", "SymmetryTable", "digits_summary", "symmetry_row", "symmetry_table"]


def symmetry_row(ste: str, v, w, Z, y_star, *, scales: Sequence[float],
                 x=None) -> dict[str, object]:
    """The symmetry test for ``ste``: grid, half-lines and sample by sample.

    ``x`` (default: the 2001 points k/125 of [-8, 8], exact multiples so that x = 0 is one of
    them on every machine, where a ``linspace`` may give 0 or +-1e-16) is the grid of the derivative checks; ``scales`` the
    factors c. Returns ``ste``; ``grid_gap`` max over x, c of |mu'(cx) - mu'(x)|; ``halfline_gap``
    max over x > 0 of |mu'(x) - mu'(1)| and over x < 0 of |mu'(x) - mu'(-1)|; ``sample_gap`` max
    over c, samples and coordinates of |g(v, cw; Z) - g(v, w; Z)|; ``changed`` the number of
    samples whose coarse gradient changed for some c (of ``samples``); ``verdict`` "keeps" if
    ``sample_gap == 0.0`` exactly, else "breaks". The grid and half-line gaps test mu' pointwise;
    the samples, whose pre-activations have a density, cannot see a change of mu' on a null set
    (prop-proper-test), and a finite batch can only exhibit a break, never rule one out.
    """
    check_ste(ste)
    x = torch.arange(-1000, 1001, dtype=DTYPE, device="cpu") / 125 if x is None else as_tensor(x, name="x", dtype=DTYPE)
    cs = [check_positive(c, name="scales") for c in scales]
    if not cs:
        raise ValueError("scales=[] is empty; give at least one factor c > 0")
    d = surrogate_derivative(x, ste)
    grid_gap = max(float((surrogate_derivative(c * x, ste) - d).abs().max()) for c in cs)
    pos, neg = x[x > 0], x[x < 0]
    one = torch.tensor([1.0, -1.0], dtype=DTYPE, device=x.device)
    ref = surrogate_derivative(one, ste)
    half = max([float((surrogate_derivative(p, ste) - ref[k]).abs().max())
                for k, p in enumerate((pos, neg)) if len(p)], default=0.0)
    w = as_tensor(w, name="w", ndim=1, dtype=DTYPE)
    base = coarse_grads(v, w, Z, y_star, (ste,), per_sample=True)[ste]  # (batch, n)
    gap, changed = 0.0, torch.zeros(base.shape[0], dtype=torch.bool, device=base.device)
    for c in cs:
        diff = (coarse_grads(v, c * w, Z, y_star, (ste,), per_sample=True)[ste] - base).abs()
        gap = max(gap, float(diff.max()))
        changed |= (diff > 0).any(dim=1)
    return {"ste": ste, "grid_gap": grid_gap, "halfline_gap": half, "sample_gap": gap,
            "changed": int(changed.sum()), "samples": int(base.shape[0]),
            "verdict": "keeps" if gap == 0.0 else "breaks"}


@dataclass(frozen=True)
class SymmetryTable:
    """:func:`symmetry_row` for several STEs, by name (``rows``)."""

    rows: dict[str, dict[str, object]]

    @property
    def agrees(self) -> bool:
        """The sample-by-sample verdict is "keeps" exactly for the STEs constant on each
        half-line of the grid (prop-proper-test). A derivative changed on a null set can make
        them differ: the samples do not see such a change, the grid may."""
        return all((r["verdict"] == "keeps") == (r["halfline_gap"] == 0) for r in self.rows.values())

    def __str__(self) -> str:
        lines = [f"{'STE':>10} | max|mu'(cx)-mu'(x)| | half-line gap | max|g(cw)-g(w)| | "
                 "  changed | verdict"]
        for s, r in self.rows.items():
            changed = f"{r['changed']}/{r['samples']}"  # samples whose coarse gradient changed
            lines.append(f"{s:>10} | {r['grid_gap']:19.3g} | {r['halfline_gap']:13.3g} | "
                         f"{r['sample_gap']:15.3g} | {changed:>9} | {r['verdict']}")
        lines.append(f"verdict agrees with 'constant on each half-line' for every STE: {self.agrees}")
        return "\n".join(lines)


def symmetry_table(stes: Sequence[str], v, w, Z, y_star, *, scales: Sequence[float]) -> SymmetryTable:
    """The symmetry test of prop-proper-test (chapter proper, "The symmetry test") for every STE
    in ``stes``: :func:`symmetry_row` at (``v``, ``w``) on the batch ``Z``, ``y_star``."""
    return SymmetryTable({s: symmetry_row(s, v, w, Z, y_star, scales=scales) for s in _stes(stes)})


@dataclass(frozen=True)
class DigitsSummary:
    """The digits run of the chapter: final test accuracy (%) ``acc`` +- ``acc_sd`` over the
    seeds, per seed ``last`` (stes, seeds), first-layer norm ``growth`` (stes, seeds), and the
    ``verdicts`` ("keeps"/"breaks") of the symmetry test, for the STEs ``stes``."""

    stes: tuple[str, ...]
    acc: torch.Tensor
    acc_sd: torch.Tensor
    last: torch.Tensor
    growth: torch.Tensor
    verdicts: dict[str, str]
    epochs: int

    @property
    def best(self) -> str:
        """The STE with the best mean accuracy."""
        return self.stes[int(self.acc.argmax())]

    @property
    def tied(self) -> list[str]:
        """The STEs whose best seed reaches the worst seed of the best STE."""
        b = int(self.acc.argmax())
        return [s for j, s in enumerate(self.stes) if self.last[j].max() >= self.last[b].min()]

    def growth_bounds(self) -> tuple[float, float] | None:
        """(least growth over the STEs that keep the symmetry, largest over those that break
        it); None unless both kinds ran."""
        keep = [j for j, s in enumerate(self.stes) if self.verdicts[s] == "keeps"]
        brk = [j for j, s in enumerate(self.stes) if self.verdicts[s] == "breaks"]
        if not (keep and brk):
            return None
        return self.growth[keep].min().item(), self.growth[brk].max().item()

    @property
    def growth_reading(self) -> str:
        """What :meth:`growth_bounds` shows, as a clause the chapter glues: whether every STE that
        keeps the symmetry grows its first layer more than every STE that breaks it."""
        bounds = self.growth_bounds()
        if bounds is None:
            return "cannot be compared: this run has not both kinds of STE"
        if bounds[0] > bounds[1]:
            return "separates the two kinds in every seed: the practice chapter's observation, extended to these STEs"
        return "does not separate the two kinds in this run: some seed of a symmetric STE grows less"

    def __str__(self) -> str:
        lines = [f"test accuracy (%) after {self.epochs} epochs, {self.last.shape[1]} seeds; "
                 "norm growth of the first layer"]
        lines += [f"{s:>10}: {self.acc[j]:5.1f} ± {self.acc_sd[j]:3.1f} (min "
                  f"{self.last[j].min():5.1f}, max {self.last[j].max():5.1f}) | growth "
                  f"{self.growth[j].min():5.1f} to {self.growth[j].max():5.1f} | "
                  f"{self.verdicts[s]} symmetry" for j, s in enumerate(self.stes)]
        return "\n".join(lines)


def digits_summary(result: PracticeResult, symmetry: SymmetryTable) -> DigitsSummary:
    """Accuracy and first-layer norm growth of a one-bit ``result`` of
    :func:`stelib.practice.train` (chapter proper, "A short run on the digits"), with each
    STE's verdict from ``symmetry``."""
    if len(result.bits) != 1:
        raise ValueError(f"result.bits={result.bits!r}; need the result of one bit width")
    acc, acc_sd = result.final("test_accuracy")
    norms = result.weight_norms[0, :, :, 0]  # (stes, seeds, epochs + 1), first layer
    return DigitsSummary(tuple(result.stes), 100 * acc[0], 100 * acc_sd[0],
                         100 * result.test_accuracy[0, :, :, -1], norms[..., -1] / norms[..., 0],
                         {s: symmetry.rows[s]["verdict"] for s in result.stes},
                         result.test_accuracy.shape[-1] - 1)
