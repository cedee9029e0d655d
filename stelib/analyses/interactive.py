r"""Interactive figures that need no kernel: precomputed over a grid, drawn by plotly.js.

The chapters import this module (``from stelib import interactive``) for their figures with
sliders; each name is here, from the module of its idea:

* :mod:`stelib.ix_figure` -- :class:`InteractiveFigure` (the figure specification with its
  slider data, alt text and static PNG fallback, and the HTML a notebook cell shows) and what
  the builders share: the STE colours, numbers to the digits the figures need, grids, sliders,
  layouts;
* :mod:`stelib.ix_scale_field` -- :func:`scale_field`, chapter ``scale_symmetry``: the expected
  coarse-gradient field of the linear-teacher example on the circle ``|w| = c``, a slider over
  ``c`` (only the clipped ReLU's arrows change);
* :mod:`stelib.ix_cgd_runs` -- :func:`cgd_runs`, chapter ``misspecified``: population coarse
  gradient descent, ``|w_t|`` and the angle to the minimising ray, sliders over the learning
  rate and the step;
* :mod:`stelib.ix_proper_window` -- :func:`proper_window`, chapter ``proper``: a catalogue STE
  (menu) with window width ``lambda`` (slider), its surrogate derivative, radial function and
  vanishing radii;
* :mod:`stelib.ix_yin_landscape` -- :func:`yin_landscape`, chapter ``yin_gaussian``: Yin's
  population loss over the angle, a slider over the direction of ``v*`` (when the spurious
  minimum at ``theta = pi`` appears).

Each module's docstring has an example.
"""

from __future__ import annotations

from stelib.analyses.ix_cgd_runs import cgd_runs
from stelib.analyses.ix_figure import _INIT as _INIT
from stelib.analyses.ix_figure import _NAME as _NAME
from stelib.analyses.ix_figure import COLORS as COLORS
from stelib.analyses.ix_figure import DIGITS as DIGITS
from stelib.analyses.ix_figure import PLOTLY_JS as PLOTLY_JS
from stelib.analyses.ix_figure import STES as STES
from stelib.analyses.ix_figure import InteractiveFigure
from stelib.analyses.ix_figure import _grid as _grid
from stelib.analyses.ix_figure import _layout as _layout
from stelib.analyses.ix_figure import _num as _num
from stelib.analyses.ix_figure import _slider as _slider
from stelib.analyses.ix_proper_window import proper_window
from stelib.analyses.ix_scale_field import scale_field
from stelib.analyses.ix_yin_landscape import yin_landscape

# Every stelib.analyses name above is re-exported from the module of its idea; ``X as X`` marks
# the ones outside __all__ (the constants and private helpers), so that their old addresses keep working.
__all__ = ["InteractiveFigure", "cgd_runs", "proper_window", "scale_field", "yin_landscape"]
