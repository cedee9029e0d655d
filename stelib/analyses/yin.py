r"""Checks of Yin et al.'s Gaussian model (chapter *Yin et al.'s setting, reproduced*).

The chapter imports this module (``from stelib import yin``); each function computes one check
of the chapter against the closed forms of :mod:`stelib.gaussian` and returns a small frozen
result whose ``str`` is the printed report. They live in three modules, by idea:

:mod:`stelib.yin_landscape` -- the loss and its critical points:

- :func:`closed_form_zscores`: Monte Carlo against the loss and gradient (prop-yin-loss, Y1);
- :func:`critical_points`, :func:`classify_critical_points`, :func:`perturbation_share`: the
  landscape (prop-yin-landscape, Y2);
- :func:`variant_teachers`, :func:`spurious_conditions`: teachers without spurious minima.

:mod:`stelib.yin_coarse` -- the expected coarse gradients:

- :func:`plane_basis`, :func:`coarse_components_check`: expected coarse gradients against Monte
  Carlo, in the plane of :math:`w, w^*` (prop-yin-coarse, Y3);
- :func:`inner_product_check`, :func:`descent_ratio_path`: correlation with the true gradient and
  the descent ratio (prop-yin-corr, prop-yin-descent, Y4);
- :func:`coarse_grad_norms`, :func:`identity_norm_at_spurious`: where the coarse gradients
  vanish (prop-yin-vanish, Y5).

:mod:`stelib.yin_runs` -- coarse gradient descent runs: :func:`at_and_near`,
:func:`run_endings`, :func:`angle_progress`, :func:`batch_tags`, :func:`at_batch_sizes`.

Each module's docstring has an example.
"""

from __future__ import annotations

from stelib.analyses.yin_coarse import (
    ComponentCheck,
    DescentRatioPath,
    IdentityNorm,
    InnerProductCheck,
    NormTable,
    coarse_components_check,
    coarse_grad_norms,
    descent_ratio_path,
    identity_norm_at_spurious,
    inner_product_check,
    plane_basis,
)
from stelib.analyses.yin_coarse import _eps_text as _eps_text
from stelib.analyses.yin_landscape import DTYPE as DTYPE
from stelib.analyses.yin_landscape import (
    CriticalPointTable,
    SpuriousConditions,
    ZScores,
    classify_critical_points,
    closed_form_zscores,
    critical_points,
    perturbation_share,
    spurious_conditions,
    variant_teachers,
)
from stelib.analyses.yin_landscape import _generator as _generator
from stelib.analyses.yin_landscape import _model as _model
from stelib.analyses.yin_landscape import _stes as _stes
from stelib.analyses.yin_runs import (
    AngleProgress,
    RunEndings,
    angle_progress,
    at_and_near,
    at_batch_sizes,
    batch_tags,
    perturbation_reading,
    population_reading,
    run_endings,
    stream_reading,
)

# Every stelib.analyses name above is re-exported from the module of its idea; ``X as X`` marks
# the ones outside __all__ (DTYPE, the private helpers), so that their old addresses keep working.
__all__ = [
    "AngleProgress", "ComponentCheck", "CriticalPointTable", "DescentRatioPath", "IdentityNorm",
    "InnerProductCheck", "NormTable", "RunEndings", "SpuriousConditions", "ZScores",
    "angle_progress", "at_and_near", "at_batch_sizes", "batch_tags", "classify_critical_points", "closed_form_zscores",
    "coarse_components_check", "coarse_grad_norms", "critical_points", "descent_ratio_path",
    "identity_norm_at_spurious", "inner_product_check", "perturbation_reading", "perturbation_share",
    "plane_basis", "population_reading", "run_endings", "spurious_conditions", "stream_reading",
    "variant_teachers",
]
