"""The shared two-fidelity GP (and its MultiTaskGP alternative): building, fitting,
warm starts, noise floors, and the fit cache of a run."""

from __future__ import annotations

import logging
import math

import pytest
import torch
from botorch.models import SingleTaskMultiFidelityGP

from scaleup_bo import DataError, History
from scaleup_bo.model import (
    WARM_FIT_MAX_ITERATIONS,
    FitCache,
    build_model,
    fit_model,
    fit_name,
    hyperparameters,
)
from scaleup_bo.selection import log_marginal_likelihood
from tests.two_scale_data import forrester, forrester_data, scaled_data


def test_fit_gives_a_multi_fidelity_model_that_predicts_the_large_scale():
    X, Y = forrester_data()
    model = fit_model(X, Y, seed=0)
    assert isinstance(model, SingleTaskMultiFidelityGP)
    grid = torch.linspace(0, 1, 50, dtype=torch.float64).unsqueeze(-1)
    with torch.no_grad():
        at_large = model.posterior(torch.cat([grid, torch.ones_like(grid)], -1)).mean
        at_small = model.posterior(torch.cat([grid, torch.full_like(grid, 0.5)], -1)).mean
    truth = -forrester(grid)
    err_large = (at_large - truth).abs().mean()
    err_small_as_large = (at_small - truth).abs().mean()
    # The model at s = 1 is about the large function, not the small one.
    assert err_large < err_small_as_large


def test_fit_is_deterministic_under_a_seed():
    X, Y = forrester_data()
    a = fit_model(X, Y, seed=4)
    b = fit_model(X, Y, seed=4)
    for (na, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters(), strict=True):
        assert torch.equal(pa, pb), na


def _spy_on_fits(monkeypatch):
    """Record, for each BoTorch fit ``fit_model`` runs, the raw hyperparameters it starts
    from and its L-BFGS options."""
    import scaleup_bo.model as model_module

    calls = []
    real = model_module.fit_gpytorch_mll

    def spy(mll, **kwargs):
        start = {n: p.detach().clone() for n, p in mll.model.named_parameters()}
        calls.append((start, kwargs.get("optimizer_kwargs", {}).get("options", {})))
        return real(mll, **kwargs)

    monkeypatch.setattr(model_module, "fit_gpytorch_mll", spy)
    return calls


@pytest.mark.parametrize("multitask", [False, True])
def test_a_warm_started_fit_starts_from_the_given_hyperparameters(monkeypatch, multitask):
    X, Y = forrester_data()
    first = fit_model(X[:-1], Y[:-1], seed=0, multitask=multitask)
    calls = _spy_on_fits(monkeypatch)
    warm = fit_model(X, Y, seed=0, multitask=multitask, warm_start=hyperparameters(first))
    cold = fit_model(X, Y, seed=0, multitask=multitask)
    (start, options), (cold_start, cold_options) = calls
    for name, p in first.named_parameters():
        assert torch.equal(start[name], p.detach()), name
    assert options == {"maxiter": WARM_FIT_MAX_ITERATIONS} and cold_options == {}
    assert any(not torch.equal(cold_start[n], p.detach()) for n, p in first.named_parameters())
    # One more point moves the optimum a little: the warm fit reaches the cold one's.
    assert log_marginal_likelihood(warm) > log_marginal_likelihood(cold) - 0.5


def test_a_warm_start_of_another_model_is_ignored(monkeypatch):
    X, Y = forrester_data()
    multitask = hyperparameters(fit_model(X, Y, seed=0, multitask=True))
    downsampling = hyperparameters(fit_model(X, Y, seed=0, kernel="downsampling"))
    own = hyperparameters(fit_model(X, Y, seed=0))
    calls = _spy_on_fits(monkeypatch)
    fit_model(X, Y, seed=0, warm_start=multitask)  # the multitask GP's names and shapes
    # Another kernel shares the noise and the mean: a partial start is no warm start.
    fit_model(X, Y, seed=0, warm_start=downsampling)
    fit_model(X, Y, seed=0, warm_start={**own, "likelihood.noise_covar.raw_noise": [math.nan]})
    fit_model(X, Y, seed=0, warm_start={**own, "mean_module.raw_constant": [[1.0], [2.0, 3.0]]})
    assert [options for _, options in calls] == [{}] * 4  # cold fits: run to convergence


@pytest.mark.parametrize("kernel", ["linear_truncated", "downsampling"])
def test_both_kernels_fit(kernel):
    X, Y = forrester_data()
    assert fit_model(X, Y, kernel=kernel, seed=0) is not None


