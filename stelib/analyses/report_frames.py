r"""Our practice runs as frames, tables and plots (chapter *Practice on real data*).

Every section of the chapter that trains networks reads its
:class:`~stelib.practice.PracticeResult` through these:

* :func:`long_frame`, :func:`layer_frame` -- one row per (bits, STE, seed, epoch [, layer]),
  for seaborn; the per-layer quantities (fraction inside the quantizer's window, weight and
  gain norms) serve the sections "Without normalisation: the scale symmetry at work"
  (prop-practice-scale) and "Normalisation with a learnable gain";
* :func:`summary_frame` -- the final loss and accuracy per (architecture, bits, STE), mean and
  sd over seeds; :func:`start_summary`, the full-precision networks the quantized ones start from;
* :func:`change_frame` -- the change from a record to the last, read as a rise, a fall or within
  the spread, optionally against a control STE (section "Repelled from a good minimum?");
* :func:`plot_runs` -- a long-form frame over the epochs, in the book's STE palette;
* :func:`table_text` -- a frame as text with the digits a few seeds determine;
* :func:`changed_rows` -- the rows of two such tables whose printed text differs (section
  "Yin et al.'s recipe at their epoch budget (stored runs)": what the recorded check of the
  stored runs changes in the table the chapter prints);
* :func:`precision_frame`, :func:`precision_text` -- a run trained with ``mixed_precision=True``
  (bf16) against its float32 twin, seed by seed (section "The same code at Yin et al.'s scale").

Example
-------
>>> import pandas as pd
>>> print(table_text(pd.DataFrame({"ste": ["relu", "crelu"], "acc": [95.0, 97.123], "acc_sd": [0.0123, 1.0]})))
  ste  acc acc_sd
 relu 95.0  0.012
crelu 97.1    1.0
"""

from __future__ import annotations

import math

from stelib.analyses.report_orderings import stats_of
from stelib.core._validate import check_choice
from stelib.core.rounding import FLOOR, fmt

__all__ = ["change_frame", "changed_rows", "layer_frame", "long_frame", "plot_runs", "precision_frame",
           "precision_text", "start_summary", "summary_frame", "table_text"]


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
    statistics of batch normalisation) cancels; the columns ``own`` and ``own_sd`` then hold the
    STE's own change, without the control (mean and sd over seeds), and ``absolute`` reads it by
    the same rule. A change within ``stelib.rounding.FLOOR``
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
                    row["own"], row["own_sd"], row["absolute"] = _reading(own)
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


def _check_n_test(n_test):
    if isinstance(n_test, bool) or not isinstance(n_test, int) or n_test < 1:
        raise ValueError(f"n_test={n_test!r} must be a positive integer (the number of test images)")
    return n_test


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
    _check_n_test(n_test)
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

    return frame.to_string(index=index, formatters=[_formatter(frame, col, digits, sd_digits)
                                                    for col in frame.columns])


def _formatter(frame, col, digits: int, sd_digits: int):
    """How :func:`table_text` writes the values of column ``col``."""
    last = col[-1] if isinstance(col, tuple) else col
    if frame[col].dtype.kind != "f":
        return str
    is_sd = last == "sd" or last == "std" or str(last).endswith("_sd")
    spec = f"#.{sd_digits if is_sd else digits}g"  # trailing zeros kept: 95.0, not 95
    return lambda v: fmt(v, spec).removesuffix(".")  # 167, not 167.


def changed_rows(before, after, *, keys=("arch", "bits", "ste"), labels=("before", "after"),
                 digits: int = 3, sd_digits: int = 2):
    """The rows whose text in :func:`table_text` differs between two frames with the same
    columns (e.g. two :func:`summary_frame`), matched on ``keys``: each such row twice, first as
    in ``before``, then as in ``after``, behind a first column ``numbers`` holding ``labels``.
    ``after=None`` (nothing to compare) gives no rows. ``ValueError`` when the frames differ in
    their columns or their keys.

    Example
    -------
    >>> import pandas as pd
    >>> a = pd.DataFrame({"ste": ["relu", "crelu"], "acc": [95.01, 97.0]})
    >>> b = pd.DataFrame({"ste": ["relu", "crelu"], "acc": [95.04, 96.0]})
    >>> print(table_text(changed_rows(a, b, keys=("ste",))))
    numbers   ste  acc
     before crelu 97.0
      after crelu 96.0
    """
    import pandas as pd

    if len(labels) != 2 or not all(isinstance(x, str) for x in labels):
        raise ValueError(f"labels={labels!r} must be two strings (for before and after)")
    if after is None:
        return pd.DataFrame(columns=["numbers", *before.columns])
    keys = list(keys)
    if list(before.columns) != list(after.columns) or not set(keys) <= set(before.columns):
        raise ValueError(f"before and after must have the same columns, including keys={keys!r}; got "
                         f"{list(before.columns)} and {list(after.columns)}")
    ka, kb = (list(map(tuple, f[keys].itertuples(index=False))) for f in (before, after))
    if len(set(ka)) != len(ka) or sorted(ka) != sorted(kb):
        raise ValueError(f"before and after must hold the same rows, one per value of keys={keys!r}")
    a = before.reset_index(drop=True)
    b = after.set_index(keys).reindex(before.set_index(keys).index).reset_index()[list(before.columns)]

    def texts(frame):
        return pd.DataFrame({c: frame[c].map(_formatter(frame, c, digits, sd_digits)) for c in frame.columns})

    moved = (texts(a) != texts(b)).any(axis=1)
    parts = [frame[moved].assign(numbers=label, _order=range(int(moved.sum())), _side=side)
             for side, (frame, label) in enumerate(((a, labels[0]), (b, labels[1])))]
    out = pd.concat(parts).sort_values(["_order", "_side"], kind="stable")
    return out[["numbers", *before.columns]].reset_index(drop=True)


