from __future__ import annotations

import json
import logging
import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from skopt.space import Categorical, Integer, Real

from scaleup_bo import (
    DataError,
    Engine,
    History,
    InvalidPointError,
    LargeScaleOptimizer,
    ScaleUpBOError,
    ScaleUpOptimizer,
    SmallScaleOptimizer,
    TooManyFailuresError,
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


def test_failures_are_kept_and_modelled_at_the_worst_value():
    calls = []

    def flaky(p):
        calls.append(p)
        if len(calls) % 3 == 0:
            raise RuntimeError("CUDA out of memory")
        if len(calls) % 4 == 0:
            return float("nan")
        return (p[0] - 0.3) ** 2

    opt = SmallScaleOptimizer(
        flaky, [Real(0.0, 1.0)], n_steps=8, n_initial_points=2, random_state=0
    )
    failed = [t for t in opt.history if not t.ok]
    assert len(opt.history) == 10 and len(failed) >= 3
    assert any("CUDA out of memory" in t.error for t in failed)
    assert any("nan" in t.error for t in failed)
    train_X, train_Y = opt.engine.training_data()
    assert len(opt.Y_iters) == 10 - len(failed) and np.isfinite(opt.Y_iters).all()
    # The model sees every trial, a failed one at the worst value observed (impute_failures).
    assert train_X.shape[0] == 10
    values = sorted((-train_Y).reshape(-1).tolist())
    assert values[-len(failed) :] == [max(opt.Y_iters)] * len(failed)
    # A failed point is never proposed again.
    points = [t.params for t in opt.history]
    assert len(set(points)) == len(points)


def test_winsorize_fits_the_model_on_clipped_values_and_keeps_the_observed_ones():
    xs = [[float(x)] for x in np.linspace(0.0, 1.0, 12)]
    ys = [(x[0] - 0.3) ** 2 for x in xs]
    ys[-1] = ys[-2] = 1e3  # two diverged runs
    for flag in (False, True):
        engine = Engine([Real(0.0, 1.0)], random_state=0, winsorize=flag)
        engine.tell_many(xs, ys, "small")
        _, train_Y = engine.training_data()
        model = engine.fit()
        fitted = model.outcome_transform.untransform(model.train_targets.unsqueeze(-1))[0]
        assert torch.allclose(fitted, train_Y)  # the model is fitted on what training_data says
        assert [t.value for t in engine.history] == ys  # the history keeps what was observed
        assert engine.history.metadata["winsorize"] is flag
        worst = float(-train_Y.min())
        assert (worst < 1.0) if flag else (worst == 1e3)
        assert float(train_Y.max()) == -min(ys)  # the best is never touched


def test_winsorize_keeps_the_large_scale_when_it_sits_above_the_small_one():
    engine = Engine([Real(0.0, 1.0)], random_state=0, winsorize=True)
    xs = np.linspace(0.0, 1.0, 20)
    engine.tell_many([[float(x)] for x in xs], [float(x) for x in xs], "small")
    engine.tell_many([[0.1], [0.5], [0.9]], [7.0, 6.0, 5.0], "large")
    _, train_Y = engine.training_data()
    assert train_Y[-3:].reshape(-1).tolist() == [-7.0, -6.0, -5.0]
    assert engine.recommend(evaluated_only=True) == [0.9]


def test_every_optimizer_passes_winsorize_to_its_engine():
    small = SmallScaleOptimizer(
        lambda p: p[0], [(0.0, 1.0)], n_steps=0, n_initial_points=2, random_state=0,
        winsorize=True,
    )  # fmt: skip
    large = LargeScaleOptimizer(
        lambda p: p[0], [(0.0, 1.0)], small=small, n_steps=0, random_state=0, winsorize=True
    )
    scaleup = ScaleUpOptimizer(
        None, None, [(0.0, 1.0)], budget=10, cost_small=1, cost_large=5, winsorize=True
    )
    assert small.engine.winsorize and large.engine.winsorize and scaleup.engine.winsorize
    assert not Engine([(0.0, 1.0)]).winsorize


def test_engine_ask_tell_never_repeats_points_in_a_tiny_space():
    engine = Engine([Integer(0, 3)], random_state=0, n_initial_points=1)
    seen = []
    for _ in range(4):
        p = engine.ask("large")
        seen.append(p[0])
        engine.tell(p, (p[0] - 2) ** 2, "large")
    assert sorted(seen) == [0, 1, 2, 3]


def test_engine_refuses_an_objective_it_cannot_call_before_evaluating():
    engine = Engine([Real(0.0, 1.0)])
    with pytest.raises(DataError, match="objective must be callable, got None"):
        engine.run(None, "small", n_asks=1)
    with pytest.raises(DataError, match="objective must be callable, got 'f'"):
        engine.evaluate("f", [0.5], "small")
    assert len(engine.history) == 0


def test_engine_pending_points_are_not_proposed_twice():
    engine = Engine([Real(0.0, 1.0), Integer(0, 2)], random_state=0)
    engine.tell_many([[0.1, 0], [0.9, 2], [0.5, 1]], [1.0, 2.0, 0.5], scale="small")
    a = engine.ask("large")
    b = engine.ask("large")
    assert a != b
    engine.tell(a, 0.3, "large")
    engine.tell(b, 0.2, "large")
    assert engine.best("large").params == tuple(b)


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
            {"X_iters_small": [[0.1]], "Y_iters_small": [1.0], "winsorize": "yes"},
            DataError,
            "winsorize",
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
    with pytest.raises(DataError, match="small_fidelity"):
        SmallScaleOptimizer(lambda p: 0.0, [(0.0, 1.0)], small_fidelity=1.0)
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


def test_model_fit_failure_falls_back_to_a_space_filling_point(monkeypatch, caplog):
    from botorch.exceptions.errors import ModelFittingError

    import scaleup_bo.model as model_module

    def failing_fit(mll, **kwargs):
        raise ModelFittingError("all attempts to fit the model have failed")

    monkeypatch.setattr(model_module, "fit_gpytorch_mll", failing_fit)
    opt = SmallScaleOptimizer(
        lambda p: (p[0] - 0.3) ** 2, [Real(0.0, 1.0)], n_steps=3, n_initial_points=1, random_state=0
    )
    assert len(opt.Y_iters) == 4 and len(set(opt.X_iters[:, 0])) == 4
    assert opt.model is None
    assert "falling back to a space-filling proposal" in caplog.text


# ---------------------------------------------------------------------- reliability
def test_exceptions_outside_catch_are_recorded_then_raised(tmp_path):
    def f(p):
        raise KeyError("bad key")

    journal = tmp_path / "run.jsonl"
    with pytest.raises(KeyError):
        SmallScaleOptimizer(f, [Real(0.0, 1.0)], catch=(ValueError,), journal=journal)
    (trial,) = History_from_journal(journal)
    assert not trial.ok and "KeyError" in trial.error


def History_from_journal(path):
    from scaleup_bo.history import Journal

    return Journal(path, {}).trials


def test_keyboard_interrupt_stops_records_nothing_half_done_and_resumes(tmp_path):
    journal = tmp_path / "run.jsonl"
    calls = []

    def f(p):
        calls.append(p)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return (p[0] - 0.4) ** 2

    kwargs = {"n_steps": 3, "n_initial_points": 2, "random_state": 0, "journal": journal}
    with pytest.raises(KeyboardInterrupt) as info:
        SmallScaleOptimizer(f, [Real(0.0, 1.0)], **kwargs)
    assert len(info.value.history) == 2 and len(History_from_journal(journal)) == 2
    resumed = SmallScaleOptimizer(f, [Real(0.0, 1.0)], **kwargs)
    assert len(resumed.history) == 5 and len(calls) == 6  # the interrupted call is redone once
    fresh = SmallScaleOptimizer(
        lambda p: (p[0] - 0.4) ** 2, [Real(0.0, 1.0)], **{**kwargs, "journal": None}
    )
    assert resumed.X_iters.tolist() == fresh.X_iters.tolist()


def test_repeated_failures_stop_the_run_with_history_intact():
    def f(p):
        raise RuntimeError("diverged")

    with pytest.raises(TooManyFailuresError, match="3 evaluations in a row failed") as info:
        SmallScaleOptimizer(
            f, [Real(0.0, 1.0)], n_steps=10, max_consecutive_failures=3, random_state=0
        )
    history = info.value.history
    assert len(history) == 3 and all(not t.ok for t in history)
    assert len({t.params for t in history}) == 3


def test_carried_over_small_failures_do_not_count_as_the_large_runs_failures():
    """A small stage that ended in failures does not shorten the large stage's patience:
    only the large stage's own evaluations count towards ``max_consecutive_failures``."""

    def small(p):
        if p[0] > 0.3:
            raise RuntimeError("diverged")
        return p[0]

    stage = SmallScaleOptimizer(
        small, [Real(0.0, 1.0)], initial_points=[[0.1], [0.5], [0.6], [0.7]], n_steps=0,
        max_consecutive_failures=None,
    )  # fmt: skip
    assert [t.ok for t in stage.history] == [True, False, False, False]
    calls = []

    def large(p):
        calls.append(p)
        if len(calls) <= 2:
            raise RuntimeError("out of memory")
        return p[0]

    large_opt = LargeScaleOptimizer(
        large, [Real(0.0, 1.0)], small=stage, n_steps=3, max_consecutive_failures=3,
        random_state=0,
    )  # fmt: skip
    assert len(calls) == 4 and [t.ok for t in large_opt.history.at("large")] == [
        False, False, True, True,
    ]  # fmt: skip
    # Its own failures still stop it, counted from its first evaluation.
    calls.clear()
    with pytest.raises(TooManyFailuresError, match="3 evaluations in a row failed") as info:
        LargeScaleOptimizer(
            lambda p: calls.append(p) or math.nan, [Real(0.0, 1.0)], small=stage, n_steps=5,
            max_consecutive_failures=3, random_state=0,
        )  # fmt: skip
    assert len(calls) == 3 and len(info.value.history.at("large")) == 3


def test_failed_runs_teach_the_model_to_leave_the_region_where_runs_fail():
    """Runs fail beyond x = 0.6 while the objective keeps falling towards 0.8: shown to
    the model at the worst value seen, the failures steer the proposals back to the
    feasible side; left out, the model keeps proposing next to them."""

    def f(p):
        if p[0] > 0.6:
            raise RuntimeError("diverged")
        return (p[0] - 0.8) ** 2

    failures = {}
    for impute in (True, False):
        runs = [
            SmallScaleOptimizer(
                f,
                [Real(0.0, 1.0)],
                n_initial_points=4,
                n_steps=8,
                random_state=seed,
                max_consecutive_failures=None,
                impute_failures=impute,
            )
            for seed in (0, 1)
        ]
        failures[impute] = [sum(not t.ok for t in r.history.trials[4:]) for r in runs]
        assert all(r.history.metadata["impute_failures"] is impute for r in runs)
    assert max(failures[True]) <= 3 and min(failures[False]) >= 5, failures
    with pytest.raises(DataError, match="impute_failures must be True or False"):
        Engine([Real(0.0, 1.0)], impute_failures="yes")


def test_imputed_failures_enter_the_training_data_at_the_worst_value_of_their_scale():
    engine = Engine([Real(0.0, 1.0)])
    for x, y in [(0.1, 2.0), (0.2, 5.0), (0.25, 3.0)]:
        engine.tell([x], y, "small")
    engine.tell([0.3], None, "small")  # failed: the worst small value, 5.0
    engine.tell([0.4], None, "large")  # failed, with no large value yet to impute from
    train_X, train_Y = engine.training_data()
    assert train_X[:, 0].tolist() == pytest.approx([0.1, 0.2, 0.25, 0.3])
    assert (-train_Y).reshape(-1).tolist() == [2.0, 5.0, 3.0, 5.0]
    # One or two large values are no yardstick (the worst of one is the best): not yet.
    engine.tell([0.5], 1.0, "large")
    engine.tell([0.6], 1.5, "large")
    assert engine.training_data()[0].shape[0] == 6
    engine.tell([0.7], 1.2, "large")
    train_X, train_Y = engine.training_data()
    assert train_X[:, 0].tolist() == pytest.approx([0.1, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7])
    assert train_X[:, 1].tolist() == [0.5] * 4 + [1.0] * 4
    assert (-train_Y).reshape(-1).tolist() == [2.0, 5.0, 3.0, 5.0, 1.5, 1.0, 1.5, 1.2]
    engine.impute_failures = False
    assert engine.training_data()[0].shape[0] == 6


def test_imputed_failures_are_winsorized_and_do_not_decide_the_guard():
    """With ``winsorize`` a failure is imputed at the clipped worst value, not at a
    diverged run's; and the transfer guard neither counts nor scores imputed rows."""
    engine = Engine([Real(0.0, 1.0)], winsorize=True)
    for i in range(10):
        engine.tell([i / 20], 1.0 + i / 10, "small")
    engine.tell([0.99], 1e6, "small")  # diverged
    for x in (0.6, 0.7, 0.8, 0.9):
        engine.tell([x], None, "small")
    values = (-engine.training_data()[1]).reshape(-1).tolist()
    assert max(values) < 10 and values.count(max(values)) == 5  # clipped run + 4 imputed
    guarded = Engine([Real(0.0, 1.0)], transfer_guard=True)
    for i in range(8):
        guarded.tell([i / 8], (i / 8 - 0.3) ** 2, "small")
    for x in (0.3, 0.35, 0.25):
        guarded.tell([x], (x - 0.3) ** 2, "large")
    guarded.tell([0.9], None, "large")
    guarded.tell([0.95], None, "large")
    assert guarded.training_data()[0].shape[0] == 13  # the failures are in the model ...
    guarded._model_for("large", seed=0)
    assert guarded.transfer == {}  # ... but 3 observed large values do not start the guard


def test_tuple_categories_survive_the_journal_and_a_saved_history(tmp_path):
    """JSON stores a tuple category as a list: a resumed journal and a loaded history
    give back the category itself, and values JSON cannot hold are refused clearly."""
    space = [Real(1e-4, 0.1, prior="log-uniform", name="lr"),
             Categorical([(64,), (64, 64), (128, 64)], name="hidden")]  # fmt: skip

    def f(p):
        return abs(math.log10(p[0]) + 2) + len(p[1]) * 0.1

    kwargs = {"n_steps": 1, "n_initial_points": 3, "random_state": 0}
    first = SmallScaleOptimizer(f, space, journal=tmp_path / "j.jsonl", **kwargs)
    resumed = SmallScaleOptimizer(f, space, journal=tmp_path / "j.jsonl", **kwargs)
    assert [t.params for t in resumed.history] == [t.params for t in first.history]
    assert all(isinstance(t.params[1], tuple) for t in resumed.history)
    first.history.save(tmp_path / "h.json")
    large = LargeScaleOptimizer(f, space, small=History.load(tmp_path / "h.json"), n_steps=0)
    assert [t.params for t in large.history.at("small")] == [t.params for t in first.history]
    assert isinstance(large.best_params[1], tuple)
    odd = [Real(0.0, 1.0, name="x"), Categorical([math.sin, math.cos], name="act")]
    with pytest.raises(DataError, match="need values JSON can hold"):
        SmallScaleOptimizer(lambda p: p[1](p[0]), odd, journal=tmp_path / "odd.jsonl", **kwargs)
    plain = SmallScaleOptimizer(lambda p: p[1](p[0]), odd, **kwargs)  # fine without files
    with pytest.raises(DataError, match="need values JSON can hold"):
        plain.history.save(tmp_path / "odd.json")
    infinite = [Real(0.0, 1.0, name="x"), Categorical([1.0, math.inf], name="cap")]
    capped = SmallScaleOptimizer(lambda p: min(p[0], p[1]), infinite, **kwargs)
    with pytest.raises(DataError, match="need values JSON can hold"):
        capped.history.save(tmp_path / "inf.json")


def test_resume_from_journal_neither_loses_nor_repeats(tmp_path, mixed_space):
    journal = tmp_path / "small.jsonl"
    calls = []

    def f(p):
        calls.append(p)
        return mixed_toy_small(p)

    first = SmallScaleOptimizer(
        f, mixed_space, n_steps=1, n_initial_points=2, random_state=5, journal=journal
    )
    assert len(calls) == 3
    longer = SmallScaleOptimizer(
        f, mixed_space, n_steps=3, n_initial_points=2, random_state=5, journal=journal
    )
    assert len(calls) == 5 and len(longer.history) == 5
    assert longer.X_iters[:3].tolist() == first.X_iters.tolist()
    # random_state is taken from the journal when not given.
    again = SmallScaleOptimizer(f, mixed_space, n_steps=3, n_initial_points=2, journal=journal)
    assert len(calls) == 5 and again.engine.random_state == 5
    with pytest.raises(DataError, match="another run: its random_state"):
        SmallScaleOptimizer(f, mixed_space, n_steps=3, random_state=6, journal=journal)
    with pytest.raises(DataError, match="another run: its search_space"):
        SmallScaleOptimizer(f, [Real(0.0, 1.0)], n_steps=3, journal=journal)
    with pytest.raises(DataError, match="does not match this run"):
        SmallScaleOptimizer(f, mixed_space, initial_points=[[0.01, 1, "sgd", 0.5]], journal=journal)


def test_resuming_a_journal_with_other_model_options_says_so(tmp_path, caplog):
    """The model options are recorded in the journal's header; resuming with others is
    allowed (they apply from then on) but logged, naming each option that changed."""
    import logging

    journal = tmp_path / "run.jsonl"
    first = Engine([Real(0.0, 1.0)], random_state=0, journal=journal)
    first.tell([0.3], 1.0, "small")
    header = json.loads(journal.read_text().splitlines()[0])
    assert header["kernel"] == "linear_truncated" and header["exploit_noise_floor"] == 1e-7
    assert header["impute_failures"] is True
    with caplog.at_level(logging.WARNING, logger="scaleup_bo"):
        same = Engine([Real(0.0, 1.0)], random_state=0, journal=journal)
    assert len(same.history) == 1 and "written with" not in caplog.text
    with caplog.at_level(logging.WARNING, logger="scaleup_bo"):
        other = Engine(
            [Real(0.0, 1.0)], random_state=0, journal=journal, kernel="downsampling",
            exploit_noise_floor=None,
        )  # fmt: skip
    assert len(other.history) == 1 and other.kernel == "downsampling"
    assert "kernel" in caplog.text and "exploit_noise_floor" in caplog.text
    assert "large_model" not in caplog.text  # unchanged options are not listed
    # A journal written before the options were recorded resumes silently.
    lines = journal.read_text().splitlines()
    old = {k: v for k, v in json.loads(lines[0]).items() if k not in ("kernel", "acq_func")}
    journal.write_text("\n".join([json.dumps(old), *lines[1:]]) + "\n")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="scaleup_bo"):
        Engine([Real(0.0, 1.0)], random_state=0, journal=journal, kernel="downsampling")
    assert "kernel" not in caplog.text


