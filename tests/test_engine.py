"""The ask/tell Engine: asking, telling, claiming and cancelling points, evaluating under
the failure policy, the fits recorded with each proposal, and a space tried whole."""

from __future__ import annotations

import logging
import math
from types import SimpleNamespace

import pytest
from skopt.space import Categorical, Integer, Real

import scaleup_bo.model as model_module
from scaleup_bo import (
    AcquisitionError,
    DataError,
    Engine,
    InvalidPointError,
    LargeScaleOptimizer,
    SmallScaleOptimizer,
    SpaceExhaustedError,
    Strategy,
    TooManyFailuresError,
)
from scaleup_bo.benchmarks.problems import mixed_toy_large, mixed_toy_small, mixed_toy_space
from scaleup_bo.engine import DEFAULT_ACQ
from scaleup_bo.journal import Journal
from scaleup_bo.model import WARM_FIT_MAX_ITERATIONS, hyperparameters


# ---------------------------------------------------------------------- ask and tell
def test_ask_n_returns_distinct_points_at_both_scales():
    engine = Engine(mixed_toy_space(), random_state=0)
    for p in engine.space.sample(8, seed=0):
        engine.tell(p, mixed_toy_small(p), "small")
    for scale in ["large", "small"]:
        batch = engine.ask(scale, n=4)
        assert len(batch) == 4 and len({tuple(p) for p in batch}) == 4
    assert len(engine.pending) == 8
    with pytest.raises(ValueError, match="n must be >= 1"):
        engine.ask("large", n=0)


def test_each_scale_has_its_acquisition():
    assert Engine([(0.0, 1.0)]).acq_funcs == DEFAULT_ACQ == {"small": "EI", "large": "qNEI"}
    assert Engine([(0.0, 1.0)], acq_func="UCB").acq_funcs == {"small": "UCB", "large": "UCB"}
    both = Engine([(0.0, 1.0)], acq_func={"small": "PI", "large": "EI"})
    assert both.acq_funcs == {"small": "PI", "large": "EI"} and both.acq_func == both.acq_funcs
    assert both.history.metadata["acq_func"] == {"small": "PI", "large": "EI"}
    with pytest.raises(DataError, match="must map both"):
        Engine([(0.0, 1.0)], acq_func={"large": "EI"})


def test_engine_ask_tell_never_repeats_points_in_a_tiny_space():
    engine = Engine([Integer(0, 3)], random_state=0, n_initial_points=1)
    seen = []
    for _ in range(4):
        p = engine.ask("large")
        seen.append(p[0])
        engine.tell(p, (p[0] - 2) ** 2, "large")
    assert sorted(seen) == [0, 1, 2, 3]


def test_engine_pending_points_are_not_proposed_twice():
    engine = Engine([Real(0.0, 1.0), Integer(0, 2)], random_state=0)
    engine.tell_many([[0.1, 0], [0.9, 2], [0.5, 1]], [1.0, 2.0, 0.5], scale="small")
    a = engine.ask("large")
    b = engine.ask("large")
    assert a != b
    engine.tell(a, 0.3, "large")
    engine.tell(b, 0.2, "large")
    assert engine.best("large").params == tuple(b)


def test_ask_refuses_an_unknown_acquisition_for_one_proposal():
    engine = Engine([Real(0.0, 1.0)], random_state=0)
    with pytest.raises(AcquisitionError, match="unknown acq_func"):
        engine.ask("large", acq_func="nope")
    assert engine.pending == []


def test_tell_refuses_points_outside_the_space_and_unknown_scales():
    engine = Engine([Real(0.0, 1.0, name="lr"), Categorical(["a", "b"], name="opt")])
    with pytest.raises(InvalidPointError, match=r"'lr'.*1.5"):
        engine.tell([1.5, "a"], 1.0, "large")
    with pytest.raises(InvalidPointError, match=r"'opt'.*'c'"):
        engine.tell([0.5, "c"], 1.0, "large")
    with pytest.raises(DataError, match="scale"):
        engine.tell([0.5, "a"], 1.0, "huge")
    assert len(engine.history) == 0


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


# ---------------------------------------------------------------------- a space tried whole
def test_an_exhausted_discrete_space_ends_the_run_without_repeats(caplog):
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


def test_a_batch_larger_than_the_untried_points_says_how_many_are_left():
    engine = Engine([Integer(1, 3)], n_initial_points=1, random_state=0)
    engine.tell([2], 1.0, "small")
    with pytest.raises(SpaceExhaustedError, match="only 2 point"):
        engine.ask("small", n=3)
    assert engine.pending == [] and not engine.exhausted("small")
    assert sorted(p[0] for p in engine.ask("small", n=2)) == [1, 3]


# ---------------------------------------------------------------------- failure policy
def test_engine_refuses_an_objective_it_cannot_call_before_evaluating():
    engine = Engine([Real(0.0, 1.0)])
    with pytest.raises(DataError, match="objective must be callable, got None"):
        engine.run(None, "small", n_asks=1)
    with pytest.raises(DataError, match="objective must be callable, got 'f'"):
        engine.evaluate("f", [0.5], "small")
    assert len(engine.history) == 0


def test_run_refuses_an_unknown_final_acquisition_before_evaluating():
    engine = Engine([Real(0.0, 1.0)])
    with pytest.raises(ValueError, match="final_acq_func: unknown acq_func"):
        engine.run(lambda p: p[0], "large", [[0.5]], 1, final_acq_func="nope")
    assert len(engine.history) == 0  # refused before any evaluation


