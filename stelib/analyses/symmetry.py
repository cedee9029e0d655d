r"""The scale symmetry :math:`w \mapsto c\,w` and what the STEs do with it (book: the scale-symmetry chapter).

For the binary network :math:`y = v^\top\sigma(Zw)` and any labels, :math:`\sigma(cx) = \sigma(x)`
(:math:`c > 0`) makes the sample loss invariant, :math:`\ell(v, cw; Z) = \ell(v, w; Z)`, hence

.. math::

    w^\top \nabla_w L = 0,\qquad \nabla_w L(v, cw) = \nabla_w L(v, w) / c,

while the coarse gradients obey :math:`g_\mu(v, cw; Z) = g_\mu(v, w; Z)` for the identity and
ReLU STEs and not for the clipped ReLU. The chapter ``scale_symmetry`` imports this module
(``from stelib import symmetry``) for the checks it runs for any input distribution and label
model; each name is here, from the module of its idea:

* :mod:`stelib.sym_rescaling` -- :func:`make_problem` (a :class:`~stelib.problems.Problem`
  with random teacher weights drawn from an explicit generator, including the
  ``"noisy_teacher"`` label model), :func:`random_direction`, :func:`rescaling_gaps`
  (sample-by-sample differences of the loss and coarse gradients between ``w`` and ``c w``,
  common random numbers) and :func:`rescaling_table` (prop-scale-loss, prop-scale-coarse);
* :mod:`stelib.sym_covariance` -- :func:`smoothed_true_grad` (per-sample smoothed-step
  estimate of :math:`\nabla_w L`, the estimator of :mod:`stelib.montecarlo`, per sample, so
  any linear functional gets a standard error), the helpers :func:`mean_se`,
  :func:`radial_part` and :func:`least_squares_v`, and :func:`scale_covariance_check` and
  :func:`covariance_checks` built on them (eq-sym-euler);
* :mod:`stelib.sym_crelu` -- :func:`crelu_limits` (the clipped ReLU at small and large
  ``|w|``, prop-scale-coarse) with :func:`ratio_se`, and :func:`loglog_slope`.

Each check returns a small result that prints itself; what the coarse gradients do along rays
is in :mod:`stelib.rays`.

Each module's docstring has an example.
"""

from __future__ import annotations

from stelib.analyses.sym_covariance import (
    REAL_DATA,
    CovarianceChecks,
    covariance_checks,
    least_squares_v,
    mean_se,
    radial_part,
    scale_covariance_check,
    smoothed_true_grad,
)
from stelib.analyses.sym_covariance import _shown as _shown
from stelib.analyses.sym_crelu import CreluLimits, crelu_limits, loglog_slope, ratio_se
from stelib.analyses.sym_rescaling import (
    LABEL_CHOICES,
    make_problem,
    random_direction,
    rescaling_gaps,
    rescaling_table,
)
from stelib.analyses.sym_rescaling import _point_and_grid as _point_and_grid
from stelib.analyses.sym_rescaling import _positive_values as _positive_values

# Every stelib.analyses name above is re-exported from the module of its idea; ``X as X`` marks
# the ones outside __all__ (the private helpers), so that their old addresses keep working.
__all__ = [
    "LABEL_CHOICES", "REAL_DATA", "CovarianceChecks", "CreluLimits", "covariance_checks",
    "crelu_limits", "least_squares_v", "loglog_slope", "make_problem", "mean_se", "radial_part",
    "random_direction", "ratio_se", "rescaling_gaps", "rescaling_table", "scale_covariance_check",
    "smoothed_true_grad",
]
