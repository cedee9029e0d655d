"""stelib: straight-through estimators for binary-activation networks.

Companion library to Gongyo & Ishikawa, *Proper Straight-Through Estimator: Breaking symmetry
promotes convergence to true minimum* (2021), and Yin et al., *Understanding Straight-Through
Estimator in Training Activation Quantized Neural Nets* (ICLR 2019).
"""

from stelib import network, ste
from stelib.network import coarse_grad, coarse_grads, forward, grad_v, sample_loss, teacher
from stelib.ste import STE_NAMES, STES, binary_step, quantized_relu, surrogate, surrogate_derivative

__version__ = "0.1.0"

__all__ = sorted([
    "STES", "STE_NAMES", "binary_step", "coarse_grad", "coarse_grads", "forward", "grad_v",
    "network", "quantized_relu", "sample_loss", "ste", "surrogate", "surrogate_derivative", "teacher",
])
