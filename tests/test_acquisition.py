from __future__ import annotations

import math

import pytest
import torch
from botorch.acquisition import AcquisitionFunction, qUpperConfidenceBound
from skopt.space import Categorical, Integer, Real

from scaleup_bo import (
    ACQUISITIONS,
    AcquisitionContext,
    AcquisitionError,
    DataError,
    Engine,
    register_acquisition,
)
from scaleup_bo.acquisition import build_acquisition, propose, resolve_acquisition
from scaleup_bo.benchmarks.problems import mixed_toy_large, mixed_toy_small, mixed_toy_space
from scaleup_bo.model import INTERPOLATION_NOISE


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


def test_ordinal_encoding_round_trips_through_one_hot():
    from scaleup_bo import SearchSpace
    from scaleup_bo.acquisition import _ordinal_columns, _OrdinalToOneHot

    space = SearchSpace(
        [
            Real(0, 1),
            Categorical(list("abc")),
            Integer(0, 3),
            Categorical([True, False]),
            Real(1, 2),
        ]
    )
    points = space.sample(8, seed=0)
    U = space.to_unit(points)
    X = torch.cat([U, torch.ones(len(points), 1, dtype=U.dtype)], -1)
    wrapper = _OrdinalToOneHot(qUpperConfidenceBound(_TinyModel(), beta=1.0), space, X_baseline=X)
    assert torch.equal(wrapper.expand(wrapper.X_baseline), X)
    discrete, cats = _ordinal_columns(space)
    assert cats == {1: [0.0, 1.0, 2.0], 3: [0.0, 1.0]} and list(discrete) == [2]


class _TinyModel:
    num_outputs = 1


def test_random_category_patterns_reach_every_category():
    from scaleup_bo import SearchSpace
    from scaleup_bo.acquisition import _onehot_patterns

    space = SearchSpace([Categorical(list("abcde")), Categorical(list("vwxyz"))])
    patterns = _onehot_patterns(space, 16, seed=0)
    assert len(patterns) == 16 and len({tuple(sorted(p.items())) for p in patterns}) == 16
    first_block = {next(j for j in range(5) if p[j] == 1.0) for p in patterns}
    assert first_block == {0, 1, 2, 3, 4}


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
    engine = Engine([Real(-2.0, 2.0), Real(-2.0, 2.0)], random_state=0)
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


def test_optimizer_warnings_go_to_the_debug_log(monkeypatch, caplog):
    import logging
    import warnings

    import scaleup_bo.acquisition as acquisition

    real = acquisition.optimize_acqf

    def noisy(*args, **kwargs):
        warnings.warn("Optimization failed in `gen_candidates_scipy`", RuntimeWarning, stacklevel=1)
        return real(*args, **kwargs)

    monkeypatch.setattr(acquisition, "optimize_acqf", noisy)
    engine = Engine([Real(0.0, 1.0)], random_state=0)
    engine.tell_many([[0.1], [0.5], [0.9]], [1.0, 0.2, 0.7], "large")
    with warnings.catch_warnings(), caplog.at_level(logging.DEBUG, logger="scaleup_bo"):
        warnings.simplefilter("error")
        engine.ask("large")
    assert "gen_candidates_scipy" in caplog.text


def test_pm_proposes_the_posterior_mean_minimizer_of_the_loss():
    # PM is pure exploitation: the proposal is where the model's predicted loss is lowest.
    # EI's point here is 0.004 away, which the tolerance below tells apart.
    engine = Engine([Real(0.0, 1.0)], random_state=0)
    for x in [0.0, 0.1, 0.25, 0.4, 0.55]:
        engine.tell([x], (x - 0.3) ** 2, "large")
    (x,) = engine.ask("large", acq_func="PM")
    grid = torch.linspace(0, 1, 10001, dtype=torch.float64).reshape(-1, 1)
    # The model PM was given: the same data refitted with the exploit noise floor (and
    # its noise pinned when the data show none).
    model = engine._model_for("large", engine._step_seed("large"), exploit=True)[0]

    def mean(u):
        with torch.no_grad():
            return model.posterior(torch.cat([u, torch.ones_like(u)], -1)).mean

    best = float(mean(grid).max())
    assert float(mean(torch.tensor([[x]], dtype=torch.float64))) >= best - 1e-7
    assert abs(x - 0.3) < 0.05
    engine.tell([x], (x - 0.3) ** 2, "large")
    (ei,) = engine.ask("large")
    assert float(mean(torch.tensor([[ei]], dtype=torch.float64))) < best - 1e-7


