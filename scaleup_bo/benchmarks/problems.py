"""Two-fidelity test problems.

Each problem has a search space, a small-scale and a large-scale objective (to
minimize). The benchmark suite adds to this module.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from skopt.space import Categorical, Dimension, Integer, Real

__all__ = ["mixed_toy_large", "mixed_toy_small", "mixed_toy_space"]

_PENALTY = {"adam": 0.0, "sgd": 0.6, "rms": 1.2}


def mixed_toy_space() -> list[Dimension]:
    """4-D mixed space: log-uniform Real, Integer, string Categorical, uniform Real."""
    return [
        Real(1e-4, 1e-1, prior="log-uniform", name="lr"),
        Integer(1, 8, name="layers"),
        Categorical(["adam", "sgd", "rms"], name="opt"),
        Real(0.0, 1.0, name="dropout"),
    ]


def mixed_toy_small(p: Sequence[Any]) -> float:
    """Small scale: optimum at lr = 10^-2.5, layers = 3, adam, dropout = 0.3 (value 0)."""
    lr, layers, opt, dropout = p
    return (
        (math.log10(lr) + 2.5) ** 2 + 0.1 * (layers - 3) ** 2 + _PENALTY[opt] + (dropout - 0.3) ** 2
    )


def mixed_toy_large(p: Sequence[Any]) -> float:
    """Large scale: optimum shifted (lr = 10^-2.2, layers = 4, dropout = 0.45), scaled x2, +0.5.

    The optimum value is 0.5; the small-scale optimum scores 0.925 here.
    """
    lr, layers, opt, dropout = p
    inner = (math.log10(lr) + 2.2) ** 2 + 0.1 * (layers - 4) ** 2 + _PENALTY[opt]
    return 2.0 * (inner + (dropout - 0.45) ** 2) + 0.5
