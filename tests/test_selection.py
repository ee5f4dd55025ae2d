"""Model selection: which model predicts the target scale (the shared GP, the MultiTaskGP,
a GP of the large runs alone), the negative-transfer guard, the exploiting refits, and a
custom surrogate."""

from __future__ import annotations

import logging
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from botorch.fit import fit_gpytorch_mll
from botorch.models import MultiTaskGP, SingleTaskGP, SingleTaskMultiFidelityGP
from gpytorch.mlls import ExactMarginalLogLikelihood
from linear_operator.utils.errors import NotPSDError
from skopt.space import Real

import scaleup_bo.selection as selection
from scaleup_bo import Engine, LargeScaleOptimizer, Strategy
from scaleup_bo.benchmarks.problems import mixed_toy_small, mixed_toy_space
from scaleup_bo.model import build_model, fit_model
from scaleup_bo.selection import (
    AUTO_MAX_SCALE_RATIO,
    INTERPOLATION_NOISE,
    interpolating,
    log_marginal_likelihood,
    loo_predictions,
    multitask_evidence,
    n_hyperparameters,
    task_scale_ratio,
)
from tests.two_scale_data import forrester, forrester_data, scaled_data

SPACE = [(0.0, 1.0), ["a", "b"]]
SPACE_1D = [Real(0.0, 1.0)]
#: The transfer guard on the shared model.
GUARDED = Strategy(transfer_guard=True, large_model="shared")


def _small(p):
    return (p[0] - 0.3) ** 2 + (0.1 if p[1] == "b" else 0.0)


def _large(p):
    return (p[0] - 0.45) ** 2 + (0.0 if p[1] == "b" else 0.2)


calls: list[tuple[tuple[int, ...], tuple[int, ...]]] = []


def plain_gp(train_X, train_Y):
    """A custom surrogate: BoTorch's SingleTaskGP with the fidelity as one more input."""
    calls.append((tuple(train_X.shape), tuple(train_Y.shape)))
    model = SingleTaskGP(train_X, train_Y)
    fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
    return model


def test_a_custom_surrogate_replaces_the_library_models():
    calls.clear()
    engine = Engine(SPACE, random_state=0, strategy=Strategy(surrogate=plain_gp))
    engine.tell_many([[0.1, "a"], [0.5, "b"], [0.9, "a"]], [0.04, 0.14, 0.36], "small")
    model, kind = engine.model_at("large")
    assert isinstance(model, SingleTaskGP) and kind == "custom"
    assert calls == [((3, 4), (3, 1))]  # two one-hot columns, the numeric one, the fidelity
    point = engine.ask("large")
    assert len(calls) == 1  # one fit per history size
    engine.tell(point, _large(point), "large")
    assert engine.recommend() is not None and len(calls) == 2
    assert engine.history.metadata["strategy"]["surrogate"].endswith("test_selection.plain_gp")
    assert not engine.history[-1].hyperparameters  # a custom model's are not recorded


def test_a_large_stage_runs_on_a_custom_surrogate():
    calls.clear()
    large = LargeScaleOptimizer(
        _large, SPACE, X_iters_small=[[0.1, "a"], [0.3, "a"], [0.7, "b"]],
        Y_iters_small=[_small(p) for p in ([0.1, "a"], [0.3, "a"], [0.7, "b"])],
        n_steps=3, random_state=0, strategy=Strategy(surrogate=plain_gp),
    )  # fmt: skip
    assert [shape[0][0] for shape in calls] == [4, 5, 6]  # one fit per proposal
    assert len(large.Y_iters) == 4 and large.engine.model_at()[1] == "custom"
    assert torch.isfinite(torch.tensor(large.Y_iters.astype(float))).all()


# ---------------------------------------------------------------------- helpers
def _forrester_x(x):
    return (6 * x - 2) ** 2 * math.sin(12 * x - 4)


def _forrester_p(p):
    return _forrester_x(p[0])


FORRESTER_OPTIMUM = 0.757249


def _record_fits(monkeypatch):
    """Every fit the model selection makes, as ``(train_X, noise_floor, multitask, model)``
    records."""
    records = []
    real = selection.fit_model

    def recording(X, Y, **kwargs):
        model = real(X, Y, **kwargs)
        records.append(
            SimpleNamespace(
                X=X, floor=kwargs.get("noise_floor"), multitask=kwargs.get("multitask", False),
                model=model,
            )
        )  # fmt: skip
        return model

    monkeypatch.setattr(selection, "fit_model", recording)
    return records


def _large_only(record):
    return bool((record.X[:, -1] == 1.0).all())


def _failed_cholesky(*args, **kwargs):
    raise RuntimeError("cholesky_cpu: not positive definite")  # what a bad solve raises