def test_ask_refuses_an_unknown_acquisition_for_one_proposal():
    engine = Engine([Real(0.0, 1.0)], random_state=0)
    with pytest.raises(AcquisitionError, match="unknown acq_func"):
        engine.ask("large", acq_func="nope")
    assert engine.pending == []


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


def test_an_evaluated_optimum_is_replaced_by_a_fresh_neighbour():
    # A discrete space too large for the space-filling fallback set to cover (2 x 10^5
    # points): PM's optimum was evaluated, so the proposal must be the best fresh point,
    # which sits next to it, not a far space-filling candidate.
    space = [Integer(1, 10) for _ in range(5)] + [Categorical(["x", "y"])]
    engine = Engine(space, random_state=0)

    def f(p):
        return sum((v - 4) ** 2 for v in p[:5]) + (0.0 if p[5] == "x" else 3.0)

    for p in [[4, 4, 4, 4, 4, "x"], *engine.space.sample(24, seed=3)]:
        engine.tell(p, f(p), "large")
    point = engine.ask("large", acq_func="PM")
    optimum = [4, 4, 4, 4, 4, "x"]
    moved = [(a, b) for a, b in zip(point, optimum, strict=True) if a != b]
    assert len(moved) == 1, point  # one dimension changed ...
    a, b = moved[0]
    assert isinstance(a, str) or abs(a - b) == 1, point  # ... by one step


# A recorded state of the benchmark's Forrester problem (seed 17): 25 small-scale runs,
# then 10 large-scale ones, six of them near the large-scale optimum at x = 0.757249.
_FORRESTER_SMALL = [
    (0.918383, 3.326412), (0.037505, -8.999426), (0.310421, -6.898353), (0.67952, -5.034626),
    (0.616555, -4.201545), (0.145093, -9.041766), (0.094096, -9.334572), (0.093075, -9.334851),
    (0.091966, -9.334884), (0.09114, -9.334724), (0.090491, -9.334488), (0.089629, -9.334025),
    (0.085923, -9.330075), (0.100171, -9.327988), (0.083897, -9.326571), (0.098221, -9.331015),
    (0.09492, -9.334172), (0.091342, -9.334778), (0.093734, -9.334698), (0.089013, -9.333588),
    (0.095142, -9.334037), (0.089455, -9.33391), (0.095021, -9.334112), (0.08967, -9.334051),
    (0.094838, -9.334218),
]  # fmt: skip
_FORRESTER_LARGE = [
    (0.091966, -0.509098), (0.724222, -5.499291), (0.754533, -6.016834), (0.771832, -5.902746),
    (0.75879, -6.019467), (0.756853, -6.020657), (0.457369, 0.551977), (0.761075, -6.012836),
    (0.757795, -6.02058), (0.755851, -6.0197),
]  # fmt: skip


def _forrester_engine(**kwargs):
    engine = Engine([Real(0.0, 1.0)], random_state=0, **kwargs)
    for rows, scale in ((_FORRESTER_SMALL, "small"), (_FORRESTER_LARGE, "large")):
        engine.tell_many([[x] for x, _ in rows], [y for _, y in rows], scale)
    return engine


def test_pm_and_recommend_use_a_model_fitted_with_the_exploit_noise_floor():
    # With BoTorch's noise floor (1e-4 of the standardized variance) the fit sits at
    # the floor and its mean cannot place the optimum closer than the points around it
    # (regret 1.4e-4); refitted with the 1e-7 floor it interpolates them (noise 4e-7)
    # and its maximizer is within 3e-4 of the optimum (regret 2.5e-7).
    optimum, forrester = 0.757249, lambda x: (6 * x - 2) ** 2 * math.sin(12 * x - 4)
    regret = {}
    for floor in (1e-7, None):
        engine = _forrester_engine(exploit_noise_floor=floor)
        (x,) = engine.ask("large", acq_func="PM")
        regret[floor] = forrester(x) - forrester(optimum)
        assert engine.recommend()[0] == pytest.approx(x, abs=1e-6)
        name = "shared" if floor is None else "shared@1e-07"
        noise = float(engine._fits[name][1].likelihood.noise)
        assert (noise < 1e-5) if floor else (noise >= 1e-4 * (1 - 1e-6))
        engine.cancel([x], "large")
        assert engine.ask("large")[0] != x  # qNEI: the exploring model, another point
    assert regret[1e-7] < 1e-6 < 1e-4 < regret[None]
    assert _forrester_engine().history.metadata["exploit_noise_floor"] == 1e-7


