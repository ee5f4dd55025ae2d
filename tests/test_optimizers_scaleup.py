"""The cost-aware ScaleUpOptimizer and Engine.ask_scale (real BoTorch fits, small budgets)."""

from __future__ import annotations

import logging
import math
import sys
import time

import cloudpickle
import pytest
from skopt.space import Categorical, Real

from scaleup_bo import DataError, Engine, ScaleUpOptimizer
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


def _small_engine(**kwargs):
    """An MF-MES engine told five small-scale points (winner: 0.2), none at large scale."""
    engine = Engine(SPACE, acq_func="MF-MES", random_state=0, **FAST, **kwargs)
    for x in [0.05, 0.2, 0.45, 0.7, 0.95]:
        engine.tell([x], small_f([x]), "small")
    return engine


def _warm_engine(**kwargs):
    engine = _small_engine(**kwargs)
    engine.tell([0.2], large_f([0.2]), "large")
    return engine


# ---------------------------------------------------------------------- Engine.ask_scale
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
    engine = Engine(SPACE, acq_func=acq, acq_func_kwargs=kwargs, random_state=0, raw_samples=64,
                    num_restarts=2)  # fmt: skip
    for x in [0.05, 0.2, 0.45, 0.7, 0.95]:
        engine.tell([x], small_f([x]), "small")
    engine.tell([0.2], large_f([0.2]), "large")
    point, scale = engine.ask_scale({"small": 1.0, "large": 1000.0})
    values = engine.scale_choice["values"]
    assert scale == "small" and all(math.isfinite(v) for v in values.values())
    assert values["small"] > values["large"] and engine.space.contains(point)


def _forrester(p):
    return (6 * p[0] - 2) ** 2 * math.sin(12 * p[0] - 4)


def _forrester_engine(small, **kwargs):
    """15 small runs of ``small`` on a grid, 5 large runs of Forrester."""
    engine = Engine(SPACE, acq_func="MF-MES", random_state=0, **kwargs)
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
    engine = _forrester_engine(small, transfer_guard=True, acq_func_kwargs={"num_candidates": 200})
    # Small runs are 1000x cheaper: only the guard can make a large run worth it.
    _, scale = engine.ask_scale({"small": 1.0, "large": 1000.0}, large_acq_func="qNEI")
    assert scale == expected
    assert engine.transfer["uses_small_scale"] is (expected == "small")


def test_recommendation_follows_the_guard():
    """An anti-correlated small scale drags the shared model's optimum to x = 1 (it
    even ranks the worst large run, 0.9, first); the guard recommends from the
    large-scale runs instead."""
    recs = {}
    for guard in (False, True):
        engine = _forrester_engine(lambda p: -_forrester(p), transfer_guard=guard)
        recs[guard] = (engine.recommend()[0], engine.recommend(evaluated_only=True)[0])
    assert recs[False][1] == 0.9 and recs[False][0] > 0.9
    assert recs[True][1] == 0.7 and abs(recs[True][0] - 0.757) < 0.1


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
    reference = _warm_engine()
    reference.acq_func = "EI"
    assert scale == "small"
    assert point[0] == pytest.approx(reference.ask("small")[0], abs=1e-6)
    assert abs(point[0] - own[0]) > 1e-2


def test_guard_ratio_sets_how_much_better_the_large_only_model_must_be():
    """A small scale unrelated to Forrester: the large-only model predicts the large
    runs somewhat better (LOO error ratio about 0.75), enough at ratio 1, not at 0.5."""
    for ratio, uses_small in ((0.5, True), (1.0, False)):
        engine = _forrester_engine(
            lambda p: 10 * (p[0] - 0.9) ** 2, transfer_guard=True, guard_ratio=ratio
        )
        engine.recommend()
        assert engine.transfer["uses_small_scale"] is uses_small
        assert 0.5 < engine.transfer["loo_large"] / engine.transfer["loo_shared"] < 1.0


def test_guard_ratio_is_checked():
    assert Engine(SPACE, guard_ratio=1.0).guard_ratio == 1.0
    for bad in (0.0, 1.5, True, "0.5"):
        with pytest.raises(DataError, match="guard_ratio"):
            Engine(SPACE, guard_ratio=bad)


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
    assert opt.engine.exploit_noise_floor == EXPLOIT_NOISE_FLOOR == 1e-7
    assert opt.history.metadata["exploit_noise_floor"] == 1e-7


def test_exploit_noise_floor_changes_only_the_reserved_run():
    """With ``exploit_noise_floor`` the recommendation (the reserved last run) is made on
    the model refitted with that floor; every run before it is the same."""
    base = _run(exploit_noise_floor=None)
    opt = _run()
    assert base.engine.exploit_noise_floor is None
    assert base.history.metadata["exploit_noise_floor"] is None
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
            random_state=0, exploit_noise_floor=floor, **FAST,
        )  # fmt: skip
        for t in trials[:-1]:
            twin.engine.tell(list(t.params), t.value, t.scale)
        replay[floor] = twin.engine.recommend()
    assert tuple(replay[1e-7]) == trials[-1].params
    assert replay[None] != replay[1e-7]
    # The final recommendation (among evaluated points) comes from the refit too.
    twin = ScaleUpOptimizer(
        None, None, SPACE, 16.0, cost_small=1.0, cost_large=4.0, n_initial_points=3,
        random_state=0, exploit_noise_floor=1e-7, **FAST,
    )  # fmt: skip
    for t in trials:
        twin.engine.tell(list(t.params), t.value, t.scale)
    assert opt.recommended_params == twin.engine.recommend(evaluated_only=True)


@pytest.mark.parametrize("floor", [0.0, -1e-7, 1.0, "1e-7"])
def test_scaleup_exploit_noise_floor_is_checked(floor):
    with pytest.raises(DataError, match="exploit_noise_floor"):
        ScaleUpOptimizer(None, None, SPACE, 10.0, cost_small=1.0, cost_large=2.0,
                         exploit_noise_floor=floor)  # fmt: skip


def test_same_seed_same_run():
    a, b = _run(), _run()
    assert [(t.params, t.scale) for t in a.history] == [(t.params, t.scale) for t in b.history]


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


def test_telling_runs_beyond_the_budget_warns(caplog):
    opt = ScaleUpOptimizer(None, None, [(0.0, 1.0)], budget=12.0, cost_small=1.0, cost_large=10.0)
    with caplog.at_level(logging.WARNING, logger="scaleup_bo"):
        opt.tell([0.1], 1.0, "small")
        opt.tell([0.2], 1.0, "large")
        assert "over the budget" not in caplog.text
        opt.tell([0.3], 1.0, "large")
    assert "over the budget" in caplog.text and opt.spent == 21.0


def test_ask_says_in_its_docs_what_none_means_with_runs_in_flight():
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


def test_ask_scale_skips_a_scale_tried_whole():
    from scaleup_bo import SpaceExhaustedError

    engine = Engine([Categorical(["a", "b"])], acq_func="MF-MES", n_initial_points=1)
    engine.tell(["a"], 1.0, "small")
    engine.tell(["b"], 0.5, "small")
    engine.tell(["a"], 1.2, "large")
    assert engine.exhausted("small") and not engine.exhausted("large")
    assert engine.ask_scale({"small": 1.0, "large": 10.0}) == (["b"], "large")
    engine.tell(["b"], 0.7, "large")
    with pytest.raises(SpaceExhaustedError, match="small scale"):
        engine.ask_scale({"small": 1.0, "large": 10.0})