# ---------------------------------------------------------------------- the shared model
def test_the_shared_model_gives_the_one_hot_columns_their_own_lengthscale_prior():
    # mixed_toy: lr, layers, a 3-way categorical (columns 2-4), dropout.
    engine = Engine(mixed_toy_space(), random_state=0)
    points = engine.space.sample(12, seed=0)
    engine.tell_many(points, [mixed_toy_small(p) for p in points], "small")
    kernel = engine.fit().covar_module.base_kernel.kernels[0].covar_module_unbiased
    priors = {name: closure(kernel) for name, _, _, closure, _ in kernel.named_priors()}
    assert priors["categorical_lengthscale_prior"].shape[-1] == 3
    assert priors["lengthscale_prior"].shape[-1] == 3
    assert engine.space.one_hot_columns == [2, 3, 4]


# ---------------------------------------------------------------------- transfer guard
@pytest.mark.parametrize(
    ("small", "uses_small"),
    [
        (lambda p: 0.5 * _forrester_p(p) + 10 * (p[0] - 0.5) - 5, True),  # informative
        (lambda p: -_forrester_p(p), False),  # anti-correlated: misleads
    ],
)
def test_transfer_guard_ignores_a_small_scale_that_does_not_predict_the_large(small, uses_small):
    engine = Engine([(0.0, 1.0)], random_state=0, acq_func="EI", strategy=GUARDED)
    xs = np.linspace(0, 1, 15)
    engine.tell_many([[x] for x in xs], [small([x]) for x in xs], "small")
    for x in [0.1, 0.3, 0.5, 0.7, 0.9]:
        engine.tell([x], _forrester_x(x), "large")
    point = engine.ask("large")
    assert engine.transfer["uses_small_scale"] is uses_small
    assert engine.transfer["loo_shared"] != engine.transfer["loo_large"]
    assert 0 <= point[0] <= 1
    # Off, the shared model is used whatever it predicts.
    off = Engine([(0.0, 1.0)], random_state=0)  # off by default
    off.tell_many([[x] for x in xs], [0.0] * 15, "small")
    off.tell_many([[0.1], [0.45], [0.7], [0.8]], [1.0, 2.0, 3.0, 4.0], "large")
    off.ask("large")
    assert off.transfer == {}


def test_transfer_guard_waits_for_four_large_points():
    engine = Engine([(0.0, 1.0)], random_state=0, acq_func="EI", strategy=GUARDED)
    engine.tell_many([[0.1], [0.5], [0.9]], [1.0, 0.0, 1.0], "small")
    engine.tell_many([[0.2], [0.4], [0.6]], [0.2, 0.3, 0.1], "large")
    engine.ask("large")
    assert engine.transfer == {}


def test_transfer_guard_forgets_its_last_decision_when_it_cannot_compare(monkeypatch):
    engine = Engine([(0.0, 1.0)], random_state=0, acq_func="EI", strategy=GUARDED)
    engine.tell_many([[x] for x in np.linspace(0, 1, 8)], [0.0] * 8, "small")
    engine.tell_many([[0.1], [0.45], [0.7], [0.8]], [1.0, 2.0, 3.0, 4.0], "large")
    engine.transfer = {"uses_small_scale": False, "loo_shared": 1.0, "loo_large": 0.1}  # stale
    monkeypatch.setattr(selection, "loo_predictions", _failed_cholesky)
    engine.ask("large")
    assert engine.transfer == {}


def _guarded_forrester(small, **settings):
    """15 small runs of ``small`` on a grid, 5 large runs of Forrester, the shared model."""
    strategy = Strategy(large_model="shared", **settings)
    engine = Engine(SPACE_1D, acq_func="MF-MES", random_state=0, strategy=strategy)
    xs = [i / 14 for i in range(15)]
    engine.tell_many([[x] for x in xs], [small([x]) for x in xs], "small")
    for x in [0.1, 0.3, 0.5, 0.7, 0.9]:
        engine.tell([x], _forrester_x(x), "large")
    return engine


def test_the_guard_drops_the_small_scale_whenever_the_large_runs_alone_predict_better():
    """Plain leave-one-out model selection: a small scale unrelated to Forrester, where
    the large-only GP predicts the large runs somewhat better (error ratio about 0.75),
    is dropped."""
    engine = _guarded_forrester(lambda p: 10 * (p[0] - 0.9) ** 2, transfer_guard=True)
    engine.recommend()
    assert engine.transfer["uses_small_scale"] is False
    assert 0.5 < engine.transfer["loo_large"] / engine.transfer["loo_shared"] < 1.0
    assert selection.GUARD_RATIO == 1.0


def test_recommendation_follows_the_guard():
    """An anti-correlated small scale drags the shared model's optimum to x = 1 (it
    even ranks the worst large run, 0.9, first); the guard recommends from the
    large-scale runs instead."""
    recs = {}
    for guard in (False, True):
        engine = _guarded_forrester(lambda p: -_forrester_p(p), transfer_guard=guard)
        recs[guard] = (engine.recommend()[0], engine.recommend(evaluated_only=True)[0])
    assert recs[False][1] == 0.9 and recs[False][0] > 0.9
    assert recs[True][1] == 0.7 and abs(recs[True][0] - 0.757) < 0.1