def test_pm_interpolates_runs_that_show_no_noise(monkeypatch):
    # The refit infers a noise of 4e-7 all the same (its prior holds it up) and smooths
    # the six runs around the optimum; pinned at 1e-9 it interpolates them.
    import scaleup_bo.optimizers as optimizers

    optimum, forrester = 0.757249, lambda x: (6 * x - 2) ** 2 * math.sin(12 * x - 4)
    engine = _forrester_engine()
    (x,) = engine.ask("large", acq_func="PM")
    assert engine.interpolation["model"] == "pinned"
    model = engine._model_for("large", engine._step_seed("large"), exploit=True)[0]
    assert float(model.likelihood.noise) == INTERPOLATION_NOISE
    assert engine.recommend()[0] == pytest.approx(x, abs=1e-6)
    off = _forrester_engine(exploit_interpolate=False)
    (fitted,) = off.ask("large", acq_func="PM")
    assert off.interpolation == {} and off.history.metadata["exploit_interpolate"] is False
    regret = forrester(x) - forrester(optimum)
    assert regret < 0.1 * (forrester(fitted) - forrester(optimum))
    # exploit_interpolate=False is the library without the pinning.
    monkeypatch.setattr(optimizers, "interpolating", lambda model: (model, {"model": "fitted"}))
    assert _forrester_engine().ask("large", acq_func="PM") == [fitted]


@pytest.mark.parametrize("value", [None, 1, "yes"])
def test_exploit_interpolate_is_checked(value):
    with pytest.raises(DataError, match="exploit_interpolate"):
        Engine([Real(0.0, 1.0)], exploit_interpolate=value)


def _rough_small_engine(**kwargs):
    # Forrester at large scale, runs clustered around its optimum; the small scale is
    # the same function with a fast wiggle (amplitude 0.3), which the shared model can
    # only explain as noise: its exploiting refit keeps a noise that smooths the large
    # runs, while the large runs alone show none.
    forrester = lambda x: (6 * x - 2) ** 2 * math.sin(12 * x - 4)  # noqa: E731
    engine = Engine([Real(0.0, 1.0)], random_state=0, **kwargs)
    small = [i / 19 for i in range(20)]
    engine.tell_many(
        [[x] for x in small], [forrester(x) + 0.3 * math.sin(300 * x) for x in small], "small"
    )
    large = [0.04, 0.12, 0.75, 0.771, 0.76, 0.739, 0.765, 0.755, 0.746, 0.757, 0.762]
    engine.tell_many([[x] for x in large], [forrester(x) for x in large], "large")
    return engine, lambda x: forrester(x) - forrester(0.757249)


def test_exploit_large_alone_exploits_the_large_runs_own_gp_when_only_it_interpolates():
    regret = {}
    for flag in (False, True):
        engine, regret_of = _rough_small_engine(exploit_large_alone=flag)
        (x,) = engine.recommend()
        regret[flag] = regret_of(x)
        kind, evidence = engine._model_kind, engine.interpolation
        if flag:
            assert kind == "large_only" and evidence["model"] == "pinned"
            assert evidence["instead_of"]["model"] == "fitted"
            assert engine.ask("large", acq_func="PM") == [x]  # PM exploits the same model
            assert engine.history.metadata["exploit_large_alone"] is True
        else:
            assert kind == "shared" and evidence["model"] == "fitted"
    assert regret[True] < 1e-6 < 1e-2 < regret[False]  # measured: 1.5e-10 against 0.023


def test_exploit_large_alone_keeps_a_shared_refit_that_interpolates():
    # The Forrester pair of the tests above: the shared refit is pinned, nothing changes.
    on, off = (_forrester_engine(exploit_large_alone=flag) for flag in (True, False))
    assert on.recommend() == off.recommend()
    assert on._model_kind == "shared" and on.interpolation["model"] == "pinned"
    assert "instead_of" not in on.interpolation


