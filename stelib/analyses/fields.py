r"""Vector fields in the w-plane (n = 2) and the paths of coarse gradient descent drawn on them.

Helpers for figures of a gradient field :math:`w \mapsto -F(w)` over a square of the w-plane:
a grid that avoids the origin (where w/|w| is undefined), evaluation of a batched field on
it (:func:`descent_fields`: the true and coarse descent directions on a slice v = v(w)), a
quiver drawn with a fixed arrow scale (so several panels share one scale), rays through the
origin (stationary directions are rays: the loss is scale invariant), and the w-path of
:func:`stelib.train.population_cgd`, which records only norms and angles (:func:`cgd_paths`:
one per STE).

Example
-------
>>> import torch
>>> from stelib.core.misspecified import LinearTeacherModel
>>> X, Y, W = grid(2.0, 5)
>>> W.shape
torch.Size([25, 2])
>>> model = LinearTeacherModel(torch.tensor([1.0, 0.0], dtype=torch.float64))
>>> steps, v, w = cgd_path(model, torch.zeros(2, 1), torch.ones(2, 2), ste="crelu", lr=0.1,
...                        steps=20, every=10)
>>> steps.tolist(), tuple(w.shape)   # (records, runs, n)
([0, 10, 20], (3, 2, 2))
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from stelib.core import train
from stelib.core._validate import as_tensor, check_positive, check_positive_int
from stelib.core.ste import check_ste

DTYPE = torch.float64

__all__ = ["Paths", "cgd_path", "cgd_paths", "descent_fields", "draw_rays", "evaluate", "grid", "quiver"]


def grid(extent: float, num: int, *, device: torch.device | str | None = None
         ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A ``num`` x ``num`` grid on [-extent, extent]^2, shifted by half a cell when ``num`` is odd
    so that no point is the origin. Returns ``X``, ``Y`` (num, num) and ``W`` (num*num, 2) on
    ``device`` (default: PyTorch's default device)."""
    extent = check_positive(extent, name="extent")
    num = check_positive_int(num, name="num", minimum=2, maximum=2000)
    s = torch.linspace(-extent, extent, num, dtype=DTYPE, device=device)
    if num % 2:
        s = s + extent / (num - 1)  # the middle point would be 0
    Y, X = torch.meshgrid(s, s, indexing="ij")  # rows follow y, as imshow/quiver expect
    return X, Y, torch.stack([X.reshape(-1), Y.reshape(-1)], dim=1)