def _my_builder(model, context):
    from botorch.acquisition import PosteriorMean

    return PosteriorMean(model)


def test_journal_options_are_stable_across_processes_and_follow_a_run_without_trials(
    tmp_path, caplog
):
    import functools
    import logging

    from scaleup_bo.optimizers import _acq_name

    # A callable is named by module and qualname (no memory address to differ by process).
    name = f"{__name__}._my_builder"
    assert _acq_name(_my_builder) == name
    assert _acq_name(functools.partial(functools.partial(_my_builder))) == name
    journal = tmp_path / "run.jsonl"
    Engine([Real(0.0, 1.0)], random_state=0, journal=journal, acq_func=_my_builder)
    assert json.loads(journal.read_text().splitlines()[0])["acq_func"] == name
    # Stopped before a result: the next run's options replace the recorded ones ...
    with caplog.at_level(logging.WARNING, logger="scaleup_bo"):
        engine = Engine([Real(0.0, 1.0)], journal=journal, kernel="downsampling")
        engine.tell([0.3], 1.0, "small")
        # ... so resuming that run with its own options is silent.
        again = Engine([Real(0.0, 1.0)], journal=journal, kernel="downsampling")
    assert len(again.history) == 1 and again.random_state == 0
    assert "other model options" not in caplog.text
    header = json.loads(journal.read_text().splitlines()[0])
    assert header["kernel"] == "downsampling" and header["acq_func"] == "EI"