def precision_frame(mixed: dict, reference: dict, n_test: int):
    """bf16 against float32, run by run: one row per (arch, bits, STE, seed) of ``reference``.

    ``mixed`` and ``reference`` map an architecture to a :class:`~stelib.practice.PracticeResult`,
    the first trained with ``mixed_precision=True``, the second without, with the same bits and
    STEs and seeds among the first's (the same seed: the same initialisation and batches, see
    :func:`stelib.practice.fit`). Columns: arch, bits, ste, seed, ``loss_bf16`` and ``loss_fp32``
    (final training loss), ``right_bf16`` and ``right_fp32`` (test images classified right, of
    ``n_test``), ``delta`` (bf16 minus float32, in images) and ``right_sd`` (the standard deviation
    of ``right_bf16`` over all of ``mixed``'s seeds: the seed-to-seed spread the difference is to be
    read against; NaN with one seed). Raises ValueError when the two do not match.
    """
    import pandas as pd

    n_test = _check_n_test(n_test)
    if not isinstance(mixed, dict) or not isinstance(reference, dict) or not reference:
        raise ValueError("mixed and reference must be dicts {arch: PracticeResult}, reference not empty")
    if set(reference) - set(mixed):
        raise ValueError(f"reference has archs {sorted(set(reference) - set(mixed))} that mixed lacks")
    rows = []
    for arch, ref in reference.items():
        mix = mixed[arch]
        for name, r, want in (("mixed", mix, True), ("reference", ref, False)):
            if getattr(r.model, "mixed_precision", False) is not want:
                raise ValueError(f"{name}[{arch!r}] must be trained with mixed_precision={want}")
        if (ref.bits, ref.stes) != (mix.bits, mix.stes) or set(ref.seeds) - set(mix.seeds):
            raise ValueError(f"reference[{arch!r}] (bits {ref.bits}, stes {ref.stes}, seeds {ref.seeds}) must have "
                             f"the bits and STEs of mixed[{arch!r}] ({mix.bits}, {mix.stes}) and seeds among {mix.seeds}")
        right = [(r.test_accuracy[..., -1] * n_test).round() for r in (mix, ref)]
        for i, b in enumerate(ref.bits):
            for j, s in enumerate(ref.stes):
                spread = float(right[0][i, j].std()) if len(mix.seeds) > 1 else math.nan
                for k, sd in enumerate(ref.seeds):
                    km = mix.seeds.index(sd)
                    a, f = int(right[0][i, j, km]), int(right[1][i, j, k])
                    rows.append({"arch": arch, "bits": b, "ste": s, "seed": sd,
                                 "loss_bf16": float(mix.train_loss[i, j, km, -1]),
                                 "loss_fp32": float(ref.train_loss[i, j, k, -1]),
                                 "right_bf16": a, "right_fp32": f, "delta": a - f, "right_sd": spread})
    return pd.DataFrame(rows)


def precision_text(mixed: dict, reference: dict, n_test: int) -> str:
    """:func:`precision_frame` as a table (:func:`table_text`) and a line that sums it up: the
    range of the differences in test images right, their number, and (on a second line) the
    largest seed-to-seed standard deviation of the bf16 runs."""
    df = precision_frame(mixed, reference, n_test)
    lo, hi = int(df["delta"].min()), int(df["delta"].max())
    line = (f"bf16 minus float32, same seed: {lo:+d} to {hi:+d} of {n_test} test images right "
            f"({len(df)} runs)")
    if df["right_sd"].notna().all():
        sd = _formatter(df, "right_sd", 3, 2)(df["right_sd"].max())  # as the table writes it
        line += f";\nsd of the bf16 runs over seeds: up to {sd} images"
    return table_text(df) + "\n" + line
