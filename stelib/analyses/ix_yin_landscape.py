r"""The Yin-model chapter's interactive figure: the loss landscape over the angle.

:func:`yin_landscape` draws Yin et al.'s population loss along the angle ``theta`` between
``w`` and ``w*`` with ``v`` at its optimum (:mod:`stelib.gaussian`), a slider turning the
second-layer teacher weights ``v* = |v*| (cos alpha, sin alpha, 0, ...)``. It goes with the
section "Y2: the landscape" (prop-yin-landscape): the spurious minimum at ``theta = pi``
appears when ``s*^2 < (m + 1)|v*|^2 / 2`` (and ``s* != 0``); the title names the case.

Example
-------
>>> fig = yin_landscape(angles_deg=(10, 80))
>>> fig.name, len(fig.layout["sliders"][0]["steps"])
('yin-landscape', 2)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from stelib.analyses.ix_figure import InteractiveFigure, _grid, _layout, _num, _slider

__all__ = ["yin_landscape"]


def yin_landscape(angles_deg: Sequence[float] = tuple(range(0, 181, 5)), *,
                  v_norm: float = 1.0, m: int = 2, n: int = 2, points: int = 181) -> InteractiveFigure:
    """Yin et al.'s population loss along the angle theta between ``w`` and ``w*``, ``v`` at its
    optimum ``v(theta)``, for ``v* = |v*| (cos alpha, sin alpha, 0, ...)``; a slider over
    alpha. The spurious minimum at theta = pi exists iff ``s*^2 < (m + 1)|v*|^2 / 2``."""
    from stelib.core import gaussian as g

    alphas = _grid(angles_deg, name="angles_deg", maximum=73)
    if not (isinstance(m, int) and 2 <= m <= 16 and isinstance(n, int) and 2 <= n <= 16):
        raise ValueError(f"m and n must be integers in 2..16, got m={m!r}, n={n!r}")
    if not (math.isfinite(v_norm) and v_norm > 0):
        raise ValueError(f"v_norm must be finite and > 0, got {v_norm!r}")
    if not 11 <= int(points) <= 721:
        raise ValueError(f"points must be in 11..721, got {points!r}")
    theta = torch.linspace(0, math.pi, int(points), dtype=torch.float64, device="cpu")
    w_star = torch.zeros(n, dtype=torch.float64, device="cpu")
    w_star[0] = 1.0
    w = torch.zeros(len(theta), n, dtype=torch.float64, device="cpu")
    w[:, 0], w[:, 1] = theta.cos(), theta.sin()

    def profile(alpha_deg: float):
        al = math.radians(alpha_deg)
        v_star = torch.zeros(m, dtype=torch.float64, device="cpu")
        v_star[0], v_star[1] = v_norm * math.cos(al), v_norm * math.sin(al)
        v = g.optimal_v(w, v_star, w_star)
        loss = g.population_loss(v, w, v_star, w_star)
        spurious = g.spurious_minima_exist(v_star)
        return _num(loss), spurious, float(v_star.sum()) ** 2

    bound = (m + 1) * v_norm ** 2 / 2

    def verdict(spurious: bool, s2: float) -> str:
        if spurious:
            return "a spurious minimum at θ = π"
        return "θ = π is a second global minimum (s* = 0)" if s2 < bound else "no spurious minimum"

    deg = _num(torch.rad2deg(theta))
    active = int(np.argmin(np.abs(alphas - 45)))
    loss, spurious, s2 = profile(float(alphas[active]))
    data = [{"type": "scatter", "mode": "lines", "x": deg, "y": loss, "name": "f(v(θ), θ)",
             "line": {"color": "#333"}},
            {"type": "scatter", "mode": "markers", "x": [180.0], "y": [loss[-1]],
             "name": "θ = π", "marker": {"color": "#d62728", "size": 10}}]
    steps = []
    for al in alphas:
        lo, sp, s2 = profile(float(al))
        title = (f"α = {al:g}°: s*² = {s2:.2g} {'<' if s2 < bound else '≥'} (m+1)|v*|²/2 = "
                 f"{bound:.3g}: {verdict(sp, s2)}")
        steps.append([{"y": [lo, [lo[-1]]]}, {"title.text": title}, [0, 1]])
    layout = _layout(f"α = {alphas[active]:g}°: {verdict(spurious, s2)}",
                     xaxis={"title": {"text": "angle θ between w and w* (degrees)"}},
                     yaxis={"title": {"text": "population loss, v at its optimum"}},
                     sliders=[_slider("direction α of v* (degrees) = ", [f"{a:g}" for a in alphas],
                                      steps, method="update", active=active)])
    return InteractiveFigure("yin-landscape", data, layout,
                             "Yin's population loss over the angle between w and w* with the "
                             "second layer at its optimum; a slider turns the teacher's second-layer "
                             "weights and shows when a spurious minimum at 180 degrees appears.")