def test_large_optimizer_resumes_with_its_small_history_in_the_journal(
    tmp_path, small_run, mixed_space
):
    journal = tmp_path / "large.jsonl"
    calls = []

    def f(p):
        calls.append(p)
        return mixed_toy_large(p)

    LargeScaleOptimizer(f, mixed_space, small=small_run, n_steps=1, random_state=0, journal=journal)
    resumed = LargeScaleOptimizer(
        f, mixed_space, small=small_run, n_steps=2, random_state=0, journal=journal
    )
    assert len(calls) == 3 and len(resumed.Y_iters) == 3
    assert len(resumed.history.at("small")) == len(small_run.history)


@pytest.mark.slow
def test_sigkill_at_a_random_evaluation_then_resume(tmp_path):
    import os
    import random
    import signal
    import subprocess
    import sys
    import time

    from tests import journal_run

    total = journal_run.N_INITIAL + journal_run.N_STEPS
    kill_after = random.randint(1, total - 1)
    script = os.path.join(os.path.dirname(__file__), "journal_run.py")
    env = {**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(__file__))}
    journal, calls = tmp_path / "run.jsonl", tmp_path / "calls.log"
    proc = subprocess.Popen([sys.executable, script, str(journal), str(calls)], env=env)
    deadline = time.time() + 120
    while time.time() < deadline:
        n = len(journal.read_text().splitlines()) - 1 if journal.exists() else 0
        if n >= kill_after or proc.poll() is not None:
            break
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = len(History_from_journal(journal))
    assert killed_at < total, f"the run finished before the kill (kill_after={kill_after})"
    subprocess.run([sys.executable, script, str(journal), str(calls)], env=env, check=True)
    resumed = History_from_journal(journal)
    reference_journal = tmp_path / "ref.jsonl"
    subprocess.run(
        [sys.executable, script, str(reference_journal), str(tmp_path / "ref_calls.log")],
        env=env,
        check=True,
    )
    reference = History_from_journal(reference_journal)
    assert len(resumed) == total, f"kill_after={kill_after}"
    assert [(t.params, t.value) for t in resumed] == [(t.params, t.value) for t in reference]
    n_calls = len(calls.read_text().splitlines())
    # Finished evaluations are never repeated; at most the one in flight is redone.
    assert total <= n_calls <= total + 1, (kill_after, killed_at, n_calls)


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
    assert large.engine.small_fidelity == 0.25
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
    assert len(opt.history) == n_steps + n_initial_points


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


