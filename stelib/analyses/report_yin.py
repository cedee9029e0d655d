r"""Yin et al.'s Table 1 and our orderings judged against it (chapter *Practice on real data*).

In the sections "Yin et al.'s recipe on the digits: a preview at a fraction of their epochs"
and "Yin et al.'s recipe at their epoch budget (stored runs)" the chapter asks whether the
orderings of the three STEs that Yin et al. (2019) report reappear in our runs:

* :func:`load_yin_table` -- their Table 1, all 18 cells (``data/yin2019_table1.csv``), checked
  against ``data/SHA256SUMS``; :func:`yin_stats`, one of its rows as ``{ste: (value, 0)}``;
* :func:`compare_with_yin` -- one of their rows against one of ours, pair by pair (agrees, a
  tie, strict where theirs are equal, reversed), and the row's verdict;
* :func:`yin_verdicts` and :func:`reference_verdicts` -- every ordering of ours against their
  two references, the shallow LeNet-5 and the deep networks (VGG-11 standing for ResNet-20:
  :func:`deep_networks_agree`), with :func:`all_ties`, :func:`orderings_of` (each ordering of
  ours once, whatever the number of references), :func:`matches_reference` (ours states every
  pair as theirs does, ties included: against LeNet-5, whose ReLU and clipped ReLU are a tie,
  the only way to match it, since no ordering of ours can *reappear* there), and
  :func:`verdict_text`, the verdicts as the chapter prints them;
* :func:`changed_verdicts`, :func:`verdict_changes` -- how many verdicts the numbers of the last
  recorded check of the stored runs would change.

Example
-------
>>> rows = load_yin_table()
>>> len(rows), deep_networks_agree(rows)
(18, True)
>>> ordering(yin_stats(rows, "LeNet-5", 2, "test_accuracy"), higher_better=True)
'relu > crelu > identity'
"""

from __future__ import annotations

import csv
import hashlib
import re
from pathlib import Path

from stelib.analyses.report_orderings import METRICS, _pairs, ordering, ordering_notes, stats_of
from stelib.core._validate import check_choice

__all__ = ["COMPARABLE", "REFERENCES", "YIN_TABLE", "all_ties", "changed_verdicts", "compare_with_yin",
           "deep_networks_agree", "load_yin_table", "matches_reference", "orderings_of", "reference_verdicts",
           "verdict_changes", "verdict_text", "yin_stats", "yin_verdicts"]

YIN_TABLE = "yin2019_table1.csv"


def load_yin_table(data_dir: str | Path | None = None) -> list[dict[str, object]]:
    """The 18 cells of Yin et al. (2019), Table 1 (``data/yin2019_table1.csv``), checked against
    ``data/SHA256SUMS``. Each row: ``dataset``, ``network``, ``bits`` (int), ``ste``,
    ``train_loss`` and ``val_accuracy_percent`` (floats). ``ValueError`` if the SHA-256 differs."""
    pkg = Path(__file__).resolve().parents[1]  # data/ of the checkout, or stelib/data in a wheel
    root = Path(data_dir) if data_dir is not None else next(
        (d for d in (pkg.parent / "data", pkg / "data") if (d / YIN_TABLE).is_file()), pkg / "data")
    raw = (root / YIN_TABLE).read_bytes()
    sums = dict(line.split()[::-1] for line in (root / "SHA256SUMS").read_text().splitlines() if line.strip())
    digest = hashlib.sha256(raw).hexdigest()
    if sums.get(YIN_TABLE) != digest:
        raise ValueError(f"{YIN_TABLE} has SHA-256 {digest}, SHA256SUMS records {sums.get(YIN_TABLE)}")
    rows = list(csv.DictReader(raw.decode().splitlines()))
    return [{**r, "bits": int(r["bits"]), "train_loss": float(r["train_loss"]),
             "val_accuracy_percent": float(r["val_accuracy_percent"])} for r in rows]