def test_inputs_outside_the_unit_cube_are_refused():
    X, Y = forrester_data()
    X[0, -1] = 1.5
    with pytest.raises(DataError, match="unit cube"):
        build_model(X, Y)


def test_unknown_kernel_is_refused():
    X, Y = forrester_data()
    with pytest.raises(DataError, match="kernel"):
        build_model(X, Y, kernel="rbf")


def test_fit_failure_returns_none_and_logs(monkeypatch, caplog):
    from botorch.exceptions.errors import ModelFittingError

    import scaleup_bo.model as model_module

    calls = []

    def failing_fit(mll, **kwargs):
        calls.append(1)
        raise ModelFittingError("all attempts to fit the model have failed")

    monkeypatch.setattr(model_module, "fit_gpytorch_mll", failing_fit)
    X, Y = forrester_data()
    with caplog.at_level(logging.WARNING, logger="scaleup_bo"):
        assert fit_model(X, Y, attempts=2) is None
    assert len(calls) == 2
    assert "space-filling" in caplog.text


def _fitted_inputs(monkeypatch):
    """The training inputs of each model BoTorch fits from now on."""
    import scaleup_bo.model as model_module

    inputs = []
    real = model_module.fit_gpytorch_mll

    def spy(mll, **kwargs):
        inputs.append(mll.model.train_inputs[0].detach().clone())
        return real(mll, **kwargs)

    monkeypatch.setattr(model_module, "fit_gpytorch_mll", spy)
    return inputs


def test_large_data_fit_hyperparameters_on_a_subset_keeping_every_large_point(monkeypatch):
    X, Y = forrester_data()
    inputs = _fitted_inputs(monkeypatch)
    model = fit_model(X, Y, seed=0, max_fit_points=12)
    (subset,) = inputs
    rows = [int((row == X).all(-1).nonzero()) for row in subset]  # each row's place in X
    assert len(rows) == 12 and len(set(rows)) == 12
    assert set(range(20, 25)) <= set(rows)  # all 5 large points kept
    # The model conditions on every point; its outcome scaling is that of all points.
    assert model.train_inputs[0].shape == (25, 2)
    assert torch.allclose(model.outcome_transform.means, Y.mean(0, keepdim=True))
    sub = fit_model(X[rows], Y[rows], seed=0)
    hyper = {k: v for k, v in model.state_dict().items() if "outcome" not in k}
    for key, value in sub.state_dict().items():
        if "outcome" not in key:
            assert torch.allclose(hyper[key], value), key
    # All-large data: the subset is all large points, not half of them.
    inputs.clear()
    fit_model(X[20:], Y[20:], seed=0, max_fit_points=4)
    assert inputs[0].shape == (4, 2) and bool((inputs[0][:, -1] == 1.0).all())


def test_multitask_model_learns_a_scale_factor_the_shared_model_cannot():
    from botorch.models import MultiTaskGP

    X, Y = scaled_data()
    grid = torch.linspace(0, 1, 41, dtype=torch.float64).unsqueeze(-1)
    at_large = torch.cat([grid, torch.ones_like(grid)], -1)
    errors = {}
    for multitask in (False, True):
        model = fit_model(X, Y, seed=0, multitask=multitask)
        assert isinstance(model, MultiTaskGP) is multitask
        with torch.no_grad():
            pred = model.posterior(at_large).mean
        errors[multitask] = float((pred - (3 * torch.sin(6 * grid) + 2)).pow(2).mean().sqrt())
    # Measured: 0.003 against 1.04 (the shared model cannot scale the small function).
    assert errors[True] < 0.05 < 0.5 < errors[False]


def test_multitask_model_needs_both_scales():
    X, Y = scaled_data()
    with pytest.raises(DataError, match="both scales"):
        build_model(X[:15], Y[:15], multitask=True)


def _categoricalforrester_data():
    """f(x) = sin(6x) + 0.2 c for three categories c (one-hot columns 1-3): category 0
    observed densely at the small scale and three times at the large one, categories 1
    and 2 twice each at the small scale."""
    rows, ys = [], []
    for c, s, xs in [(0, 0.5, [i / 11 for i in range(12)]), (0, 1.0, [0.1, 0.5, 0.9])] + [
        (c, 0.5, [0.2, 0.7]) for c in (1, 2)
    ]:
        for x in xs:
            rows.append([x] + [float(c == k) for k in range(3)] + [s])
            ys.append(math.sin(6 * x) + 0.2 * c)
    X = torch.tensor(rows, dtype=torch.float64)
    return X, torch.tensor(ys, dtype=torch.float64).unsqueeze(-1)