def test_tell_refuses_points_outside_the_space_and_unknown_scales():
    engine = Engine([Real(0.0, 1.0, name="lr"), Categorical(["a", "b"], name="opt")])
    with pytest.raises(InvalidPointError, match=r"'lr'.*1.5"):
        engine.tell([1.5, "a"], 1.0, "large")
    with pytest.raises(InvalidPointError, match=r"'opt'.*'c'"):
        engine.tell([0.5, "c"], 1.0, "large")
    with pytest.raises(DataError, match="scale"):
        engine.tell([0.5, "a"], 1.0, "huge")
    assert len(engine.history) == 0


def _forrester(p):
    x = p[0]
    return (6 * x - 2) ** 2 * math.sin(12 * x - 4)


@pytest.mark.parametrize(
    ("small", "uses_small"),
    [
        (lambda p: 0.5 * _forrester(p) + 10 * (p[0] - 0.5) - 5, True),  # informative
        (lambda p: -_forrester(p), False),  # anti-correlated: misleads
    ],
)
def test_transfer_guard_ignores_a_small_scale_that_does_not_predict_the_large(small, uses_small):
    engine = Engine([(0.0, 1.0)], random_state=0, transfer_guard=True)
    engine.tell_many(
        [[x] for x in np.linspace(0, 1, 15)], [small([x]) for x in np.linspace(0, 1, 15)], "small"
    )
    for x in [0.1, 0.3, 0.5, 0.7, 0.9]:
        engine.tell([x], _forrester([x]), "large")
    point = engine.ask("large")
    assert engine.transfer["uses_small_scale"] is uses_small
    assert engine.transfer["loo_shared"] != engine.transfer["loo_large"]
    assert 0 <= point[0] <= 1
    # Off, the shared model is used whatever it predicts.
    off = Engine([(0.0, 1.0)], random_state=0)  # off by default
    off.tell_many([[x] for x in np.linspace(0, 1, 15)], [0.0] * 15, "small")
    off.tell_many([[0.1], [0.45], [0.7], [0.8]], [1.0, 2.0, 3.0, 4.0], "large")
    off.ask("large")
    assert off.transfer == {}


def test_transfer_guard_waits_for_four_large_points():
    engine = Engine([(0.0, 1.0)], random_state=0, transfer_guard=True)
    engine.tell_many([[0.1], [0.5], [0.9]], [1.0, 0.0, 1.0], "small")
    engine.tell_many([[0.2], [0.4], [0.6]], [0.2, 0.3, 0.1], "large")
    engine.ask("large")
    assert engine.transfer == {}


def test_transfer_guard_forgets_its_last_decision_when_it_cannot_compare(monkeypatch):
    import scaleup_bo.optimizers as optimizers

    engine = Engine([(0.0, 1.0)], random_state=0, transfer_guard=True)
    engine.tell_many([[x] for x in np.linspace(0, 1, 8)], [0.0] * 8, "small")
    engine.tell_many([[0.1], [0.45], [0.7], [0.8]], [1.0, 2.0, 3.0, 4.0], "large")
    engine.transfer = {"uses_small_scale": False, "loo_shared": 1.0, "loo_large": 0.1}  # stale

    def failed_cholesky(*args):
        raise RuntimeError("cholesky_cpu: not positive definite")  # what a bad LOO solve raises

    monkeypatch.setattr(optimizers, "_loo_error", failed_cholesky)
    engine.ask("large")
    assert engine.transfer == {}


