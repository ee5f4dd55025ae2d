"""The three façades: SmallScaleOptimizer, LargeScaleOptimizer (and the cost-aware
ScaleUpOptimizer where all three share a behaviour): their arguments, the plan they run,
the small stage a large one starts from, and the strategy they pass on."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from skopt.space import Categorical, Real

from scaleup_bo import (
    DataError,
    Engine,
    History,
    InvalidPointError,
    LargeScaleOptimizer,
    ScaleUpBOError,
    ScaleUpOptimizer,
    SmallScaleOptimizer,
    Strategy,
)
from scaleup_bo.benchmarks.problems import mixed_toy_large, mixed_toy_small, mixed_toy_space


@pytest.fixture(scope="module")
def small_run():
    return SmallScaleOptimizer(
        mixed_toy_small, mixed_toy_space(), n_steps=15, n_initial_points=5, random_state=0
    )


@pytest.mark.slow
def test_readme_quick_start_transfer_beats_the_small_winner(small_run, mixed_space):
    small = small_run
    assert len(small.Y_iters) == 20
    assert isinstance(small.best_params, list)
    lr, layers, opt, _dropout = small.best_params
    assert type(lr) is float and type(layers) is int and opt in {"adam", "sgd", "rms"}
    assert small.best_score == pytest.approx(mixed_toy_small(small.best_params))
    large = LargeScaleOptimizer(
        mixed_toy_large,
        mixed_space,
        best_params=small.best_params,
        X_iters_small=small.X_iters,
        Y_iters_small=small.Y_iters,
        n_steps=4,  # measured: 2.12 for the small winner, 0.76 after 4 steps (0.50 after 8)
        random_state=0,
    )
    assert large.X_iters.dtype == object and large.X_iters.shape == (5, 4)
    assert large.Y_iters.dtype == float and large.Y_iters.shape == (5,)
    assert list(large.X_iters[0]) == small.best_params
    # The model must improve on the small-scale winner evaluated at large scale.
    assert large.best_score < large.Y_iters[0] - 0.05
    assert large.best_score == min(large.Y_iters)
    assert large.n_steps == 4 and large.search_space is mixed_space
    scales = [t.scale for t in large.history]
    assert scales.count("small") == 20 and scales.count("large") == 5


def test_small_optimizer_object_and_numpy_or_list_inputs_are_equivalent(small_run, mixed_space):
    kwargs = {"n_steps": 1, "random_state": 3}
    a = LargeScaleOptimizer(mixed_toy_large, mixed_space, small=small_run, **kwargs)
    b = LargeScaleOptimizer(
        mixed_toy_large,
        mixed_space,
        best_params=small_run.best_params,
        X_iters_small=small_run.X_iters.tolist(),
        Y_iters_small=list(small_run.Y_iters),
        **kwargs,
    )
    assert a.X_iters.tolist() == b.X_iters.tolist()


def test_reproducible_under_random_state(mixed_space):
    runs = [
        SmallScaleOptimizer(
            mixed_toy_small, mixed_space, n_steps=3, n_initial_points=2, random_state=7
        )
        for _ in range(2)
    ]
    assert runs[0].X_iters.tolist() == runs[1].X_iters.tolist()
    other = SmallScaleOptimizer(
        mixed_toy_small, mixed_space, n_steps=3, n_initial_points=2, random_state=8
    )
    assert other.X_iters.tolist() != runs[0].X_iters.tolist()


def test_any_n_steps_including_zero():
    opt = SmallScaleOptimizer(
        lambda p: p[0] ** 2, [(-1.0, 1.0)], n_steps=0, n_initial_points=2, random_state=0
    )
    assert len(opt.Y_iters) == 2
    large = LargeScaleOptimizer(lambda p: p[0] ** 2, [(-1.0, 1.0)], small=opt, n_steps=0)
    assert len(large.Y_iters) == 1 and large.best_params == opt.best_params


def test_initial_points_replace_the_random_design():
    pts = [[0.5], [-0.5]]
    opt = SmallScaleOptimizer(
        lambda p: p[0] ** 2, [(-1.0, 1.0)], n_steps=1, initial_points=pts, random_state=0
    )
    assert opt.X_iters[:2].tolist() == pts and len(opt.Y_iters) == 3


def test_every_optimizer_passes_its_strategy_to_its_engine():
    winsorized = Strategy(winsorize=True)
    small = SmallScaleOptimizer(
        lambda p: p[0], [(0.0, 1.0)], n_steps=0, n_initial_points=2, random_state=0,
        strategy=winsorized,
    )  # fmt: skip
    large = LargeScaleOptimizer(
        lambda p: p[0], [(0.0, 1.0)], small=small, n_steps=0, random_state=0, strategy=winsorized
    )
    scaleup = ScaleUpOptimizer(
        None, None, [(0.0, 1.0)], budget=10, cost_small=1, cost_large=5, strategy=winsorized
    )
    for opt in (small, large, scaleup):
        assert opt.strategy is opt.engine.strategy and opt.strategy.winsorize is True
        assert opt.history.metadata["strategy"]["winsorize"] is True
    assert not Engine([(0.0, 1.0)]).strategy.winsorize


@pytest.mark.parametrize(
    ("kwargs", "error", "fragment"),
    [
        (
            {"X_iters_small": [[0.1], [0.2]], "Y_iters_small": [1.0]},
            DataError,
            "2 rows but Y_iters_small has 1",
        ),
        (
            {"X_iters_small": [[0.1, 2.0]], "Y_iters_small": [1.0]},
            InvalidPointError,
            "X_iters_small\\[0\\].*1 values",
        ),
        (
            {"X_iters_small": [[0.1]], "Y_iters_small": [float("nan")]},
            DataError,
            "Y_iters_small\\[0\\]",
        ),
        (
            {"X_iters_small": [[5.0]], "Y_iters_small": [1.0]},
            InvalidPointError,
            "outside its bounds",
        ),
        (
            {"best_params": [3.0], "X_iters_small": [[0.1]], "Y_iters_small": [1.0]},
            InvalidPointError,
            "best_params",
        ),
        ({"X_iters_small": [[0.1]], "Y_iters_small": [1.0], "n_steps": -1}, DataError, "n_steps"),
        ({"X_iters_small": [[0.1]], "Y_iters_small": [1.0], "n_steps": 2.5}, DataError, "n_steps"),
        ({"X_iters_small": [[0.1]], "Y_iters_small": [1.0], "acq_func": "EIx"}, ValueError, "EIx"),
        ({}, DataError, "best_params is missing"),
        (
            {"X_iters_small": [[0.1]], "Y_iters_small": [1.0], "strategy": {"winsorize": True}},
            DataError,
            "strategy must be a Strategy",
        ),
    ],
)
def test_large_optimizer_rejects_bad_input(kwargs, error, fragment):
    with pytest.raises(error, match=fragment):
        LargeScaleOptimizer(lambda p: p[0], [Real(0.0, 1.0)], **kwargs)


def test_small_optimizer_rejects_bad_input():
    with pytest.raises(DataError, match="objective_func"):
        SmallScaleOptimizer("not callable", [(0.0, 1.0)])
    with pytest.raises(DataError, match="n_initial_points"):
        SmallScaleOptimizer(lambda p: 0.0, [(0.0, 1.0)], n_initial_points=-2)
    with pytest.raises(DataError, match="strategy must be a Strategy, got dict"):
        SmallScaleOptimizer(lambda p: 0.0, [(0.0, 1.0)], strategy={"small_fidelity": 0.25})
    with pytest.raises(InvalidPointError, match="initial_points\\[1\\]"):
        SmallScaleOptimizer(lambda p: 0.0, [(0.0, 1.0)], initial_points=[[0.5], [2.0]])


def test_best_params_default_to_the_small_best():
    large = LargeScaleOptimizer(
        lambda p: p[0],
        [Real(0.0, 1.0)],
        X_iters_small=np.array([[0.2], [0.6]]),
        Y_iters_small=np.array([2.0, 1.0]),
        n_steps=0,
    )
    assert large.best_params == [0.6] and math.isclose(large.best_score, 0.6)


# ---------------------------------------------------------------------- warm start from tables
def test_large_optimizer_warm_starts_from_a_dataframe_or_csv(tmp_path, small_run, mixed_space):
    df = small_run.history.to_dataframe()
    df = df[df.status == "ok"].drop(columns=["number", "scale", "status", "seconds", "error"])
    df = df.rename(columns={"value": "val_loss"})
    df.to_csv(tmp_path / "small.csv", index=False)
    from_df = LargeScaleOptimizer(mixed_toy_large, mixed_space, small=df, n_steps=1, random_state=0)
    from_csv = LargeScaleOptimizer(
        mixed_toy_large, mixed_space, small=str(tmp_path / "small.csv"), n_steps=1, random_state=0
    )
    reference = LargeScaleOptimizer(
        mixed_toy_large, mixed_space, small=small_run, n_steps=1, random_state=0
    )
    assert from_df.X_iters[0].tolist() == small_run.best_params
    assert from_csv.history.Y("small") == pytest.approx(small_run.Y_iters)
    assert from_df.X_iters.tolist() == reference.X_iters.tolist()


def test_small_optimizer_starts_from_known_results_without_reevaluating(tmp_path):
    calls = []

    def f(p):
        calls.append(p)
        return (p[0] - 0.3) ** 2

    rows = [{"x0": 0.1, "score": 0.04}, {"x0": 0.9, "score": 0.36}]
    opt = SmallScaleOptimizer(f, [Real(0.0, 1.0)], n_steps=2, initial_points=rows, random_state=0)
    assert len(calls) == 2 and len(opt.Y_iters) == 4
    opt2 = SmallScaleOptimizer(
        f, [Real(0.0, 1.0)], n_steps=1, initial_points=[[0.1], [0.9]], initial_scores=[0.04, 0.36]
    )
    assert len(calls) == 3 and opt2.Y_iters[:2].tolist() == [0.04, 0.36]
    with pytest.raises(DataError, match="initial_scores"):
        SmallScaleOptimizer(f, [Real(0.0, 1.0)], initial_scores=[1.0])


def test_callback_is_checked_before_any_evaluation():
    calls = []
    with pytest.raises(DataError, match="callback"):
        SmallScaleOptimizer(lambda p: calls.append(p) or 0.0, [(0.0, 1.0)], callback="print")
    assert calls == []


def test_callback_sees_each_evaluation_not_the_results_it_is_given():
    seen = []
    LargeScaleOptimizer(
        lambda p: (p[0] - 0.3) ** 2, [Real(0.0, 1.0)], X_iters_small=[[0.1], [0.5], [0.9]],
        Y_iters_small=[0.2, 0.05, 0.3], n_steps=1, random_state=0, callback=seen.append,
    )  # fmt: skip
    assert [t.scale for t in seen] == ["large", "large"]
    seen.clear()
    SmallScaleOptimizer(
        lambda p: p[0], [Real(0.0, 1.0)], initial_points=[[0.2], [0.4]], initial_scores=[0.2, 0.4],
        n_steps=1, random_state=0, callback=seen.append,
    )  # fmt: skip
    assert len(seen) == 1


def test_small_history_brings_its_fidelity_and_must_match_the_space(small_run, mixed_space):
    history = History(metadata={**small_run.history.metadata, "small_fidelity": 0.25})
    for t in small_run.history:
        history.add(t.params, t.value, t.scale, status=t.status, error=t.error)
    large = LargeScaleOptimizer(mixed_toy_large, mixed_space, small=history, n_steps=0)
    assert large.strategy.small_fidelity == 0.25
    with pytest.raises(DataError, match="another search space"):
        LargeScaleOptimizer(mixed_toy_large, [(0.0, 1.0)], small=history, n_steps=0)


def test_small_takes_the_path_of_a_saved_history(small_run, mixed_space, tmp_path):
    path = tmp_path / "small.json"
    small_run.history.save(path)
    large = LargeScaleOptimizer(mixed_toy_large, mixed_space, small=str(path), n_steps=0)
    assert [(t.params, t.value, t.status) for t in large.history.at("small")] == [
        (t.params, t.value, t.status) for t in small_run.history
    ]
    # As a table it is explained, not misread.
    with pytest.raises(DataError, match="is a saved History, not a table"):
        SmallScaleOptimizer(mixed_toy_large, mixed_space, initial_points=path, n_steps=0)


# ---------------------------------------------------------------------- fuzzing the constructors
_garbage = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 2),  # valid counts stay small: the constructors run the optimization
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=5),
    st.lists(st.one_of(st.none(), st.floats(allow_nan=True), st.text(max_size=3)), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
_dimension_or_garbage = st.sampled_from(
    [(0.0, 1.0), (1, 3), ["a", "b"], (1e-3, 1.0, "log-uniform"), (2.0, 1.0), 7, "x", None, ()]
)


def _mostly(valid: st.SearchStrategy) -> st.SearchStrategy:
    """``valid`` three times in four, garbage otherwise."""
    return st.integers(0, 3).flatmap(lambda k: valid if k else _garbage)


_point = st.tuples(st.floats(-0.5, 1.5), st.sampled_from(["u", "v", "w"])).map(list)
_spaces = _mostly(st.lists(_dimension_or_garbage, max_size=3))
_counts = _mostly(st.integers(0, 2))


def _quadratic(p):
    return float(p[0]) ** 2 if isinstance(p[0], (int, float)) else 0.0


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(space=_spaces, n_steps=_counts, n_initial_points=_counts)
@example(space=[(1, 3)], n_steps=2, n_initial_points=2)  # more runs than points
def test_small_constructor_fuzz_only_raises_value_errors(space, n_steps, n_initial_points):
    try:
        opt = SmallScaleOptimizer(
            _quadratic, space, n_steps=n_steps, n_initial_points=n_initial_points, random_state=0
        )
    except ValueError as exc:
        assert isinstance(exc, ScaleUpBOError), repr(exc)
        event(type(exc).__name__)
        return
    event("ran")
    # Only well-formed arguments get through, and then the run does what was asked.
    assert isinstance(n_steps, int) and n_steps >= 0 and not isinstance(n_steps, bool)
    # A discrete space smaller than the run ends it early, when every point has been tried.
    size = opt.space.n_points
    assert len(opt.history) == min(n_steps + n_initial_points, size or math.inf)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    best=_mostly(_point),
    X=_mostly(st.lists(_point, min_size=1, max_size=3)),
    Y=_mostly(st.lists(st.floats(-1, 1), min_size=1, max_size=3)),
)
@example(best=None, X=[[0.0, "u"]], Y=0)  # a scalar Y once passed as a one-row table
@example(best=None, X=[[0.0, "u"], [0.5, "v"]], Y=[0.3, -0.2])
def test_large_constructor_fuzz_only_raises_value_errors(best, X, Y):
    space = [Real(0.0, 1.0, name="a"), Categorical(["u", "v"], name="b")]
    try:
        opt = LargeScaleOptimizer(
            _quadratic, space, best_params=best, X_iters_small=X, Y_iters_small=Y, n_steps=0
        )
    except ValueError as exc:
        assert isinstance(exc, ScaleUpBOError), repr(exc)
        event(type(exc).__name__)
        return
    event("ran")
    # Values within 1e-9 of a bound are accepted and clipped onto it; without
    # best_params the first large run is the small winner.
    first = best if best is not None else X[int(np.argmin(Y))]
    assert opt.X_iters[0].tolist() == [pytest.approx(first[0], abs=1e-9), first[1]]
    assert len(opt.history.at("small")) == (0 if X is None else len(X))


def test_large_and_scaleup_optimizers_take_the_multitask_model(mixed_space):
    small = SmallScaleOptimizer(
        mixed_toy_small, mixed_space, n_steps=5, n_initial_points=5, random_state=0
    )
    multitask = Strategy(large_model="multitask")
    large = LargeScaleOptimizer(
        mixed_toy_large, mixed_space, n_steps=3, small=small, random_state=0, strategy=multitask
    )
    assert large.strategy.large_model == "multitask" and len(large.Y_iters) == 4
    scaleup = ScaleUpOptimizer(
        mixed_toy_small, mixed_toy_large, mixed_space, budget=12, cost_small=1, cost_large=2,
        random_state=0, strategy=multitask,
    )  # fmt: skip
    assert scaleup.strategy.large_model == "multitask" and scaleup.spent <= 12


def _counting(name, calls):
    """An acquisition builder that records each call and builds ``name``."""
    from scaleup_bo.acquisition import resolve_acquisition

    def builder(model, context):
        calls.append(int((context.train_X[:, -1] == 1.0).sum()))
        return resolve_acquisition(name)(model, context)

    return builder


@pytest.mark.parametrize("n_parallel", [1, 2])
def test_large_optimizer_spends_its_last_run_on_the_final_acquisition(n_parallel):
    calls, final = [], []
    large = LargeScaleOptimizer(
        lambda p: (p[0] - 0.4) ** 2,
        [Real(0.0, 1.0)],
        X_iters_small=[[0.1], [0.3], [0.5], [0.7], [0.9]],
        Y_iters_small=[0.2, 0.1, 0.05, 0.15, 0.3],
        acq_func=_counting("qNEI", calls),
        strategy=Strategy(final_acq_func=_counting("PM", final)),
        n_steps=4,
        random_state=0,
        n_parallel=n_parallel,
    )
    assert len(large.Y_iters) == 5
    # The first run is the small winner; then three qNEI proposals and one PM proposal,
    # the last one asked (sequentially: with all 4 earlier large points observed).
    # In parallel the final proposal waits for the runs in flight, so it sees them all.
    assert len(calls) == 3 and final == [4]
    if n_parallel == 1:
        assert calls == [1, 2, 3]


def test_large_optimizer_final_acquisition_can_be_switched_off():
    calls = []
    LargeScaleOptimizer(
        lambda p: (p[0] - 0.4) ** 2,
        [Real(0.0, 1.0)],
        X_iters_small=[[0.1], [0.3], [0.5], [0.7], [0.9]],
        Y_iters_small=[0.2, 0.1, 0.05, 0.15, 0.3],
        acq_func=_counting("qNEI", calls),
        strategy=Strategy(final_acq_func=None),
        n_steps=3,
        random_state=0,
    )
    assert calls == [1, 2, 3]


def test_large_optimizer_records_its_final_acquisition_in_the_history():
    large = LargeScaleOptimizer(
        lambda p: (p[0] - 0.4) ** 2,
        [Real(0.0, 1.0)],
        X_iters_small=[[0.1], [0.5], [0.9]],
        Y_iters_small=[0.2, 0.05, 0.3],
        n_steps=1,
        random_state=0,
    )
    assert large.history.metadata["strategy"]["final_acq_func"] == "PM"
    assert large.strategy.exploit_noise_floor == 1e-7  # its model: the refit (Engine)
    off = LargeScaleOptimizer(
        lambda p: (p[0] - 0.4) ** 2, [Real(0.0, 1.0)], X_iters_small=[[0.1], [0.5], [0.9]],
        Y_iters_small=[0.2, 0.05, 0.3], n_steps=1, random_state=0,
        strategy=Strategy(exploit_noise_floor=None),
    )  # fmt: skip
    assert off.history.metadata["strategy"]["exploit_noise_floor"] is None


def test_a_carried_over_small_stage_brings_no_hyperparameters():
    small = SmallScaleOptimizer(
        lambda p: (p[0] - 0.3) ** 2, [(0.0, 1.0)], n_steps=1, n_initial_points=2, random_state=0
    )
    assert small.history.trials[-1].hyperparameters["shared"]
    large = LargeScaleOptimizer(lambda p: (p[0] - 0.4) ** 2, [(0.0, 1.0)], small=small, n_steps=0)
    assert all(t.hyperparameters is None for t in large.history)


def test_exploit_large_alone_defaults_and_pass_through():
    # On in ScaleUpOptimizer (its benchmark's recommendations), off in Engine and
    # LargeScaleOptimizer (whose benchmark rows are without it); both façades pass it on.
    assert Engine([(0.0, 1.0)]).strategy.exploit_large_alone is False
    small = SmallScaleOptimizer(lambda p: p[0], [(0.0, 1.0)], n_steps=0, n_initial_points=1)
    for flag in (False, True):
        large = LargeScaleOptimizer(lambda p: p[0], [(0.0, 1.0)], small=small, n_steps=0,
                                    strategy=Strategy(exploit_large_alone=flag))  # fmt: skip
        assert large.strategy.exploit_large_alone is flag
        assert large.history.metadata["strategy"]["exploit_large_alone"] is flag
    default = LargeScaleOptimizer(lambda p: p[0], [(0.0, 1.0)], small=small, n_steps=0)
    assert default.strategy.exploit_large_alone is False
    for strategy, expected in ((None, True), (Strategy(exploit_large_alone=False), False)):
        opt = ScaleUpOptimizer(
            None, None, [(0.0, 1.0)], budget=20, cost_small=1, cost_large=5, strategy=strategy
        )
        assert opt.strategy.exploit_large_alone is expected


# ---------------------------------------------------------------------- input errors
def test_initial_scores_next_to_a_table_is_refused():
    pd = pytest.importorskip("pandas")
    table = pd.DataFrame({"x": [0.1, 0.5, 0.9], "score": [1.0, 2.0, 3.0]})
    with pytest.raises(DataError, match=r"initial_scores.*table"):
        SmallScaleOptimizer(
            lambda p: 0.0, [Real(0.0, 1.0, name="x")], n_steps=0,
            initial_points=table, initial_scores=[100.0, 200.0, 300.0],
        )  # fmt: skip


def test_non_finite_warm_start_values_are_the_callers_data():
    with pytest.raises(DataError) as info:
        LargeScaleOptimizer(
            lambda p: 0.0, [Real(0.0, 1.0)], X_iters_small=[[0.1], [0.2]],
            Y_iters_small=[1.0, math.nan], n_steps=0,
        )  # fmt: skip
    message = str(info.value)
    assert "Y_iters_small[1]" in message and "objective returned" not in message
    assert "failed" in message  # says what to do with a failed run's row


def test_small_history_of_another_space_names_the_difference(tmp_path):
    small = SmallScaleOptimizer(
        lambda p: p[0], [Real(0.0, 1.0, name="lr")], n_steps=0, n_initial_points=2,
        random_state=0,
    )  # fmt: skip
    with pytest.raises(DataError, match=r"'lr'.*high 1\.0.*high 0\.5"):
        LargeScaleOptimizer(
            lambda p: p[0], [Real(0.0, 0.5, name="lr")], small=small.history, n_steps=0
        )
    with pytest.raises(DataError, match=r"'lr'.*high 1\.0.*high 0\.5"):
        LargeScaleOptimizer(lambda p: p[0], [Real(0.0, 0.5, name="lr")], small=small, n_steps=0)
