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
    ``symmetry`` (scale-symmetry checks), ``outcomes`` (classifying CGD runs in Yin's model),
    ``general_inputs`` (stationary points beyond Gaussian inputs), ``proper`` (which STEs keep
    the scale symmetry, and where each comes to rest), ``profile`` and ``fields`` (sample-based
    profiles and w-plane fields of the misspecified example), ``quantnets``, ``bignets``,
    ``datasets``, ``lloyd``, ``practice`` and ``practice_report`` (activation-quantized
    networks on real data), ``stored`` (results too expensive for a chapter, stored with
    provenance), ``plotting`` (the STE palette and figure helpers).
``stelib/tooling`` -- the book's tooling
    ``params`` and ``specs`` (every chapter's parameters and their rules), ``cli`` (the
    ``stelib`` command), ``book`` (executing and building the book), ``sweep`` (parameter
    sweeps on one machine or a Dask cluster), ``results`` (computing and checking stored results), ``provenance`` (what produced a
    run, recorded in its metadata).

The folders are not part of the names: every module keeps its short name, ``stelib.ste``,
``stelib.practice``, ``stelib.book`` (imported, run with ``python -m`` or named as a Sphinx
extension), which is the public API the chapters and tests use. The long name
(``stelib.core.ste``) is the same module object, for tools that resolve modules by file.
"""

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys

from stelib._version import __version__ as __version__
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

#: every module of the library, by layer (tests/test_layers.py checks this against the folders)
LAYERS: dict[str, tuple[str, ...]] = {
    "core": ("_closedform", "_fused", "_validate", "distributions", "gaussian", "misspecified",
             "montecarlo", "network", "problems", "quadrature", "rounding", "ste", "train", "vanishing"),
    "analyses": ("bignets", "datasets", "fields", "general_inputs", "lloyd", "outcomes",
                 "plotting", "practice", "practice_report", "profile", "proper", "quantnets",
                 "stored", "symmetry"),
    "tooling": ("book", "cli", "params", "provenance", "results", "specs", "sweep"),
}
_HOME = {name: f"{__name__}.{layer}.{name}" for layer, names in LAYERS.items() for name in names}


def _home(fullname: str) -> str | None:
    """``stelib.LAYER.NAME[.SUB]`` for ``stelib.NAME[.SUB]``; None for any other name."""
    top, _, rest = fullname.partition(".")
    name, _, sub = rest.partition(".")
    if top != __name__ or name not in _HOME:
        return None
    return f"{_HOME[name]}.{sub}" if sub else _HOME[name]


class _ShortNames(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Makes ``stelib.NAME`` the module ``stelib.LAYER.NAME`` itself (one module object, so a
    registry or a monkeypatch is shared), also for ``python -m stelib.NAME``."""

    def find_spec(self, fullname, path=None, target=None):
        home = _home(fullname)
        real = importlib.util.find_spec(home) if home else None
        if real is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, self, origin=real.origin,
                                              is_package=real.submodule_search_locations is not None)

    def create_module(self, spec):
        return importlib.import_module(_home(spec.name))

    def exec_module(self, module):
        pass  # already executed under its long name

    def get_code(self, fullname):  # for runpy (python -m stelib.book)
        home = _home(fullname)
        return importlib.util.find_spec(home).loader.get_code(home)


# one finder, also when the package is imported afresh (a reload, or a copy of it first on the path)
sys.meta_path[:] = [f for f in sys.meta_path if type(f).__qualname__ != "_ShortNames"]
sys.meta_path.insert(0, _ShortNames())

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