# ---------------------------------------------------------------------- multitask
def test_multitask_large_model_proposes_once_three_large_points_exist():
    engine = Engine(
        [(0.0, 1.0)], random_state=0, acq_func="qNEI", strategy=Strategy(large_model="multitask")
    )
    xs = np.linspace(0, 1, 12)
    engine.tell_many([[x] for x in xs], [math.sin(6 * x) for x in xs], "small")
    for x in [0.2, 0.5]:  # large = 3 x small + 2
        engine.tell([x], 3 * math.sin(6 * x) + 2, "large")
    model, kind = engine.model_at("large")
    assert isinstance(model, SingleTaskMultiFidelityGP) and kind == "shared"
    point = engine.ask("large")
    assert 0 <= point[0] <= 1 and point[0] not in (0.2, 0.5)
    engine.tell([0.9], 3 * math.sin(5.4) + 2, "large")
    model, kind = engine.model_at("large")
    assert isinstance(model, MultiTaskGP) and kind == "multitask"
    assert isinstance(engine.model_at("small")[0], SingleTaskMultiFidelityGP)
    # The recommendation comes from the MultiTaskGP, which scales the small function:
    # the large optimum is at pi / 4 (measured: 0.785; the shared model's is 0.904).
    assert engine.recommend()[0] == pytest.approx(math.pi / 4, abs=0.02)
    assert engine.history.metadata["strategy"]["large_model"] == "multitask"


def test_multitask_large_model_works_with_the_transfer_guard():
    engine = Engine(
        [(0.0, 1.0)], random_state=0, acq_func="EI",
        strategy=Strategy(transfer_guard=True, large_model="multitask"),
    )  # fmt: skip
    xs = np.linspace(0, 1, 12)
    engine.tell_many([[x] for x in xs], [math.sin(6 * x) for x in xs], "small")
    large = [0.1, 0.4, 0.6, 0.9]
    engine.tell_many([[x] for x in large], [3 * math.sin(6 * x) + 2 for x in large], "large")
    engine.ask("large")
    assert engine.transfer["uses_small_scale"] is True  # the MultiTaskGP predicts them well
    assert engine.transfer["loo_shared"] < engine.transfer["loo_large"]


def test_multitask_model_reports_the_scale_factor_and_its_evidence():
    X, Y = scaled_data()  # large = 3 x small + 2
    multitask = fit_model(X, Y, seed=0, multitask=True)
    shared = fit_model(X, Y, seed=0)
    assert task_scale_ratio(multitask) == pytest.approx(3.0, rel=0.05)
    # The exact Gaussian log density of the standardized targets, by hand.
    x, y = multitask.train_inputs[0], multitask.train_targets
    with torch.no_grad():
        prior = multitask.forward(x)
        cov = multitask.likelihood(prior, x).covariance_matrix
        by_hand = torch.distributions.MultivariateNormal(prior.mean, cov).log_prob(y)
    assert log_marginal_likelihood(multitask) == pytest.approx(float(by_hand), rel=1e-6)
    assert log_marginal_likelihood(multitask) > log_marginal_likelihood(shared) + 10
    # Raw entries: the shared model's 6 (1-D); the MultiTaskGP's 11, its task covariance
    # counted as stored (2 variances, a 2 x 2 factor), more than its free numbers.
    assert (n_hyperparameters(shared), n_hyperparameters(multitask)) == (6, 11)


@pytest.mark.parametrize(
    ("factor", "expected"), [(2.0, "multitask"), (1.0, "shared"), (10.0, "shared")]
)
def test_multitask_evidence_prefers_the_multitask_gp_for_a_moderate_scale_factor(factor, expected):
    """large_model="auto"'s rule: a x2 scale (inside the window) goes to the MultiTaskGP,
    an identical scale (ratio 1) and a x10 one (above AUTO_MAX_SCALE_RATIO) do not."""
    xs = torch.linspace(0, 1, 15, dtype=torch.float64).unsqueeze(-1)
    xl = torch.tensor([[0.2], [0.5], [0.8]], dtype=torch.float64)
    X = torch.cat(
        [torch.cat([xs, torch.full_like(xs, 0.5)], -1), torch.cat([xl, torch.ones_like(xl)], -1)]
    )
    Y = torch.cat([torch.sin(6 * xs), factor * torch.sin(6 * xl) + 2])
    shared, multitask = fit_model(X, Y, seed=0), fit_model(X, Y, seed=0, multitask=True)
    evidence = multitask_evidence(shared, multitask)
    assert evidence["model"] == expected
    assert evidence["scale_ratio"] == pytest.approx(task_scale_ratio(multitask))
    assert evidence["penalty"] == pytest.approx(0.5 * (11 - 6) * math.log(18))
    if factor == 2.0:
        assert (
            evidence["log_likelihood_multitask"] - evidence["log_likelihood_shared"]
            > (evidence["penalty"])
        )