def _design_lengthscales(model):
    kernel = model.covar_module.base_kernel.kernels[0].covar_module_unbiased
    return kernel.lengthscale.detach().reshape(-1)


def test_one_hot_columns_get_their_own_lengthscale_prior():
    from gpytorch.priors import GammaPrior, LogNormalPrior

    X, Y = _categoricalforrester_data()
    model = build_model(X, Y, categorical_columns=[1, 2, 3])
    kernel = model.covar_module.base_kernel.kernels[0].covar_module_unbiased
    priors = {
        name: (prior, closure(kernel)) for name, _, prior, closure, _ in kernel.named_priors()
    }
    gamma, numeric = priors["lengthscale_prior"]
    lognormal, one_hot = priors["categorical_lengthscale_prior"]
    assert isinstance(gamma, GammaPrior) and numeric.shape[-1] == 1
    assert isinstance(lognormal, LogNormalPrior) and one_hot.shape[-1] == 3
    # BoTorch's dimension-scaled prior for the 4 design columns.
    assert float(lognormal.loc) == pytest.approx(math.sqrt(2) + math.log(4) / 2)
    # Without categorical columns, BoTorch's kernel is untouched: one Gamma(3, 6) prior.
    plain = build_model(X, Y).covar_module.base_kernel.kernels[0].covar_module_unbiased
    ((_, _, prior, closure, _),) = plain.named_priors()
    assert isinstance(prior, GammaPrior) and closure(plain).shape[-1] == 4


def test_categories_share_what_the_data_say_they_share():
    # The same function in every category: the fitted one-hot lengthscales become long
    # (the categories are correlated), while BoTorch's prior keeps them near 0.3-0.5,
    # which makes each category an almost independent function.
    X, Y = _categoricalforrester_data()
    shared = _design_lengthscales(fit_model(X, Y, seed=0, categorical_columns=[1, 2, 3]))
    plain = _design_lengthscales(fit_model(X, Y, seed=0))
    assert (shared[1:] > 2.0).all() and shared[0] < 1.0
    assert (plain[1:] < 1.0).all()


def test_categorical_columns_must_be_design_columns():
    X, Y = _categoricalforrester_data()
    with pytest.raises(DataError, match="categorical_columns"):
        build_model(X, Y, categorical_columns=[4])  # the fidelity column


def test_fit_restarts_from_prior_samples_with_the_one_hot_prior():
    # fit_gpytorch_mll's retries sample every prior with its setter; the sliced priors
    # must set their own columns and leave the others.
    from botorch.optim.utils import sample_all_priors

    X, Y = _categoricalforrester_data()
    model = build_model(X, Y, categorical_columns=[1, 2, 3])
    torch.manual_seed(0)
    sample_all_priors(model)
    assert torch.isfinite(_design_lengthscales(model)).all()
    assert _design_lengthscales(model).dtype == torch.float64


@pytest.mark.parametrize("multitask", [False, True])
def test_noise_floor_lets_noise_free_data_be_fitted_below_botorchs_floor(multitask):
    X, Y = _noise_free_two_scales()
    default = fit_model(X, Y, seed=0, multitask=multitask)
    exact = fit_model(X, Y, seed=0, multitask=multitask, noise_floor=1e-7)
    # Dense noise-free data: the default fit sits at BoTorch's floor (1e-4), the other
    # goes below it (3e-5 for the shared model, 2e-6 for the multi-task one).
    assert float(default.likelihood.noise.min()) >= 1e-4 * (1 - 1e-6)
    assert float(exact.likelihood.noise.max()) < 0.5e-4
    assert float(exact.likelihood.noise.min()) >= 1e-7 * (1 - 1e-6)
    # BoTorch's noise prior is kept.
    assert (
        [name for name, *_ in exact.likelihood.named_priors()]
        == [name for name, *_ in default.likelihood.named_priors()]
        != []
    )


def test_noise_floor_keeps_the_noise_of_noisyforrester_data():
    X, Y = forrester_data()
    noisy = Y + 0.5 * torch.randn(
        Y.shape, generator=torch.Generator().manual_seed(1), dtype=Y.dtype
    )
    model = fit_model(X, noisy, seed=0, noise_floor=1e-7)
    assert float(model.likelihood.noise) > 1e-3  # the floor is a bound, not a value