def test_exploit_large_alone_is_for_large_scale_choices_only():
    # A small-scale PM proposal keeps the shared model (a GP of the large runs alone
    # knows nothing of the small scale).
    engine, _ = _rough_small_engine(exploit_large_alone=True)
    engine.ask("small", acq_func="PM")
    assert engine._model_kind == "shared" and "instead_of" not in engine.interpolation


def test_exploit_large_alone_waits_for_enough_large_runs():
    # The rough small scale of the test above with 3 large runs near the optimum, then 4:
    # the shared refit shows noise both times, but 3 runs (fewer than GUARD_MIN_LARGE)
    # are too few for a GP of their own.
    forrester = lambda x: (6 * x - 2) ** 2 * math.sin(12 * x - 4)  # noqa: E731
    small = [i / 19 for i in range(20)]
    kinds = []
    for large in ([0.75, 0.76, 0.74], [0.75, 0.76, 0.74, 0.757]):
        engine = Engine([Real(0.0, 1.0)], random_state=0, exploit_large_alone=True)
        rough = [forrester(x) + 0.3 * math.sin(300 * x) for x in small]
        engine.tell_many([[x] for x in small], rough, "small")
        engine.tell_many([[x] for x in large], [forrester(x) for x in large], "large")
        engine.recommend()
        kinds.append(engine._model_kind)
        shared = engine.interpolation.get("instead_of", engine.interpolation)
        assert shared["model"] == "fitted"
    assert kinds == ["shared", "large_only"]


@pytest.mark.parametrize("value", [None, 1, "yes"])
def test_exploit_large_alone_is_checked(value):
    with pytest.raises(DataError, match="exploit_large_alone"):
        Engine([Real(0.0, 1.0)], exploit_large_alone=value)


@pytest.mark.parametrize("floor", [0, -1e-7, 0.5, True, "1e-7"])
def test_exploit_noise_floor_is_checked(floor):
    with pytest.raises(DataError, match="exploit_noise_floor"):
        Engine([Real(0.0, 1.0)], exploit_noise_floor=floor)


def test_the_guard_and_model_choices_are_made_with_the_exploring_models():
    # Refitted with the low floor, the shared model nearly interpolates and its
    # leave-one-out error on the large runs triples: were the guard asked about the
    # refits it would drop the small scale here (PM regret 1.1e-4). It decides on the
    # exploring models (shared kept), and PM then uses the shared model's refit.
    optimum, forrester = 0.757249, lambda x: (6 * x - 2) ** 2 * math.sin(12 * x - 4)
    engine = _forrester_engine(transfer_guard=True)
    (x,) = engine.ask("large", acq_func="PM")
    assert engine.transfer["uses_small_scale"] is True
    assert forrester(x) - forrester(optimum) < 1e-6
    assert "large_only@1e-07" not in engine._fits
    # With the multi-task model, PM uses its refit.
    engine = _forrester_engine(large_model="multitask")
    engine.ask("large", acq_func="PM")
    assert float(engine._fits["multitask@1e-07"][1].likelihood.noise.min()) < 1e-4


def test_a_failed_refit_falls_back_to_the_exploring_model(monkeypatch, caplog):
    import logging

    import scaleup_bo.optimizers as optimizers

    real = optimizers.fit_model

    def no_low_floor(*args, noise_floor=None, **kwargs):
        return None if noise_floor is not None else real(*args, **kwargs)

    monkeypatch.setattr(optimizers, "fit_model", no_low_floor)
    expected = _forrester_engine(exploit_noise_floor=None).ask("large", acq_func="PM")
    engine = _forrester_engine()
    with caplog.at_level(logging.WARNING, logger="scaleup_bo"):
        assert engine.ask("large", acq_func="PM") == expected  # not a space-filling point
    assert caplog.text.count("refit with noise floor") == 1
    engine.cancel(expected, "large")
    with caplog.at_level(logging.WARNING, logger="scaleup_bo"):
        assert engine.recommend() is not None
    # Said once per state: the same failed refit in the same step is not logged again.
    assert caplog.text.count("refit with noise floor") == 1
