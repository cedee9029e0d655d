r"""The proper-STE chapter's interactive figure: a catalogue STE with a window width.

:func:`proper_window` draws, for an STE of :data:`stelib.ste.CATALOGUE` picked in a menu and a
window width ``lambda`` set by a slider, the surrogate derivative
``mu_lambda'(x) = mu'(x / lambda) / lambda``, its radial function
``R_lambda(r) = R(r / lambda) / lambda`` on a minimising ray of the linear-teacher example
(prop-proper-ms-coarse) and its vanishing radii ``lambda r_0`` (:mod:`stelib.vanishing`), in
the section "Where the coarse gradient vanishes in the misspecified example": the width moves a
radius but never makes one appear or disappear (exercise ex-proper-width).

Example
-------
>>> fig = proper_window(stes=("crelu",), widths=(0.5, 2.0))
>>> [step["args"][0]["x"][2] for step in fig.layout["sliders"][0]["steps"]]   # lambda r_0
[[0.3816], [1.526]]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from stelib.analyses.ix_figure import COLORS, InteractiveFigure, _grid, _layout, _num, _slider

__all__ = ["proper_window"]


def proper_window(stes: Sequence[str] | None = None,
                  widths: Sequence[float] = tuple(np.geomspace(0.25, 4.0, 13))) -> InteractiveFigure:
    """A catalogue STE (menu) with window width ``lambda`` (slider):
    ``mu_lambda'(x) = mu'(x / lambda) / lambda``, its radial function
    ``R_lambda(r) = R(r / lambda) / lambda`` on a minimising ray of the linear-teacher example
    and its vanishing radii ``lambda r_0`` (markers)."""
    from stelib.core.ste import CATALOGUE, check_ste, surrogate_derivative
    from stelib.core.vanishing import radial_function, vanishing_radii

    stes = tuple(CATALOGUE if stes is None else stes)
    if not stes or len(stes) > 8:
        raise ValueError(f"stes needs 1 to 8 names, got {stes!r}")
    for s in stes:
        check_ste(s)
    widths = _grid(widths, name="widths", positive=True, maximum=32)
    x = torch.linspace(-3, 3, 151, dtype=torch.float64, device="cpu")
    r = torch.logspace(-1.5, 1.5, 91, dtype=torch.float64, device="cpu")
    active = int(np.argmin(np.abs(np.log(widths))))
    shown = stes.index("crelu") if "crelu" in stes else 0

    def curves(ste: str, lam: float):
        mu = surrogate_derivative(x / lam, ste) / lam
        big_r = radial_function(r / lam, ste) / lam
        zeros = [z.radius * lam for z in vanishing_radii(ste).radii]
        zx = [z for z in zeros if float(r[0]) <= z <= float(r[-1])]
        return _num(mu), _num(big_r), _num(zx), [0.0] * len(zx)

    data, per_width = [], {k: [] for k in range(len(widths))}
    for j, ste in enumerate(stes):
        color = COLORS.get(ste, "#444")
        vis = j == shown
        mu, big_r, zx, zy = curves(ste, float(widths[active]))
        data += [{"type": "scatter", "mode": "lines", "x": _num(x), "y": mu, "name": ste, "visible": vis,
                  "line": {"color": color}},
                 {"type": "scatter", "mode": "lines", "x": _num(r), "y": big_r, "name": ste,
                  "xaxis": "x2", "yaxis": "y2", "showlegend": False, "visible": vis, "line": {"color": color}},
                 {"type": "scatter", "mode": "markers", "x": zx, "y": zy, "name": "vanishing radius",
                  "xaxis": "x2", "yaxis": "y2", "visible": vis, "marker": {"color": "black", "size": 9}}]
        for k, lam in enumerate(widths):
            mu, big_r, zx, zy = curves(ste, float(lam))
            per_width[k] += [(mu, None), (big_r, None), (zy, zx)]
    width_steps = []
    for k in range(len(widths)):
        ys = [p[0] for p in per_width[k]]
        xs = [p[1] if p[1] is not None else (_num(x) if i % 3 == 0 else _num(r))
              for i, p in enumerate(per_width[k])]
        width_steps.append([{"x": xs, "y": ys}, list(range(len(data)))])
    buttons = [{"label": ste, "method": "restyle",
                "args": [{"visible": [i // 3 == j for i in range(len(data))]}]}
               for j, ste in enumerate(stes)]
    layout = _layout("A catalogue STE with window width λ: μ′ and the radial function R",
                     xaxis={"domain": [0, 0.45], "title": {"text": "x"}},
                     yaxis={"title": {"text": "μ′_λ(x)"}},
                     xaxis2={"domain": [0.55, 1], "type": "log", "title": {"text": "|w| = r"},
                             "anchor": "y2"},
                     yaxis2={"anchor": "x2", "title": {"text": "R_λ(r)"}},
                     updatemenus=[{"buttons": buttons, "x": 1, "y": 1.2, "xanchor": "right",
                                   "active": shown, "showactive": True}],
                     sliders=[_slider("λ = ", [f"{w:.3g}" for w in widths], width_steps, active=active)])
    return InteractiveFigure("proper-window", data, layout,
                             "Surrogate derivative and radial function of a chosen catalogue STE "
                             "with a window width slider; the black markers are the radii where "
                             "the expected coarse gradient vanishes.")
