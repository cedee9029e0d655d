r"""Checks of the linear-teacher misspecified example (chapter *A misspecified example*).

The model is :mod:`stelib.misspecified`: a one-unit binary student :math:`y = v\,\sigma(w^\top z)`,
inputs :math:`z \sim N(0, I_n)`, teacher :math:`y^* = a^\top z`. The chapter imports this module
(``from stelib import linear_teacher as lt``); each function checks one statement of the
chapter and returns a small frozen result whose ``str`` is what the chapter prints. They live
in four modules, by idea:

:mod:`stelib.ms_checks` -- the closed forms against Monte Carlo and finite differences:

- :func:`loss_vs_monte_carlo`, :func:`coarse_vs_monte_carlo`: the closed forms of
  prop-ms-stationary and prop-ms-coarse against Monte Carlo means (largest :math:`|z|`);
- :func:`gradient_check`: :math:`\nabla_w L` against central finite differences;
- :func:`stationary_set_check`: the listed stationary rays are stationary, random points not.

:mod:`stelib.ms_rays` -- the minimising rays:

- :func:`radial_roots`: the zero of the radial part on a minimising ray is :math:`1/\kappa^*`
  for every :math:`|a|` and n (prop-ms-vanishing (c));
- :func:`minimising_ray`: :math:`|\nabla L|` and the radial parts along the +a ray;
- :func:`angle_to_minimising_rays`: the angle to the nearer minimising ray.

:mod:`stelib.ms_paths` -- :func:`growth_rates`, :func:`crelu_settling`: paths of coarse
gradient descent (:func:`stelib.fields.cgd_paths`) against prop-ms-rates;
:func:`crelu_step_factors`: the clipped-ReLU step linearised at its vanishing point.

:mod:`stelib.ms_c5` -- :class:`C5Table`, :func:`c5_closed_form_rows`, :func:`c5_sample_rows`:
claim C5 as a table.

Each module's docstring has an example.
"""

from __future__ import annotations

from stelib.analyses.ms_c5 import C5Row, C5Table, c5_closed_form_rows, c5_sample_rows
from stelib.analyses.ms_checks import DTYPE as DTYPE
from stelib.analyses.ms_checks import (
    GradientCheck,
    MonteCarloCheck,
    StationaryCheck,
    coarse_vs_monte_carlo,
    gradient_check,
    loss_vs_monte_carlo,
    stationary_set_check,
)
from stelib.analyses.ms_checks import _points as _points
from stelib.analyses.ms_checks import _stes as _stes
from stelib.analyses.ms_paths import PHI0 as PHI0
from stelib.analyses.ms_paths import (
    CReluSettling,
    GrowthRates,
    StepFactors,
    crelu_settling,
    crelu_step_factors,
    growth_rates,
)
from stelib.analyses.ms_paths import _k_scale as _k_scale
from stelib.analyses.ms_paths import _paths_of as _paths_of
from stelib.analyses.ms_rays import RadialRoots, RayTable, angle_to_minimising_rays, minimising_ray, radial_roots

# Every stelib.analyses name above is re-exported from the module of its idea; ``X as X`` marks
# the ones outside __all__ (DTYPE, PHI0, the private helpers), so that their old addresses keep working.
__all__ = ["C5Row", "C5Table", "CReluSettling", "GradientCheck", "GrowthRates", "MonteCarloCheck",
           "RadialRoots", "RayTable", "StationaryCheck", "StepFactors", "angle_to_minimising_rays",
           "c5_closed_form_rows", "c5_sample_rows", "coarse_vs_monte_carlo", "crelu_settling",
           "crelu_step_factors",
           "gradient_check", "growth_rates", "loss_vs_monte_carlo", "minimising_ray", "radial_roots",
           "stationary_set_check"]
