"""The cost-aware ScaleUpOptimizer façade (real BoTorch fits, small budgets)."""

from __future__ import annotations

import logging
import math
import sys

import cloudpickle
import pytest
from skopt.space import Categorical, Real

from scaleup_bo import DataError, ScaleUpOptimizer, Strategy
from scaleup_bo.model import EXPLOIT_NOISE_FLOOR

cloudpickle.register_pickle_by_value(sys.modules[__name__])

SPACE = [Real(0.0, 1.0, name="x")]
MIXED = [Real(0.0, 1.0, name="x"), Categorical(["a", "b"], name="c")]
FAST = {"acq_func_kwargs": {"num_candidates": 200}}


def small_f(p):
    return (p[0] - 0.3) ** 2


def large_f(p):
    return 2.0 * (p[0] - 0.35) ** 2 + 0.1


def mixed_small(p):
    return (p[0] - 0.3) ** 2 + (0.0 if p[1] == "a" else 0.2)


def mixed_large(p):
    return (p[0] - 0.4) ** 2 + (0.0 if p[1] == "a" else 0.3)


# ---------------------------------------------------------------------- ScaleUpOptimizer
def _run(**kwargs):
    args = {"budget": 16.0, "cost_small": 1.0, "cost_large": 4.0, "n_initial_points": 3,
            "random_state": 0, **FAST, **kwargs}  # fmt: skip
    return ScaleUpOptimizer(small_f, large_f, SPACE, **args)


def test_run_spends_the_budget_and_evaluates_its_recommendation():
    opt = _run()
    scales = [t.scale for t in opt.history]
    assert scales[:3] == ["small"] * 3 and "large" in scales
    assert opt.spent <= 16.0 and opt.spent > 16.0 - 4.0  # nothing affordable was left unspent
    # The recommendation was evaluated at large scale and is the best under the model.
    assert tuple(opt.recommended_params) in {t.params for t in opt.history.at("large")}
    assert opt.best_score == min(opt.Y_iters) and len(opt.X_iters) == scales.count("large")
    assert len(opt.overhead) == len(opt.history)
    # Its recommendation uses the model refitted with the exploit noise floor by default.
    assert opt.strategy.exploit_noise_floor == EXPLOIT_NOISE_FLOOR == 1e-7
    assert opt.history.metadata["strategy"]["exploit_noise_floor"] == 1e-7


def test_exploit_noise_floor_changes_only_the_reserved_run():
    """With ``exploit_noise_floor`` the recommendation (the reserved last run) is made on
    the model refitted with that floor; every run before it is the same."""
    base = _run(strategy=Strategy(exploit_noise_floor=None))
    opt = _run()
    assert base.strategy.exploit_noise_floor is None
    assert base.history.metadata["strategy"]["exploit_noise_floor"] is None
    trials = list(opt.history)
    assert [(t.params, t.scale) for t in trials[:-1]] == [
        (t.params, t.scale) for t in list(base.history)[:-1]
    ]
    assert trials[-1].scale == "large"
    # Replayed up to the reserve, an engine with the floor recommends the last run's point;
    # the exploring model recommends another one on this state.
    replay = {}
    for floor in (1e-7, None):
        twin = ScaleUpOptimizer(
            None, None, SPACE, 16.0, cost_small=1.0, cost_large=4.0, n_initial_points=3,
            random_state=0, strategy=Strategy(exploit_noise_floor=floor), **FAST,
        )  # fmt: skip
        for t in trials[:-1]:
            twin.engine.tell(list(t.params), t.value, t.scale)
        replay[floor] = twin.engine.recommend()
    assert tuple(replay[1e-7]) == trials[-1].params
    assert replay[None] != replay[1e-7]
    # The final recommendation (among evaluated points) comes from the refit too.
    twin = ScaleUpOptimizer(
        None, None, SPACE, 16.0, cost_small=1.0, cost_large=4.0, n_initial_points=3,
        random_state=0, strategy=Strategy(exploit_noise_floor=1e-7), **FAST,
    )  # fmt: skip
    for t in trials:
        twin.engine.tell(list(t.params), t.value, t.scale)
    assert opt.recommended_params == twin.engine.recommend(evaluated_only=True)


def test_same_seed_same_run():
    a, b = _run(), _run()
    assert [(t.params, t.scale) for t in a.history] == [(t.params, t.scale) for t in b.history]


def test_ask_tell_loop_without_objectives():
    opt = ScaleUpOptimizer(None, None, MIXED, budget=15.0, cost_small=1.0, cost_large=5.0,
                           n_initial_points=3, random_state=0, **FAST)  # fmt: skip
    assert len(opt.history) == 0
    seen = []
    while (step := opt.ask()) is not None:
        params, scale = step
        seen.append(scale)
        opt.tell(params, mixed_small(params) if scale == "small" else mixed_large(params), scale)
    assert opt.spent <= 15.0 and "large" in seen and seen[:3] == ["small"] * 3
    measured = ScaleUpOptimizer(None, None, SPACE, budget=1.0)
    params, scale = measured.ask()
    with pytest.raises(DataError, match="seconds="):
        measured.tell(params, 1.0, scale)
    measured.tell(params, 1.0, scale, seconds=0.2)
    assert measured.spent == 0.2