def yin_stats(rows, network: str, bits: int, metric: str) -> dict[str, tuple[float, float]]:
    """Yin's numbers of one row as ``{ste: (value, 0)}`` (accuracy in [0, 1], as ours)."""
    check_choice(metric, tuple(METRICS), name="metric")
    col = "train_loss" if metric == "train_loss" else "val_accuracy_percent"
    scale = 1.0 if metric == "train_loss" else 0.01
    out = {r["ste"]: (scale * r[col], 0.0) for r in rows if r["network"] == network and r["bits"] == bits}
    if len(out) != 3:
        raise ValueError(f"no complete row for network={network!r}, bits={bits!r} in Yin's table")
    return out


def compare_with_yin(ours: dict[str, tuple[float, float]], theirs: dict[str, tuple[float, float]], *,
                     metric: str) -> tuple[dict[tuple[str, str], str], str]:
    """Pair by pair: ``"agrees"`` (same strict relation), ``"tie"`` (ours within the spread),
    ``"strict where theirs are equal"`` (ours strict, theirs a tie) or ``"reversed"``; the verdict
    is ``"reappears"`` (all agree), ``"reappears up to ties"`` (none reversed) or ``"does not
    reappear"``. Against a reference with a tie no pair of that tie can agree, so the best verdict
    there is ``"reappears up to ties"``."""
    hb = METRICS[check_choice(metric, tuple(METRICS), name="metric")]
    stes = [s for s in theirs if s in ours]
    mine = _pairs({s: ours[s] for s in stes}, hb)
    yours = _pairs({s: theirs[s] for s in stes}, hb)
    res = {p: ("tie" if mine[p] == "=" else "agrees" if mine[p] == yours[p]
               else "reversed" if yours[p] != "=" else "strict where theirs are equal") for p in mine}
    verdict = ("reappears" if all(v == "agrees" for v in res.values())
               else "does not reappear" if "reversed" in res.values() else "reappears up to ties")
    return res, verdict


#: ``agree``, ``tie``, ``strict`` (ours strict where theirs tie) and ``reversed`` add up to the pairs compared
#: ``note``: the pairs of ours that the ``ours`` chain misstates (:func:`ordering_notes`), or ""
VERDICT_COLUMNS = ("yin_row", "metric", "arch", "yin", "ours", "agree", "tie", "strict", "reversed", "verdict",
                   "note", "left_out")
PAIR_COLUMNS = ("agree", "tie", "strict", "reversed")


def yin_verdicts(results: dict, rows=None, *, comparable=()):
    """For each of Yin's rows, each metric and each of our architectures run at the same bit
    width: their ordering, ours (judged with the spread), the pairs and the verdict, over the
    STEs both sides ran (a rerun with fewer STEs compares those; none with fewer than two). An
    STE with a run that diverged at that bit width is left out of the comparison (its final
    numbers are those of the stopped run) and named in the column ``left_out``.
    ``comparable``: ``(network, ste_a, ste_b)`` triples that Yin et al. call comparable; on
    their side those two STEs are a tie (both set to their mean)."""
    import pandas as pd

    rows = load_yin_table() if rows is None else rows
    out = []
    for net, b in dict.fromkeys((r["network"], r["bits"]) for r in rows):
        for metric in METRICS:
            theirs = yin_stats(rows, net, b, metric)
            for n, a, c in comparable:
                if n == net and a in theirs and c in theirs:
                    theirs[a] = theirs[c] = ((theirs[a][0] + theirs[c][0]) / 2, 0.0)
            for arch, res in results.items():
                st = stats_of(res, metric)
                common = [s for s in theirs if s in st.get(b, {})]  # a rerun may drop STEs
                gone = _diverged_in(res, b, common)  # a run that diverged has no final value
                common = [s for s in common if s not in gone]
                if len(common) < 2:  # no pair to compare
                    continue
                ours, ref = {s: st[b][s] for s in common}, {s: theirs[s] for s in common}
                pairs, verdict = compare_with_yin(ours, ref, metric=metric)
                out.append({"yin_row": f"{net} {b}-bit", "metric": metric, "arch": arch,
                            "yin": ordering(ref, higher_better=METRICS[metric]),
                            "ours": ordering(ours, higher_better=METRICS[metric]),
                            "agree": sum(v == "agrees" for v in pairs.values()),
                            "tie": sum(v == "tie" for v in pairs.values()),
                            "strict": sum(v == "strict where theirs are equal" for v in pairs.values()),
                            "reversed": sum(v == "reversed" for v in pairs.values()), "verdict": verdict,
                            "note": "; ".join(ordering_notes(ours, higher_better=METRICS[metric])),
                            "left_out": ", ".join(f"{s} ({k} of {len(res.seeds)} seeds)" for s, k in gone.items())})
    return pd.DataFrame(out, columns=VERDICT_COLUMNS)


