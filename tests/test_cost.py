"""Costs per scale (given or measured), the cost model the acquisitions see, the choice
of each run's scale (Engine.ask_scale and its scale choosers), and the budget that decides
what a cost-aware run makes next."""

from __future__ import annotations

import logging
import math
import time

import pytest
import torch
from skopt.space import Categorical, Real

from scaleup_bo import (
    Costs,
    DataError,
    Engine,
    History,
    ScaleUpOptimizer,
    SpaceExhaustedError,
    Strategy,
)
from scaleup_bo.cost import MIN_MEASURED_COST, cost_utility

SPACE = [Real(0.0, 1.0, name="x")]
FAST = {"acq_func_kwargs": {"num_candidates": 200}}
#: The cost-aware role's model.
SHARED = {"large_model": "shared"}


def small_f(p):
    return (p[0] - 0.3) ** 2


def large_f(p):
    return 2.0 * (p[0] - 0.35) ** 2 + 0.1


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


# ---------------------------------------------------------------------- Engine.ask_scale
def _small_engine(**settings):
    """An MF-MES engine told five small-scale points (winner: 0.2), none at large scale."""
    strategy = Strategy(**{**SHARED, **settings})
    engine = Engine(SPACE, acq_func="MF-MES", random_state=0, strategy=strategy, **FAST)
    for x in [0.05, 0.2, 0.45, 0.7, 0.95]:
        engine.tell([x], small_f([x]), "small")
    return engine


def _warm_engine(**settings):
    engine = _small_engine(**settings)
    engine.tell([0.2], large_f([0.2]), "large")
    return engine


def test_ask_scale_follows_the_costs():
    cheap_small = _warm_engine()
    _, scale = cheap_small.ask_scale({"small": 1.0, "large": 1000.0})
    assert scale == "small"
    values = cheap_small.scale_choice["values"]
    assert set(values) == {"small", "large"} and values["small"] > values["large"]
    cheap_large = _warm_engine()
    _, scale = cheap_large.ask_scale({"small": 1000.0, "large": 1.0})
    assert scale == "large"
    assert cheap_large.pending == [(cheap_large.pending[0][0], "large")]


@pytest.mark.parametrize("acq", ["MF-GIBBON", "MF-KG"])
def test_other_cost_aware_acquisitions_choose_a_scale(acq):
    kwargs = {"num_fantasies": 4} if acq == "MF-KG" else {"num_candidates": 200}
    strategy = Strategy(raw_samples=64, num_restarts=2, **SHARED)
    engine = Engine(SPACE, acq_func=acq, acq_func_kwargs=kwargs, random_state=0,
                    strategy=strategy)  # fmt: skip
    for x in [0.05, 0.2, 0.45, 0.7, 0.95]:
        engine.tell([x], small_f([x]), "small")
    engine.tell([0.2], large_f([0.2]), "large")
    point, scale = engine.ask_scale({"small": 1.0, "large": 1000.0})
    values = engine.scale_choice["values"]
    assert scale == "small" and all(math.isfinite(v) for v in values.values())
    assert values["small"] > values["large"] and engine.space.contains(point)


def _forrester(p):
    return (6 * p[0] - 2) ** 2 * math.sin(12 * p[0] - 4)


def _forrester_engine(small, **settings):
    """15 small runs of ``small`` on a grid, 5 large runs of Forrester."""
    strategy = Strategy(**{**SHARED, **settings})
    engine = Engine(SPACE, acq_func="MF-MES", random_state=0, strategy=strategy, **FAST)
    xs = [i / 14 for i in range(15)]
    engine.tell_many([[x] for x in xs], [small([x]) for x in xs], "small")
    for x in [0.1, 0.3, 0.5, 0.7, 0.9]:
        engine.tell([x], _forrester([x]), "large")
    return engine


@pytest.mark.parametrize(
    ("small", "expected"),
    [
        (lambda p: 0.5 * _forrester(p) + 10 * (p[0] - 0.5) - 5, "small"),  # informative
        (lambda p: -_forrester(p), "large"),  # anti-correlated: misleads
    ],
)
def test_guard_stops_paying_for_a_misleading_small_scale(small, expected):
    engine = _forrester_engine(small, transfer_guard=True)
    # Small runs are 1000x cheaper: only the guard can make a large run worth it.
    _, scale = engine.ask_scale({"small": 1.0, "large": 1000.0}, large_acq_func="qNEI")
    assert scale == expected
    assert engine.transfer["uses_small_scale"] is (expected == "small")


def test_ask_scale_with_one_scale_and_bad_input():
    engine = _warm_engine()
    point, scale = engine.ask_scale({"large": 3.0})
    assert scale == "large" and engine.space.contains(point)
    with pytest.raises(DataError, match="cost of the small scale"):
        engine.ask_scale({"small": 0.0, "large": 1.0})
    with pytest.raises(DataError, match="costs must map"):
        engine.ask_scale({"huge": 1.0})
    with pytest.raises(DataError, match="cost-aware acquisition"):
        Engine(SPACE, acq_func="EI").ask_scale({"small": 1.0, "large": 2.0})


