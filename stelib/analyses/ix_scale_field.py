r"""The scale-symmetry chapter's interactive figure: coarse gradients on a circle ``|w| = c``.

:func:`scale_field` draws the expected coarse gradient of the linear-teacher example
(:mod:`stelib.misspecified`, ``v`` at its optimum) at the points ``c u`` of a circle of
directions ``u``, one panel per STE, with a slider over the scale ``c``. It shows
prop-scale-coarse at work in the section "Consequences for coarse gradient descent: the radial
part" (prop-scale-radial): the identity and ReLU arrows do not move with ``c``, the clipped
ReLU's do, and on the minimising ray they turn from outwards to inwards at ``|w| = 1 / kappa*``.

Example
-------
>>> fig = scale_field(scales=(0.5, 2.0), directions=4)
>>> small, large = (step["args"][0]["x"] for step in fig.layout["sliders"][0]["steps"])
>>> [small[k] == large[k] for k in range(3)]   # identity, ReLU, clipped ReLU at c = 0.5 and 2
[True, True, False]
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from stelib.analyses.ix_figure import COLORS, STES, InteractiveFigure, _grid, _layout, _num, _slider

__all__ = ["scale_field"]


def scale_field(scales: Sequence[float] = tuple(np.geomspace(0.25, 4.0, 17)), *,
                a: Sequence[float] = (1.0, 0.0), directions: int = 16) -> InteractiveFigure:
    """Expected coarse gradients of the linear-teacher example on the circle ``|w| = c``,
    ``v`` at its optimum, one panel per STE: the arrow at ``c u`` is ``-E g(c u) / |a|^2``
    drawn from the point ``u`` of the unit circle. Slider over ``c`` (``scales``)."""
    from stelib.core import misspecified as ms

    scales = _grid(scales, name="scales", positive=True)
    a_t = torch.as_tensor(a, dtype=torch.float64, device="cpu")
    if a_t.shape != (2,) or not torch.isfinite(a_t).all() or float(a_t.norm()) == 0:
        raise ValueError(f"a must be a non-zero finite 2-vector, got {a!r}")
    if not 4 <= int(directions) <= 64:
        raise ValueError(f"directions must be in 4..64, got {directions!r}")
    t = torch.linspace(0, 2 * math.pi, int(directions) + 1, dtype=torch.float64, device="cpu")[:-1]
    u = torch.stack([t.cos(), t.sin()], dim=1)
    scale = 1.0 / float(a_t.norm()) ** 2

    def arrows(c: float, ste: str) -> tuple[list, list]:
        w = c * u
        v = ms.optimal_v(w, a_t)
        g = -ms.expected_coarse_grad(v, w, a_t, ste) * scale
        xs = torch.stack([u[:, 0], u[:, 0] + g[:, 0], torch.full_like(t, math.nan)], 1)
        ys = torch.stack([u[:, 1], u[:, 1] + g[:, 1], torch.full_like(t, math.nan)], 1)
        return _num(xs), _num(ys)

    active = int(np.argmin(np.abs(np.log(scales))))
    data, steps = [], []
    ray = (a_t / a_t.norm()).tolist()
    for k, ste in enumerate(STES):
        ax = "x" if k == 0 else f"x{k + 1}"
        ay = "y" if k == 0 else f"y{k + 1}"
        data.append({"type": "scatter", "mode": "lines", "x": [-1.6 * ray[0], 1.6 * ray[0]],
                     "y": [-1.6 * ray[1], 1.6 * ray[1]], "xaxis": ax, "yaxis": ay, "showlegend": k == 0,
                     "name": "minimising ray", "line": {"color": "#999", "dash": "dot", "width": 1}})
        x, y = arrows(float(scales[active]), ste)
        data.append({"type": "scatter", "mode": "lines", "x": x, "y": y, "xaxis": ax, "yaxis": ay,
                     "name": ste, "line": {"color": COLORS[ste], "width": 2}})
    arrow_traces = [1, 3, 5]
    for c in scales:
        xy = [arrows(float(c), ste) for ste in STES]
        steps.append([{"x": [p[0] for p in xy], "y": [p[1] for p in xy]}, arrow_traces])
    axes = {}
    for k in range(3):
        sx = "" if k == 0 else str(k + 1)
        axes[f"xaxis{sx}"] = {"domain": [k / 3 + 0.02, (k + 1) / 3 - 0.02], "range": [-1.7, 1.7],
                              "title": {"text": f"{STES[k]}: w1 / |w|"}, "zeroline": False}
        axes[f"yaxis{sx}"] = {"range": [-1.7, 1.7], "scaleanchor": f"x{sx}", "zeroline": False,
                              "anchor": f"x{sx}", "title": {"text": "w2 / |w|" if k == 0 else ""}}
    layout = _layout("Expected coarse gradient on the circle |w| = c (v at its optimum)", **axes,
                     sliders=[_slider("|w| = c = ", [f"{c:.3g}" for c in scales], steps, active=active)])
    return InteractiveFigure("scale-field", data, layout,
                             "Arrows of the expected coarse-gradient step on a circle of directions "
                             "for the identity, ReLU and clipped-ReLU STEs; moving the scale slider "
                             "changes only the clipped-ReLU arrows.")
