"""A shared check for the tests: closed forms against Monte Carlo within k standard errors."""

import math

import torch


def within(closed: torch.Tensor, per_sample: torch.Tensor, k: float = 4.0) -> None:
    """Closed form within k standard errors of the Monte Carlo mean, coordinate-wise."""
    mean = per_sample.mean(0)
    se = per_sample.std(0) / math.sqrt(per_sample.shape[0])
    z = (closed - mean).abs() / se
    assert bool((z < k).all()), f"closed {closed}, MC {mean} +- {se}, z = {z}"
