r"""The misspecified chapter's interactive figure: coarse gradient descent at several learning rates.

:func:`cgd_runs` runs population coarse gradient descent in the linear-teacher example
(:func:`stelib.train.population_cgd`, one batched call for every STE and learning rate) and
draws ``|w_t|`` and the angle of ``w_t`` to the nearer minimising ray, with a slider over the
learning rate and one over the step. It goes with the section "Trajectories over time"
(prop-ms-rates): in the figure's runs ``|w_t|`` keeps growing for the identity and ReLU STEs
(without bound by the proposition), the clipped ReLU's approaches its vanishing point, and the
runs turn towards the minimising ray.

Example
-------
>>> fig = cgd_runs(lrs=(0.1, 0.4), steps=4, record=2)
>>> [[step["label"] for step in slider["steps"]] for slider in fig.layout["sliders"]]
[['0.1', '0.4'], ['0', '2', '4']]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from stelib.analyses.ix_figure import COLORS, STES, InteractiveFigure, _grid, _layout, _num, _slider

__all__ = ["cgd_runs"]


def cgd_runs(lrs: Sequence[float] = (0.02, 0.05, 0.1, 0.2, 0.4, 0.8), *, steps: int = 300,
             a: Sequence[float] = (1.0, 0.0), w0: Sequence[float] = (0.6, 0.8),
             record: int = 60) -> InteractiveFigure:
    """Population coarse gradient descent in the linear-teacher example from ``w0`` (``v0`` at
    its optimum), one run per STE and learning rate: ``|w_t|`` and the angle of ``w_t`` to the
    minimising ray. A slider over the learning rate, one over the step (a marker per run)."""
    from stelib.core import misspecified as ms
    from stelib.core.train import population_cgd

    lrs = _grid(lrs, name="lrs", positive=True, maximum=24)
    steps = int(steps)
    if not 2 <= steps <= 5000 or not 2 <= int(record) <= steps:
        raise ValueError(f"need 2 <= record <= steps <= 5000, got steps={steps}, record={record}")
    a_t, w_t = torch.as_tensor(a, dtype=torch.float64, device="cpu"), torch.as_tensor(w0, dtype=torch.float64, device="cpu")
    model = ms.LinearTeacherModel(a_t)
    every = max(1, steps // int(record))
    runs = [(s, float(lr)) for lr in lrs for s in STES]
    R = len(runs)
    v0 = ms.optimal_v(w_t, a_t).reshape(1, 1).expand(R, 1).clone()
    hist = population_cgd(model, v0, w_t.reshape(1, -1).expand(R, -1).clone(),
                          ste=tuple(s for s, _ in runs), lr=torch.tensor([lr for _, lr in runs], device="cpu"),
                          steps=steps, record_every=every, on_divergence="mark")
    t = _num(hist.steps)
    norm = hist.w_norm.numpy()
    theta = np.degrees(hist.theta.numpy())
    theta = np.minimum(theta, 180 - theta)  # the angle to the nearer of the rays +-a

    def run(lr_i: int, ste: str) -> int:
        return lr_i * len(STES) + STES.index(ste)

    active = min(2, len(lrs) - 1)
    data = []
    for ste in STES:
        i = run(active, ste)
        data.append({"type": "scatter", "mode": "lines", "x": t, "y": _num(norm[:, i]), "name": ste,
                     "line": {"color": COLORS[ste]}})
    for ste in STES:
        i = run(active, ste)
        data.append({"type": "scatter", "mode": "lines", "x": t, "y": _num(theta[:, i]), "name": ste,
                     "xaxis": "x2", "yaxis": "y2", "showlegend": False, "line": {"color": COLORS[ste]}})
    lr_steps = []
    for li in range(len(lrs)):
        cols = [run(li, s) for s in STES]
        lr_steps.append([{"y": [_num(norm[:, i]) for i in cols] + [_num(theta[:, i]) for i in cols]},
                         list(range(6))])
    step_args = [[{"shapes[0].x0": s, "shapes[0].x1": s, "shapes[1].x0": s, "shapes[1].x1": s}]
                 for s in t]
    shapes = [{"type": "line", "xref": xr, "yref": f"{yr} domain", "x0": t[-1], "x1": t[-1],
               "y0": 0, "y1": 1, "line": {"color": "black", "width": 1, "dash": "dot"}}
              for xr, yr in (("x", "y"), ("x2", "y2"))]
    layout = _layout("Coarse gradient descent: |w| runs off for identity and ReLU, settles for cReLU",
                     xaxis={"domain": [0, 0.47], "title": {"text": "step t"}},
                     yaxis={"type": "log", "title": {"text": "|w_t|"}},
                     xaxis2={"domain": [0.55, 1], "title": {"text": "step t"}, "anchor": "y2"},
                     yaxis2={"anchor": "x2", "title": {"text": "angle to the ray (degrees)"}},
                     shapes=shapes,
                     sliders=[_slider("learning rate = ", [f"{lr:g}" for lr in lrs], lr_steps,
                                      active=active, y=-0.16),
                              _slider("step t = ", [f"{int(s)}" for s in t], step_args,
                                      method="relayout", active=len(t) - 1, y=-0.42)])
    layout["height"] = 560
    layout["margin"]["b"] = 150
    return InteractiveFigure("cgd-runs", data, layout,
                             "Norm of w and its angle to the minimising ray over the steps of "
                             "coarse gradient descent for the identity, ReLU and clipped-ReLU "
                             "STEs, with sliders over the learning rate and the step.")