def test_ask_scale_large_point_from_another_acquisition():
    engine = _warm_engine()
    point, scale = engine.ask_scale({"small": 1000.0, "large": 1.0}, large_acq_func="qNEI")
    assert scale == "large" and tuple(point) != (0.2,)


def test_ask_scale_first_large_run_is_the_small_winner():
    """Like ask("large") and the two-stage pipeline: the first large-scale run re-runs
    the best small-scale configuration (``transfer_points``), whichever acquisition
    chose the large scale; then the acquisitions take over."""
    for large_acq in ("qNEI", None):
        engine = _small_engine()
        point, scale = engine.ask_scale({"small": 1000.0, "large": 1.0}, large_acq_func=large_acq)
        assert (point, scale) == ([0.2], "large")
        engine.tell(point, large_f(point), "large")
        point, scale = engine.ask_scale({"small": 1000.0, "large": 1.0}, large_acq_func=large_acq)
        assert scale == "large" and point != [0.2]
    point, scale = _small_engine(transfer_points=0).ask_scale(
        {"small": 1000.0, "large": 1.0}, large_acq_func="qNEI"
    )
    assert scale == "large" and point != [0.2]


def test_ask_scale_small_point_from_another_acquisition():
    own, _ = _warm_engine().ask_scale({"small": 1.0, "large": 1000.0})
    point, scale = _warm_engine().ask_scale({"small": 1.0, "large": 1000.0}, small_acq_func="EI")
    reference = Engine(SPACE, acq_func="EI", random_state=0, strategy=Strategy(**SHARED))
    for t in _warm_engine().history:
        reference.tell(list(t.params), t.value, t.scale)
    assert scale == "small"
    assert point[0] == pytest.approx(reference.ask("small")[0], abs=1e-6)
    assert abs(point[0] - own[0]) > 1e-2


def test_ask_scale_skips_a_scale_tried_whole():
    engine = Engine([Categorical(["a", "b"])], acq_func="MF-MES", n_initial_points=1)
    engine.tell(["a"], 1.0, "small")
    engine.tell(["b"], 0.5, "small")
    engine.tell(["a"], 1.2, "large")
    assert engine.exhausted("small") and not engine.exhausted("large")
    assert engine.ask_scale({"small": 1.0, "large": 10.0}) == (["b"], "large")
    engine.tell(["b"], 0.7, "large")
    with pytest.raises(SpaceExhaustedError, match="small scale"):
        engine.ask_scale({"small": 1.0, "large": 10.0})


# ---------------------------------------------------------------------- scale choosers
def _bowl_small(p):
    return (p[0] - 0.3) ** 2


def _bowl_large(p):
    return (p[0] - 0.4) ** 2 + 0.1


def test_a_custom_scale_chooser_decides_every_cost_aware_step():
    seen = []

    def small_first(context):
        seen.append(dict(context.costs))
        return "small" if len(context.history.at("small")) < 8 else "large"

    opt = ScaleUpOptimizer(
        _bowl_small, _bowl_large, [(0.0, 1.0)], budget=48, cost_small=1, cost_large=10,
        n_initial_points=3, random_state=0, strategy=Strategy(scale_chooser=small_first),
    )  # fmt: skip
    scales = [t.scale for t in opt.history]
    assert scales[:8] == ["small"] * 8 and set(scales[8:]) == {"large"}
    assert opt.spent <= 48 and len(opt.history.at("large")) == 4
    assert seen and all(set(c) == {"small", "large"} for c in seen)


def test_a_chooser_may_give_the_point_too_and_is_checked():
    from scaleup_bo import InvalidPointError

    def here(context):
        return [0.125], "small"

    opt = ScaleUpOptimizer(
        None, None, [(0.0, 1.0)], budget=30, cost_small=1, cost_large=10, n_initial_points=1,
        random_state=0, strategy=Strategy(scale_chooser=here),
    )  # fmt: skip
    params, scale = opt.ask()
    opt.tell(params, _bowl_small(params), scale)
    assert opt.ask() == ([0.125], "small")

    def outside(context):
        return [3.0], "small"

    bad = ScaleUpOptimizer(
        None, None, [(0.0, 1.0)], budget=30, cost_small=1, cost_large=10, n_initial_points=1,
        random_state=0, strategy=Strategy(scale_chooser=outside),
    )  # fmt: skip
    params, scale = bad.ask()
    bad.tell(params, 1.0, scale)
    with pytest.raises(InvalidPointError):
        bad.ask()