def test_first_large_points_are_the_best_small_ones_from_distinct_basins():
    engine = Engine([(0.0, 1.0)], random_state=0, transfer_points=3)
    xs = [0.1, 0.12, 0.14, 0.5, 0.52, 0.9]
    ys = [0.0, 0.1, 0.2, 0.5, 0.6, 0.3]  # basins near 0.1 (best), 0.9, 0.5
    engine.tell_many([[x] for x in xs], ys, "small")
    asked = [engine.ask("large") for _ in range(3)]  # pending points count as tried
    assert asked == [[0.1], [0.9], [0.5]]
    for p in asked:
        engine.tell(p, 1.0, "large")
    assert engine.ask("large")[0] not in xs  # then the model takes over
    # transfer_points=1 (default): the winner only; 0: the model from the first ask.
    one = Engine([(0.0, 1.0)], random_state=0)
    one.tell_many([[x] for x in xs], ys, "small")
    assert one.ask("large") == [0.1] and one.ask("large")[0] not in xs
    none = Engine([(0.0, 1.0)], random_state=0, transfer_points=0)
    none.tell_many([[x] for x in xs], ys, "small")
    assert none.ask("large")[0] not in xs
    # Small-scale asks are never affected.
    assert engine.ask("small")[0] not in xs


def test_large_optimizer_can_start_from_several_small_basins():
    xs = [[0.1], [0.12], [0.9], [0.5]]
    ys = [0.0, 0.1, 0.3, 0.5]
    large = LargeScaleOptimizer(
        lambda p: (p[0] - 0.8) ** 2, [(0.0, 1.0)], X_iters_small=xs, Y_iters_small=ys,
        n_steps=2, random_state=0, transfer_points=2, transfer_guard=True,
    )  # fmt: skip
    assert large.X_iters.tolist()[:2] == [[0.1], [0.9]]
    assert large.engine.transfer_guard is True


def test_multitask_large_model_proposes_once_three_large_points_exist():
    from botorch.models import MultiTaskGP, SingleTaskMultiFidelityGP

    engine = Engine([(0.0, 1.0)], random_state=0, acq_func="qNEI", large_model="multitask")
    xs = np.linspace(0, 1, 12)
    engine.tell_many([[x] for x in xs], [math.sin(6 * x) for x in xs], "small")
    for x in [0.2, 0.5]:  # large = 3 x small + 2
        engine.tell([x], 3 * math.sin(6 * x) + 2, "large")
    assert isinstance(engine._model_for("large", 0)[0], SingleTaskMultiFidelityGP)
    point = engine.ask("large")
    assert 0 <= point[0] <= 1 and point[0] not in (0.2, 0.5)
    engine.tell([0.9], 3 * math.sin(5.4) + 2, "large")
    assert isinstance(engine._model_for("large", 0)[0], MultiTaskGP)
    assert isinstance(engine._model_for("small", 0)[0], SingleTaskMultiFidelityGP)
    # The recommendation comes from the MultiTaskGP, which scales the small function:
    # the large optimum is at pi / 4 (measured: 0.785; the shared model's is 0.904).
    assert engine.recommend()[0] == pytest.approx(math.pi / 4, abs=0.02)
    assert engine.history.metadata["large_model"] == "multitask"


def test_multitask_large_model_works_with_the_transfer_guard():
    engine = Engine([(0.0, 1.0)], random_state=0, transfer_guard=True, large_model="multitask")
    xs = np.linspace(0, 1, 12)
    engine.tell_many([[x] for x in xs], [math.sin(6 * x) for x in xs], "small")
    engine.tell_many(
        [[x] for x in [0.1, 0.4, 0.6, 0.9]],
        [3 * math.sin(6 * x) + 2 for x in [0.1, 0.4, 0.6, 0.9]],
        "large",
    )
    engine.ask("large")
    assert engine.transfer["uses_small_scale"] is True  # the MultiTaskGP predicts them well
    assert engine.transfer["loo_shared"] < engine.transfer["loo_large"]


def _auto_engine(large, xs_large, **kwargs):
    """large_model="auto" with the small scale sin(6x) on 12 points and ``large`` at
    ``xs_large``."""
    engine = Engine([(0.0, 1.0)], random_state=0, acq_func="qNEI", large_model="auto", **kwargs)
    xs = np.linspace(0, 1, 12)
    engine.tell_many([[x] for x in xs], [math.sin(6 * x) for x in xs], "small")
    engine.tell_many([[x] for x in xs_large], [large(x) for x in xs_large], "large")
    return engine


def test_auto_large_model_chooses_the_multitask_gp_for_a_scaled_large_scale():
    from botorch.models import MultiTaskGP

    engine = _auto_engine(lambda x: 2 * math.sin(6 * x) + 1, [0.2, 0.5])
    assert not isinstance(engine._model_for("large", 0)[0], MultiTaskGP)
    # fewer than MULTITASK_MIN_LARGE large points: the shared model, no evidence compared
    assert engine.large_model_choice == {"model": "shared"}
    engine.tell([0.9], 2 * math.sin(5.4) + 1, "large")
    assert isinstance(engine._model_for("large", 0)[0], MultiTaskGP)
    choice = engine.large_model_choice
    # Measured: spread ratio 2.00, and the MultiTaskGP predicts the large points far
    # better than a GP of them alone (leave-one-out 4e-06 against 0.97).
    assert choice["model"] == "multitask"
    assert choice["log_likelihood_multitask"] - choice["log_likelihood_shared"] > choice["penalty"]
    assert choice["scale_ratio"] == pytest.approx(2.0, rel=0.05)
    assert choice["loo_multitask"] < choice["loo_large"]
    assert engine.recommend()[0] == pytest.approx(math.pi / 4, abs=0.02)  # shared: 0.90
    assert engine.history.metadata["large_model"] == "auto"


def test_auto_large_model_keeps_the_shared_model_when_the_scales_spread_alike():
    from botorch.models import SingleTaskMultiFidelityGP

    # The large scale is the small one: the MultiTaskGP fits better (log likelihood 12.5
    # against 2.7, measured) but sees no scale factor (ratio 1.00), so nothing to gain.
    engine = _auto_engine(lambda x: math.sin(6 * x), [0.2, 0.5, 0.9])
    model, train_X, _ = engine._model_for("large", 0)
    assert isinstance(model, SingleTaskMultiFidelityGP) and train_X.shape[0] == 15
    assert engine.large_model_choice["model"] == "shared"
    assert engine.large_model_choice["scale_ratio"] == pytest.approx(1.0, abs=0.05)
    assert "loo_large" not in engine.large_model_choice


