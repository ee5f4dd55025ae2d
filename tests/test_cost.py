"""Costs per scale (given or measured) and the cost model the acquisitions see."""

from __future__ import annotations

import math

import pytest
import torch

from scaleup_bo import Costs, DataError, History
from scaleup_bo.cost import MIN_MEASURED_COST, cost_utility


def _history(*trials):
    h = History()
    for scale, seconds, value in trials:
        h.add([0.5], value, scale, status="ok" if value is not None else "failed", seconds=seconds)
    return h


def test_given_costs_charge_every_trial_failed_ones_too():
    costs = Costs(small=1.0, large=8.0)
    h = _history(("small", 5.0, 1.0), ("small", 5.0, None), ("large", 0.1, 2.0))
    assert costs.spent(h) == 10.0
    assert costs.cumulative(h) == [1.0, 2.0, 10.0]
    assert costs.cost("large", h) == 8.0 and not costs.measured and costs.unit == "cost units"


def test_measured_costs_are_mean_wall_times_and_unknown_until_measured():
    costs = Costs()
    h = _history(("small", 2.0, 1.0), ("small", 4.0, None))
    assert costs.measured and costs.unit == "s"
    assert costs.cost("small", h) == 3.0
    assert math.isnan(costs.cost("large", h)) and not costs.known("large", h)
    assert costs.spent(h) == 6.0
    assert costs.cost("small", _history(("small", 0.0, 1.0))) == MIN_MEASURED_COST


@pytest.mark.parametrize(
    ("small", "large", "match"),
    [(1.0, None, "both"), (None, 2.0, "both"), (0.0, 1.0, "positive"), (1.0, math.inf, "finite"),
     ("1", 2.0, "positive"), (True, 2.0, "positive")],
)  # fmt: skip
def test_bad_costs_are_refused(small, large, match):
    with pytest.raises(DataError, match=match):
        Costs(small, large)


def test_cost_model_reads_the_fidelity_column():
    utility = cost_utility(0.5, 1.0, 10.0)
    X = torch.tensor([[[0.3, 0.5]], [[0.3, 1.0]]], dtype=torch.float64)
    cost = utility.cost_model.posterior(X).mean.reshape(-1)
    assert cost.tolist() == [1.0, 10.0]
    # Information per unit of cost: the same gain is worth 10x more at the small scale.
    deltas = torch.ones(2, dtype=torch.float64)
    assert utility(X, deltas).tolist() == pytest.approx([1.0, 0.1])