# ---------------------------------------------------------------------- the budget
def test_measured_costs_use_wall_time():
    def slow_small(p):
        time.sleep(0.03)
        return small_f(p)

    def slow_large(p):
        time.sleep(0.1)
        return large_f(p)

    opt = ScaleUpOptimizer(slow_small, slow_large, SPACE, budget=0.35, n_initial_points=3,
                           random_state=0, **FAST)  # fmt: skip
    assert opt.costs.measured
    assert opt.cost("large") > 3 * opt.cost("small") > 0
    # The large scale is timed by running the small winner right after the initial design.
    scales = [t.scale for t in opt.history]
    assert scales[:4] == ["small", "small", "small", "large"]
    small3 = opt.history.at("small")[:3]
    assert opt.history.at("large")[0].params == min(small3, key=lambda t: t.value).params
    # A run may exceed its scale's mean time a little; never by a whole large run.
    assert opt.spent <= 0.35 + 0.05
    assert opt.history.at("large")


def test_the_initial_design_leaves_the_held_back_large_run(caplog):
    """A budget too small for every initial small run besides the large run held back
    for the recommendation makes fewer small runs, not zero large ones."""
    with caplog.at_level("WARNING", logger="scaleup_bo"):
        opt = ScaleUpOptimizer(
            small_f, large_f, SPACE, 14.0, cost_small=1.0, cost_large=10.0,
            n_initial_points=5, random_state=0, **FAST,
        )  # fmt: skip
    assert "leaves room for 4 of the n_initial_points=5" in caplog.text
    assert [t.scale for t in opt.history] == ["small"] * 4 + ["large"]
    assert opt.recommended_params is not None and opt.spent == 14.0
    for budget in (5.0, 10.5):  # not even one run at each scale
        with pytest.raises(DataError, match="cannot pay for one small-scale run and one large"):
            ScaleUpOptimizer(small_f, large_f, SPACE, budget, cost_small=1.0, cost_large=10.0)


def test_the_only_large_run_of_a_tight_budget_is_the_small_winner():
    opt = ScaleUpOptimizer(small_f, large_f, SPACE, 14.0, cost_small=1.0, cost_large=10.0,
                           n_initial_points=5, random_state=0, **FAST)  # fmt: skip
    (large,) = opt.history.at("large")
    assert large.params == opt.history.best("small").params
    # Measured costs: the first large run is made even when the initial design used the
    # budget up (its cost is unknown until then), and it is the small winner too.
    opt = ScaleUpOptimizer(None, None, SPACE, 100.0, random_state=0, **FAST)
    while (step := opt.ask()) is not None:
        params, scale = step
        f = small_f if scale == "small" else large_f
        opt.tell(params, f(params), scale, seconds=30.0 if scale == "small" else 60.0)
    assert [t.scale for t in opt.history] == ["small"] * 3 + ["large"]
    assert opt.history.at("large")[0].params == opt.history.best("small").params


def test_nothing_more_is_committed_while_a_run_in_flight_has_an_unknown_cost():
    opt = ScaleUpOptimizer(None, None, [(0.0, 1.0)], budget=3.0)  # measured costs
    first = opt.ask()
    assert first is not None and opt.ask() is None  # the first run's cost is unknown
    assert opt.done is False  # not over: a run is in flight
    params, scale = first
    opt.tell(params, 1.0, scale, seconds=0.5)
    assert opt.ask() is not None


def test_an_exhausted_discrete_space_ends_a_cost_aware_run(caplog):
    values = {"a": 1.0, "b": 0.5, "c": 2.0}
    with caplog.at_level(logging.WARNING, logger="scaleup_bo"):
        opt = ScaleUpOptimizer(
            lambda p: values[p[0]], lambda p: values[p[0]] + 0.1, [Categorical(["a", "b", "c"])],
            budget=200.0, cost_small=1.0, cost_large=10.0, n_initial_points=2, random_state=0,
        )  # fmt: skip
    large = [t.params[0] for t in opt.engine.history.at("large")]
    small = [t.params[0] for t in opt.engine.history.at("small")]
    assert len(set(large)) == len(large) and len(set(small)) == len(small)
    assert opt.done and opt.spent < 200.0 and opt.best_params == ["b"]
    assert sorted(large) == ["a", "b", "c"]  # it ends once the large scale is done
    assert "has been run, or is running, at large scale" in caplog.text


def test_a_space_smaller_than_the_initial_design_still_gets_large_runs():
    values = {"a": 1.0, "b": 0.5, "c": 2.0}
    opt = ScaleUpOptimizer(
        lambda p: values[p[0]], lambda p: values[p[0]] + 0.1, [Categorical(["a", "b", "c"])],
        budget=40.0, cost_small=1.0, cost_large=10.0, n_initial_points=5, random_state=0,
    )  # fmt: skip
    assert len(opt.engine.history.at("small")) == 3 and opt.best_params == ["b"]