def test_auto_large_model_does_not_amplify_a_small_scale_far_flatter_than_the_large():
    # Large = 10 x small: the MultiTaskGP fits it (ratio 10) but a ratio above
    # AUTO_MAX_SCALE_RATIO is what an unrelated small scale produced on the benchmark.
    from scaleup_bo.model import AUTO_MAX_SCALE_RATIO

    engine = _auto_engine(lambda x: 10 * math.sin(6 * x), [0.2, 0.5, 0.9])
    engine._model_for("large", 0)
    choice = engine.large_model_choice
    assert choice["scale_ratio"] > AUTO_MAX_SCALE_RATIO
    assert choice["log_likelihood_multitask"] - choice["log_likelihood_shared"] > choice["penalty"]
    assert choice["model"] == "shared"


def test_auto_large_model_survives_a_failed_cholesky_in_its_checks(monkeypatch, caplog):
    """A numerical failure while scoring keeps the shared model (the evidence) or the
    MultiTaskGP (its large-only check), says so in the log, and the step still proposes."""
    from botorch.models import MultiTaskGP, SingleTaskMultiFidelityGP

    import scaleup_bo.optimizers as optimizers

    def failed_cholesky(*args):
        raise RuntimeError("cholesky_cpu: not positive definite")  # what a bad solve raises

    scaled = [0.2, 0.5, 0.9]
    engine = _auto_engine(lambda x: 2 * math.sin(6 * x) + 1, scaled)
    with monkeypatch.context() as m:
        m.setattr(optimizers, "multitask_evidence", failed_cholesky)
        with caplog.at_level("WARNING", logger="scaleup_bo"):
            model = engine._model_for("large", 0)[0]
            assert 0 <= engine.ask("large")[0] <= 1
    assert isinstance(model, SingleTaskMultiFidelityGP)
    assert engine.large_model_choice == {"model": "shared"}
    assert "large-scale model choice skipped, shared model kept" in caplog.text
    caplog.clear()
    engine = _auto_engine(lambda x: 2 * math.sin(6 * x) + 1, scaled)
    monkeypatch.setattr(optimizers, "_loo_error", failed_cholesky)
    with caplog.at_level("WARNING", logger="scaleup_bo"):
        model = engine._model_for("large", 0)[0]
    assert isinstance(model, MultiTaskGP) and engine.large_model_choice["model"] == "multitask"
    assert "loo_large" not in engine.large_model_choice
    assert "large-only check of the MultiTaskGP skipped" in caplog.text


def test_auto_large_model_replaces_a_misleading_multitask_gp_by_the_large_points_alone():
    # The large scale is the small one mirrored and scaled: the MultiTaskGP is preferred
    # by its likelihood (spread ratio 2.4) yet predicts the 4 large points worse than a GP
    # of them alone (leave-one-out 3.9 against 1.7, measured).
    mirrored = [0.05, 0.35, 0.65, 0.95]
    engine = _auto_engine(lambda x: 2 * math.sin(6 * (1 - x)), mirrored)
    model, train_X, _ = engine._model_for("large", 0)
    assert engine.large_model_choice["model"] == "large_only"
    assert engine.large_model_choice["loo_large"] < engine.large_model_choice["loo_multitask"]
    assert train_X.shape[0] == 4 and bool((train_X[:, -1] == 1.0).all())
    assert model.train_inputs[0].shape[0] == 4
    assert engine.transfer == {}  # the guard is off
    point = engine.ask("large")
    assert 0 <= point[0] <= 1
    # The recommendation comes from the large-only model refitted with the noise floor.
    assert engine.recommend() is not None
    assert engine._fits["large_only@1e-07"][1] is not None


def test_auto_large_model_leaves_the_large_only_check_to_the_transfer_guard():
    from botorch.models import MultiTaskGP

    # With the guard on, the guard (guard_ratio 0.5, 4 large points) checks the chosen
    # MultiTaskGP: at 3 large points it keeps it (without the guard, auto's own check
    # drops the small scale here: leave-one-out 1.15 against 0.82, measured).
    xs_large = [0.05, 0.5, 0.95]
    mirrored = lambda x: 2.5 * math.sin(6 * (1 - x))  # noqa: E731
    alone = _auto_engine(mirrored, xs_large)
    alone._model_for("large", 0)
    assert alone.large_model_choice["model"] == "large_only"
    engine = _auto_engine(mirrored, xs_large, transfer_guard=True)
    model, train_X, _ = engine._model_for("large", 0)
    assert isinstance(model, MultiTaskGP) and train_X.shape[0] == 15
    assert engine.large_model_choice["model"] == "multitask"
    assert "loo_large" not in engine.large_model_choice
    assert engine.transfer == {}  # fewer than GUARD_MIN_LARGE large points
    engine.tell([0.3], mirrored(0.3), "large")
    model, train_X, _ = engine._model_for("large", 0)
    # At 4 the guard compares: leave-one-out 3.5 (MultiTaskGP) against 1.6 (measured),
    # below its ratio 0.5, so it drops the small scale.
    assert engine.large_model_choice["model"] == "multitask"
    assert engine.transfer["uses_small_scale"] is False and train_X.shape[0] == 4


def test_unknown_large_model_is_refused():
    with pytest.raises(DataError, match="large_model"):
        Engine([(0.0, 1.0)], large_model="mtgp")


def test_large_and_scaleup_optimizers_take_the_multitask_model(mixed_space):
    small = SmallScaleOptimizer(
        mixed_toy_small, mixed_space, n_steps=5, n_initial_points=5, random_state=0
    )
    large = LargeScaleOptimizer(
        mixed_toy_large, mixed_space, n_steps=3, small=small, random_state=0,
        large_model="multitask",
    )  # fmt: skip
    assert large.engine.large_model == "multitask" and len(large.Y_iters) == 4
    from scaleup_bo import ScaleUpOptimizer

    scaleup = ScaleUpOptimizer(
        mixed_toy_small, mixed_toy_large, mixed_space, budget=12, cost_small=1, cost_large=2,
        random_state=0, large_model="multitask",
    )  # fmt: skip
    assert scaleup.engine.large_model == "multitask" and scaleup.spent <= 12
    auto = LargeScaleOptimizer(  # the last of 3 steps has the 3 large points auto needs
        mixed_toy_large, mixed_space, n_steps=3, small=small, random_state=0, large_model="auto"
    )
    assert auto.engine.large_model == "auto" and len(auto.Y_iters) == 4
    assert auto.engine.large_model_choice["model"] in ("shared", "multitask", "large_only")


