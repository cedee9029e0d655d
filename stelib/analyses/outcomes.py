r"""Where batched coarse-gradient-descent runs end up in Yin et al.'s Gaussian model.

A sweep of :func:`stelib.train.population_cgd` or :func:`stelib.train.stochastic_cgd` in
:class:`stelib.gaussian.YinModel` gives, per run, the recorded population loss :math:`f` and
angle :math:`\theta = \angle(w, w^*)`. Each run is put in one of three classes:

- ``"global"``: final :math:`f < \text{loss\_tol}` (then :math:`v \approx v^*` and
  :math:`\theta \approx 0`, the only zero of :math:`f`);
- ``"spurious"``: final :math:`\theta > \pi - \text{theta\_tol}` and
  :math:`|f - f(\tilde v, \theta = \pi)| < \text{loss\_tol}` (the spurious minimum of Yin's
  Prop. 1, which exists iff :func:`stelib.gaussian.spurious_minima_exist`);
- ``"other"``: anything else (not converged, cycling, a saddle, diverged).

:func:`outcome_table` summarises a sweep per STE: fractions of the classes, the median number
of steps to reach the global class, the median final :math:`|w|`. Also here: the initial points
of a sweep (the same random inits for every STE, so STEs are compared on equal terms) and a
point at a prescribed angle and norm, for pictures over :math:`\theta`.

Summaries of a sweep: :func:`other_runs` (the runs of the class "other", and how many of them
cross :math:`\theta = \pi/2` late in the run), :func:`start_sides` (the runs that end at the
spurious minimum, split by their starting angle), :func:`far_side` (runs at zero loss with
:math:`\theta > \pi/2`), :func:`stream_starts` and :func:`stream_table` (the same starts rerun in
several mini-batch streams, with the spread over the streams).

Example
-------
>>> import torch
>>> from stelib.core.gaussian import YinModel
>>> from stelib.core.train import population_cgd
>>> model = YinModel(torch.tensor([1.0, -0.5, 0.8]), torch.tensor([1.0, 0.0]))
>>> v0, w0, stes = sweep_inits(3, 2, seeds=4, stes=("relu",), generator=torch.Generator().manual_seed(0))
>>> h = population_cgd(model, v0, w0, ste=stes, lr=0.1, steps=500)
>>> rows = outcome_table(h, model, loss_tol=1e-6)
>>> rows[0]["runs"]
4
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from stelib.analyses.practice_report import judge
from stelib.core import gaussian
from stelib.core._validate import as_tensor, check_positive, check_positive_int
from stelib.core.rounding import fmt, se_decimals
from stelib.core.ste import check_ste

__all__ = ["OUTCOMES", "FarSide", "OtherRuns", "StartSides", "StreamTable", "at_angle", "classify", "far_side",
           "first_hit", "format_table", "other_runs", "outcome_table", "start_sides", "stream_starts",
           "stream_summary", "stream_table", "sweep_inits"]

OUTCOMES = ("global", "spurious", "other")
DTYPE = torch.float64


def at_angle(w_star, theta, norm=1.0) -> torch.Tensor:
    r"""Points :math:`w = |w|(\cos\theta\,\hat w^* + \sin\theta\,e)` with a fixed unit
    :math:`e \perp w^*` (from the all-ones vector, or the first axis if that is parallel).

    ``theta`` and ``norm`` broadcast (any shape ``S``); returns shape ``S + (n,)``. Needs n >= 2.
    """
    w_star = as_tensor(w_star, name="w_star", ndim=1, dtype=DTYPE)
    if w_star.shape[0] < 2 or float(torch.linalg.vector_norm(w_star)) == 0:
        raise ValueError(f"w_star must be a nonzero vector of length >= 2, got shape {tuple(w_star.shape)}")
    ws = w_star / torch.linalg.vector_norm(w_star)
    e = None
    for cand in (torch.ones_like(ws), *torch.eye(ws.shape[0], dtype=DTYPE, device=ws.device)):
        e = cand - (cand @ ws) * ws
        if float(torch.linalg.vector_norm(e)) > 1e-6:
            break
    e = e / torch.linalg.vector_norm(e)
    theta = torch.as_tensor(theta, dtype=DTYPE, device=ws.device)
    norm = torch.as_tensor(norm, dtype=DTYPE, device=ws.device)
    theta, norm = torch.broadcast_tensors(theta, norm)
    return norm[..., None] * (torch.cos(theta)[..., None] * ws + torch.sin(theta)[..., None] * e)


def sweep_inits(m: int, n: int, *, seeds: int, stes, generator: torch.Generator):
    """Initial points of a sweep: ``seeds`` draws v0 ~ N(0, I_m), w0 ~ N(0, I_n), repeated for
    each STE (STE-major order). Returns ``(v0 (R, m), w0 (R, n), ste tuple of length R)``,
    R = seeds * len(stes): run ``k * seeds + i`` uses draw ``i`` with ``stes[k]``.
    """
    m, n = check_positive_int(m, name="m"), check_positive_int(n, name="n")
    seeds = check_positive_int(seeds, name="seeds")
    stes = (stes,) if isinstance(stes, str) else tuple(stes)
    if not stes:
        raise ValueError("stes is empty; give at least one STE name")
    for s in stes:
        check_ste(s)
    if not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    v0 = torch.randn(seeds, m, generator=generator, dtype=DTYPE, device=generator.device)  # (seeds, m)
    w0 = torch.randn(seeds, n, generator=generator, dtype=DTYPE, device=generator.device)  # (seeds, n)
    k = len(stes)
    return v0.repeat(k, 1), w0.repeat(k, 1), tuple(s for s in stes for _ in range(seeds))


def _spurious_loss(model) -> float:
    v_t = gaussian.spurious_minimizer_v(model.v_star)
    return float(model.loss(v_t, -model.w_star))


def classify(history, model, *, loss_tol: float, theta_tol: float = 1e-3) -> list[str]:
    """The class (one of :data:`OUTCOMES`) of each run's final recorded state."""
    loss_tol = check_positive(loss_tol, name="loss_tol")
    theta_tol = check_positive(theta_tol, name="theta_tol")
    # one read back per quantity (not one per run) when the history lives on a GPU
    f, th, div = (x.tolist() for x in (history.loss[-1], history.theta[-1], history.diverged))
    exists = gaussian.spurious_minima_exist(model.v_star)
    f_sp = _spurious_loss(model)
    out = []
    for fi, ti, di in zip(f, th, div, strict=True):
        if di or not math.isfinite(fi):
            out.append("other")
        elif fi < loss_tol:
            out.append("global")
        elif exists and ti > math.pi - theta_tol and abs(fi - f_sp) < loss_tol:
            out.append("spurious")
        else:
            out.append("other")
    return out