# ---------------------------------------------------------------------- large_model="auto"
def _auto_engine(large, xs_large, **settings):
    """large_model="auto" with the small scale sin(6x) on 12 points and ``large`` at
    ``xs_large``."""
    strategy = Strategy(large_model="auto", **settings)
    engine = Engine([(0.0, 1.0)], random_state=0, acq_func="qNEI", strategy=strategy)
    xs = np.linspace(0, 1, 12)
    engine.tell_many([[x] for x in xs], [math.sin(6 * x) for x in xs], "small")
    engine.tell_many([[x] for x in xs_large], [large(x) for x in xs_large], "large")
    return engine


def test_auto_large_model_chooses_the_multitask_gp_for_a_scaled_large_scale():
    engine = _auto_engine(lambda x: 2 * math.sin(6 * x) + 1, [0.2, 0.5])
    assert not isinstance(engine.model_at("large")[0], MultiTaskGP)
    # fewer than MULTITASK_MIN_LARGE large points: the shared model, no evidence compared
    assert engine.large_model_choice == {"model": "shared"}
    engine.tell([0.9], 2 * math.sin(5.4) + 1, "large")
    model, kind = engine.model_at("large")
    assert isinstance(model, MultiTaskGP) and kind == "multitask"
    choice = engine.large_model_choice
    # Measured: spread ratio 2.00, and the MultiTaskGP predicts the large points far
    # better than a GP of them alone (leave-one-out 4e-06 against 0.97).
    assert choice["model"] == "multitask"
    assert choice["log_likelihood_multitask"] - choice["log_likelihood_shared"] > choice["penalty"]
    assert choice["scale_ratio"] == pytest.approx(2.0, rel=0.05)
    assert choice["loo_multitask"] < choice["loo_large"]
    assert engine.recommend()[0] == pytest.approx(math.pi / 4, abs=0.02)  # shared: 0.90
    assert engine.history.metadata["strategy"]["large_model"] == "auto"


def test_auto_large_model_keeps_the_shared_model_when_the_scales_spread_alike():
    # The large scale is the small one: the MultiTaskGP fits better (log likelihood 12.5
    # against 2.7, measured) but sees no scale factor (ratio 1.00), so nothing to gain.
    engine = _auto_engine(lambda x: math.sin(6 * x), [0.2, 0.5, 0.9])
    model, kind = engine.model_at("large")
    assert isinstance(model, SingleTaskMultiFidelityGP) and kind == "shared"
    assert model.train_inputs[0].shape[0] == 15
    assert engine.large_model_choice["model"] == "shared"
    assert engine.large_model_choice["scale_ratio"] == pytest.approx(1.0, abs=0.05)
    assert "loo_large" not in engine.large_model_choice


def test_auto_large_model_does_not_amplify_a_small_scale_far_flatter_than_the_large():
    # Large = 10 x small: the MultiTaskGP fits it (ratio 10) but a ratio above
    # AUTO_MAX_SCALE_RATIO is what an unrelated small scale produced on the benchmark.
    engine = _auto_engine(lambda x: 10 * math.sin(6 * x), [0.2, 0.5, 0.9])
    engine.model_at("large")
    choice = engine.large_model_choice
    assert choice["scale_ratio"] > AUTO_MAX_SCALE_RATIO
    assert choice["log_likelihood_multitask"] - choice["log_likelihood_shared"] > choice["penalty"]
    assert choice["model"] == "shared"


def test_auto_large_model_survives_a_failed_cholesky_in_its_checks(monkeypatch, caplog):
    """A numerical failure while scoring keeps the shared model (the evidence) or the
    MultiTaskGP (its large-only check), says so in the log, and the step still proposes."""
    scaled = [0.2, 0.5, 0.9]
    engine = _auto_engine(lambda x: 2 * math.sin(6 * x) + 1, scaled)
    with monkeypatch.context() as m:
        m.setattr(selection, "multitask_evidence", _failed_cholesky)
        with caplog.at_level("WARNING", logger="scaleup_bo"):
            model, kind = engine.model_at("large")
            assert 0 <= engine.ask("large")[0] <= 1
    assert isinstance(model, SingleTaskMultiFidelityGP) and kind == "shared"
    assert engine.large_model_choice == {"model": "shared"}
    assert "large-scale model choice skipped, shared model kept" in caplog.text
    caplog.clear()
    engine = _auto_engine(lambda x: 2 * math.sin(6 * x) + 1, scaled)
    monkeypatch.setattr(selection, "loo_predictions", _failed_cholesky)
    with caplog.at_level("WARNING", logger="scaleup_bo"):
        model, kind = engine.model_at("large")
    assert isinstance(model, MultiTaskGP) and engine.large_model_choice["model"] == "multitask"
    assert kind == "multitask" and "loo_large" not in engine.large_model_choice
    assert "large-only check of the MultiTaskGP skipped" in caplog.text