def _diverged_in(res, bits: int, stes) -> dict[str, int]:
    """``{ste: seeds that diverged}`` for the STEs of ``stes`` with a diverged run at ``bits``."""
    if not stes:  # the run lacks this bit width or these STEs
        return {}
    i = list(res.bits).index(bits)
    counts = {s: int(res.diverged[i, list(res.stes).index(s)].sum()) for s in stes}
    return {s: k for s, k in counts.items() if k}


def all_ties(verdicts):
    """For each row of :func:`yin_verdicts`: True when every pair of our STEs is a tie (k STEs
    compared give k (k - 1) / 2 pairs; a rerun may compare fewer than three)."""
    k = verdicts["ours"].map(lambda s: len(re.split(r" [>=] ", s.removesuffix(" *"))))
    return verdicts["tie"] == k * (k - 1) // 2


def orderings_of(verdicts):
    """The rows of :func:`yin_verdicts` or :func:`reference_verdicts` with each ordering of ours
    once: the first row of every (bit width, metric, architecture), so that counts such as
    :func:`all_ties` are per ordering of ours, not per comparison with a reference."""
    _need(verdicts, ("yin_row", "metric", "arch"), "verdicts")
    bits = verdicts["yin_row"].map(lambda s: s.split()[-1])  # e.g. "2-bit"
    return verdicts[~verdicts.assign(_bits=bits).duplicated(["_bits", "metric", "arch"])]


def _need(frame, columns, name: str) -> None:
    missing = [c for c in columns if c not in getattr(frame, "columns", ())]
    if missing:
        raise ValueError(f"{name}: a frame of yin_verdicts is needed, it lacks the columns {missing}")


def _groups(chain: str) -> list[frozenset[str]]:
    return [frozenset(g.split(" = ")) for g in chain.split(" > ")]


def matches_reference(verdicts):
    """For each row of :func:`yin_verdicts`: True when our ordering states every pair as theirs
    does, ties included (the same STEs in the same ``>``-separated groups, and no ``*``, so that
    our chain states each pair as :func:`judge` reads it). Against a reference with a tie, such
    as their LeNet-5, a matching tie counts as ``tie``, not ``agree``, in the pair counts: no
    ordering of ours can *reappear* there, and this is the test of a match. A boolean Series on
    the index of ``verdicts`` (empty for a frame without rows)."""
    import pandas as pd

    _need(verdicts, ("yin", "ours"), "verdicts")
    same = [not ours.endswith(" *") and _groups(ours) == _groups(yin.removesuffix(" *"))
            for yin, ours in zip(verdicts["yin"], verdicts["ours"], strict=True)]
    return pd.Series(same, index=verdicts.index, dtype=bool)


