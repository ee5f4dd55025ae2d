"""What an evaluation costs at each scale: given, or measured from wall times.

:class:`Costs` answers three questions for the cost-aware
:class:`~scaleup_bo.optimizers.ScaleUpOptimizer`: what the next run at a scale will
cost, how much of the budget the trials so far have spent, and (as a BoTorch model of
the fidelity column) how a multi-fidelity acquisition should weigh information per
unit of cost.

With ``small`` and ``large`` given, costs are in the user's units (GPU-hours,
dollars...) and a trial costs its scale's value. Without them, costs are measured:
a scale costs the mean wall time of its trials so far, and the budget is in seconds
of evaluation (the optimizer's own time is reported apart, never charged).

Example:
    >>> from scaleup_bo.history import History
    >>> costs = Costs(small=1.0, large=10.0)
    >>> history = History()
    >>> _ = history.add([0.5], 1.0, "small")
    >>> _ = history.add([0.5], 2.0, "large")
    >>> costs.spent(history), costs.cost("large", history)
    (11.0, 10.0)
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import torch
from botorch.acquisition.cost_aware import InverseCostWeightedUtility
from botorch.models.deterministic import GenericDeterministicModel
from torch import Tensor

from scaleup_bo.exceptions import DataError
from scaleup_bo.history import SCALES, History, Trial

__all__ = ["Costs", "cost_utility"]

#: A measured cost is never taken below this (seconds): a run that returns at once
#: would otherwise make its scale look free.
MIN_MEASURED_COST = 1e-3


class Costs:
    """Costs per scale, given or measured.

    Args:
        small: Cost of one small-scale run (``None`` with ``large=None``: measured).
        large: Cost of one large-scale run.

    Raises:
        DataError: only one of the two given, or a value that is not a positive
            finite number.
    """

    def __init__(self, small: float | None = None, large: float | None = None) -> None:
        if (small is None) != (large is None):
            raise DataError(
                "give both cost_small and cost_large (in the same units), or neither "
                "(then both are measured as evaluation wall time in seconds)."
            )
        self.given: dict[str, float] | None = None
        if small is not None and large is not None:
            self.given = {
                "small": _positive("cost_small", small),
                "large": _positive("cost_large", large),
            }

    @property
    def measured(self) -> bool:
        """True when costs are wall times measured from the trials."""
        return self.given is None

    @property
    def unit(self) -> str:
        """``"s"`` when measured, else ``"cost units"``."""
        return "s" if self.measured else "cost units"

    def trial_cost(self, trial: Trial) -> float:
        """What ``trial`` cost (failed trials cost too)."""
        if self.given is not None:
            return self.given[trial.scale]
        return max(float(trial.seconds), 0.0)

    def spent(self, history: History) -> float:
        """Total cost of every trial in ``history``."""
        return math.fsum(self.trial_cost(t) for t in history)

    def cumulative(self, history: History) -> list[float]:
        """Cost spent after each trial, in history order."""
        total, out = 0.0, []
        for t in history:
            total += self.trial_cost(t)
            out.append(total)
        return out

    def known(self, scale: str, history: History) -> bool:
        """Whether the cost of ``scale`` is known (given, or measured at least once)."""
        return self.given is not None or any(t.scale == scale for t in history)

    def cost(self, scale: str, history: History) -> float:
        """Expected cost of the next run at ``scale``.

        Measured costs are the mean wall time of that scale's trials; a scale not
        run yet costs ``nan`` (unknown).
        """
        if scale not in SCALES:
            raise DataError(f"scale must be one of {SCALES}, got {scale!r}.")
        if self.given is not None:
            return self.given[scale]
        seconds = [t.seconds for t in history if t.scale == scale]
        if not seconds:
            return math.nan
        return max(math.fsum(seconds) / len(seconds), MIN_MEASURED_COST)


def cost_utility(small_fidelity: float, small: float, large: float) -> InverseCostWeightedUtility:
    """Information per unit of cost, for the multi-fidelity acquisitions.

    The cost of an input row is read from its fidelity (last) column: ``small`` below
    the midpoint between the two fidelities, ``large`` above. Only two fidelity values
    are ever evaluated, so this is a step rather than an ``AffineFidelityCostModel``:
    an affine cost through both points needs a negative fixed cost whenever a large
    run costs more than ``1 / small_fidelity`` times a small one.
    """
    threshold = (small_fidelity + 1.0) / 2.0

    def cost(X: Tensor) -> Tensor:
        fid = X[..., -1:]
        return torch.where(
            fid >= threshold, torch.full_like(fid, large), torch.full_like(fid, small)
        )

    return InverseCostWeightedUtility(cost_model=GenericDeterministicModel(cost, num_outputs=1))


def _positive(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise DataError(f"{name} must be a positive number, got {value!r}.")
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise DataError(f"{name} must be a positive finite number, got {value!r}.")
    return value