def test_auto_large_model_replaces_a_misleading_multitask_gp_by_the_large_points_alone(
    monkeypatch,
):
    # The large scale is the small one mirrored and scaled: the MultiTaskGP is preferred
    # by its likelihood (spread ratio 2.4) yet predicts the 4 large points worse than a GP
    # of them alone (leave-one-out 3.9 against 1.7, measured).
    mirrored = [0.05, 0.35, 0.65, 0.95]
    engine = _auto_engine(lambda x: 2 * math.sin(6 * (1 - x)), mirrored)
    model, kind = engine.model_at("large")
    assert kind == "large_only" and engine.large_model_choice["model"] == "large_only"
    assert engine.large_model_choice["loo_large"] < engine.large_model_choice["loo_multitask"]
    train_X = model.train_inputs[0]
    assert train_X.shape[0] == 4 and bool((train_X[:, -1] == 1.0).all())
    assert engine.transfer == {}  # the guard is off
    point = engine.ask("large")
    assert 0 <= point[0] <= 1
    # The recommendation comes from the large-only model refitted with the noise floor.
    fits = _record_fits(monkeypatch)
    assert engine.recommend() is not None
    (refit,) = [f for f in fits if f.floor == 1e-7]
    assert _large_only(refit) and refit.model is not None
    assert engine.model_at("large", exploit=True)[1] == "large_only"


def test_auto_large_model_leaves_the_large_only_check_to_the_transfer_guard():
    # With the guard on, the guard (4 large points) checks the chosen MultiTaskGP: at 3
    # large points it keeps it (without the guard, auto's own check drops the small scale
    # here: leave-one-out 1.15 against 0.82, measured).
    xs_large = [0.05, 0.5, 0.95]
    mirrored = lambda x: 2.5 * math.sin(6 * (1 - x))  # noqa: E731
    alone = _auto_engine(mirrored, xs_large)
    alone.model_at("large")
    assert alone.large_model_choice["model"] == "large_only"
    engine = _auto_engine(mirrored, xs_large, transfer_guard=True)
    model, kind = engine.model_at("large")
    assert isinstance(model, MultiTaskGP) and model.train_inputs[0].shape[0] == 15
    assert kind == "multitask" and engine.large_model_choice["model"] == "multitask"
    assert "loo_large" not in engine.large_model_choice
    assert engine.transfer == {}  # fewer than GUARD_MIN_LARGE large points
    engine.tell([0.3], mirrored(0.3), "large")
    model, kind = engine.model_at("large")
    # At 4 the guard compares: leave-one-out 3.5 (MultiTaskGP) against 1.6 (measured):
    # the large-only GP predicts better, so it drops the small scale.
    assert engine.large_model_choice["model"] == "multitask"
    assert engine.transfer["uses_small_scale"] is False and kind == "large_only"
    assert model.train_inputs[0].shape[0] == 4


@pytest.mark.parametrize("mode", ["shared", "multitask"])
def test_large_model_choice_names_the_model_in_every_mode(mode):
    large = LargeScaleOptimizer(
        lambda p: (p[0] - 0.6) ** 2, [Real(0.0, 1.0)],
        X_iters_small=[[0.1], [0.3], [0.5], [0.7], [0.9]],
        Y_iters_small=[0.16, 0.04, 0.0, 0.04, 0.16], n_steps=3, random_state=0,
        strategy=Strategy(large_model=mode, transfer_guard=False),
    )  # fmt: skip
    assert large.engine.large_model_choice["model"] == mode


# ---------------------------------------------------------------------- leave-one-out
def test_loo_predictions_equal_predicting_each_point_from_the_others():
    X, Y = forrester_data()
    model = fit_model(X, Y, seed=0)
    mean, var, observed = loo_predictions(model)
    assert mean.shape == var.shape == (25,)
    assert torch.allclose(observed, Y.squeeze(-1))
    for i in range(18, 25):
        keep = torch.arange(25) != i
        # Same hyperparameters and standardization, point i left out.
        other = build_model(X[keep], Y[keep])
        other.load_state_dict(model.state_dict())
        y_std = (Y[keep] - model.outcome_transform.means) / model.outcome_transform.stdvs
        other.set_train_data(targets=y_std.squeeze(-1), strict=False)
        other.eval()
        with torch.no_grad():
            post = other.posterior(X[i : i + 1], observation_noise=True)
        assert mean[i].item() == pytest.approx(post.mean.item(), rel=1e-6)
        assert var[i].item() == pytest.approx(post.variance.item(), rel=1e-6)