def first_hit(history, *, loss_tol: float) -> torch.Tensor:
    """Per run, the first recorded step with loss < ``loss_tol`` (-1 if never), shape (R,)."""
    loss_tol = check_positive(loss_tol, name="loss_tol")
    hit = history.loss < loss_tol  # (T, R)
    idx = torch.argmax(hit.to(torch.int8), dim=0)  # first True (0 if none)
    steps = history.steps[idx]
    return torch.where(hit.any(dim=0), steps, torch.full_like(steps, -1))


def outcome_table(history, model, *, loss_tol: float, theta_tol: float = 1e-3) -> list[dict]:
    """One row per STE (in order of first appearance): ``ste``, ``runs``, the fraction of runs
    per class (keys of :data:`OUTCOMES`), ``steps_to_global`` (median first step with loss <
    ``loss_tol`` over the global runs; NaN if none), ``median_w_norm`` (median final |w| over the
    runs that did not diverge) and ``diverged`` (count).
    """
    labels = classify(history, model, loss_tol=loss_tol, theta_tol=theta_tol)
    hits = first_hit(history, loss_tol=loss_tol).tolist()
    diverged = history.diverged.tolist()
    w_norm = history.w_norm[-1].cpu()  # one read back each, not one per run
    rows = []
    for ste in dict.fromkeys(history.ste):
        idx = history.select(ste).tolist()
        lab = [labels[i] for i in idx]
        row = {"ste": ste, "runs": len(idx)}
        row.update({c: lab.count(c) / len(idx) for c in OUTCOMES})
        g = [hits[i] for i in idx if labels[i] == "global"]
        row["steps_to_global"] = float(torch.tensor(g, dtype=DTYPE, device="cpu").median()) if g else math.nan
        ok = [i for i in idx if not diverged[i]]
        row["median_w_norm"] = float(w_norm[ok].median()) if ok else math.nan
        row["diverged"] = sum(diverged[i] for i in idx)
        rows.append(row)
    return rows


