r"""Reading the practice runs: long-form tables, orderings judged against the seed spread, Yin's Table 1.

* :func:`long_frame`, :func:`layer_frame` -- one row per (bits, STE, seed, epoch [, layer]) of a
  :class:`~stelib.practice.PracticeResult`, for seaborn;
* :func:`judge` -- the relation of two STEs on one metric: the better one when the intervals
  mean +- one standard deviation over seeds do not overlap, a tie (``"="``) when they do (the
  analogue of Yin et al.'s "comparable");
* :func:`ordering` -- the three STEs ranked, best first, with ``>`` or ``=`` between neighbours
  (marked ``*`` where that chain misstates a pair of non-neighbours: :func:`ordering_notes`);
* :func:`load_yin_table` -- Yin et al. (2019), Table 1, all 18 cells, checked against its SHA-256;
* :func:`compare_with_yin` -- for one of their rows and one of ours: pair by pair, whether our
  relation agrees with theirs, is a tie, is strict where theirs is a tie, or is reversed, and the
  row's verdict;
* :func:`start_summary` -- three lines on the full-precision networks the quantized ones start from;
* :func:`reference_verdicts` -- every ordering of ours against Yin's two references, the shallow
  LeNet-5 and the deep networks (VGG-11 = ResNet-20 in every cell, :func:`deep_networks_agree`),
  and :func:`verdict_text`, those verdicts as the chapter prints them;
* :func:`table_text` -- a frame as text with the digits a few seeds determine (means to 3
  significant digits, standard deviations to 2).
"""

from __future__ import annotations

import csv
import hashlib
import re
from itertools import combinations
from pathlib import Path

from stelib.core._validate import check_choice, check_real
from stelib.core.rounding import FLOOR, fmt

__all__ = ["COMPARABLE", "REFERENCES", "YIN_TABLE", "all_ties", "compare_with_yin", "deep_networks_agree", "judge", "layer_frame",
           "load_yin_table", "long_frame", "ordering", "ordering_notes", "reference_verdicts", "start_summary",
           "table_text", "changed_verdicts", "verdict_changes", "verdict_text"]

YIN_TABLE = "yin2019_table1.csv"
METRICS = {"train_loss": False, "test_accuracy": True}  # metric -> higher is better


def long_frame(result, **labels):
    """pandas DataFrame: labels..., bits, ste, seed, epoch, train_loss, test_accuracy (%), diverged."""
    import pandas as pd

    rows = []
    for i, b in enumerate(result.bits):
        for j, s in enumerate(result.stes):
            for k, sd in enumerate(result.seeds):
                for t in range(result.train_loss.shape[-1]):
                    rows.append({**labels, "bits": b, "ste": s, "seed": sd, "epoch": t,
                                 "train_loss": float(result.train_loss[i, j, k, t]),
                                 "test_accuracy": 100 * float(result.test_accuracy[i, j, k, t]),
                                 "diverged": bool(result.diverged[i, j, k])})
    return pd.DataFrame(rows)


def layer_frame(result, **labels):
    """pandas DataFrame per layer: labels..., bits, ste, seed, layer (1, 2, ...), epoch, inside (%),
    median_abs, weight_norm, gain_norm (NaN without a learnable gain)."""
    import pandas as pd

    rows = []
    nb, ns, nseed, nl, T = result.inside.shape
    for i, j, k, layer, t in ((i, j, k, layer, t) for i in range(nb) for j in range(ns) for k in range(nseed)
                              for layer in range(nl) for t in range(T)):
        g = result.gain_norms
        rows.append({**labels, "bits": result.bits[i], "ste": result.stes[j], "seed": result.seeds[k],
                     "layer": layer + 1, "epoch": t, "inside": 100 * float(result.inside[i, j, k, layer, t]),
                     "median_abs": float(result.median_abs[i, j, k, layer, t]),
                     "weight_norm": float(result.weight_norms[i, j, k, layer, t]),
                     "gain_norm": float("nan") if g is None else float(g[i, j, k, layer, t])})
    return pd.DataFrame(rows)


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


def stats_of(result, metric: str) -> dict[int, dict[str, tuple[float, float]]]:
    """``{bits: {ste: (mean, sd)}}`` of the last record over seeds (accuracy in [0, 1])."""
    mean, sd = result.final(check_choice(metric, tuple(METRICS), name="metric"))
    return {b: {s: (float(mean[i, j]), float(sd[i, j])) for j, s in enumerate(result.stes)}
            for i, b in enumerate(result.bits)}