def test_loo_predictions_of_the_multitask_model_leave_each_point_out():
    X, Y = scaled_data()
    X, Y = (
        torch.cat([X, torch.tensor([[0.35, 1.0]], dtype=torch.float64)]),
        torch.cat([Y, 3 * torch.sin(torch.tensor([[2.1]], dtype=torch.float64)) + 2]),
    )
    model = fit_model(X, Y, seed=0, multitask=True)
    mean, var, observed = loo_predictions(model)
    assert torch.allclose(observed, Y.squeeze(-1))
    n = X.shape[0]
    for i in (0, 7, n - 2, n - 1):  # small and large points
        keep = torch.arange(n) != i
        other = build_model(X[keep], Y[keep], multitask=True)
        other.load_state_dict(model.state_dict())
        y_std = (Y[keep] - model.outcome_transform.means) / model.outcome_transform.stdvs
        other.set_train_data(targets=y_std.squeeze(-1), strict=False)
        other.eval()
        task = X[i : i + 1].clone()
        task[:, -1] = float(X[i, -1] == 1.0)
        with torch.no_grad():
            post = other.posterior(task, observation_noise=True)
        assert mean[i].item() == pytest.approx(post.mean.item(), rel=1e-6)
        assert var[i].item() == pytest.approx(post.variance.item(), rel=1e-6)


# ---------------------------------------------------------------------- exploiting models
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


def _forrester_engine(**settings):
    """The recorded Forrester state on the shared model (unless ``settings`` say else)."""
    strategy = Strategy(**{"large_model": "shared", **settings})
    engine = Engine(SPACE_1D, random_state=0, acq_func="EI", strategy=strategy)
    for rows, scale in ((_FORRESTER_SMALL, "small"), (_FORRESTER_LARGE, "large")):
        engine.tell_many([[x] for x, _ in rows], [y for _, y in rows], scale)
    return engine


def test_pm_and_recommend_use_a_model_fitted_with_the_exploit_noise_floor(monkeypatch):
    # With BoTorch's noise floor (1e-4 of the standardized variance) the fit sits at
    # the floor and its mean cannot place the optimum closer than the points around it
    # (regret 1.4e-4); refitted with the 1e-7 floor it interpolates them (noise 4e-7)
    # and its maximizer is within 3e-4 of the optimum (regret 2.5e-7).
    fits = _record_fits(monkeypatch)
    regret = {}
    for floor in (1e-7, None):
        fits.clear()
        engine = _forrester_engine(exploit_noise_floor=floor)
        (x,) = engine.ask("large", acq_func="PM")
        regret[floor] = _forrester_x(x) - _forrester_x(FORRESTER_OPTIMUM)
        assert engine.recommend()[0] == pytest.approx(x, abs=1e-6)
        (exploited,) = [f.model for f in fits if f.floor == floor]  # fitted once per state
        noise = float(exploited.likelihood.noise)
        assert (noise < 1e-5) if floor else (noise >= 1e-4 * (1 - 1e-6))
        engine.cancel([x], "large")
        assert engine.ask("large")[0] != x  # EI: the exploring model, another point
    assert regret[1e-7] < 1e-6 < 1e-4 < regret[None]
    assert _forrester_engine().history.metadata["strategy"]["exploit_noise_floor"] == 1e-7


def test_pm_interpolates_runs_that_show_no_noise(monkeypatch):
    # The refit infers a noise of 4e-7 all the same (its prior holds it up) and smooths
    # the six runs around the optimum; pinned at 1e-9 it interpolates them.
    engine = _forrester_engine()
    (x,) = engine.ask("large", acq_func="PM")
    assert engine.interpolation["model"] == "pinned"
    model, kind = engine.model_at("large", exploit=True)
    assert float(model.likelihood.noise) == INTERPOLATION_NOISE and kind == "shared"
    assert engine.recommend()[0] == pytest.approx(x, abs=1e-6)
    off = _forrester_engine(exploit_interpolate=False)
    (fitted,) = off.ask("large", acq_func="PM")
    assert off.interpolation == {}
    assert off.history.metadata["strategy"]["exploit_interpolate"] is False
    regret = _forrester_x(x) - _forrester_x(FORRESTER_OPTIMUM)
    assert regret < 0.1 * (_forrester_x(fitted) - _forrester_x(FORRESTER_OPTIMUM))
    # exploit_interpolate=False is the library without the pinning.
    monkeypatch.setattr(selection, "interpolating", lambda model: (model, {"model": "fitted"}))
    assert _forrester_engine().ask("large", acq_func="PM") == [fitted]


