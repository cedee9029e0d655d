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
           "perturbation_reading", "population_reading", "run_endings", "stream_reading"]


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


# --- what the runs show, in the words the chapter glues ------------------------------------------

def perturbation_reading(shares: dict[str, float], samples: int) -> str:
    """The sentence on :func:`stelib.yin_landscape.perturbation_share` at the spurious minimum and
    the saddle (``shares``: point -> share of ``samples`` perturbations that lower the loss)."""
    sp, sad = shares["spurious"], shares["saddle"]
    first = (f"None of the {samples} sampled perturbations lowers the loss at the spurious minimum" if sp == 0 else
             f"{sp:.1%} of the {samples} perturbations lower the loss at the spurious minimum (a"
             " perturbation of this size can leave its basin)")
    second = (f"while {sad:.1%} of them do at the saddle" if sad > 0 else
              "and none does at the saddle either: its descent directions are too few to be hit"
              " by this sample")
    return f"{first}, {second}"


def _share(rows, ste: str, key: str) -> float:
    return next(r[key] for r in rows if r["ste"] == ste)


def population_reading(rows, others, sides, *, window: int) -> dict[str, str]:
    """What the population sweep shows, as phrases the chapter glues (section "Population coarse
    gradient descent from random starts"): ``pair`` (where ReLU and clipped ReLU end),
    ``identity`` (whether identity runs end at the spurious minimum and what its "other" runs
    do), ``smallest`` (which STE ends at the smallest median |w|) and ``sides`` (whether the
    spurious minimum is reached from both sides of the saddle angle). ``rows``: the
    :func:`stelib.outcomes.outcome_table` of identity, relu and crelu; ``others``: their
    :func:`stelib.outcomes.other_runs` over the last ``window`` steps; ``sides``: their
    :func:`stelib.outcomes.start_sides`."""
    stes = [r["ste"] for r in rows]
    if sorted(stes) != ["crelu", "identity", "relu"]:
        raise ValueError(f"rows are of the STEs {stes}; the reading needs identity, relu and crelu")
    ends = [s for s in ("relu", "crelu") if _share(rows, s, "spurious") > 0]
    names = {"relu": "ReLU", "crelu": "clipped ReLU", "identity": "the identity"}
    pair = ("ReLU and clipped ReLU end at the spurious minimum in part of their runs" if len(ends) == 2 else
            f"Of ReLU and clipped ReLU only {names[ends[0]]} ends at the spurious minimum" if ends else
            "No ReLU or clipped-ReLU run ends at the spurious minimum")
    ident = ("no identity run ends there" if _share(rows, "identity", "spurious") == 0 else
             "identity runs end there too")
    other = next((o for o in others if o.ste == "identity"), None)
    w_id = _share(rows, "identity", "median_w_norm")
    if other is None:
        ident += ", and none is left in the class other"
    else:
        moves = ("keep jumping between the two sides of theta = pi/2" if other.both_sides == other.count
                 and other.switches[0] >= 2 else
                 f"include {other.both_sides} on both sides of theta = pi/2")
        close = ("they pass through or close to w = 0" if other.closest < 0.1 * w_id else
                 "they do not come close to w = 0")
        ident += (f"; its other {other.count} runs {moves} in the last {window} steps, with"
                  f" a median smallest recorded |w| of {fmt(other.closest, '.2g')} there against a"
                  f" median final |w| of {w_id:.3g} over all its runs: {close}")
    w = {s: _share(rows, s, "median_w_norm") for s in stes}
    low = min(w, key=w.get)
    smallest = (f"The clipped ReLU ends at the smallest median |w| ({w[low]:.3g})" if low == "crelu" else
                f"Not the clipped ReLU but {names[low]} ends at the smallest median |w| ({w[low]:.3g},"
                f" clipped ReLU {w['crelu']:.3g})")
    both = [s for s in ("relu", "crelu") if sides.above[s][0] > 0 and sides.below[s][0] > 0]
    side = (f"{' and '.join(names[s] for s in both)} runs reach the spurious minimum from both sides of"
            " it, so the starting angle alone does not decide where a run ends" if both else
            "no ReLU or clipped-ReLU run reaches the spurious minimum from both sides of it")
    return {"pair": pair, "identity": ident, "smallest": smallest, "sides": side[0].upper() + side[1:]}


def stream_reading(table, stes, batch_sizes) -> dict[str, str]:
    """What the mini-batch table shows about |w|, as phrases the chapter glues: ``drift`` (whether
    the median final |w| of every STE at every batch size is above its population value beyond
    the spread) and ``smaller`` (whether the clipped ReLU has the smallest median |w| at every
    batch size). ``table``: :func:`stelib.outcomes.stream_table` with the population row "inf"."""
    up = [table[B, s]["w_norm"][0] - table[B, s]["w_norm"][1] > table["inf", s]["w_norm"][0]
          for B in batch_sizes for s in stes]
    drift = ("|w| drifts upwards: at every batch size the median final |w| of every STE is above its"
             " population value, beyond the spread" if all(up) else
             f"|w| drifts upwards in {sum(up)} of the {len(up)} (batch size, STE) rows only, beyond"
             " the spread")
    least = [B for B in batch_sizes if "crelu" in stes and
             min(stes, key=lambda s: table[B, s]["w_norm"][0]) == "crelu"]
    smaller = ("the clipped-ReLU runs have the smallest median |w| at every batch size"
               if len(least) == len(batch_sizes) else
               f"the clipped-ReLU runs have the smallest median |w| at {len(least)} of the"
               f" {len(batch_sizes)} batch sizes")
    return {"drift": drift, "smaller": smaller}