@pytest.mark.parametrize("floor", [0.0, -1e-6, float("nan"), 1.0])
def test_noise_floor_must_be_a_small_positive_number(floor):
    X, Y = forrester_data()
    with pytest.raises(DataError, match="noise_floor"):
        build_model(X, Y, noise_floor=floor)


def _noise_free_two_scales() -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.linspace(0, 1, 30, dtype=torch.float64).unsqueeze(-1)
    xs = torch.linspace(0.02, 0.98, 30, dtype=torch.float64).unsqueeze(-1)
    X = torch.cat(
        [torch.cat([xs, torch.full_like(xs, 0.5)], -1), torch.cat([x, torch.ones_like(x)], -1)]
    )
    return X, -torch.cat([0.5 * forrester(xs) + 10 * (xs - 0.5) - 5, forrester(x)])


def test_a_multitask_fit_prints_no_torch_sparse_warning():
    # torch warns once per process, from linear_operator's interpolation, that sparse
    # invariant checks are "implicitly disabled": noise in a user's output (the demo's).
    import subprocess
    import sys

    code = (
        "import torch; from scaleup_bo.model import fit_model; "
        "X = torch.tensor([[0.1, 0.5], [0.5, 0.5], [0.9, 0.5], [0.2, 1.0], [0.6, 1.0], "
        "[0.8, 1.0]], dtype=torch.float64); "
        "Y = torch.tensor([[0.1], [0.4], [0.2], [1.0], [1.9], [1.2]], dtype=torch.float64); "
        "fit_model(X, Y, seed=0, multitask=True).posterior(X).mean"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "Sparse invariant checks" not in run.stderr


# ---------------------------------------------------------------------- the fits of a run
def test_fit_cache_makes_each_model_once_per_history_size():
    cache = FitCache()
    made = []

    def make():
        made.append(len(made) + 1)
        return made[-1]

    assert not cache.has("shared", 3) and cache.latest("shared") is None
    assert cache.get("shared", 3, make) == 1 and cache.get("shared", 3, make) == 1
    assert cache.has("shared", 3) and not cache.has("shared", 4)
    assert cache.get("shared", 4, make) == 2 and cache.latest("shared") == 2
    # A failed fit (None) is kept too, until the history grows.
    assert cache.get("multitask", 4, lambda: None) is None and cache.has("multitask", 4)
    assert fit_name("shared", None) == "shared" and fit_name("shared", 1e-7) == "shared@1e-07"


def test_fit_cache_starts_each_fit_from_the_latest_proposals_hyperparameters():
    X, Y = forrester_data()
    model = fit_model(X, Y, seed=0)
    latest = {"shared": hyperparameters(model)}
    history = History()
    history.add([0.1], 1.0, "small", hyperparameters={"shared": {"raw": [1.0]}, "old": {}})
    history.add([0.2], 2.0, "small", hyperparameters=latest)  # the latest proposal
    history.add([0.3], 3.0, "small")  # told, not proposed: skipped
    cache = FitCache()
    assert cache.warm_start("shared", history) == latest["shared"]
    # A model the latest proposal did not fit starts afresh, not from an older fit.
    assert cache.warm_start("old", history) is None
    assert cache.warm_start("shared", History()) is None
    assert FitCache(warm_fits=False).warm_start("shared", history) is None
    starts = []
    assert cache.fit("shared", history, lambda warm: starts.append(warm) or model) is model
    cache.fit("shared", history, lambda warm: starts.append(warm))  # the same size: kept
    assert starts == [latest["shared"]]


def test_fit_cache_records_the_finite_hyperparameters_of_this_sizes_models():
    import copy

    X, Y = forrester_data()
    model = fit_model(X, Y, seed=0)
    broken = copy.deepcopy(model)
    with torch.no_grad():
        next(broken.parameters()).fill_(math.nan)
    cache = FitCache()
    cache.get("shared", 5, lambda: model)
    cache.get("earlier", 4, lambda: model)  # another history size
    cache.get("shared:interpolating", 5, lambda: (model, {}))  # not a model
    cache.get("failed", 5, lambda: None)
    cache.get("broken", 5, lambda: broken)  # the journal holds JSON: no NaN
    cache.unrecorded.add("surrogate")
    cache.get("surrogate", 5, lambda: model)  # a custom surrogate's are not recorded
    assert cache.hyperparameters(5) == {"shared": hyperparameters(model)}