def format_table(rows: list[dict], *, label: str = "STE") -> str:
    """A fixed-format text table of :func:`outcome_table` rows (deterministic output); the first
    column is as wide as its widest entry (at least 12 characters)."""
    width = max([12, len(label)] + [len(str(r.get("name", r["ste"]))) for r in rows])
    head = (f"{label:>{width}} {'runs':>5} {'global':>7} {'spurious':>9} {'other':>6} "
            f"{'steps to global':>16} {'median |w|':>11} {'diverged':>9}")
    lines = [head]
    for r in rows:
        steps = "-" if math.isnan(r["steps_to_global"]) else f"{r['steps_to_global']:.0f}"
        lines.append(f"{r.get('name', r['ste']):>{width}} {r['runs']:>5d} {r['global']:>7.2f} "
                     f"{r['spurious']:>9.2f} {r['other']:>6.2f} {steps:>16} "
                     f"{r['median_w_norm']:>11.3f} {r['diverged']:>9d}")
    return "\n".join(lines)


def stream_summary(history, ste: str, streams: int, *, loss_tol: float,
                   near: float = 0.1) -> dict[str, tuple[float, float]]:
    """Where the runs of ``ste`` end, per mini-batch stream, as (mean, sd) over the streams.

    The runs of ``history`` are stream-major: ``streams`` copies of the same starts, each copy
    with its own mini-batches (sd 0 for one stream). Per stream: ``near`` the share with final
    theta < ``near``, ``spurious`` the share with theta > pi - ``near``, ``below_tol`` the share
    with final loss < ``loss_tol``, ``loss`` and ``w_norm`` the medians of the final loss and |w|.
    """
    streams = check_positive_int(streams, name="streams")
    check_positive(loss_tol, name="loss_tol")
    i = history.select(check_ste(ste))
    if i.numel() % streams:
        raise ValueError(f"streams={streams}: {i.numel()} runs of {ste!r} do not split into equal streams")
    i = i.view(streams, -1)  # (streams, runs per stream)
    th, f, wn = history.theta[-1][i], history.loss[-1][i], history.w_norm[-1][i]
    per = {"near": (th < near).double().mean(1), "spurious": (th > math.pi - near).double().mean(1),
           "below_tol": (f < loss_tol).double().mean(1), "loss": f.median(1).values,
           "w_norm": wn.median(1).values}
    return {k: (float(v.mean()), float(v.std()) if streams > 1 else 0.0) for k, v in per.items()}


@dataclass(frozen=True)
class OtherRuns:
    """The runs of one STE classified "other": how many, their median final loss (next to the
    spurious minimum's), how many visited both sides of theta = pi/2 in the last ``window``
    steps, the fewest and most side changes of a run between consecutive records there
    (``switches``), and the median over the runs of their smallest recorded |w| there
    (``closest``): the cycling through w = 0 of the identity STE. Records only sample a run, so
    ``switches`` is a lower bound on the side changes that happened and ``closest`` an upper
    bound on the smallest |w| reached."""

    ste: str
    count: int
    median_loss: float
    spurious_loss: float
    both_sides: int
    window: int
    switches: tuple[int, int]
    closest: float

    def __str__(self) -> str:
        pad = " " * (len(self.ste) + 2)
        lo, hi = self.switches
        return (f"{self.ste}: {self.count} runs 'other', median final loss {self.median_loss:.4f} "
                f"(spurious {self.spurious_loss:.4f});\n{pad}{self.both_sides} of "
                f"them visited both theta < pi/2 and theta > pi/2 in the last {self.window} steps,\n"
                f"{pad}changing side {lo} to {hi} times between consecutive records there;\n"
                f"{pad}median of their smallest recorded |w| there: {fmt(self.closest, '.2g')}")


