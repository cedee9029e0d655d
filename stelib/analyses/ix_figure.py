r"""The container of the book's interactive figures, and what their builders share.

An :class:`InteractiveFigure` is a plotly.js figure specification (data, layout, sliders whose
steps carry data precomputed on a grid, so no kernel is needed), alt text, and a static PNG
fallback drawn by matplotlib from the same data. In a notebook its HTML output is a ``div``
that ``plotly.min.js`` fills in; the book ships that file under ``_static`` (copied by
:mod:`stelib.book` from the installed ``plotly`` package, MIT licence) and adds it only to
pages holding such a figure (:mod:`stelib.sphinxext`), so pages work from a plain ``file://``
copy with no network. Without JavaScript, and in print, the PNG is shown instead.

For the builders of the chapters' figures (:mod:`stelib.interactive` gathers them): the STE
colours, ``_num`` (numbers kept to the 4 significant digits a reader sees, and only to the
digits the computation determines), ``_grid`` (a slider's values, checked), ``_slider`` and
``_layout`` (the plotly.js pieces every figure repeats).

Example
-------
>>> fig = InteractiveFigure("demo", [{"type": "scatter", "x": [0, 1], "y": [1, 0]}],
...                         _layout("A falling line"), "A straight line falling from one to zero.")
>>> fig, _num([1 / 3, float("nan"), 1e-13, 2.0])
(<InteractiveFigure demo: 1 traces, 0 slider(s)>, [0.3333, None, 0.0, 2.0])
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

from stelib.core.rounding import FLOOR, significant

__all__ = ["InteractiveFigure"]

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
