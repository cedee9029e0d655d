"""Shared figure helpers: one STE palette for the whole book, and a house style.

Every chapter colours an STE the same way (:data:`STE_COLORS`, via :func:`ste_color`), labels
it the same way (:func:`ste_label`), and starts its figures with :func:`style`. Colours are
from the Okabe-Ito palette, which stays distinguishable under the common colour-vision
deficiencies; the true (binary-step) quantities are drawn in black.

Example
-------
>>> import matplotlib
>>> matplotlib.use("Agg")
>>> fig, ax = figure()
>>> _ = ax.plot([0, 1], [0, 1], color=ste_color("crelu"), label=ste_label("crelu"))
"""

from __future__ import annotations

import matplotlib as mpl
import matplotlib.pyplot as plt

from stelib.core.ste import check_ste, names

__all__ = ["EXTRA_COLORS", "STE_COLORS", "STE_LABELS", "TRUE_COLOR", "figure", "ste_color", "ste_label", "style"]

STE_COLORS: dict[str, str] = {
    "identity": "#0072B2",  # blue
    "relu": "#E69F00",  # orange
    "crelu": "#009E73",  # bluish green
    "hardtanh": "#D55E00",  # vermillion
    "approxsign": "#CC79A7",  # reddish purple
    "sigmoid": "#56B4E9",  # sky blue
}
STE_LABELS: dict[str, str] = {"identity": "identity", "relu": "ReLU", "crelu": "clipped ReLU",
                              "hardtanh": "hardtanh", "approxsign": "ApproxSign", "sigmoid": "sigmoid"}
# STEs registered by a reader: greys and a dark yellow, in order of registration
EXTRA_COLORS: tuple[str, ...] = ("#666666", "#B8A000", "#999999", "#333333")
TRUE_COLOR = "#000000"

STYLE: dict[str, object] = {
    "figure.figsize": (6.4, 3.6),
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
    "font.size": 10,
    "lines.linewidth": 2.0,
    "svg.hashsalt": "stelib",  # deterministic ids if a figure is ever saved as SVG
}


def ste_color(ste: str) -> str:
    """The colour of ``ste`` in every figure of the book (``ValueError`` for unknown names)."""
    if check_ste(ste) in STE_COLORS:
        return STE_COLORS[ste]
    extra = [s for s in names() if s not in STE_COLORS]
    return EXTRA_COLORS[extra.index(ste) % len(EXTRA_COLORS)]


def ste_label(ste: str) -> str:
    """Legend label of ``ste``: ``identity``, ``ReLU``, ``clipped ReLU``, ... or the registered name."""
    return STE_LABELS.get(check_ste(ste), ste)


def style() -> None:
    """Apply the book's matplotlib style (call once, in a chapter's imports cell)."""
    mpl.rcParams.update(STYLE)


def figure(ncols: int = 1, *, width: float | None = None, height: float = 3.2, **kw):
    """``plt.subplots(1, ncols)`` in the book's style, sized for a page; returns (fig, axes)."""
    style()
    width = width if width is not None else min(4.0 * ncols, 10.0)
    return plt.subplots(1, ncols, figsize=(width, height), layout="constrained", **kw)
