"""stelib.analyses.interactive: the precomputed slider data equal the closed forms, the
figures are valid plotly.js specifications of a modest size, and bad input is refused."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from stelib.analyses import interactive as ix
from stelib.core import gaussian as g
from stelib.core import misspecified as ms
from stelib.core.ste import surrogate_derivative
from stelib.core.vanishing import radial_function, vanishing_radii


def _close(got, want, rel=2e-3, abs_=2e-4):
    got = np.array([np.nan if v is None else v for v in got], dtype=float)
    want = np.asarray(want, dtype=float)
    np.testing.assert_allclose(got, want, rtol=rel, atol=abs_, equal_nan=True)


def test_scale_field_arrows_are_the_expected_coarse_gradient():
    scales = (0.5, 2.0)
    fig = ix.scale_field(scales, directions=8)
    steps = fig.layout["sliders"][0]["steps"]
    assert [s["label"] for s in steps] == ["0.5", "2"]
    t = torch.linspace(0, 2 * math.pi, 9, dtype=torch.float64)[:-1]
    u = torch.stack([t.cos(), t.sin()], 1)
    a = torch.tensor([1.0, 0.0], dtype=torch.float64)
    for c, step in zip(scales, steps, strict=True):
        upd, traces = step["args"]
        assert traces == [1, 3, 5]
        for k, ste in enumerate(ix.STES):
            w = c * u
            want = u - ms.expected_coarse_grad(ms.optimal_v(w, a), w, a, ste)
            _close(upd["x"][k][1::3], want[:, 0])
            _close(upd["y"][k][1::3], want[:, 1])
            _close(upd["x"][k][0::3], u[:, 0])
    # scale symmetry: identity and ReLU arrows are the same at both scales, cReLU's are not
    a0, a1 = steps[0]["args"][0], steps[1]["args"][0]
    assert a0["x"][0] == a1["x"][0] and a0["y"][1] == a1["y"][1]
    assert a0["x"][2] != a1["x"][2]


def test_cgd_runs_follow_one_step_of_the_closed_form():
    lrs = (0.1, 0.3)
    fig = ix.cgd_runs(lrs, steps=20, record=20)
    a = torch.tensor([1.0, 0.0], dtype=torch.float64)
    w0 = torch.tensor([0.6, 0.8], dtype=torch.float64)
    v0 = ms.optimal_v(w0, a)
    lr_steps = fig.layout["sliders"][0]["steps"]
    for lr, step in zip(lrs, lr_steps, strict=True):
        norms = step["args"][0]["y"][:3]
        for k, ste in enumerate(ix.STES):
            w1 = w0 - lr * ms.expected_coarse_grad(v0, w0, a, ste)
            _close(norms[k][:2], [float(w0.norm()), float(w1.norm())])
    # |w| runs off for the identity and ReLU STEs and settles for the clipped ReLU
    long = ix.cgd_runs((0.2,), steps=2000, record=50)
    n_id, n_relu, n_crelu = (tr["y"] for tr in long.data[:3])
    assert n_id[-1] > 50 and n_relu[-1] > 20
    assert abs(n_crelu[-1] - ms.vanishing_norm("crelu")) < 1e-2
    assert len(fig.layout["sliders"][1]["steps"]) == len(fig.data[0]["x"])


def test_proper_window_is_the_rescaled_surrogate():
    fig = ix.proper_window(("crelu", "hardtanh"), widths=(0.5, 2.0))
    assert [b["label"] for b in fig.layout["updatemenus"][0]["buttons"]] == ["crelu", "hardtanh"]
    x = torch.tensor(fig.data[0]["x"], dtype=torch.float64)
    r = torch.tensor(fig.data[1]["x"], dtype=torch.float64)
    for lam, step in zip((0.5, 2.0), fig.layout["sliders"][0]["steps"], strict=True):
        upd = step["args"][0]
        for j, ste in enumerate(("crelu", "hardtanh")):
            mu = surrogate_derivative(x / lam, ste) / lam
            inside = (x / lam - torch.round(x / lam)).abs() > 1e-3  # away from the jumps
            _close(np.array(upd["y"][3 * j], dtype=float)[inside.numpy()], mu[inside])
            _close(upd["y"][3 * j + 1], radial_function(r / lam, ste) / lam)
            radii = [z.radius * lam for z in vanishing_radii(ste).radii]
            _close(upd["x"][3 * j + 2], [z for z in radii if r[0] <= z <= r[-1]])


def test_yin_landscape_is_the_profile_loss_and_flags_the_spurious_minimum():
    fig = ix.yin_landscape((0.0, 45.0, 120.0), points=31)
    theta = torch.deg2rad(torch.tensor(fig.data[0]["x"], dtype=torch.float64))
    w = torch.stack([theta.cos(), theta.sin()], 1)
    w_star = torch.tensor([1.0, 0.0], dtype=torch.float64)
    for al, step in zip((0.0, 45.0, 120.0), fig.layout["sliders"][0]["steps"], strict=True):
        v_star = torch.tensor([math.cos(math.radians(al)), math.sin(math.radians(al))],
                              dtype=torch.float64)
        want = g.population_loss(g.optimal_v(w, v_star, w_star), w, v_star, w_star)
        _close(step["args"][0]["y"][0], want)
        spurious = g.spurious_minima_exist(v_star)
        assert ("a spurious minimum" in step["args"][1]["title.text"]) is spurious
    titles = [s["args"][1]["title.text"] for s in fig.layout["sliders"][0]["steps"]]
    assert "no spurious" in titles[1] and "a spurious" in titles[2]  # s*^2 = 2 vs 0.13 < 1.5


def test_figures_are_valid_small_and_self_contained():
    plotly = pytest.importorskip("plotly.graph_objects")
    for fig in (ix.scale_field(), ix.cgd_runs(), ix.proper_window(), ix.yin_landscape()):
        plotly.Figure(fig.spec())  # raises on any property plotly.js does not know
        html = fig.to_html()
        assert len(html) < 400_000, (fig.name, len(html))
        assert "http" not in html.replace("http://www.w3.org", ""), fig.name
        assert 'class="stelib-interactive"' in html and 'alt="' in html
        assert fig.fallback_png().startswith(b"\x89PNG")
        json.dumps(fig.spec(), allow_nan=False)


@pytest.mark.parametrize("call", [
    lambda: ix.scale_field(()),
    lambda: ix.scale_field((0.0, 1.0)),
    lambda: ix.scale_field((1.0,), a=(0.0, 0.0)),
    lambda: ix.scale_field((1.0,), directions=2),
    lambda: ix.cgd_runs((-0.1,)),
    lambda: ix.cgd_runs((0.1,), steps=10**6),
    lambda: ix.cgd_runs((float("nan"),)),
    lambda: ix.proper_window(("nosuchste",)),
    lambda: ix.proper_window(widths=(1.0, -2.0)),
    lambda: ix.yin_landscape((), ),
    lambda: ix.yin_landscape((10.0,), m=1),
    lambda: ix.yin_landscape((10.0,), v_norm=0.0),
    lambda: ix.InteractiveFigure("Bad Name", [], {}, "five words of alt text"),
    lambda: ix.InteractiveFigure("ok", [], {}, "short"),
])
def test_bad_input_is_refused(call):
    with pytest.raises(ValueError):
        call()


def test_the_window_scaling_holds_for_a_registered_scaled_surrogate():
    """R_lambda(r) = R(r / lambda) / lambda, which the figure draws, checked independently: the
    clipped ReLU with window width lambda registered as its own STE, its radial function and
    vanishing radius computed from scratch."""
    from stelib.core import ste as registry

    lam = 2.0
    name = registry.register("crelu_width_2", lambda x: ((x > 0) & (x < lam)).to(x.dtype) / lam,
                             description="crelu, window width 2", breakpoints=(0.0, lam), replace=True)
    try:
        fig = ix.proper_window(("crelu",), widths=(lam,))
        r = torch.tensor(fig.data[1]["x"], dtype=torch.float64)
        upd = fig.layout["sliders"][0]["steps"][0]["args"][0]
        _close(upd["y"][1], radial_function(r, name))
        own = [z.radius for z in vanishing_radii(name).radii]
        assert len(own) == 1 and upd["x"][2] == pytest.approx(own, rel=1e-3)  # 4 digits drawn
    finally:
        registry.unregister(name)


def test_the_page_carries_only_determined_digits():
    """Rounding noise of a zero is 0, and a last-bit change of a value cannot move a drawn digit."""
    assert ix._num([-6.245e-17, 3e-13, 1e-12]) == [0.0, 0.0, 1e-12]
    x = np.array([0.123449999999999999, 2.0 / 3.0, 1234.5678, -0.0007654321])
    assert ix._num(x) == ix._num(np.nextafter(x, np.inf)) == ix._num(np.nextafter(x, -np.inf))
    assert ix._num([float("nan"), float("inf")]) == [None, None]


def test_building_a_figure_leaves_the_notebooks_plotting_alone():
    """The static fallback is drawn without pyplot: the backend (inline in a chapter) and the
    open figures are as before, so the chapter's next plt.show() still shows its figure."""
    import matplotlib
    import matplotlib.pyplot as plt

    before = matplotlib.get_backend()
    plt.switch_backend("svg")  # stands for the notebook's inline backend: anything but Agg
    try:
        open_before = plt.get_fignums()
        png = ix.yin_landscape(angles_deg=(10, 80)).fallback_png()
        assert png[:4] == b"\x89PNG"
        assert matplotlib.get_backend() == "svg" and plt.get_fignums() == open_before
    finally:
        plt.switch_backend(before)