def other_runs(history, model, *, loss_tol: float, window: int) -> list[OtherRuns]:
    """One :class:`OtherRuns` per STE with at least one run of the class "other" (order of first
    appearance); the last ``window`` steps are the records after step ``last - window``."""
    window = check_positive_int(window, name="window")
    labels = classify(history, model, loss_tol=loss_tol)
    keep = history.steps > history.steps[-1] - window
    late, late_w = history.theta[keep], history.w_norm[keep]  # (T', R)
    out = []
    for ste in dict.fromkeys(history.ste):
        other = [i for i in history.select(ste).tolist() if labels[i] == "other"]
        if other:
            th = late[:, other]
            both = ((th < math.pi / 2).any(0) & (th > math.pi / 2).any(0))
            side = th > math.pi / 2
            switches = (side[1:] != side[:-1]).sum(0)  # (runs,)
            out.append(OtherRuns(ste, len(other), history.loss[-1, other].median().item(),
                                 _spurious_loss(model), int(both.sum().item()), window,
                                 (int(switches.min().item()), int(switches.max().item())),
                                 late_w[:, other].min(0).values.median().item()))
    return out


@dataclass(frozen=True)
class StartSides:
    r"""Per STE, the runs that end at the spurious minimum (class "spurious" of :func:`classify`)
    among the starts with :math:`\theta_0` above and below ``split``: ``above[ste]`` and
    ``below[ste]`` are (spurious, starts) counts."""

    split: float
    above: dict[str, tuple[int, int]]
    below: dict[str, tuple[int, int]]

    def __str__(self) -> str:
        width = max(len(s) for s in self.above)
        rows = [f"runs ending at the spurious minimum, by starting angle theta0 (split at "
                f"{self.split:.4f}):", f"{'':{width + 2}}{'theta0 above':>12}  {'theta0 below':>12}"]
        rows += [f"{s:>{width}}: {f'{a[0]} of {a[1]}':>12}  {f'{b[0]} of {b[1]}':>12}"
                 for (s, a), b in zip(self.above.items(), self.below.values(), strict=True)]
        return "\n".join(rows)


def start_sides(history, model, *, loss_tol: float, split: float) -> StartSides:
    r"""Where the runs end, split by their starting angle: per STE, how many runs end at the
    spurious minimum among the starts with :math:`\theta_0 > ` ``split`` and among the others
    (:math:`\theta_0` from the first record). With ``split`` the saddle angle
    :math:`\theta_s` (book: Yin's setting, prop-yin-landscape), it shows whether
    :math:`\theta_s` marks the basin of the spurious minimum for coarse gradient descent, where
    :math:`v` starts away from its optimum :math:`v(\theta)` and moves with :math:`w`.
    ``split`` must be in (0, pi)."""
    if not (isinstance(split, (int, float)) and 0 < split < math.pi):
        raise ValueError(f"split={split!r} must be an angle in (0, pi)")
    labels = classify(history, model, loss_tol=loss_tol)
    th0 = history.theta[0].tolist()
    above, below = {}, {}
    for ste in dict.fromkeys(history.ste):
        runs = history.select(ste).tolist()
        for part, side in ((above, [i for i in runs if th0[i] > split]),
                           (below, [i for i in runs if th0[i] <= split])):
            part[ste] = (sum(labels[i] == "spurious" for i in side), len(side))
    return StartSides(float(split), above, below)


@dataclass(frozen=True)
class FarSide:
    """Of ``runs`` runs: ``zero_loss`` at zero loss with theta > pi/2, ``other`` of the class
    "other", ``other_theta`` their median final theta (NaN when there are none)."""

    runs: int
    zero_loss: int
    other: int
    other_theta: float

    def __str__(self) -> str:
        """Two lines, the second not indented (a caller that prefixes a label indents it)."""
        text = (f"runs at zero loss with theta > pi/2: {self.zero_loss} of {self.runs};\n"
                f"'other' runs: {self.other}")
        return text + (f", their median final theta {self.other_theta:.3f}" if self.other else "")