def summary_frame(results: dict):
    """One row per (arch, bits, STE): final training loss and test accuracy (%), mean and sd over seeds."""
    import pandas as pd

    rows = []
    for arch, r in results.items():
        loss, acc = stats_of(r, "train_loss"), stats_of(r, "test_accuracy")
        for i, b in enumerate(r.bits):
            for j, s in enumerate(r.stes):
                rows.append({"arch": arch, "bits": b, "ste": s, "loss": loss[b][s][0], "loss_sd": loss[b][s][1],
                             "acc": 100 * acc[b][s][0], "acc_sd": 100 * acc[b][s][1],
                             "diverged": int(r.diverged[i, j].sum())})
    return pd.DataFrame(rows)


#: ``agree``, ``tie``, ``strict`` (ours strict where theirs tie) and ``reversed`` add up to the pairs compared
#: ``note``: the pairs of ours that the ``ours`` chain misstates (:func:`ordering_notes`), or ""
VERDICT_COLUMNS = ("yin_row", "metric", "arch", "yin", "ours", "agree", "tie", "strict", "reversed", "verdict",
                   "note")
PAIR_COLUMNS = ("agree", "tie", "strict", "reversed")


def yin_verdicts(results: dict, rows=None, *, comparable=()):
    """For each of Yin's rows, each metric and each of our architectures run at the same bit
    width: their ordering, ours (judged with the spread), the pairs and the verdict, over the
    STEs both sides ran (a rerun with fewer STEs compares those; none with fewer than two).
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
                            "note": "; ".join(ordering_notes(ours, higher_better=METRICS[metric]))})
    return pd.DataFrame(out, columns=VERDICT_COLUMNS)


def all_ties(verdicts):
    """For each row of :func:`yin_verdicts`: True when every pair of our STEs is a tie (k STEs
    compared give k (k - 1) / 2 pairs; a rerun may compare fewer than three)."""
    k = verdicts["ours"].map(lambda s: len(re.split(r" [>=] ", s.removesuffix(" *"))))
    return verdicts["tie"] == k * (k - 1) // 2


#: Yin's networks as two references: their shallow LeNet-5 and their deep networks, VGG-11 standing
#: for ResNet-20 too (the two order the STEs alike in every cell: :func:`deep_networks_agree`)
REFERENCES = {"LeNet-5": "shallow", "VGG-11": "deep"}
#: "on the shallow LeNet-5, vanilla ReLU is comparable to the clipped ReLU" (Yin et al., Section 4)
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
    counts (``pairs=False``: without them) and the verdict."""
    ids = ["yin_row", "metric", "arch"]
    text = verdicts[ids + ["yin", "ours"]].to_string(index=False)
    for r in verdicts.itertuples():
        if r.note:
            text += f"\n* {r.yin_row} {r.metric} {r.arch}: {r.note}, beyond neighbours"
    cols = [c for c in verdicts.columns
            if c not in ("yin", "ours", "note") and (pairs or c not in PAIR_COLUMNS)]
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


def _reading(d) -> tuple[float, float, str]:
    """Mean and sd over seeds of the changes ``d``, read as a rise, a fall or within the spread."""
    m, sd = float(d.mean()), float(d.std()) if d.numel() > 1 else 0.0
    return m, sd, "rise" if m - sd > FLOOR else "fall" if m + sd < -FLOOR else "within spread"


def change_frame(result, *, control: str | None = None, first: int = 0, **labels):
    """Per (bits, STE): change of the training loss and test accuracy (%) from record ``first``
    (default 0; -2 gives the last epoch's change) to the last, mean and sd over seeds, read as a
    rise, a fall or within the spread (mean +- sd containing 0). With ``control`` (an STE of
    ``result``, e.g. the one that found the starting minimum) each seed's change is taken relative
    to the control's change for the same seed: the common part (such as the refreshed running
    statistics of batch normalisation) cancels; the column ``absolute`` then reads the STE's own
    change, without the control, by the same rule. A change within ``stelib.rounding.FLOOR``
    (1e-12) of zero is never read as a rise or a fall."""
    import pandas as pd

    c = None if control is None else result.stes.index(check_choice(control, result.stes, name="control"))
    if isinstance(first, bool) or not isinstance(first, int):
        raise ValueError(f"first={first!r} must be an integer (a record index)")
    rows = []
    for i, b in enumerate(result.bits):
        for j, s in enumerate(result.stes):
            for name, x, scale in (("loss", result.train_loss, 1.0), ("acc", result.test_accuracy, 100.0)):
                own = scale * (x[i, j, :, -1] - x[i, j, :, first])
                d = own if c is None else own - scale * (x[i, c, :, -1] - x[i, c, :, first])
                m, sd, reading = _reading(d)
                row = {**labels, "bits": b, "ste": s, "what": name, "start": scale * float(x[i, j, :, first].mean()),
                       "end": scale * float(x[i, j, :, -1].mean()), "change": m, "sd": sd, "reading": reading}
                if c is not None:
                    row["absolute"] = _reading(own)[2]
                rows.append(row)
    return pd.DataFrame(rows)


