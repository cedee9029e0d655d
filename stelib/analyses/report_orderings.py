r"""Two STEs judged with the spread over seeds, and three ranked (chapter *Practice on real data*).

A seed's run is one draw: our STEs are compared by their mean and standard deviation over seeds
(:func:`stats_of`, the last record of a :class:`~stelib.practice.PracticeResult`), and a
difference inside the spread is a tie, the analogue of Yin et al.'s "comparable":

* :func:`judge` -- ``">"``, ``"<"`` or ``"="`` (the intervals mean +- sd overlap);
* :func:`ordering` -- the STEs best first, ``>`` or ``=`` between neighbours, ending in ``*``
  where the chain misstates a pair of non-neighbours, which :func:`ordering_notes` names;
* :func:`pair_counts` -- how often one STE is ahead of, tied with or behind another over all
  architectures, bit widths and both metrics (section "Without normalisation: the scale
  symmetry at work", prop-practice-scale).

Example
-------
>>> acc = {"crelu": (0.90, 0.01), "relu": (0.85, 0.06), "identity": (0.80, 0.01)}
>>> judge(*acc["crelu"], *acc["relu"], higher_better=True), ordering(acc, higher_better=True)
('=', 'crelu = relu = identity *')
>>> ordering_notes(acc, higher_better=True)   # ties are not transitive
['crelu > identity']
"""

from __future__ import annotations

from itertools import combinations

from stelib.core._validate import check_choice, check_real

__all__ = ["judge", "ordering", "ordering_notes", "pair_counts", "stats_of"]

METRICS = {"train_loss": False, "test_accuracy": True}  # metric -> higher is better


def judge(mean_a: float, sd_a: float, mean_b: float, sd_b: float, *, higher_better: bool) -> str:
    """``">"`` if a is better than b beyond the spread, ``"<"`` if worse, ``"="`` if the intervals
    mean +- sd overlap (a tie). With sd = 0 (one seed, or Yin's single numbers) it is the plain
    comparison of the means (equal means: a tie). ``ValueError`` for a negative or NaN sd."""
    for name, sd in (("sd_a", sd_a), ("sd_b", sd_b)):
        check_real(sd, name=name, low=0.0)
    lo_a, hi_a, lo_b, hi_b = mean_a - sd_a, mean_a + sd_a, mean_b - sd_b, mean_b + sd_b
    if lo_a <= hi_b and lo_b <= hi_a:
        return "="
    return ">" if (mean_a > mean_b) == higher_better else "<"


def _pairs(stats: dict[str, tuple[float, float]], higher_better: bool) -> dict[tuple[str, str], str]:
    return {(a, b): judge(*stats[a], *stats[b], higher_better=higher_better) for a, b in combinations(stats, 2)}


def ordering(stats: dict[str, tuple[float, float]], *, higher_better: bool) -> str:
    """STEs ranked best first by their mean, e.g. ``"crelu > relu = identity"``: between neighbours
    ``>`` when :func:`judge` separates them, ``=`` when it calls them a tie. Ties are not
    transitive, so a chain can misstate a pair that are not neighbours (``"a = b = c"`` with
    ``a > c``, or ``"a > b = c"`` with ``a = c``); then the string ends in ``" *"`` and
    :func:`ordering_notes` names those pairs."""
    ranked = sorted(stats, key=lambda s: stats[s][0], reverse=higher_better)
    out = ranked[0]
    for a, b in zip(ranked[:-1], ranked[1:], strict=True):
        out += f" {'=' if judge(*stats[a], *stats[b], higher_better=higher_better) == '=' else '>'} {b}"
    return out + (" *" if ordering_notes(stats, higher_better=higher_better) else "")


def ordering_notes(stats: dict[str, tuple[float, float]], *, higher_better: bool) -> list[str]:
    """The pairs of non-neighbours whose relation the chain of :func:`ordering` misstates, e.g.
    ``["crelu > identity"]`` for ``"crelu = relu = identity *"``: the chain implies ``>`` between
    two STEs when a ``>`` lies between them, ``=`` otherwise, and :func:`judge` says otherwise."""
    ranked = sorted(stats, key=lambda s: stats[s][0], reverse=higher_better)
    rel = [judge(*stats[a], *stats[b], higher_better=higher_better) for a, b in zip(ranked[:-1], ranked[1:], strict=True)]
    notes = []
    for i, j in combinations(range(len(ranked)), 2):
        if j == i + 1:
            continue
        implied = ">" if ">" in rel[i:j] else "="
        actual = "=" if judge(*stats[ranked[i]], *stats[ranked[j]], higher_better=higher_better) == "=" else ">"
        if actual != implied:
            notes.append(f"{ranked[i]} {actual} {ranked[j]}")
    return notes


def stats_of(result, metric: str) -> dict[int, dict[str, tuple[float, float]]]:
    """``{bits: {ste: (mean, sd)}}`` of the last record over seeds (accuracy in [0, 1])."""
    mean, sd = result.final(check_choice(metric, tuple(METRICS), name="metric"))
    return {b: {s: (float(mean[i, j]), float(sd[i, j])) for j, s in enumerate(result.stes)}
            for i, b in enumerate(result.bits)}


def pair_counts(results: dict, a: str, b: str) -> dict[str, int]:
    """How often ``a`` is ahead of (``">"``), tied with (``"="``) or behind (``"<"``) ``b`` over the
    architectures, bit widths and both metrics of ``results`` (:func:`judge` with the spread)."""
    out = {">": 0, "=": 0, "<": 0}
    for r in results.values():
        for metric, hb in METRICS.items():
            for st in stats_of(r, metric).values():
                out[judge(*st[a], *st[b], higher_better=hb)] += 1
    return out
