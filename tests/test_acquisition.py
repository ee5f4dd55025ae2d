"""The acquisition registry: names and callables become BoTorch acquisition functions,
their options are checked, and the context they are built with."""

from __future__ import annotations

import pytest
import torch
from botorch.acquisition import AcquisitionFunction, qUpperConfidenceBound
from skopt.space import Real

from scaleup_bo import (
    ACQUISITIONS,
    AcquisitionContext,
    AcquisitionError,
    Engine,
    register_acquisition,
)
from scaleup_bo.acquisition import build_acquisition, resolve_acquisition
from scaleup_bo.benchmarks.problems import mixed_toy_large, mixed_toy_small, mixed_toy_space
from scaleup_bo.optimize import propose


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


@pytest.mark.parametrize(
    ("acq", "kwargs", "fragment"),
    [
        ("UCB", {"kapa": 3.0}, "no option 'kapa'.*'beta', 'kappa'"),
        ("EI", {"xi": "abc"}, r"acq_func_kwargs\['xi'\] must be a finite number"),
        ("KG", {"num_fantasies": 0}, "positive integer"),
        ("UCB", {"beta": -1.0}, "beta"),
        ("EI", [("xi", 1.0)], "must be a dict"),
    ],
)
def test_acq_func_kwargs_are_checked_at_construction(acq, kwargs, fragment):
    with pytest.raises(AcquisitionError, match=fragment):
        Engine([(0.0, 1.0)], acq_func=acq, acq_func_kwargs=kwargs)


def test_pending_points_push_analytic_acquisitions_apart():
    engine = Engine([Real(-2.0, 2.0), Real(-2.0, 2.0)], random_state=0, acq_func="EI")
    for p in engine.space.sample(6, seed=0):
        engine.tell(p, (p[0] - 0.1) ** 2 + (p[1] + 0.8) ** 2, "large")
    asked = [engine.ask("large") for _ in range(3)]
    U = engine.space.to_unit(asked)
    assert torch.cdist(U, U).masked_fill(torch.eye(3, dtype=torch.bool), 1.0).min() > 1e-3
    # A caller that rounds what it was given still clears the pending point.
    engine.tell([round(v, 5) for v in asked[0]], 0.5, "large")
    engine.cancel(asked[1], "large")
    assert engine.pending == [(asked[2], "large")]
    with pytest.raises(ValueError, match="not pending"):
        engine.cancel(asked[1], "large")


def test_pm_proposes_the_posterior_mean_minimizer_of_the_loss():
    # PM is pure exploitation: the proposal is where the model's predicted loss is lowest.
    # EI's point here is 0.004 away, which the tolerance below tells apart.
    engine = Engine([Real(0.0, 1.0)], random_state=0, acq_func="EI")
    for x in [0.0, 0.1, 0.25, 0.4, 0.55]:
        engine.tell([x], (x - 0.3) ** 2, "large")
    (x,) = engine.ask("large", acq_func="PM")
    grid = torch.linspace(0, 1, 10001, dtype=torch.float64).reshape(-1, 1)
    # The model PM was given: the same data refitted with the exploit noise floor (and
    # its noise pinned when the data show none).
    model = engine.model_at("large", exploit=True)[0]

    def mean(u):
        with torch.no_grad():  # in chunks: a posterior builds its full covariance
            chunks = [torch.cat([c, torch.ones_like(c)], -1) for c in u.split(500)]
            return torch.cat([model.posterior(c).mean for c in chunks])

    best = float(mean(grid).max())
    assert float(mean(torch.tensor([[x]], dtype=torch.float64))) >= best - 1e-7
    assert abs(x - 0.3) < 0.05
    engine.tell([x], (x - 0.3) ** 2, "large")
    (ei,) = engine.ask("large")
    assert float(mean(torch.tensor([[ei]], dtype=torch.float64))) < best - 1e-7


def test_pm_refuses_pending_points_and_a_failed_batch_leaves_nothing_pending():
    engine = Engine([Real(0.0, 1.0)], random_state=0)
    for x in [0.0, 0.2, 0.5, 0.9]:
        engine.tell([x], (x - 0.3) ** 2, "large")
    with pytest.raises(AcquisitionError, match="pending"):
        engine.ask("large", n=2, acq_func="PM")
    assert engine.pending == []
    engine.ask("large")
    with pytest.raises(AcquisitionError, match="pending"):
        engine.ask("large", acq_func="PM")
    assert len(engine.pending) == 1