#: Yin's networks as two references: their shallow LeNet-5 and their deep networks, VGG-11 standing
#: for ResNet-20 too (the two order the STEs alike in every cell: :func:`deep_networks_agree`)
REFERENCES = {"LeNet-5": "shallow", "VGG-11": "deep"}
#: on the shallow LeNet-5 Yin et al. find vanilla ReLU comparable to the clipped ReLU (their Section 4.1)
COMPARABLE = (("LeNet-5", "relu", "crelu"),)


def deep_networks_agree(rows=None) -> bool:
    """True when VGG-11 and ResNet-20 order the three STEs alike in every (bits, metric) cell."""
    rows = load_yin_table() if rows is None else rows
    return all(ordering(yin_stats(rows, "VGG-11", b, m), higher_better=hb)
               == ordering(yin_stats(rows, "ResNet-20", b, m), higher_better=hb)
               for b in sorted({r["bits"] for r in rows}) for m, hb in METRICS.items())


def reference_verdicts(results: dict, rows=None):
    """:func:`yin_verdicts` against the two :data:`REFERENCES`, so that each of our (network,
    bits, metric) orderings is counted once per reference, with LeNet-5's ReLU and clipped ReLU
    a tie on Yin's side (:data:`COMPARABLE`); ``yin_row`` reads e.g. "deep 2-bit"."""
    rows = load_yin_table() if rows is None else rows
    ver = yin_verdicts(results, [r for r in rows if r["network"] in REFERENCES], comparable=COMPARABLE)
    ver["yin_row"] = [f"{REFERENCES[s.split()[0]]} {s.split()[1]}" for s in ver["yin_row"]]
    return ver


def verdict_text(verdicts, *, pairs: bool = True) -> str:
    """:func:`reference_verdicts` as two tables: the orderings (``yin``, ``ours``; under it one line
    for each ``*`` ordering, naming the pairs its chain misstates) and, row by row, the pair
    counts (``pairs=False``: without them) and the verdict. Without rows (no bit width of the run
    in Yin et al.'s table, or fewer than two STEs in common) one line says so."""
    if len(verdicts) == 0:
        return ("no comparison: this run shares no bit width, or fewer than two STEs, with the rows of"
                " Yin et al.'s Table 1")
    ids = ["yin_row", "metric", "arch"]
    text = verdicts[ids + ["yin", "ours"]].to_string(index=False)
    for r in verdicts.itertuples():
        if r.note:
            text += f"\n* {r.yin_row} {r.metric} {r.arch}: {r.note}, beyond neighbours"
        if getattr(r, "left_out", ""):
            text += f"\n  {r.yin_row} {r.metric} {r.arch}: left out, diverged: {r.left_out}"
    cols = [c for c in verdicts.columns
            if c not in ("yin", "ours", "note", "left_out") and (pairs or c not in PAIR_COLUMNS)]
    return text + "\n\n" + verdicts[cols].to_string(index=False)


def changed_verdicts(verdicts, checked=None) -> int:
    """How many rows of :func:`reference_verdicts` change their ordering or verdict when the
    stored numbers are replaced by those of the last recorded check (``checked``: the same table
    computed from :func:`stelib.stored.checked_runs`; None, when no recorded check found a stored
    number different, changes none)."""
    if checked is None:
        return 0
    cols = ["yin_row", "metric", "arch", "ours", "verdict"]
    a, b = verdicts[cols].reset_index(drop=True), checked[cols].reset_index(drop=True)
    if len(a) != len(b) or not a[cols[:3]].equals(b[cols[:3]]):
        raise ValueError("checked: not the same comparisons as verdicts (rows or their order differ)")
    return int((a != b).any(axis=1).sum())


def verdict_changes(verdicts, checked=None) -> str:
    """:func:`changed_verdicts` as the chapter prints it."""
    if checked is None:
        return "no recorded check found a stored number different: nothing to compare"
    k = changed_verdicts(verdicts, checked)
    return f"with the last recorded check's numbers: {k} of the {len(verdicts)} orderings and verdicts change"