def test_engine_gives_the_one_hot_columns_their_own_lengthscale_prior(small_run):
    # mixed_toy: lr, layers, a 3-way categorical (columns 2-4), dropout.
    engine = Engine(mixed_toy_space(), random_state=0)
    engine.tell_many(small_run.X_iters, small_run.Y_iters, "small")
    kernel = engine.fit().covar_module.base_kernel.kernels[0].covar_module_unbiased
    priors = {name: closure(kernel) for name, _, _, closure, _ in kernel.named_priors()}
    assert priors["categorical_lengthscale_prior"].shape[-1] == 3
    assert priors["lengthscale_prior"].shape[-1] == 3
    assert engine.space.one_hot_columns == [2, 3, 4]


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
        final_acq_func=_counting("PM", final),
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
        final_acq_func=None,
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
    assert large.history.metadata["final_acq_func"] == "PM"
    assert large.engine.exploit_noise_floor == 1e-7  # its model: the refit (Engine)
    off = LargeScaleOptimizer(
        lambda p: (p[0] - 0.4) ** 2, [Real(0.0, 1.0)], X_iters_small=[[0.1], [0.5], [0.9]],
        Y_iters_small=[0.2, 0.05, 0.3], n_steps=1, random_state=0, exploit_noise_floor=None,
    )  # fmt: skip
    assert off.history.metadata["exploit_noise_floor"] is None


def test_large_optimizer_refuses_an_unknown_final_acquisition():
    with pytest.raises(ValueError, match="final_acq_func: unknown acq_func"):
        LargeScaleOptimizer(
            lambda p: p[0], [Real(0.0, 1.0)], X_iters_small=[[0.1]], Y_iters_small=[0.1],
            final_acq_func="nope",
        )  # fmt: skip
    engine = Engine([Real(0.0, 1.0)])
    with pytest.raises(ValueError, match="final_acq_func: unknown acq_func"):
        engine.run(lambda p: p[0], "large", [[0.5]], 1, final_acq_func="nope")
    assert len(engine.history) == 0  # refused before any evaluation


# ------------------------------------------------------------------ warm-started fits
def _engine_with_data(journal=None, n_small=6):
    engine = Engine(mixed_toy_space(), random_state=3, transfer_points=0, journal=journal)
    for p in engine.space.sample(n_small, seed=3):
        engine.tell(p, mixed_toy_small(p), "small")
    return engine


def test_a_proposed_trial_keeps_the_hyperparameters_its_fits_reached():
    from scaleup_bo.model import hyperparameters

    engine = _engine_with_data()
    assert all(t.hyperparameters is None for t in engine.history)  # told, not asked
    point = engine.ask("large")
    fitted = hyperparameters(engine.fit())
    trial = engine.tell(point, mixed_toy_large(point), "large")
    assert trial.hyperparameters["shared"] == fitted
    # A point told without being asked has none; the next fit starts from the latest.
    other = engine.space.sample(1, seed=9)[0]
    assert engine.tell(other, mixed_toy_large(other), "large").hyperparameters is None
    assert engine._warm_start("shared") == fitted


def test_the_next_fit_starts_from_the_last_proposals_hyperparameters(monkeypatch):
    import scaleup_bo.model as model_module

    engine = _engine_with_data()
    point = engine.ask("large")
    recorded = engine.tell(point, mixed_toy_large(point), "large").hyperparameters["shared"]
    starts = []
    real = model_module.fit_gpytorch_mll

    def spy(mll, **kwargs):
        starts.append({n: p.detach().tolist() for n, p in mll.model.named_parameters()})
        return real(mll, **kwargs)

    monkeypatch.setattr(model_module, "fit_gpytorch_mll", spy)
    engine.ask("large")
    assert starts[0] == recorded


def test_a_run_resumed_from_its_journal_proposes_what_the_run_would_have(tmp_path):
    journal = tmp_path / "run.jsonl"
    engine = _engine_with_data(journal)
    for _ in range(3):
        point = engine.ask("large")
        engine.tell(point, mixed_toy_large(point), "large")
    resumed = Engine(mixed_toy_space(), random_state=3, transfer_points=0, journal=journal)
    assert [t.hyperparameters for t in resumed.history] == [
        t.hyperparameters for t in engine.history
    ]
    assert resumed.ask("large") == engine.ask("large")
    # The same history without the recorded hyperparameters fits from BoTorch's start.
    cold = _engine_with_data()
    for t in engine.history.at("large"):
        cold.tell(t.params, t.value, "large")
    assert cold._warm_start("shared") is None


def test_hyperparameters_follow_their_own_pending_point():
    engine = _engine_with_data()
    claimed = engine.claim([0.01, 2, "rms", 0.9], "large")  # chosen by the caller
    asked = engine.ask("large")
    cancelled = engine.ask("large")
    engine.cancel(cancelled, "large")
    assert engine.tell(asked, mixed_toy_large(asked), "large").hyperparameters["shared"]
    assert engine.tell(claimed, mixed_toy_large(claimed), "large").hyperparameters is None
    # The last proposal's fits are the start, not the claimed point's (none).
    assert engine._warm_start("shared") is not None


def test_only_the_last_proposals_fits_are_a_warm_start():
    engine = _engine_with_data()
    engine.recommend()  # an exploit refit at this history size, kept with the proposal
    first = engine.ask("large")
    trial = engine.tell(first, mixed_toy_large(first), "large")
    assert set(trial.hyperparameters) == {"shared", "shared@1e-07"}
    second = engine.ask("large")
    engine.tell(second, mixed_toy_large(second), "large")
    # The refit was not made for the last proposal: it would start from a stale fit.
    assert engine._warm_start("shared@1e-07") is None
    assert engine._warm_start("shared") is not None


def test_a_carried_over_small_stage_brings_no_hyperparameters():
    small = SmallScaleOptimizer(
        lambda p: (p[0] - 0.3) ** 2, [(0.0, 1.0)], n_steps=1, n_initial_points=2, random_state=0
    )
    assert small.history.trials[-1].hyperparameters["shared"]
    large = LargeScaleOptimizer(lambda p: (p[0] - 0.4) ** 2, [(0.0, 1.0)], small=small, n_steps=0)
    assert all(t.hyperparameters is None for t in large.history)


def test_warm_fits_false_fits_from_botorchs_start_every_time(monkeypatch):
    import scaleup_bo.model as model_module

    engine = _engine_with_data()
    engine.warm_fits = False
    point = engine.ask("large")
    assert engine.tell(point, mixed_toy_large(point), "large").hyperparameters["shared"]
    options = []
    real = model_module.fit_gpytorch_mll

    def spy(mll, **kwargs):
        options.append(kwargs.get("optimizer_kwargs", {}).get("options"))
        return real(mll, **kwargs)

    monkeypatch.setattr(model_module, "fit_gpytorch_mll", spy)
    engine.ask("large")
    assert options == [{}]  # no warm start, no iteration cap
    for value in (0, "yes", None):
        with pytest.raises(DataError, match="warm_fits"):
            Engine(mixed_toy_space(), warm_fits=value)
    small = SmallScaleOptimizer(
        lambda p: p[0], [(0.0, 1.0)], n_steps=0, n_initial_points=1, warm_fits=False
    )
    large = LargeScaleOptimizer(lambda p: p[0], [(0.0, 1.0)], small=small, n_steps=0,
                                warm_fits=False)  # fmt: skip
    assert small.engine.warm_fits is False and large.engine.warm_fits is False
    assert large.history.metadata["warm_fits"] is False


