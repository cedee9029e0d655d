r"""Two STEs judged with the spread over seeds, and three ranked (chapter *Practice on real data*).

A seed's run is one draw: our STEs are compared by their mean and standard deviation over seeds
(:func:`stats_of`, the last record of a :class:`~stelib.practice.PracticeResult`), and a
difference inside the spread is a tie, the analogue of Yin et al.'s "comparable":

* :func:`judge` -- ``">"``, ``"<"`` or ``"="`` (the intervals mean +- sd overlap);
* :func:`ordering` -- the STEs best first, ``>`` or ``=`` between neighbours, ending in ``*``
  where the chain misstates a pair of non-neighbours, which :func:`ordering_notes` names;
* :func:`pair_counts` -- how often one STE is ahead of, tied with or behind another over all
  architectures, bit widths and both metrics (section "Without normalisation: the scale
  symmetry at work", prop-practice-scale);
* :func:`judged_pairs` -- every pair of STEs judged twice: with the spread (:func:`judge`) and
  seed by seed (the STEs of one seed share its initialisation and mini-batch order), and
  :func:`pair_changes` and :func:`moved_pairs`, how many of the spread's readings move from one
  set of runs to another and which (section "Yin et al.'s recipe at their epoch budget (stored
  runs)" and its exercise ex-practice-rerun).

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

__all__ = ["judge", "judged_pairs", "moved_pairs", "ordering", "ordering_notes", "pair_changes", "pair_counts",
           "stats_of"]

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


#: columns of :func:`judged_pairs`
PAIR_FRAME_COLUMNS = ("arch", "bits", "metric", "a", "b", "spread", "a_ahead", "b_ahead", "seeds", "every_seed")


def judged_pairs(results: dict):
    """One row per (architecture, bits, metric, pair ``a``, ``b`` of STEs, in the order of the
    run's STEs) of ``results`` (``{arch: result}``, each with ``bits``, ``stes``, ``seeds`` and
    per-seed records ``train_loss``, ``test_accuracy`` indexed ``[bits, ste, seed, record]``):

    * ``spread`` -- :func:`judge` of a against b on mean and sd over seeds (``">"``: a better);
    * ``a_ahead``, ``b_ahead`` -- the seeds in which a (b) is better in the last record (equal
      values count for neither), out of ``seeds``;
    * ``every_seed`` -- ``">"`` when a is better in every seed, ``"<"`` when b is, else ``"="``.
      A paired reading: with two STEs whose per-seed results are exchangeable, one of them is
      ahead in all n seeds with probability at most 2^(1 - n) (1/16 for 5 seeds).

    Example
    -------
    >>> import torch
    >>> from stelib.stored import StoredRuns
    >>> loss = torch.tensor([[[[1.0], [2.0], [3.0]], [[1.5], [2.5], [3.5]]]])  # 1 bit width, 2 STEs
    >>> r = StoredRuns("mlp", (2,), ("relu", "crelu"), (0, 1, 2), loss, torch.full((1, 2, 3, 1), 0.5), {})
    >>> judged_pairs({"mlp": r})[["metric", "spread", "a_ahead", "b_ahead", "every_seed"]]
              metric spread  a_ahead  b_ahead every_seed
    0     train_loss      =        3        0          >
    1  test_accuracy      =        0        0          =
    """
    import pandas as pd

    if not isinstance(results, dict):
        raise ValueError(f"results={results!r} must be a dict {{architecture: result}}")
    for arch, r in results.items():
        lacks = [f for f in ("bits", "stes", "seeds", *METRICS) if not hasattr(r, f)]
        if lacks:
            raise ValueError(f"results[{arch!r}]={r!r} must be a practice result or StoredRuns; "
                             f"it lacks {lacks}")
    rows = []
    for arch, r in results.items():
        for metric, hb in METRICS.items():
            x = getattr(r, metric)[..., -1]  # (bits, stes, seeds): the last record
            st = stats_of(r, metric)
            for i, b in enumerate(r.bits):
                for (j, a), (k, c) in combinations(enumerate(r.stes), 2):
                    d = (x[i, j] - x[i, k]) * (1 if hb else -1)  # > 0: a better in that seed
                    up, down, n = int((d > 0).sum()), int((d < 0).sum()), int(d.numel())
                    rows.append({"arch": arch, "bits": b, "metric": metric, "a": a, "b": c,
                                 "spread": judge(*st[b][a], *st[b][c], higher_better=hb),
                                 "a_ahead": up, "b_ahead": down, "seeds": n,
                                 "every_seed": ">" if up == n else "<" if down == n else "="})
    return pd.DataFrame(rows, columns=PAIR_FRAME_COLUMNS)


def pair_changes(before, after) -> dict[str, int]:
    """How the spread's reading (column ``spread``) of each pair moves between two
    :func:`judged_pairs` frames, over the pairs both hold (matched on architecture, bits,
    metric and the two STEs): ``pairs`` compared, ``strict_before`` and ``strict_after`` (pairs
    separated beyond the spread), ``tie_to_strict``, ``strict_to_tie``, ``reversed`` (strict
    both times, the other way round) and ``kept`` (the same reading)."""
    m = _merged(before, after)
    s0, s1 = m["spread_0"], m["spread_1"]
    return {"pairs": len(m), "strict_before": int((s0 != "=").sum()), "strict_after": int((s1 != "=").sum()),
            "tie_to_strict": int(((s0 == "=") & (s1 != "=")).sum()),
            "strict_to_tie": int(((s0 != "=") & (s1 == "=")).sum()),
            "reversed": int(((s0 != "=") & (s1 != "=") & (s0 != s1)).sum()), "kept": int((s0 == s1).sum())}


_PAIR_KEYS = ["arch", "bits", "metric", "a", "b"]


def _merged(before, after):
    """The pairs both :func:`judged_pairs` frames hold, with their readings ``spread_0`` (before)
    and ``spread_1`` (after), in the order of ``before``."""
    for name, frame in (("before", before), ("after", after)):
        missing = [c for c in [*_PAIR_KEYS, "spread"] if c not in getattr(frame, "columns", ())]
        if missing:
            raise ValueError(f"{name}: not a judged_pairs frame, it lacks the columns {missing}")
    cols = [*_PAIR_KEYS, "spread"]
    return before[cols].merge(after[cols], on=_PAIR_KEYS, suffixes=("_0", "_1"))


def moved_pairs(before, after, *, labels=("before", "after")):
    """The pairs of :func:`pair_changes` whose reading by the spread moves, one row each, in the
    order of ``before``: the pair (``arch``, ``bits``, ``metric``, ``a``, ``b``), its reading
    before and after (columns named by ``labels``) and ``change``: ``"tie to strict"``,
    ``"strict to tie"`` or ``"reversed"``. No row when nothing moves.

    Example
    -------
    >>> import pandas as pd
    >>> keys = dict(arch="mlp", bits=2, metric="train_loss")
    >>> before = pd.DataFrame([{**keys, "a": "relu", "b": "crelu", "spread": "<"},
    ...                        {**keys, "a": "relu", "b": "identity", "spread": ">"}])
    >>> after = before.assign(spread=["=", ">"])
    >>> moved_pairs(before, after, labels=("preview", "stored"))
      arch  bits      metric     a      b preview stored         change
    0  mlp     2  train_loss  relu  crelu       <      =  strict to tie
    """
    if (len(labels) != 2 or not all(isinstance(x, str) for x in labels) or labels[0] == labels[1]
            or set(labels) & {*_PAIR_KEYS, "change"}):
        raise ValueError(f"labels={labels!r} must be two different strings (for before and after), "
                         f"none of {[*_PAIR_KEYS, 'change']}")
    m = _merged(before, after)
    m = m[m["spread_0"] != m["spread_1"]].reset_index(drop=True)
    change = ["tie to strict" if s0 == "=" else "strict to tie" if s1 == "=" else "reversed"
              for s0, s1 in zip(m["spread_0"], m["spread_1"], strict=True)]
    return m.rename(columns={"spread_0": labels[0], "spread_1": labels[1]}).assign(change=change)
