r"""Coarse gradient descent runs in Yin et al.'s Gaussian model (chapter *Yin et al.'s setting, reproduced*).

The chapter's runs, each summary a small frozen result whose ``str`` is the printed report:

- :func:`at_and_near`: starts at a point (a spurious minimum of :mod:`stelib.yin_landscape`)
  and near it, with every STE (section "Starting at and near a spurious minimum");
- :func:`run_endings`: where each run of a :class:`~stelib.train.History` ends;
- :func:`angle_progress`: how fast the runs turn :math:`w` towards :math:`w^*` (section
  "Population versus mini-batch coarse gradient descent");
- :func:`batch_tags`: the names under which that section glues a batch size's numbers;
  :func:`at_batch_sizes`: the batch sizes where one of its verdicts holds, as words.

How runs end is classified in :mod:`stelib.outcomes`.

Example
-------
>>> import torch
>>> v0, w0, stes = at_and_near([1.0, 0.5], [1.0, 0.0, 0.0], size=0.1, stes=("relu", "crelu"),
...                            generator=torch.Generator().manual_seed(0))
>>> tuple(v0.shape), tuple(w0.shape), stes
((4, 2), (4, 3), ('relu', 'crelu', 'relu', 'crelu'))
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from stelib.analyses.outcomes import at_angle
from stelib.analyses.yin_landscape import DTYPE, _generator, _model, _stes
from stelib.core import gaussian
from stelib.core._validate import as_tensor, check_positive, check_positive_int
from stelib.core.rounding import fmt
from stelib.core.ste import check_ste

__all__ = ["AngleProgress", "RunEndings", "angle_progress", "at_and_near", "at_batch_sizes", "batch_tags",
           "run_endings"]


def batch_tags(B, batch_sizes: Sequence[int]) -> tuple[str, ...]:
    """The tags under which the chapter glues the numbers of batch size ``B``: ``str(B)``, and
    ``"small"`` / ``"large"`` when ``B`` is the smallest / largest of ``batch_sizes``, so that
    the prose can name the ends of any ``batch_sizes`` a rerun gives. ``B`` must be one of
    ``batch_sizes``."""
    sizes = list(batch_sizes)
    if B not in sizes:
        raise ValueError(f"B={B!r} must be one of batch_sizes={sizes}")
    return (str(B),) + (("small",) if B == min(sizes) else ()) + (("large",) if B == max(sizes) else ())


def at_batch_sizes(chosen: Sequence[int], batch_sizes: Sequence[int]) -> str:
    """Where a verdict of the mini-batch section holds, for the prose: ``"at every batch size"``,
    ``"at no batch size"``, or ``"only at B = 4"`` / ``"only at B = 1 and 8"`` (increasing).
    ``chosen`` must be a subset of ``batch_sizes``."""
    sizes = sorted(set(batch_sizes))
    picked = sorted(set(chosen))
    if not sizes:
        raise ValueError(f"batch_sizes={list(batch_sizes)!r} is empty; need at least one batch size")
    if not set(picked) <= set(sizes):
        raise ValueError(f"chosen={list(chosen)!r} must be a subset of batch_sizes={list(batch_sizes)!r}")
    if picked == sizes:
        return "at every batch size"
    if not picked:
        return "at no batch size"
    names = [str(B) for B in picked]
    return "only at B = " + (names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1])


def at_and_near(v, w, *, size: float, stes, generator: torch.Generator):
    r"""Starts at ``(v, w)`` and at :math:`(v + \epsilon\delta_v, w + \epsilon\delta_w)`
    (:math:`\epsilon` = ``size``, :math:`\delta_v` then :math:`\delta_w` drawn N(0, I) from
    ``generator``), each with every STE: ``(v0 (2k, m), w0 (2k, n), ste tuple)``, first the k
    runs at the point, then the k near it."""
    stes = _stes(stes)
    size = check_positive(size, name="size")
    gen = _generator(generator)
    v = as_tensor(v, name="v", ndim=1, dtype=DTYPE)
    w = as_tensor(w, name="w", ndim=1, dtype=DTYPE)
    v_near = v + size * torch.randn(v.shape[0], generator=gen, dtype=DTYPE, device=gen.device)
    w_near = w + size * torch.randn(w.shape[0], generator=gen, dtype=DTYPE, device=gen.device)
    k = len(stes)
    return (torch.cat([v.expand(k, -1), v_near.expand(k, -1)]),
            torch.cat([w.expand(k, -1), w_near.expand(k, -1)]), stes * 2)


@dataclass(frozen=True)
class RunEndings:
    """Per run: its label, STE, final theta, |w|, loss, |g| and the smallest theta on the way."""

    label: tuple[str, ...]
    ste: tuple[str, ...]
    theta: tuple[float, ...]
    w_norm: tuple[float, ...]
    loss: tuple[float, ...]
    grad_norm: tuple[float, ...]
    min_theta: tuple[float, ...]

    def __str__(self) -> str:
        lines = []
        for a, s, t, r, f, g, t0 in zip(self.label, self.ste, self.theta, self.w_norm,
                                        self.loss, self.grad_norm, self.min_theta, strict=True):
            head = f"{a:<4} {s:>8}: "  # the second line of a run starts under its first number
            lines += [f"{head}final theta {t:.4f}, |w| {r:.4f}, loss {f:.4f}, |g| {fmt(g, '.2e')},",
                      f"{'':{len(head)}}smallest theta on the way {t0:.4f}"]
        return "\n".join(lines)


def run_endings(history, labels: Sequence[str]) -> RunEndings:
    """Where each run of ``history`` ends, with one label per run (e.g. "at", "near")."""
    labels = tuple(labels)
    if len(labels) != history.runs:
        raise ValueError(f"labels has {len(labels)} entries; history has {history.runs} runs")
    last = (history.theta[-1], history.w_norm[-1], history.loss[-1], history.grad_norm[-1],
            history.theta.min(0).values)
    return RunEndings(labels, tuple(history.ste), *(tuple(x.tolist()) for x in last))


@dataclass(frozen=True)
class AngleProgress:
    """Median theta at some steps, median |w| at the first, and the turn rate at that |w|."""

    ste: str
    steps: tuple[int, ...]
    theta: tuple[float, ...]
    w_norm: float
    turn: float

    def __str__(self) -> str:
        st = ", ".join(map(str, self.steps))
        th = ", ".join(f"{t:.2f}" for t in self.theta)
        return (f"{self.ste:>8}: median theta at steps {st}: {th};\n{'':10}median |w| at step "
                f"{self.steps[0]}: {self.w_norm:.1f}; turn rate there at theta = pi/4: "
                f"{self.turn:.4f}")


def angle_progress(history, model, ste: str, *, at: Sequence[int]) -> AngleProgress:
    r"""How fast the runs of ``ste`` turn :math:`w` towards :math:`w^*`: the median
    :math:`\theta` at the first records at or after each step in ``at``, the median :math:`|w|`
    :math:`r` at the first, and the angle turned per unit step there at :math:`\theta = \pi/4`
    with the best :math:`v` (:func:`stelib.gaussian.optimal_v`):
    :math:`|\mathbb{E}g - (\mathbb{E}g^\top w)\,w/r^2|/r`."""
    model, ste = _model(model), check_ste(ste)
    at = tuple(check_positive_int(a, name="at", minimum=0) for a in at)
    if not at or max(at) > int(history.steps[-1]):
        raise ValueError(f"at={at} must be non-empty steps <= the last recorded step "
                         f"{int(history.steps[-1])}")
    rec = [int(torch.nonzero(history.steps >= a)[0]) for a in at]
    i = history.select(ste)
    theta = tuple(history.theta[k, i].median().item() for k in rec)
    r = history.w_norm[rec[0], i].median().item()
    w = at_angle(model.w_star, math.pi / 4, r)
    g = model.expected_coarse_grad(gaussian.optimal_v(w, model.v_star, model.w_star), w, ste)
    turn = (g - (g @ w) * w / r**2).norm().item() / r
    return AngleProgress(ste, at, theta, r, turn)