def test_exploit_large_alone_defaults_and_pass_through():
    # On in ScaleUpOptimizer (its benchmark's recommendations), off in Engine and
    # LargeScaleOptimizer (whose benchmark rows are without it); both façades pass it on.
    assert Engine([(0.0, 1.0)]).exploit_large_alone is False
    small = SmallScaleOptimizer(lambda p: p[0], [(0.0, 1.0)], n_steps=0, n_initial_points=1)
    for flag in (False, True):
        large = LargeScaleOptimizer(lambda p: p[0], [(0.0, 1.0)], small=small, n_steps=0,
                                    exploit_large_alone=flag)  # fmt: skip
        assert large.engine.exploit_large_alone is flag
        assert large.history.metadata["exploit_large_alone"] is flag
    assert (
        LargeScaleOptimizer(
            lambda p: p[0], [(0.0, 1.0)], small=small, n_steps=0
        ).engine.exploit_large_alone
        is False
    )
    for kwargs, expected in (({}, True), ({"exploit_large_alone": False}, False)):
        opt = ScaleUpOptimizer(
            None, None, [(0.0, 1.0)], budget=20, cost_small=1, cost_large=5, **kwargs
        )
        assert opt.engine.exploit_large_alone is expected


# ---------------------------------------------------------------- a new user's review (26th)
def test_initial_scores_next_to_a_table_is_refused():
    pd = pytest.importorskip("pandas")
    table = pd.DataFrame({"x": [0.1, 0.5, 0.9], "score": [1.0, 2.0, 3.0]})
    with pytest.raises(DataError, match=r"initial_scores.*table"):
        SmallScaleOptimizer(
            lambda p: 0.0, [Real(0.0, 1.0, name="x")], n_steps=0,
            initial_points=table, initial_scores=[100.0, 200.0, 300.0],
        )  # fmt: skip


def test_telling_a_point_at_another_scale_than_asked_says_so(caplog):
    engine = Engine([Real(0.0, 1.0)], n_initial_points=2, random_state=0)
    point = engine.ask("small")
    with caplog.at_level(logging.WARNING, logger="scaleup_bo"):
        engine.tell(point, 0.3, "large")
    assert "asked at the small scale" in caplog.text
    assert engine.pending == [(point, "small")]
    assert engine.history[0].scale == "large"


def test_an_objective_returning_none_is_named_in_the_failure():
    engine = Engine([Real(0.0, 1.0)], random_state=0)
    trial = engine.tell([0.5], None, "small")
    assert trial.error == "objective returned None (no value)"


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


@pytest.mark.parametrize("mode", ["shared", "multitask"])
def test_large_model_choice_names_the_model_in_every_mode(mode):
    large = LargeScaleOptimizer(
        lambda p: (p[0] - 0.6) ** 2, [Real(0.0, 1.0)],
        X_iters_small=[[0.1], [0.3], [0.5], [0.7], [0.9]],
        Y_iters_small=[0.16, 0.04, 0.0, 0.04, 0.16], n_steps=3, random_state=0,
        large_model=mode, transfer_guard=False,
    )  # fmt: skip
    assert large.engine.large_model_choice["model"] == mode


def test_an_exhausted_discrete_space_ends_the_run_without_repeats(caplog):
    from scaleup_bo import SpaceExhaustedError

    space = [Categorical(["a", "b", "c"])]
    with caplog.at_level(logging.WARNING, logger="scaleup_bo"):
        large = LargeScaleOptimizer(
            lambda p: {"a": 1.0, "b": 0.5, "c": 2.0}[p[0]], space,
            X_iters_small=[["a"], ["b"]], Y_iters_small=[1.0, 0.5], n_steps=4, random_state=0,
        )  # fmt: skip
    assert sorted(p[0] for p in large.X_iters) == ["a", "b", "c"]
    assert "every point of the search space" in caplog.text
    assert large.best_params == ["b"]
    with pytest.raises(SpaceExhaustedError, match="large scale"):
        large.engine.ask("large")
    assert large.engine.ask("small") in (["c"],)  # the small scale still has a fresh point
    engine = Engine([Integer(1, 3)], n_initial_points=1, random_state=0)
    for _ in range(3):
        engine.tell(engine.ask("small"), 1.0, "small")
    assert sorted(t.params[0] for t in engine.history) == [1, 2, 3]  # the design, too
    with pytest.raises(SpaceExhaustedError, match="3 points"):
        engine.ask("small")


def test_claiming_a_pending_or_evaluated_point_again_warns(caplog):
    engine = Engine([Real(0.0, 1.0)], random_state=0)
    engine.claim([0.5], "large")
    with caplog.at_level(logging.WARNING, logger="scaleup_bo"):
        engine.claim([0.5], "large")
    assert "again while it is pending" in caplog.text
    engine.tell([0.5], 1.0, "large")
    engine.tell([0.5], 1.1, "large")  # one tell per claim
    assert engine.pending == []
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="scaleup_bo"):
        engine.claim([0.5], "small")
        assert caplog.text == ""  # another scale
        engine.claim([0.5], "large")
    assert "already evaluated at the large scale" in caplog.text


def test_resuming_a_longer_journal_than_planned_says_so(tmp_path, caplog):
    journal = tmp_path / "large.jsonl"
    kwargs = {"X_iters_small": [[0.1], [0.5], [0.9]], "Y_iters_small": [0.3, 0.1, 0.4]}
    f = lambda p: (p[0] - 0.4) ** 2  # noqa: E731
    LargeScaleOptimizer(f, [Real(0.0, 1.0)], **kwargs, n_steps=2, random_state=0, journal=journal)
    with caplog.at_level(logging.WARNING, logger="scaleup_bo"):
        again = LargeScaleOptimizer(
            f, [Real(0.0, 1.0)], **kwargs, n_steps=0, random_state=0, journal=journal
        )
    assert len(again.X_iters) == 3 and "holds 6 trials, more than the 4" in caplog.text


def test_a_batch_larger_than_the_untried_points_says_how_many_are_left():
    from scaleup_bo import SpaceExhaustedError

    engine = Engine([Integer(1, 3)], n_initial_points=1, random_state=0)
    engine.tell([2], 1.0, "small")
    with pytest.raises(SpaceExhaustedError, match="only 2 point"):
        engine.ask("small", n=3)
    assert engine.pending == [] and not engine.exhausted("small")
    assert sorted(p[0] for p in engine.ask("small", n=2)) == [1, 3]
