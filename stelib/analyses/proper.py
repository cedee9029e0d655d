r"""Which straight-through estimators are proper? The checks of that chapter, for any registered STE.

An STE keeps the scale symmetry :math:`w \mapsto cw` when :math:`\mu'(cx) = \mu'(x)` for all
:math:`c > 0`, which holds exactly when :math:`\mu'` is constant on each half-line
(prop-proper-test). Under inputs whose pre-activations have a density the coarse gradient sees
:math:`\mu'` only up to null sets: it is unchanged almost surely exactly when :math:`\mu'` is
constant almost everywhere on each half-line.

The chapter imports this module (``from stelib import proper``); its checks, each a small frozen
table that prints as the chapter shows it, live in four modules, by idea:

* :mod:`stelib.proper_test` -- the symmetry test: :func:`symmetry_row` (on a grid of x and c,
  on the half-lines, and sample by sample on the coarse gradients of a batch; the verdict
  ``keeps`` comes from the sample-by-sample numbers only), :func:`symmetry_table`, and
  :func:`digits_summary` (the digits run);
* :mod:`stelib.proper_montecarlo` -- the formulas against Monte Carlo:
  :func:`projected_coarse_grad` (the mean of a projection :math:`d^\top g_\mu` with its own
  standard error) and :func:`formula_vs_monte_carlo` (prop-proper-ms-coarse, prop-proper-yin);
* :mod:`stelib.proper_radii` -- the misspecified example: :func:`vanishing_row`,
  :func:`vanishing_table`, :func:`radial_curve`, :func:`radius_check` and :func:`step_rates`
  (prop-proper-stability), and :func:`cgd_rest` (where CGD comes to rest);
* :mod:`stelib.proper_yin` -- Yin et al.'s minima: :func:`spurious_radial` (:math:`-M_1^-(|w|)`,
  the coefficient of the expected coarse gradient there) and :func:`yin_minima`
  (prop-proper-yin (a), (b)).

Each module's docstring has an example.
"""

from __future__ import annotations

from stelib.analyses.proper_montecarlo import DTYPE as DTYPE
from stelib.analyses.proper_montecarlo import FormulaCheck, formula_vs_monte_carlo, projected_coarse_grad
from stelib.analyses.proper_montecarlo import _stes as _stes
from stelib.analyses.proper_radii import (
    RADIUS_GRID,
    RadiusCheck,
    Rest,
    StepRates,
    VanishingTable,
    cgd_rest,
    radial_curve,
    radius_check,
    step_rates,
    vanishing_row,
    vanishing_table,
)
from stelib.analyses.proper_test import DigitsSummary, SymmetryTable, digits_summary, symmetry_row, symmetry_table
from stelib.analyses.proper_yin import YinMinima, YinMinimaRow, spurious_radial, yin_minima

# Every stelib.analyses name above is re-exported from the module of its idea; ``X as X`` marks
# the ones outside __all__ (DTYPE, the private helper), so that their old addresses keep working.
__all__ = ["RADIUS_GRID", "DigitsSummary", "FormulaCheck", "RadiusCheck", "Rest", "StepRates",
           "SymmetryTable", "VanishingTable", "YinMinima", "YinMinimaRow", "cgd_rest", "digits_summary",
           "formula_vs_monte_carlo", "projected_coarse_grad", "radial_curve", "radius_check",
           "spurious_radial", "step_rates", "symmetry_row", "symmetry_table", "vanishing_row",
           "vanishing_table", "yin_minima"]
