"""Cheap two-fidelity objectives on the 4-D mixed test space (transfer helps)."""

from __future__ import annotations

import math

from skopt.space import Categorical, Integer, Real


def make_mixed_space():
    """4-D mixed space: log-uniform Real, Integer, string Categorical, uniform Real."""
    return [
        Real(1e-4, 1e-1, prior="log-uniform", name="lr"),
        Integer(1, 8, name="layers"),
        Categorical(["adam", "sgd", "rms"], name="opt"),
        Real(0.0, 1.0, name="dropout"),
    ]


OPT_PENALTY = {"adam": 0.0, "sgd": 0.6, "rms": 1.2}


def small_objective(p):
    """Small scale: optimum at lr=10^-2.5, layers=3, adam, dropout=0.3."""
    lr, layers, opt, dropout = p
    return (
        (math.log10(lr) + 2.5) ** 2
        + 0.1 * (layers - 3) ** 2
        + OPT_PENALTY[opt]
        + (dropout - 0.3) ** 2
    )


def large_objective(p):
    """Large scale: same shape, optimum shifted (lr=10^-2.2, layers=4, dropout=0.45), scaled."""
    lr, layers, opt, dropout = p
    return (
        2.0
        * (
            (math.log10(lr) + 2.2) ** 2
            + 0.1 * (layers - 4) ** 2
            + OPT_PENALTY[opt]
            + (dropout - 0.45) ** 2
        )
        + 0.5
    )
