from __future__ import annotations

import pytest
import torch
from botorch.acquisition import AcquisitionFunction, qUpperConfidenceBound
from skopt.space import Categorical, Integer, Real

from scaleup_bo import (
    ACQUISITIONS,
    AcquisitionContext,
    AcquisitionError,
    Engine,
    register_acquisition,
)
from scaleup_bo.acquisition import build_acquisition, propose, resolve_acquisition
from scaleup_bo.benchmarks.problems import mixed_toy_large, mixed_toy_small, mixed_toy_space


@pytest.fixture(scope="module")
def fitted():
    engine = Engine(mixed_toy_space(), random_state=0)
    for p in engine.space.sample(12, seed=1):
        engine.tell(p, mixed_toy_small(p), "small")
    for p in engine.space.sample(3, seed=2):
        engine.tell(p, mixed_toy_large(p), "large")
    model = engine.fit(seed=0)
    train_X, train_Y = engine.training_data()
    context = AcquisitionContext.from_data(model, train_X, train_Y, 1.0, space=engine.space, seed=0)
    return engine, model, context


@pytest.mark.parametrize("name", sorted(ACQUISITIONS))
def test_every_registered_acquisition_proposes_a_fresh_valid_point(fitted, name):
    engine, model, context = fitted
    acqf = build_acquisition(name, model, context)
    assert isinstance(acqf, AcquisitionFunction)
    tried = engine.space.to_unit([t.params for t in engine.history.at("large")])
    point = propose(acqf, engine.space, 1.0, exclude=tried, seed=0, num_restarts=2, raw_samples=64)
    assert engine.space.contains(point)
    assert tuple(point) not in {t.params for t in engine.history.at("large")}


def test_best_f_comes_from_the_target_scale_only(fitted):
    engine, _, context = fitted
    best_large = min(t.value for t in engine.history.at("large"))
    assert context.best_f == pytest.approx(-best_large)
    # Small values are better here; they must not leak into best_f.
    assert min(t.value for t in engine.history.at("small")) < best_large


def test_best_f_without_target_observations_uses_the_model(fitted):
    _engine, model, context = fitted
    small_rows = context.train_X[:, -1] < 1
    ctx = AcquisitionContext.from_data(
        model, context.train_X[small_rows], context.train_Y[small_rows], 1.0
    )
    assert (ctx.X_baseline[:, -1] == 1.0).all()
    with torch.no_grad():
        assert ctx.best_f == pytest.approx(float(model.posterior(ctx.X_baseline).mean.max()))


def test_ucb_is_optimistic_for_a_loss():
    # A loss with its minimum at 0.2 and its maximum at 1.0: UCB must go near 0.2.
    engine = Engine(
        [Real(0.0, 1.0)], random_state=0, acq_func="UCB", acq_func_kwargs={"kappa": 0.1}
    )
    for x in [0.0, 0.15, 0.3, 0.5, 0.7, 0.85, 1.0]:
        engine.tell([x], (x - 0.2) ** 2, "large")
    (x,) = engine.ask("large")
    assert abs(x - 0.2) < 0.15


def test_callable_acquisition_is_used(fitted):
    _engine, model, context = fitted
    seen = []

    def builder(model, context):
        seen.append(context.target_fidelity)
        return qUpperConfidenceBound(model, beta=0.5, X_pending=context.X_pending)

    assert resolve_acquisition(builder) is builder
    acqf = build_acquisition(builder, model, context)
    assert isinstance(acqf, qUpperConfidenceBound) and seen == [1.0]


def test_builder_returning_garbage_is_refused(fitted):
    _, model, context = fitted
    with pytest.raises(AcquisitionError, match="not a botorch AcquisitionFunction"):
        build_acquisition(lambda m, c: 42, model, context)


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(AcquisitionError, match=r"'EI'.*'UCB'"):
        resolve_acquisition("EIx")
    with pytest.raises(ValueError):
        Engine([(0.0, 1.0)], acq_func="nope")


def test_register_acquisition_refuses_silent_overwrite():
    def builder(model, context):
        return qUpperConfidenceBound(model, beta=1.0)

    register_acquisition("test-qUCB", builder)
    try:
        assert resolve_acquisition("test-qUCB") is builder
        with pytest.raises(AcquisitionError, match="already registered"):
            register_acquisition("test-qUCB", builder)
    finally:
        ACQUISITIONS.pop("test-qUCB")


def test_many_category_combinations_use_the_alternating_optimizer():
    space = [Categorical(list("abcd"), name=f"c{i}") for i in range(3)] + [
        Real(0.0, 1.0),
        Integer(0, 4),
    ]
    engine = Engine(space, random_state=0)

    def f(p):
        return sum(ord(c) - ord("a") for c in p[:3]) + (p[3] - 0.5) ** 2 + abs(p[4] - 2)

    for p in engine.space.sample(10, seed=0):
        engine.tell(p, f(p), "large")
    assert engine.space.n_category_combinations == 64
    point = engine.ask("large")
    assert engine.space.contains(point)
