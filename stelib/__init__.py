"""stelib: straight-through estimators for binary-activation networks.

Companion library to Gongyo & Ishikawa, *Proper Straight-Through Estimator: Breaking symmetry
promotes convergence to true minimum* (2021), and Yin et al., *Understanding Straight-Through
Estimator in Training Activation Quantized Neural Nets* (ICLR 2019).

Modules (one idea each): ``ste`` (STEs, and the registry of surrogates: ``register``),
``quadrature`` (one-dimensional Gaussian integrals of any surrogate derivative), ``vanishing``
(where a coarse gradient vanishes on a minimising ray of the misspecified example), ``network`` (the two-layer binary network on a
batch), ``gaussian`` (Yin et al.'s closed forms), ``misspecified`` (the linear-teacher
example), ``distributions`` and ``problems`` (inputs and labels), ``montecarlo`` (estimates
with standard errors), ``train`` (batched coarse gradient descent), ``plotting``, ``params``,
``cli`` and ``book`` (the book's chapters and reruns). Chapter-specific helpers, imported by
name: ``symmetry`` (scale-symmetry checks), ``outcomes`` (classifying CGD runs in Yin's model),
``general_inputs`` (stationary points beyond Gaussian inputs), ``proper`` (which STEs keep
the scale symmetry, and where each comes to rest), ``profile`` and ``fields``
(sample-based profiles and w-plane fields of the misspecified example), ``quantnets``,
``bignets``, ``datasets``, ``lloyd``, ``practice`` and ``practice_report`` (activation-quantized
networks on real data).
"""

from stelib import distributions, gaussian, misspecified, montecarlo, network, problems, quadrature, ste, train
from stelib._version import __version__ as __version__
from stelib.distributions import DISTRIBUTIONS, make_distribution
from stelib.gaussian import YinModel
from stelib.misspecified import LinearTeacherModel, vanishing_norm
from stelib.network import coarse_grad, coarse_grads, forward, grad_v, sample_loss, teacher
from stelib.problems import LABEL_MODELS, Problem
from stelib.ste import (
    STE_NAMES,
    STES,
    binary_step,
    quantized_relu,
    register,
    surrogate,
    surrogate_derivative,
)
from stelib.train import History, TrainingDiverged, population_cgd, stochastic_cgd

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
    "sample_loss",
    "ste",
    "stochastic_cgd",
    "surrogate",
    "surrogate_derivative",
    "teacher",
    "train",
    "vanishing_norm",
]
