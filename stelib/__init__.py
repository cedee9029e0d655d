"""stelib: straight-through estimators for binary-activation networks.

Companion library to Gongyo & Ishikawa, *Proper Straight-Through Estimator: Breaking symmetry
promotes convergence to true minimum* (2021), and Yin et al., *Understanding Straight-Through
Estimator in Training Activation Quantized Neural Nets* (ICLR 2019).

One idea per module, in three layers; each folder is one layer and may import only from the
layers above it in this list:

``stelib/core`` -- the model and its numerics
    ``ste`` (STEs, and the registry of surrogates: ``register``), ``network`` (the two-layer
    binary network on a batch), ``distributions`` and ``problems`` (inputs and labels),
    ``quadrature`` (one-dimensional Gaussian integrals of any surrogate derivative),
    ``gaussian`` (Yin et al.'s closed forms), ``misspecified`` (the linear-teacher example) and
    ``vanishing`` (where its expected coarse gradient vanishes), ``montecarlo`` (estimates with
    standard errors), ``train`` (batched coarse gradient descent), ``rounding`` (printing and
    gluing only the digits a computation determines).
``stelib/analyses`` -- what one chapter computes and draws
    ``symmetry`` (scale-symmetry checks, gathering ``sym_rescaling``, ``sym_covariance`` and
    ``sym_crelu``) and ``rays`` (coarse gradients along rays),
    ``outcomes`` (classifying CGD runs in Yin's model),
    ``yin`` and ``linear_teacher`` (the checks of Yin's Gaussian model and of the
    linear-teacher example, each a result whose ``str`` is its report; ``yin`` gathers
    ``yin_landscape``, ``yin_coarse`` and ``yin_runs``, ``linear_teacher`` gathers ``ms_checks``,
    ``ms_rays``, ``ms_paths`` and ``ms_c5``), ``general_inputs`` (stationary points
    beyond Gaussian inputs, gathering ``gi_laws``, ``gi_quadrature``, ``gi_samples``,
    ``gi_stationary`` and ``gi_fixed_points``), ``proper`` (which STEs keep the scale symmetry,
    and where each comes to rest, gathering ``proper_test``, ``proper_montecarlo``,
    ``proper_radii`` and ``proper_yin``), ``profile`` and ``fields`` (sample-based profiles
    and w-plane fields of the misspecified example), ``quantnets``, ``bignets``, ``datasets``,
    ``lloyd``, ``practice`` and ``practice_report`` (activation-quantized networks on real
    data; ``practice_report`` gathers ``report_orderings``, ``report_yin`` and
    ``report_frames``), ``stored`` (results too expensive for a chapter, stored with
    provenance), ``plotting`` (the STE palette and figure helpers), ``interactive`` (figures
    with sliders that need no kernel, gathering ``ix_figure``, ``ix_scale_field``,
    ``ix_cgd_runs``, ``ix_proper_window`` and ``ix_yin_landscape``).
``stelib/tooling`` -- the book's tooling
    ``chapterspec`` (what a chapter's parameters are: default, allowed values, meaning),
    ``specs`` (every chapter's spec), ``params`` (parameters cells, checking a chapter),
    ``toc`` (the book's chapters, from ``_toc.yml``), ``chapters`` (what the commands share:
    the book, a chapter, its spec, where runs go), ``kernels`` (how they start Jupyter kernels),
    ``cli`` (the ``stelib`` command), ``book`` (building the book, and the book's tooling under
    one name), ``execution`` (executing chapters in place, recording their times),
    ``editions`` (the student's edition, PDF handouts), ``sphinxext`` (the Sphinx extension:
    generated tables, build checks), ``sweep`` (parameter sweeps on one machine or a Dask
    cluster) with ``sweep_grid`` (the grid), ``sweep_workers`` (where points run) and
    ``sweep_table`` (sweep.csv and sweep.png), ``results`` (computing and checking stored
    results), ``provenance`` (what produced a run, recorded in its metadata).

The folders are not part of the names: every module keeps its short name, ``stelib.ste``,
``stelib.practice``, ``stelib.book`` (imported, run with ``python -m`` or named as a Sphinx
extension), which is the public API the chapters and tests use. The short name is an ordinary
module file, ``stelib/ste.py``, written by ``tools/short_names.py``: it star-imports
``stelib.core.ste`` (so editors and type checkers resolve ``stelib.ste.surrogate_derivative``)
and then puts that module itself in ``sys.modules``, so ``stelib.ste`` *is* ``stelib.core.ste``
(one registry, one place to monkeypatch). A module added to ``LAYERS`` gets its file with
``python tools/short_names.py`` (tests/test_layers.py checks that every one has it).

``import stelib`` imports nothing heavy: the names below (``from stelib import YinModel``) and
the modules (``stelib.network``) are imported on first use (PEP 562), so ``stelib --version``
does not wait for PyTorch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from stelib._version import __version__ as __version__

#: every module of the library, by layer (tests/test_layers.py checks this against the folders)
LAYERS: dict[str, tuple[str, ...]] = {
    "core": ("_closedform", "_fused", "_graphs", "_validate", "distributions", "gaussian", "misspecified",
             "montecarlo", "network", "problems", "quadrature", "rounding", "ste", "train", "vanishing"),
    "analyses": ("bignets", "datasets", "fields", "general_inputs", "gi_fixed_points", "gi_laws", "gi_quadrature",
                 "gi_samples", "gi_stationary", "interactive", "ix_cgd_runs", "ix_figure", "ix_proper_window",
                 "ix_scale_field", "ix_yin_landscape", "linear_teacher", "lloyd", "ms_c5", "ms_checks", "ms_paths",
                 "ms_rays", "outcomes", "plotting", "practice", "practice_report", "profile", "proper",
                 "proper_montecarlo", "proper_radii", "proper_test", "proper_yin", "quantnets", "rays", "report_frames",
                 "report_orderings", "report_yin", "stored", "sym_covariance", "sym_crelu", "sym_rescaling", "symmetry",
                 "yin", "yin_coarse", "yin_landscape", "yin_runs"),
    "tooling": ("book", "chapters", "chapterspec", "cli", "editions", "execution", "kernels", "params", "provenance",
                "results", "specs", "sphinxext", "sweep", "sweep_grid", "sweep_table", "sweep_workers", "toc"),
}

#: the names ``stelib`` offers itself, each from its module in stelib/core (imported on first use)
_EXPORTS: dict[str, str] = {
    "DISTRIBUTIONS": "distributions", "make_distribution": "distributions",
    "YinModel": "gaussian",
    "LinearTeacherModel": "misspecified", "vanishing_norm": "misspecified",
    "coarse_grad": "network", "coarse_grads": "network", "forward": "network", "grad_v": "network",
    "sample_loss": "network", "teacher": "network",
    "LABEL_MODELS": "problems", "Problem": "problems",
    "resolve_device": "_validate",
    "STE_NAMES": "ste", "STES": "ste", "binary_step": "ste", "quantized_relu": "ste", "register": "ste",
    "surrogate": "ste", "surrogate_derivative": "ste",
    "History": "train", "TrainingDiverged": "train", "population_cgd": "train", "stochastic_cgd": "train",
}

if TYPE_CHECKING:  # the same names for editors and type checkers (tests/test_layers.py: they agree)
    from stelib.core import distributions, gaussian, misspecified, montecarlo, network, problems, quadrature, ste, train
    from stelib.core._validate import resolve_device
    from stelib.core.distributions import DISTRIBUTIONS, make_distribution
    from stelib.core.gaussian import YinModel
    from stelib.core.misspecified import LinearTeacherModel, vanishing_norm
    from stelib.core.network import coarse_grad, coarse_grads, forward, grad_v, sample_loss, teacher
    from stelib.core.problems import LABEL_MODELS, Problem
    from stelib.core.ste import (
        STE_NAMES,
        STES,
        binary_step,
        quantized_relu,
        register,
        surrogate,
        surrogate_derivative,
    )
    from stelib.core.train import History, TrainingDiverged, population_cgd, stochastic_cgd

_LAYER_OF = {name: layer for layer, names in LAYERS.items() for name in names}


def __getattr__(name: str) -> Any:
    """``stelib.NAME`` on first use (PEP 562): a name of ``_EXPORTS``, a module of ``LAYERS``
    (the module under its long name, the object ``import stelib.NAME`` gives too) or a layer."""
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"{__name__}.core.{_EXPORTS[name]}"), name)
    elif name in _LAYER_OF:
        value = importlib.import_module(f"{__name__}.{_LAYER_OF[name]}.{name}")
    elif name in LAYERS:
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS) | set(_LAYER_OF) | set(LAYERS))


__all__ = [
    "DISTRIBUTIONS",
    "History",
    "LABEL_MODELS",
    "LinearTeacherModel",
    "Problem",
    "STES",
    "STE_NAMES",
    "TrainingDiverged",
    "YinModel",
    "binary_step",
    "coarse_grad",
    "coarse_grads",
    "distributions",
    "forward",
    "gaussian",
    "grad_v",
    "make_distribution",
    "misspecified",
    "montecarlo",
    "network",
    "population_cgd",
    "problems",
    "quadrature",
    "quantized_relu",
    "register",
    "resolve_device",
    "sample_loss",
    "ste",
    "stochastic_cgd",
    "surrogate",
    "surrogate_derivative",
    "teacher",
    "train",
    "vanishing_norm",
]