def plot_runs(df, y: str, *, col: str | None = None, row: str | None = None, logy: bool = False,
              height: float = 2.6, aspect: float = 1.3, facet_kws: dict | None = None):
    """seaborn line plot of a long-form frame over ``epoch``: hue = STE in the book's palette,
    style = bits, the line the mean over seeds with a band of one standard deviation."""
    import seaborn as sns

    from stelib.analyses.plotting import STE_COLORS, STE_LABELS, style

    style()
    df = df.assign(STE=df["ste"].map(STE_LABELS))
    order = [STE_LABELS[s] for s in STE_COLORS if s in set(df["ste"])]
    g = sns.relplot(data=df, x="epoch", y=y, hue="STE", hue_order=order, style="bits", col=col, row=row,
                    kind="line", errorbar="sd", palette={STE_LABELS[s]: c for s, c in STE_COLORS.items()},
                    height=height, aspect=aspect, facet_kws=facet_kws or {})
    if logy:
        g.set(yscale="log")
    return g


def pair_counts(results: dict, a: str, b: str) -> dict[str, int]:
    """How often ``a`` is ahead of (``">"``), tied with (``"="``) or behind (``"<"``) ``b`` over the
    architectures, bit widths and both metrics of ``results`` (:func:`judge` with the spread)."""
    out = {">": 0, "=": 0, "<": 0}
    for r in results.values():
        for metric, hb in METRICS.items():
            for st in stats_of(r, metric).values():
                out[judge(*st[a], *st[b], higher_better=hb)] += 1
    return out


def start_summary(arch: str, result, n_test: int) -> str:
    """Three lines on the full-precision start of ``result`` (trained with ``init="pretrained"``).

    The test accuracy after the last epoch, mean ± standard deviation over the seeds (in %); on
    indented continuation lines, the number of the ``n_test`` test images each seed classifies
    right and each seed's final training loss (lines short enough for the book's 88 columns).
    Raises ValueError when ``result`` has no full-precision start or ``n_test`` is not a
    positive integer.
    """
    pre = getattr(result, "pretrained", None)
    if pre is None:
        raise ValueError(f"result of {arch!r} has no full-precision start: train it with "
                         'init="pretrained"')
    if isinstance(n_test, bool) or not isinstance(n_test, int) or n_test < 1:
        raise ValueError(f"n_test={n_test!r} must be a positive integer (the number of test images)")
    acc = 100 * pre.test_accuracy[..., -1].flatten()
    right = (acc * n_test / 100).round().int().tolist()
    loss = ", ".join(f"{x:.4f}" for x in pre.train_loss[..., -1].flatten())
    indent = " " * (len(arch) + 2)
    return (f"{arch}: full-precision start, test accuracy {acc.mean():.1f} ± {acc.std():.1f} %\n"
            f"{indent}(test images right per seed: {right};\n"
            f"{indent}training loss per seed: {loss})")


def table_text(frame, *, index: bool = False, digits: int = 3, sd_digits: int = 2) -> str:
    """``frame.to_string(index=index)`` with the digits a few seeds determine: standard deviations
    (a column ``sd``, ``*_sd``, or ``std`` under a column group) to ``sd_digits`` significant
    digits, other float columns to ``digits`` (trailing zeros kept), values below
    ``stelib.rounding.FLOOR`` as ``<1e-12`` (:func:`stelib.rounding.fmt`); other columns as they are."""

    def is_sd(col) -> bool:
        last = col[-1] if isinstance(col, tuple) else col
        return last == "sd" or last == "std" or str(last).endswith("_sd")

    def text(col):
        if frame[col].dtype.kind != "f":
            return str
        spec = f"#.{sd_digits if is_sd(col) else digits}g"  # trailing zeros kept: 95.0, not 95
        return lambda v: fmt(v, spec).removesuffix(".")  # 167, not 167.

    return frame.to_string(index=index, formatters=[text(col) for col in frame.columns])