def _rough_small_engine(**settings):
    # Forrester at large scale, runs clustered around its optimum; the small scale is
    # the same function with a fast wiggle (amplitude 0.3), which the shared model can
    # only explain as noise: its exploiting refit keeps a noise that smooths the large
    # runs, while the large runs alone show none.
    strategy = Strategy(**{"large_model": "shared", **settings})
    engine = Engine(SPACE_1D, random_state=0, acq_func="EI", strategy=strategy)
    small = [i / 19 for i in range(20)]
    engine.tell_many(
        [[x] for x in small], [_forrester_x(x) + 0.3 * math.sin(300 * x) for x in small], "small"
    )
    large = [0.04, 0.12, 0.75, 0.771, 0.76, 0.739, 0.765, 0.755, 0.746, 0.757, 0.762]
    engine.tell_many([[x] for x in large], [_forrester_x(x) for x in large], "large")
    return engine, lambda x: _forrester_x(x) - _forrester_x(FORRESTER_OPTIMUM)


def test_exploit_large_alone_exploits_the_large_runs_own_gp_when_only_it_interpolates():
    regret = {}
    for flag in (False, True):
        engine, regret_of = _rough_small_engine(exploit_large_alone=flag)
        (x,) = engine.recommend()
        regret[flag] = regret_of(x)
        kind, evidence = engine.model_at("large", exploit=True)[1], engine.interpolation
        if flag:
            assert kind == "large_only" and evidence["model"] == "pinned"
            assert evidence["instead_of"]["model"] == "fitted"
            assert engine.ask("large", acq_func="PM") == [x]  # PM exploits the same model
            assert engine.history.metadata["strategy"]["exploit_large_alone"] is True
        else:
            assert kind == "shared" and evidence["model"] == "fitted"
    assert regret[True] < 1e-6 < 1e-2 < regret[False]  # measured: 1.5e-10 against 0.023


def test_exploit_large_alone_keeps_a_shared_refit_that_interpolates():
    # The Forrester state of the tests above: the shared refit is pinned, nothing changes.
    on, off = (_forrester_engine(exploit_large_alone=flag) for flag in (True, False))
    assert on.recommend() == off.recommend()
    assert on.model_at("large", exploit=True)[1] == "shared"
    assert on.interpolation["model"] == "pinned" and "instead_of" not in on.interpolation


def test_exploit_large_alone_is_for_large_scale_choices_only():
    # A small-scale PM proposal keeps the shared model (a GP of the large runs alone
    # knows nothing of the small scale).
    engine, _ = _rough_small_engine(exploit_large_alone=True)
    engine.ask("small", acq_func="PM")
    assert "instead_of" not in engine.interpolation
    assert engine.model_at("small", exploit=True)[1] == "shared"
    assert "instead_of" not in engine.interpolation


def test_exploit_large_alone_waits_for_enough_large_runs():
    # The rough small scale of the test above with 3 large runs near the optimum, then 4:
    # the shared refit shows noise both times, but 3 runs (fewer than GUARD_MIN_LARGE)
    # are too few for a GP of their own.
    small = [i / 19 for i in range(20)]
    kinds = []
    strategy = Strategy(large_model="shared", exploit_large_alone=True)
    for large in ([0.75, 0.76, 0.74], [0.75, 0.76, 0.74, 0.757]):
        engine = Engine(SPACE_1D, random_state=0, acq_func="EI", strategy=strategy)
        rough = [_forrester_x(x) + 0.3 * math.sin(300 * x) for x in small]
        engine.tell_many([[x] for x in small], rough, "small")
        engine.tell_many([[x] for x in large], [_forrester_x(x) for x in large], "large")
        engine.recommend()
        kinds.append(engine.model_at("large", exploit=True)[1])
        shared = engine.interpolation.get("instead_of", engine.interpolation)
        assert shared["model"] == "fitted"
    assert kinds == ["shared", "large_only"]


def test_the_guard_and_model_choices_are_made_with_the_exploring_models(monkeypatch):
    # The guard compares the models as fitted for exploring (BoTorch's noise floor), never
    # their exploiting refits (the shared refit nearly interpolates, and its leave-one-out
    # error on the large runs is not the exploring model's). Here it drops the small
    # scale, and PM then exploits the refit of the model it chose: the large-only GP's.
    fits = _record_fits(monkeypatch)
    engine = _forrester_engine(transfer_guard=True)
    (x,) = engine.ask("large", acq_func="PM")
    (shared,) = [f.model for f in fits if f.floor is None and not _large_only(f)]
    (alone,) = [f.model for f in fits if f.floor is None and _large_only(f)]
    on_large = shared.train_inputs[0][:, -1] == 1.0
    mean, _, observed = loo_predictions(shared)
    loo_shared = float(((mean - observed)[on_large] ** 2).mean())
    mean, _, observed = loo_predictions(alone)
    loo_large = float(((mean - observed) ** 2).mean())
    assert engine.transfer == {
        "uses_small_scale": False,
        "loo_shared": pytest.approx(loo_shared, rel=1e-9),
        "loo_large": pytest.approx(loo_large, rel=1e-9),
    }
    assert not [f for f in fits if f.floor is not None and not _large_only(f)]  # no shared refit
    assert [_large_only(f) for f in fits if f.floor == 1e-7] == [True]
    assert engine.model_at("large", exploit=True)[1] == "large_only"
    assert _forrester_x(x) - _forrester_x(FORRESTER_OPTIMUM) < 1e-6
    # With the multi-task model, PM uses its refit.
    fits.clear()
    engine = _forrester_engine(large_model="multitask")
    engine.ask("large", acq_func="PM")
    (refit,) = [f.model for f in fits if f.multitask and f.floor == 1e-7]
    assert float(refit.likelihood.noise.min()) < 1e-4