def far_side(history, model, *, loss_tol: float) -> FarSide:
    """Runs that end at zero loss on the far side theta > pi/2 (a second global minimum at
    theta = pi when 1^T v* = 0), and the runs of the class "other" with their median final theta."""
    labels = classify(history, model, loss_tol=loss_tol)
    other = [i for i, c in enumerate(labels) if c == "other"]
    zero = ((history.loss[-1] < loss_tol) & (history.theta[-1] > math.pi / 2)).sum().item()
    med = history.theta[-1, other].median().item() if other else math.nan
    return FarSide(len(labels), int(zero), len(other), med)


def stream_starts(v0, w0, ste, *, seeds: int, first: int, streams: int):
    """From the starts of :func:`sweep_inits` (``seeds`` draws per STE, STE-major), the first
    ``first`` of every STE, repeated for ``streams`` mini-batch streams (stream-major):
    ``(v0 (S k, m), w0 (S k, n), ste tuple)`` with k = ``first`` times the number of STEs."""
    seeds, streams = check_positive_int(seeds, name="seeds"), check_positive_int(streams, name="streams")
    first = check_positive_int(first, name="first", maximum=seeds)
    if len(ste) % seeds or len(ste) != v0.shape[0] or len(ste) != w0.shape[0]:
        raise ValueError(f"{len(ste)} STE names, {v0.shape[0]} v0 and {w0.shape[0]} w0 rows: need "
                         f"equal counts, a multiple of seeds={seeds}")
    idx = torch.cat([torch.arange(first, device=v0.device) + j * seeds for j in range(len(ste) // seeds)])
    return (v0[idx].repeat(streams, 1), w0[idx].repeat(streams, 1),
            tuple(ste[i] for i in idx.tolist()) * streams)


STREAM_COLUMNS = ("near", "spurious", "below_tol", "loss", "w_norm")


def _check_measure(measure: str) -> str:
    """``measure`` if it is a column of :data:`STREAM_COLUMNS`, else ``ValueError``."""
    if measure not in STREAM_COLUMNS:
        raise ValueError(f"measure={measure!r} must be one of {STREAM_COLUMNS}")
    return measure


@dataclass(frozen=True)
class StreamTable:
    """``table[B, ste]``: the :func:`stream_summary` (measure -> (mean, sd) over the streams) of
    each batch size ``B`` (``"inf"``: the population runs, one stream) and STE."""

    rows: dict

    def __getitem__(self, key) -> dict[str, tuple[float, float]]:
        return self.rows[key]

    def compare(self, B, ste: str, other: str, *, measure: str = "near") -> str:
        """``"ahead of"``, ``"behind"`` or ``"tied with"``: ``ste`` against ``other`` on a
        measure where higher is better, judged with the spread (mean +- sd)."""
        rel = judge(*self[B, ste][measure], *self[B, other][measure], higher_better=True)
        return {">": "ahead of", "<": "behind", "=": "tied with"}[rel]

    def _key(self, B, ste: str):
        if (B, ste) not in self.rows:
            raise ValueError(f"(B, ste)={(B, ste)!r} is not in the table; rows: {sorted(map(str, self.rows))}")
        return B, ste

    def behind_all(self, B, ste: str, *, measure: str, higher_better: bool) -> bool:
        """Whether ``ste`` is behind every other STE of batch size ``B`` on ``measure``, each pair
        judged with the spread (mean +- sd, :func:`judge`); ``False`` if ``B`` has no other STE.
        Chapter yin_gaussian, section "Population versus mini-batch coarse gradient descent",
        asks it of the clipped ReLU's median loss."""
        self._key(B, ste)
        _check_measure(measure)
        others = [s for b, s in self.rows if b == B and s != ste]
        return bool(others) and all(judge(*self[B, ste][measure], *self[B, o][measure],
                                          higher_better=higher_better) == "<" for o in others)

    def population_matches(self, B, stes, *, measures=("near", "spurious")) -> tuple[int, int]:
        """``(k, N)``: of the N pairs (STE of ``stes``, measure of ``measures``), the k whose
        population value (row ``"inf"``) lies within mean +- sd over the streams of batch size
        ``B`` (chapter yin_gaussian, section "Population versus mini-batch coarse gradient
        descent": where the landscape still decides the mini-batch runs)."""
        pairs = [(s, c) for s in stes for c in measures]
        for s, c in pairs:
            self._key(B, s)
            self._key("inf", s)
            _check_measure(c)
        k = sum(judge(*self["inf", s][c], *self[B, s][c], higher_better=True) == "=" for s, c in pairs)
        return k, len(pairs)

    def batch_trend(self, ste: str, *, measure: str) -> str:
        """How ``measure`` of ``ste`` moves with the batch size over the mini-batch rows (finite
        B), each neighbouring pair of batch sizes judged with the spread (mean +- sd,
        :func:`judge`): ``"higher for smaller batches"`` when every smaller B is above the next
        larger one beyond the spread, ``"lower for smaller batches"`` when every one is below,
        else ``"not ordered by batch size"``; ``"one batch size only"`` with fewer than two.
        Chapter yin_gaussian asks it of the median final loss."""
        _check_measure(measure)
        sizes = sorted(b for b, s in self.rows if s == ste and b != "inf")
        if not sizes and ("inf", ste) not in self.rows:
            raise ValueError(f"ste={ste!r} is not in the table; STEs: {sorted({s for _, s in self.rows})}")
        if len(sizes) < 2:
            return "one batch size only"
        rel = {judge(*self[b, ste][measure], *self[B, ste][measure], higher_better=True)
               for b, B in zip(sizes[:-1], sizes[1:], strict=True)}
        return {frozenset(">"): "higher for smaller batches",
                frozenset("<"): "lower for smaller batches"}.get(frozenset(rel), "not ordered by batch size")

    def batch_trends(self, stes, *, measure: str) -> str:
        """:meth:`batch_trend` for the prose: ``"<trend> for every STE"`` when the STEs agree, else
        ``"<trend> for identity; <trend> for relu; ..."``."""
        trends = {s: self.batch_trend(s, measure=measure) for s in stes}
        if not trends:
            raise ValueError("stes is empty; name at least one STE")
        if len(set(trends.values())) == 1:
            return f"{next(iter(trends.values()))} for every STE"
        return "; ".join(f"{t} for {s}" for s, t in trends.items())

    def __str__(self) -> str:
        """Columns as wide as their widest entry, two spaces apart (one after B). A median loss
        below 0.01 is printed with three significant digits (``4.12e-04 ± 1.3e-04``), not as
        ``0.000 ± 0.000``; one below the rounding floor as ``<1e-12``."""
        rows = [("B", "STE", *STREAM_COLUMNS)]
        for (B, s), st in self.rows.items():
            rows.append((str(B), s, *(_stream_cell(c, *st[c], spread=B != "inf") for c in STREAM_COLUMNS)))
        width = [max(len(r[k]) for r in rows) for k in range(len(rows[0]))]
        return "\n".join(f"{r[0]:>{width[0]}} " + "  ".join(x.rjust(n) for x, n in zip(r[1:], width[1:], strict=True))
                         for r in rows)


def _stream_cell(column: str, mean: float, sd: float, *, spread: bool) -> str:
    """One cell of :class:`StreamTable`: the mean, and ``± sd`` where there are several streams,
    both to the decimal place that shows the sd to one significant digit (two when it is a 1:
    :func:`stelib.rounding.se_decimals`), at most three; a spread of 0 as ``± 0.000``."""
    small = column == "loss" and abs(mean) < 0.01
    if spread and not small and sd > 0:
        spec = sd_spec = f".{min(se_decimals(sd), 3)}f"
    else:
        spec, sd_spec = (".2e", ".1e") if small else (".3f", ".3f")
    text = fmt(mean, spec) if column == "loss" else format(mean, spec)
    return f"{text} ± {format(sd, sd_spec)}" if spread else text


def stream_table(histories: dict, stes, *, streams: int, loss_tol: float) -> StreamTable:
    """:func:`stream_summary` of every history (key: the batch size, ``"inf"`` for the population
    runs, which have one stream) and STE."""
    return StreamTable({(B, s): stream_summary(h, s, 1 if B == "inf" else streams, loss_tol=loss_tol)
                        for B, h in histories.items() for s in stes})