def test_failed_runs_cost_and_the_run_goes_on():
    def flaky_small(p):
        if p[0] > 0.6:
            raise RuntimeError("diverged")
        return small_f(p)

    opt = ScaleUpOptimizer(flaky_small, large_f, SPACE, budget=12.0, cost_small=1.0,
                           cost_large=4.0, n_initial_points=4, random_state=1, **FAST)  # fmt: skip
    failed = [t for t in opt.history if not t.ok]
    assert failed and opt.spent == sum(1.0 if t.scale == "small" else 4.0 for t in opt.history)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"budget": 0}, "budget"), ({"budget": "10"}, "budget"), ({"acq_func": "EI"}, "cost-aware"),
     ({"cost_small": 1.0}, "both"), ({"n_initial_points": 0}, "n_initial_points")],
)  # fmt: skip
def test_bad_arguments_are_refused(kwargs, match):
    args = {"budget": 10.0, **kwargs}
    with pytest.raises(DataError, match=match):
        ScaleUpOptimizer(small_f, large_f, SPACE, **args)
    with pytest.raises(DataError, match="both objectives"):
        ScaleUpOptimizer(small_f, None, SPACE, budget=10.0)


def test_journal_resume_neither_loses_nor_repeats(tmp_path):
    journal = tmp_path / "run.jsonl"
    args = {"budget": 14.0, "cost_small": 1.0, "cost_large": 4.0, "n_initial_points": 3,
            "random_state": 0, "journal": journal, **FAST}  # fmt: skip
    calls: list[tuple] = []
    interrupted: list[bool] = []

    def counted(f):
        def objective(p):
            calls.append(tuple(p))
            if len(calls) == 6 and not interrupted:
                interrupted.append(True)
                raise KeyboardInterrupt  # killed during the 6th evaluation
            return f(p)

        return objective

    with pytest.raises(KeyboardInterrupt):
        ScaleUpOptimizer(counted(small_f), counted(large_f), SPACE, **args)
    journaled = len(journal.read_text().splitlines()) - 1  # minus the header line
    assert journaled == 5
    calls.clear()
    opt = ScaleUpOptimizer(counted(small_f), counted(large_f), SPACE, **args)
    assert len(calls) == len(opt.history) - 5  # nothing repeated
    uninterrupted = _run(budget=14.0)
    assert [(t.params, t.scale) for t in opt.history] == [
        (t.params, t.scale) for t in uninterrupted.history
    ]
    calls.clear()
    again = ScaleUpOptimizer(counted(small_f), counted(large_f), SPACE, **args)
    assert not calls and len(again.history) == len(opt.history)  # finished: nothing new


def test_dask_cluster_runs_the_budget_in_parallel(dask_client):
    opt = ScaleUpOptimizer(mixed_small, mixed_large, MIXED, budget=14.0, cost_small=1.0,
                           cost_large=4.0, n_initial_points=3, random_state=0,
                           executor=dask_client, n_parallel=2, **FAST)  # fmt: skip
    assert opt.spent <= 14.0 and opt.history.at("large") and not opt.engine.pending
    keys = [(t.params, t.scale) for t in opt.history]
    assert len(keys) == len(set(keys))  # nothing evaluated twice at the same scale


def test_telling_a_point_that_was_not_asked_warns_and_keeps_the_asked_one_pending(caplog):
    opt = ScaleUpOptimizer(None, None, SPACE, 30.0, cost_small=1.0, cost_large=4.0,
                           n_initial_points=2, random_state=0, **FAST)  # fmt: skip
    params, scale = opt.ask()
    rounded = [min(1.0, round(params[0], 1) + 0.05)]
    with caplog.at_level("WARNING", logger="scaleup_bo"):
        opt.tell(rounded, small_f(rounded), scale)
    assert "was not asked for" in caplog.text and "engine.cancel" in caplog.text
    assert opt.engine.pending == [(params, scale)]
    opt.engine.cancel(params, scale)
    assert opt.engine.pending == []
    for bad in (math.nan, math.inf, -1.0, "2"):
        with pytest.raises(DataError, match="seconds must be a finite number >= 0"):
            opt.tell(rounded, 1.0, "small", seconds=bad)
    assert len(opt.history) == 1


def test_telling_runs_beyond_the_budget_warns(caplog):
    opt = ScaleUpOptimizer(None, None, [(0.0, 1.0)], budget=12.0, cost_small=1.0, cost_large=10.0)
    with caplog.at_level(logging.WARNING, logger="scaleup_bo"):
        opt.tell([0.1], 1.0, "small")
        opt.tell([0.2], 1.0, "large")
        assert "over the budget" not in caplog.text
        opt.tell([0.3], 1.0, "large")
    assert "over the budget" in caplog.text and opt.spent == 21.0


def test_resuming_with_a_budget_below_the_journals_spending_says_so(tmp_path, caplog):
    journal = tmp_path / "scaleup.jsonl"
    kwargs = {"cost_small": 1.0, "cost_large": 10.0, "n_initial_points": 2, "random_state": 0}
    first = ScaleUpOptimizer(
        lambda p: p[0], lambda p: p[0] + 0.1, [(0.0, 1.0)], budget=23.0, **kwargs, journal=journal
    )
    with caplog.at_level(logging.WARNING, logger="scaleup_bo"):
        again = ScaleUpOptimizer(
            lambda p: p[0], lambda p: p[0] + 0.1, [(0.0, 1.0)], budget=12.0, **kwargs,
            journal=journal,
        )  # fmt: skip
    assert again.spent == first.spent > 12.0 and "over the budget of 12" in caplog.text