def test_a_failed_refit_falls_back_to_the_exploring_model(monkeypatch, caplog):
    real = selection.fit_model

    def no_low_floor(*args, noise_floor=None, **kwargs):
        return None if noise_floor is not None else real(*args, **kwargs)

    monkeypatch.setattr(selection, "fit_model", no_low_floor)
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


# ---------------------------------------------------------------------- interpolating
@pytest.mark.parametrize("multitask", [False, True])
def test_interpolating_pins_the_noise_of_noise_free_data(multitask):
    X, Y = _noise_free_two_scales()
    fitted = fit_model(X, Y, seed=0, multitask=multitask, noise_floor=1e-7)
    noise = float(fitted.likelihood.noise.max())
    pinned, evidence = interpolating(fitted)
    assert evidence["model"] == "pinned" and pinned is not fitted
    assert (
        evidence["log_likelihood_pinned"] > evidence["log_likelihood_fitted"] - evidence["penalty"]
    )
    assert float(pinned.likelihood.noise.max()) == INTERPOLATION_NOISE
    assert float(fitted.likelihood.noise.max()) == noise > INTERPOLATION_NOISE  # a copy
    # The criterion's price: one noise parameter, or one per task of the MultiTaskGP.
    assert evidence["penalty"] == pytest.approx((1 + multitask) * 0.5 * math.log(X.shape[0]))
    # Every other hyperparameter is the fitted model's.
    kept = {k: v for k, v in fitted.state_dict().items() if "noise" not in k}
    assert all(torch.equal(v, pinned.state_dict()[k]) for k, v in kept.items())
    # It interpolates the large-scale runs where the fitted model smooths them.
    large = X[:, -1] == 1.0
    if multitask:
        X = torch.cat([X[:, :-1], (X[:, -1:] == 1.0).to(X)], -1)

    def error(model):
        with torch.no_grad():
            mean = model.posterior(X[large][:, :-1] if multitask else X[large]).mean
        return float((mean.reshape(-1) - Y[large].reshape(-1)).abs().max())

    assert error(pinned) < 0.02 * error(fitted)


def test_interpolating_keeps_the_fitted_model_of_noisy_data():
    X, Y = forrester_data()
    noisy = Y + 0.5 * torch.randn(
        Y.shape, generator=torch.Generator().manual_seed(1), dtype=Y.dtype
    )
    fitted = fit_model(X, noisy, seed=0, noise_floor=1e-7)
    model, evidence = interpolating(fitted)
    assert model is fitted and evidence["model"] == "fitted"
    # Pinning the noise would cost the likelihood far more than the penalty.
    assert evidence["log_likelihood_fitted"] - evidence["log_likelihood_pinned"] > 100


def test_interpolating_keeps_the_fitted_model_when_the_pinned_copy_fails(monkeypatch, caplog):
    real = selection.log_marginal_likelihood

    def failing_when_pinned(model):
        if float(model.likelihood.noise.max()) == INTERPOLATION_NOISE:
            raise NotPSDError("Matrix not positive definite after repeatedly adding jitter")
        return real(model)

    monkeypatch.setattr(selection, "log_marginal_likelihood", failing_when_pinned)
    X, Y = _noise_free_two_scales()
    fitted = fit_model(X, Y, seed=0, noise_floor=1e-7)
    with caplog.at_level(logging.WARNING, logger="scaleup_bo"):
        model, evidence = interpolating(fitted)
    assert model is fitted and evidence["model"] == "fitted"
    assert "positive definite" in evidence["error"]
    assert "noise pinned" in caplog.text


# ---------------------------------------------------------------------- data
def _noise_free_two_scales():
    x = torch.linspace(0, 1, 30, dtype=torch.float64).unsqueeze(-1)
    xs = torch.linspace(0.02, 0.98, 30, dtype=torch.float64).unsqueeze(-1)
    X = torch.cat(
        [torch.cat([xs, torch.full_like(xs, 0.5)], -1), torch.cat([x, torch.ones_like(x)], -1)]
    )
    return X, -torch.cat([0.5 * forrester(xs) + 10 * (xs - 0.5) - 5, forrester(x)])
