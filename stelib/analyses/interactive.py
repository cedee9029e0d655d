r"""Interactive figures that need no kernel: precomputed over a grid, drawn by plotly.js.

Each builder evaluates stelib's closed forms on a grid of the figure's slider (and, where
there is one, a menu), and returns an :class:`InteractiveFigure`: a plotly.js figure
specification (data, layout, sliders whose steps carry the precomputed data), alt text, and a
static PNG fallback drawn by matplotlib from the same data. In a notebook its HTML output is a
``div`` that ``plotly.min.js`` fills in; the book ships that file under ``_static`` (copied
by :mod:`stelib.book` from the installed ``plotly`` package, MIT licence) and adds it only to
pages holding such a figure, so pages work from a plain ``file://`` copy with no network.
Without JavaScript, and in print, the PNG is shown instead.

- :func:`scale_field` -- the expected coarse-gradient field of the linear-teacher example on
  the circle ``|w| = c``, a slider over ``c``: identity and ReLU arrows do not change with the
  scale, the clipped ReLU's do (and flip on the minimising ray at ``1 / c*``).
- :func:`cgd_runs` -- population coarse gradient descent, ``|w_t|`` and the angle to the
  minimising ray, a slider over the learning rate and one over the step.
- :func:`proper_window` -- a catalogue STE (menu) with window width ``lambda``
  (``mu_lambda'(x) = mu'(x/lambda)/lambda``, slider): its surrogate derivative, its radial
  function ``R`` on a minimising ray, and its vanishing radii.
- :func:`yin_landscape` -- Yin's population loss over the angle with ``v`` at its optimum, a
  slider over the direction of the second-layer teacher weights ``v*``: the spurious minimum
  at ``theta = pi`` appears when ``s*^2 < (m + 1)|v*|^2 / 2``.

Example
-------
>>> fig = yin_landscape(angles_deg=(10, 80))
>>> fig.name, len(fig.layout["sliders"][0]["steps"])
('yin-landscape', 2)
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from stelib.core.rounding import FLOOR, significant

__all__ = ["InteractiveFigure", "cgd_runs", "proper_window", "scale_field", "yin_landscape"]

PLOTLY_JS = "plotly.min.js"  # the file under _static that pages with these figures load
STES = ("identity", "relu", "crelu")
COLORS = {"identity": "#1f77b4", "relu": "#d4a017", "crelu": "#2ca02c", "hardtanh": "#9467bd",
          "approxsign": "#8c564b", "sigmoid": "#e377c2"}
DIGITS = 4  # significant digits kept in the page (the figures are read by eye)
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,40}$")


def _num(x) -> list:
    """A flat list of floats with DIGITS significant digits (None where not finite), only the
    digits the computation determines: a value below stelib.rounding's FLOOR (1e-12, rounding
    noise of a zero) is 0, and the value is first rounded to 10 digits, so that a last-bit
    difference between CPU kernels cannot move the 4th digit."""
    arr = np.asarray(x, dtype=float).ravel()
    return [None if not math.isfinite(v) else 0.0 if abs(v) < FLOOR
            else significant(significant(float(v), 10), DIGITS) for v in arr]


def _grid(values, *, name: str, positive: bool = False, maximum: int = 64) -> np.ndarray:
    arr = np.asarray(values, dtype=float).ravel()
    if arr.size == 0 or arr.size > maximum:
        raise ValueError(f"{name} needs 1 to {maximum} values, got {arr.size}")
    if not np.isfinite(arr).all() or (positive and (arr <= 0).any()):
        raise ValueError(f"{name} must be finite{' and > 0' if positive else ''}, got {values!r}")
    return arr


@dataclass(frozen=True)
class InteractiveFigure:
    """A plotly.js figure (``data``, ``layout``) with its slider data, alt text and a static
    fallback; ``to_html()`` is what a notebook cell shows (``_repr_html_``)."""

    name: str
    data: list
    layout: dict
    alt: str

    def __post_init__(self):
        if not _NAME.match(self.name):
            raise ValueError(f"name must match {_NAME.pattern}, got {self.name!r}")
        if len(self.alt.split()) < 5:
            raise ValueError("alt text must describe the figure (five words or more)")

    def __repr__(self) -> str:  # the text/plain output of a cell (the data would be pages)
        sliders = len(self.layout.get("sliders", []))
        return f"<InteractiveFigure {self.name}: {len(self.data)} traces, {sliders} slider(s)>"

    def spec(self) -> dict:
        return {"data": self.data, "layout": self.layout}

    def fallback_png(self) -> bytes:
        """The figure in its initial state (every slider at its active step), by matplotlib."""
        from matplotlib.figure import Figure  # not pyplot: the notebook's backend stays as it is

        axes_ids = sorted({t.get("xaxis", "x") for t in self.data}, key=lambda s: (len(s), s))
        fig = Figure(figsize=(4.2 * len(axes_ids), 3.4))
        axs = fig.subplots(1, len(axes_ids), squeeze=False)
        for ax_id, ax in zip(axes_ids, axs[0], strict=True):
            key = "xaxis" + ax_id[1:]
            ykey = "yaxis" + ax_id[1:]
            for t in self.data:
                if t.get("xaxis", "x") != ax_id or t.get("visible", True) is not True:
                    continue
                x = np.array([np.nan if v is None else v for v in t["x"]], dtype=float)
                y = np.array([np.nan if v is None else v for v in t["y"]], dtype=float)
                color = t.get("line", t.get("marker", {})).get("color")
                style = "o" if t.get("mode") == "markers" else "-"
                ax.plot(x, y, style, color=color, label=t.get("name") if t.get("showlegend", True) else None,
                        lw=1.2, ms=4)
            lay_x, lay_y = self.layout.get(key, {}), self.layout.get(ykey, {})
            ax.set_xscale("log" if lay_x.get("type") == "log" else "linear")
            ax.set_yscale("log" if lay_y.get("type") == "log" else "linear")
            ax.set_xlabel(lay_x.get("title", {}).get("text", ""))
            ax.set_ylabel(lay_y.get("title", {}).get("text", ""))
            if lay_y.get("scaleanchor"):
                ax.set_aspect("equal")
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=7)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=80, metadata={"Software": None})
        return buf.getvalue()

    def to_html(self) -> str:
        spec = json.dumps(self.spec(), separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
        png = base64.b64encode(self.fallback_png()).decode()
        alt = html.escape(self.alt)
        return (f'<div class="stelib-interactive" id="ix-{self.name}" data-name="{self.name}">'
                f'<div class="stelib-interactive-plot" role="img" aria-label="{alt}" '
                f'style="height:{int(self.layout.get("height", 460))}px"></div>'
                f'<img class="stelib-interactive-fallback" alt="{alt}" '
                f'src="data:image/png;base64,{png}"/>'
                f'<script type="application/json" class="stelib-interactive-spec">{spec}</script>'
                f"<script>{_INIT}</script></div>")

    def _repr_html_(self) -> str:
        return self.to_html()


# Draw the figure once plotly.js is there (the page loads it from _static in <head>); the
# static fallback stays when it is not (no JavaScript, or a notebook outside the book).
_INIT = ("(function(){var f=document.currentScript.parentElement;function go(){if(!window.Plotly)"
         "return;var s=JSON.parse(f.querySelector('.stelib-interactive-spec').textContent);"
         "Plotly.newPlot(f.querySelector('.stelib-interactive-plot'),s.data,s.layout,"
         "{responsive:true,displaylogo:false}).then(function(){f.classList.add('stelib-js')});}"
         "if(window.Plotly)go();else window.addEventListener('load',go);})();")


def _slider(prefix: str, labels: Sequence[str], args: list, *, method: str = "restyle",
            active: int = 0, y: float = -0.18) -> dict:
    return {"active": active, "currentvalue": {"prefix": prefix}, "pad": {"t": 30}, "y": y,
            "steps": [{"label": lab, "method": method, "args": a} for lab, a in zip(labels, args, strict=True)]}


def _layout(title: str, **kw) -> dict:
    return {"title": {"text": title}, "height": 460, "margin": {"l": 60, "r": 20, "t": 50, "b": 40},
            "legend": {"orientation": "h", "y": 1.12}, "template": None, "autosize": True, **kw}


# ------------------------------------------------------------------------------ builders


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


def cgd_runs(lrs: Sequence[float] = (0.02, 0.05, 0.1, 0.2, 0.4, 0.8), *, steps: int = 300,
             a: Sequence[float] = (1.0, 0.0), w0: Sequence[float] = (0.6, 0.8),
             record: int = 60) -> InteractiveFigure:
    """Population coarse gradient descent in the linear-teacher example from ``w0`` (``v0`` at
    its optimum), one run per STE and learning rate: ``|w_t|`` and the angle of ``w_t`` to the
    minimising ray. A slider over the learning rate, one over the step (a marker per run)."""
    from stelib.core import misspecified as ms
    from stelib.core.train import population_cgd

    lrs = _grid(lrs, name="lrs", positive=True, maximum=24)
    steps = int(steps)
    if not 2 <= steps <= 5000 or not 2 <= int(record) <= steps:
        raise ValueError(f"need 2 <= record <= steps <= 5000, got steps={steps}, record={record}")
    a_t, w_t = torch.as_tensor(a, dtype=torch.float64, device="cpu"), torch.as_tensor(w0, dtype=torch.float64, device="cpu")
    model = ms.LinearTeacherModel(a_t)
    every = max(1, steps // int(record))
    runs = [(s, float(lr)) for lr in lrs for s in STES]
    R = len(runs)
    v0 = ms.optimal_v(w_t, a_t).reshape(1, 1).expand(R, 1).clone()
    hist = population_cgd(model, v0, w_t.reshape(1, -1).expand(R, -1).clone(),
                          ste=tuple(s for s, _ in runs), lr=torch.tensor([lr for _, lr in runs], device="cpu"),
                          steps=steps, record_every=every, on_divergence="mark")
    t = _num(hist.steps)
    norm = hist.w_norm.numpy()
    theta = np.degrees(hist.theta.numpy())
    theta = np.minimum(theta, 180 - theta)  # the angle to the nearer of the rays +-a

    def run(lr_i: int, ste: str) -> int:
        return lr_i * len(STES) + STES.index(ste)

    active = min(2, len(lrs) - 1)
    data = []
    for ste in STES:
        i = run(active, ste)
        data.append({"type": "scatter", "mode": "lines", "x": t, "y": _num(norm[:, i]), "name": ste,
                     "line": {"color": COLORS[ste]}})
    for ste in STES:
        i = run(active, ste)
        data.append({"type": "scatter", "mode": "lines", "x": t, "y": _num(theta[:, i]), "name": ste,
                     "xaxis": "x2", "yaxis": "y2", "showlegend": False, "line": {"color": COLORS[ste]}})
    lr_steps = []
    for li in range(len(lrs)):
        cols = [run(li, s) for s in STES]
        lr_steps.append([{"y": [_num(norm[:, i]) for i in cols] + [_num(theta[:, i]) for i in cols]},
                         list(range(6))])
    step_args = [[{"shapes[0].x0": s, "shapes[0].x1": s, "shapes[1].x0": s, "shapes[1].x1": s}]
                 for s in t]
    shapes = [{"type": "line", "xref": xr, "yref": f"{yr} domain", "x0": t[-1], "x1": t[-1],
               "y0": 0, "y1": 1, "line": {"color": "black", "width": 1, "dash": "dot"}}
              for xr, yr in (("x", "y"), ("x2", "y2"))]
    layout = _layout("Coarse gradient descent: |w| runs off for identity and ReLU, settles for cReLU",
                     xaxis={"domain": [0, 0.47], "title": {"text": "step t"}},
                     yaxis={"type": "log", "title": {"text": "|w_t|"}},
                     xaxis2={"domain": [0.55, 1], "title": {"text": "step t"}, "anchor": "y2"},
                     yaxis2={"anchor": "x2", "title": {"text": "angle to the ray (degrees)"}},
                     shapes=shapes,
                     sliders=[_slider("learning rate = ", [f"{lr:g}" for lr in lrs], lr_steps,
                                      active=active, y=-0.16),
                              _slider("step t = ", [f"{int(s)}" for s in t], step_args,
                                      method="relayout", active=len(t) - 1, y=-0.42)])
    layout["height"] = 560
    layout["margin"]["b"] = 150
    return InteractiveFigure("cgd-runs", data, layout,
                             "Norm of w and its angle to the minimising ray over the steps of "
                             "coarse gradient descent for the identity, ReLU and clipped-ReLU "
                             "STEs, with sliders over the learning rate and the step.")


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