def evaluate(field: Callable[[torch.Tensor], torch.Tensor], W: torch.Tensor,
             shape: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """``field(W)`` (k, 2) for points ``W`` (k, 2), split into components ``U``, ``V`` of ``shape``."""
    W = as_tensor(W, name="W", ndim=2, dtype=DTYPE)
    F = as_tensor(field(W), name="field(W)", ndim=2, dtype=DTYPE)
    if F.shape != W.shape or W.shape[1] != 2:
        raise ValueError(f"field must map (k, 2) points to (k, 2) vectors; got {tuple(F.shape)} for {tuple(W.shape)}")
    return F[:, 0].reshape(shape), F[:, 1].reshape(shape)


def descent_fields(model, W: torch.Tensor, shape: tuple[int, int], stes: Sequence[str], *,
                   v: Callable[[torch.Tensor], torch.Tensor]) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    r"""The descent directions on the slice :math:`v = v(w)` at the points ``W`` (k, 2):
    ``"true"``: :math:`-\nabla_w L(v(w), w)`, and for each STE :math:`-E\,g_\mu(v(w), w)`, each
    as components ``(U, V)`` of ``shape`` (see :func:`evaluate`). ``model`` has ``grad_w`` and
    ``expected_coarse_grad`` (e.g. :class:`stelib.misspecified.LinearTeacherModel`)."""
    stes = tuple(check_ste(s, name="stes") for s in stes)
    out = {"true": evaluate(lambda w: -model.grad_w(v(w), w), W, shape)}
    for ste in stes:
        out[ste] = evaluate(lambda w, s=ste: -model.expected_coarse_grad(v(w), w, s), W, shape)
    return out


def quiver(ax, X, Y, U, V, *, scale: float, color: str, **kw):
    """``ax.quiver`` with a fixed ``scale`` (data units of vector length per axes width), so
    panels drawn with the same ``scale`` are comparable. Returns the Quiver artist."""
    scale = check_positive(scale, name="scale")
    kw = {"angles": "xy", "scale_units": "width", "width": 0.004, **kw}
    X, Y, U, V = (t.cpu().numpy() for t in (X, Y, U, V))  # matplotlib draws from host memory
    return ax.quiver(X, Y, U, V, color=color, scale=scale, **kw)


def draw_rays(ax, directions, *, extent: float, both: bool = False, **kw) -> None:
    """Draw the rays {t d : t > 0} (``both``: the lines {t d}) for rows ``d`` of ``directions``
    (k, 2), out to the square [-extent, extent]^2."""
    D = as_tensor(directions, name="directions", ndim=2, dtype=DTYPE)
    D = D / torch.linalg.vector_norm(D, dim=1, keepdim=True)
    reach = 1.5 * check_positive(extent, name="extent")
    for d in D:
        start = -reach if both else 0.0
        ax.plot([start * d[0].item(), reach * d[0].item()], [start * d[1].item(), reach * d[1].item()], **kw)


def cgd_path(model, v0, w0, *, ste, lr, steps: int, every: int = 1):
    """The path of population coarse gradient descent, recorded every ``every`` steps.

    The iteration of :func:`stelib.train.population_cgd` (one run of the trainer, which keeps
    the iterates at each record for this), returning what that trainer does not keep:
    ``steps`` (T,), ``v`` (T, R, m) and ``w`` (T, R, n), T = steps // every + 1. Divergence
    raises :class:`stelib.train.TrainingDiverged` whatever R is.
    """
    steps = check_positive_int(steps, name="steps", maximum=10**6)
    every = check_positive_int(every, name="every", maximum=steps)
    if steps % every:
        raise ValueError(f"steps={steps} must be a multiple of every={every}")
    v = as_tensor(v0, name="v0", ndim=2, dtype=DTYPE)
    w = as_tensor(w0, name="w0", ndim=2, dtype=DTYPE)
    trace = []
    train._population_cgd(model, v, w, ste, lr, steps, every, "raise", trace)
    vs, ws = zip(*trace, strict=True)
    return torch.arange(0, steps + 1, every, device=v.device), torch.stack(vs), torch.stack(ws)


@dataclass(frozen=True)
class Paths:
    """Paths of coarse gradient descent for several STEs, on the CPU: the recorded steps ``t``
    (T,) (float64), ``v[ste]`` (T, R, m) and ``w[ste]`` (T, R, n), run with learning rate ``lr``."""

    t: torch.Tensor
    v: dict[str, torch.Tensor]
    w: dict[str, torch.Tensor]
    lr: float


def cgd_paths(model, v0, w0, stes: Sequence[str], *, lr: float, steps: int, every: int = 1) -> Paths:
    """:func:`cgd_path` from the same start ``(v0, w0)`` for each STE in ``stes`` (in that order),
    computed where ``v0``, ``w0`` and ``model`` live and brought back to the CPU."""
    stes = tuple(check_ste(s, name="stes") for s in stes)
    if not stes:
        raise ValueError("stes=() is empty; give at least one registered STE name")
    runs = {ste: [t.cpu() for t in cgd_path(model, v0, w0, ste=ste, lr=lr, steps=steps, every=every)]
            for ste in stes}
    return Paths(runs[stes[0]][0].double(), {s: r[1] for s, r in runs.items()},
                 {s: r[2] for s, r in runs.items()}, float(lr))
