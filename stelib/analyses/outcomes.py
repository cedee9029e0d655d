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

import torch

from stelib.core import gaussian
from stelib.core._validate import as_tensor, check_positive, check_positive_int
from stelib.core.ste import check_ste

__all__ = ["OUTCOMES", "at_angle", "classify", "first_hit", "format_table", "outcome_table", "stream_summary",
           "sweep_inits"]

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
    f, th = history.loss[-1], history.theta[-1]  # (R,)
    exists = gaussian.spurious_minima_exist(model.v_star)
    f_sp = _spurious_loss(model)
    out = []
    for i in range(f.shape[0]):
        fi, ti = float(f[i]), float(th[i])
        if bool(history.diverged[i]) or not math.isfinite(fi):
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
    hits = first_hit(history, loss_tol=loss_tol)
    rows = []
    for ste in dict.fromkeys(history.ste):
        idx = history.select(ste).tolist()
        lab = [labels[i] for i in idx]
        row = {"ste": ste, "runs": len(idx)}
        row.update({c: lab.count(c) / len(idx) for c in OUTCOMES})
        g = [int(hits[i]) for i in idx if labels[i] == "global"]
        row["steps_to_global"] = float(torch.tensor(g, dtype=DTYPE, device="cpu").median()) if g else math.nan
        ok = [i for i in idx if not bool(history.diverged[i])]
        row["median_w_norm"] = float(history.w_norm[-1, ok].median()) if ok else math.nan
        row["diverged"] = int(history.diverged[idx].sum())
        rows.append(row)
    return rows


def format_table(rows: list[dict], *, label: str = "STE") -> str:
    """A fixed-format text table of :func:`outcome_table` rows (deterministic output)."""
    head = (f"{label:>12} {'runs':>5} {'global':>7} {'spurious':>9} {'other':>6} "
            f"{'steps to global':>16} {'median |w|':>11} {'diverged':>9}")
    lines = [head]
    for r in rows:
        steps = "-" if math.isnan(r["steps_to_global"]) else f"{r['steps_to_global']:.0f}"
        lines.append(f"{r.get('name', r['ste']):>12} {r['runs']:>5d} {r['global']:>7.2f} "
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