def test_exceptions_outside_catch_are_recorded_then_raised(tmp_path):
    def f(p):
        raise KeyError("bad key")

    journal = tmp_path / "run.jsonl"
    with pytest.raises(KeyError):
        SmallScaleOptimizer(f, [Real(0.0, 1.0)], catch=(ValueError,), journal=journal)
    (trial,) = Journal(journal, {}).trials
    assert not trial.ok and "KeyError" in trial.error


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


# ---------------------------------------------------------------------- the fits behind proposals
def _engine_with_data(n_small=6, **settings):
    engine = Engine(
        mixed_toy_space(), random_state=3, strategy=Strategy(transfer_points=0, **settings)
    )
    for p in engine.space.sample(n_small, seed=3):
        engine.tell(p, mixed_toy_small(p), "small")
    return engine


def _spy_on_fits(monkeypatch):
    """Each BoTorch fit from now on: the raw hyperparameters it starts from, its L-BFGS
    options, and whether its noise floor is below BoTorch's (an exploiting refit)."""
    fits = []
    real = model_module.fit_gpytorch_mll

    def spy(mll, **kwargs):
        bound = mll.model.likelihood.noise_covar.raw_noise_constraint.lower_bound
        fits.append(
            SimpleNamespace(
                start={n: p.detach().tolist() for n, p in mll.model.named_parameters()},
                options=kwargs.get("optimizer_kwargs", {}).get("options"),
                refit=float(bound) < 1e-5,
            )
        )
        return real(mll, **kwargs)

    monkeypatch.setattr(model_module, "fit_gpytorch_mll", spy)
    return fits


WARM = {"maxiter": WARM_FIT_MAX_ITERATIONS}


def test_a_proposed_trial_keeps_the_hyperparameters_its_fits_reached(monkeypatch):
    engine = _engine_with_data()
    assert all(t.hyperparameters is None for t in engine.history)  # told, not asked
    point = engine.ask("large")
    fitted = hyperparameters(engine.fit())
    trial = engine.tell(point, mixed_toy_large(point), "large")
    assert trial.hyperparameters["shared"] == fitted
    # A point told without being asked has none; the next fit starts from the latest.
    other = engine.space.sample(1, seed=9)[0]
    assert engine.tell(other, mixed_toy_large(other), "large").hyperparameters is None
    fits = _spy_on_fits(monkeypatch)
    engine.ask("large")
    assert fits[0].start == fitted and fits[0].options == WARM


def test_the_next_fit_starts_from_the_last_proposals_hyperparameters(monkeypatch):
    engine = _engine_with_data()
    point = engine.ask("large")
    recorded = engine.tell(point, mixed_toy_large(point), "large").hyperparameters["shared"]
    fits = _spy_on_fits(monkeypatch)
    engine.ask("large")
    assert fits[0].start == recorded


def test_hyperparameters_follow_their_own_pending_point(monkeypatch):
    engine = _engine_with_data()
    claimed = engine.claim([0.01, 2, "rms", 0.9], "large")  # chosen by the caller
    asked = engine.ask("large")
    cancelled = engine.ask("large")
    engine.cancel(cancelled, "large")
    fitted = engine.tell(asked, mixed_toy_large(asked), "large").hyperparameters["shared"]
    assert fitted
    assert engine.tell(claimed, mixed_toy_large(claimed), "large").hyperparameters is None
    # The last proposal's fits are the start, not the claimed point's (none).
    fits = _spy_on_fits(monkeypatch)
    engine.ask("large")
    assert fits[0].start == fitted and fits[0].options == WARM


def test_only_the_last_proposals_fits_are_a_warm_start(monkeypatch):
    engine = _engine_with_data()
    engine.recommend()  # an exploit refit at this history size, kept with the proposal
    first = engine.ask("large")
    trial = engine.tell(first, mixed_toy_large(first), "large")
    assert set(trial.hyperparameters) == {"shared", "shared@1e-07"}
    second = engine.ask("large")
    engine.tell(second, mixed_toy_large(second), "large")
    # The refit was not made for the last proposal: it would start from a stale fit.
    fits = _spy_on_fits(monkeypatch)
    engine.recommend()
    assert [(f.refit, f.options) for f in fits] == [(False, WARM), (True, {})]


def test_warm_fits_false_fits_from_botorchs_start_every_time(monkeypatch):
    engine = _engine_with_data(warm_fits=False)
    point = engine.ask("large")
    assert engine.tell(point, mixed_toy_large(point), "large").hyperparameters["shared"]
    fits = _spy_on_fits(monkeypatch)
    engine.ask("large")
    assert [f.options for f in fits] == [{}]  # no warm start, no iteration cap
    off = Strategy(warm_fits=False)
    small = SmallScaleOptimizer(
        lambda p: p[0], [(0.0, 1.0)], n_steps=0, n_initial_points=1, strategy=off
    )
    large = LargeScaleOptimizer(lambda p: p[0], [(0.0, 1.0)], small=small, n_steps=0,
                                strategy=off)  # fmt: skip
    assert small.strategy.warm_fits is False and large.strategy.warm_fits is False
    assert large.history.metadata["strategy"]["warm_fits"] is False
