"""The shared two-fidelity surrogate: one ``SingleTaskMultiFidelityGP`` over ``[x, s]``.

``x`` is the unit-cube encoding of a point (see :mod:`scaleup_bo.space`) and ``s``
the fidelity column, appended last: the small scale at ``small_fidelity`` (< 1),
the large scale, the target, at ``1.0``. Outcomes are standardized and the noise
is inferred. The model sees ``-y`` (BoTorch maximizes); that negation is done by the
engine, once.

An alternative model of the same data predicts the large scale when asked for
(``multitask=True``): a ``MultiTaskGP`` with the small scale as task 0 and the large one
as task 1, which learns a mean, a variance (so a scale factor) and a noise per scale.
"""

from __future__ import annotations

import copy
import logging
import math
import numbers
import warnings
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any, Literal

import torch
from botorch.exceptions.errors import ModelFittingError
from botorch.exceptions.warnings import InputDataWarning
from botorch.fit import fit_gpytorch_mll
from botorch.models import MultiTaskGP, SingleTaskMultiFidelityGP
from botorch.models.transforms.outcome import Standardize
from gpytorch import settings
from gpytorch.constraints import GreaterThan
from gpytorch.kernels import MaternKernel
from gpytorch.mlls import ExactMarginalLogLikelihood
from gpytorch.priors import GammaPrior, LogNormalPrior
from linear_operator.utils.errors import NanError, NotPSDError
from torch import Tensor

from scaleup_bo.exceptions import DataError

__all__ = [
    "DEFAULT_SMALL_FIDELITY",
    "EXPLOIT_NOISE_FLOOR",
    "INTERPOLATION_NOISE",
    "KERNELS",
    "LARGE_FIDELITY",
    "LARGE_MODELS",
    "WARM_FIT_MAX_ITERATIONS",
    "build_model",
    "check_noise_floor",
    "design_kernel",
    "fit_model",
    "hyperparameters",
    "interpolating",
    "log_marginal_likelihood",
    "loo_predictions",
    "multitask_evidence",
    "n_hyperparameters",
    "task_scale_ratio",
    "winsorize_targets",
]

logger = logging.getLogger("scaleup_bo")

# torch warns once per process, from linear_operator's interpolation (the MultiTaskGP's
# index kernel), that sparse invariant checks are "implicitly disabled": noise in a user's
# output (the demo printed it) about a check the library's tensors never need.
warnings.filterwarnings(
    "ignore", message="Sparse invariant checks are implicitly disabled", category=UserWarning
)

#: Fidelity value of the large (target) scale.
LARGE_FIDELITY = 1.0
#: Default fidelity value of the small scale. With the default kernel, a small value of
#: 0.0 fixes the small/large correlation at about 0.71; at 0.5 it is learned (measured).
DEFAULT_SMALL_FIDELITY = 0.5

Kernel = Literal["linear_truncated", "downsampling"]
#: Above this many points, hyperparameters are fitted on a random subset of this size
#: (every large-scale point kept) and then used, unchanged, by the model of all points.
MAX_FIT_POINTS = 256
#: L-BFGS iterations of a warm-started fit at most (:func:`fit_model`'s ``warm_start``;
#: a fit from BoTorch's initial values runs until L-BFGS converges). Warm-started fits
#: of a run start from the previous step's hyperparameters, so one that stops here goes
#: on from where it stopped at the next step (README, "Per-step time").
WARM_FIT_MAX_ITERATIONS = 50
#: Exact (Cholesky) solves up to this many points; gpytorch's default switches to
#: iterative, approximate solves above 800, which is slower here and less accurate.
MAX_CHOLESKY_SIZE = 5000

#: Noise floor of the model behind exploiting choices (the ``"PM"`` acquisition, so the
#: last large-scale run, and ``Engine.recommend``): below BoTorch's ``1e-4``, which the
#: exploring proposals keep (docs/choosing_the_defaults.md).
EXPLOIT_NOISE_FLOOR = 1e-7
#: Noise variance (of the standardized outcomes) at which the exploiting model is pinned
#: when its data show no noise (:func:`interpolating`): it then interpolates the runs,
#: which locates a noise-free objective's optimum finer than the refit's inferred noise
#: (docs/choosing_the_defaults.md, the interpolate screen).
INTERPOLATION_NOISE = 1e-9

#: With ``large_model="auto"``: the MultiTaskGP is chosen only while it says the two
#: scales' spreads differ by more than this factor (its task covariance), the thing it
#: can learn and the shared model cannot; below it the shared model has proved as good
#: (docs/choosing_the_defaults.md, the bicgs1.5 screen).
AUTO_SCALE_RATIO = 1.5
#: ... and only while the large scale's spread is below this many times the small
#: scale's: above it the small scale's whole range is a fraction of the large one's, and
#: the MultiTaskGP amplifies the small scale's shape by that factor. On the benchmark's
#: negative-transfer problem (an unrelated small scale) it fitted ratios of 3.7-47 at 99
#: of its 101 choices and its runs stalled (regret 1.55 on Branin); on the shifted
#: problem, where it helped most, all 108 stayed below 2.73 (docs/choosing_the_defaults.md).
#: Set from those benchmark problems; the held-out check is there too.
AUTO_MAX_SCALE_RATIO = 3.0

#: Fidelity kernels the shared model can use.
KERNELS: tuple[str, ...] = ("linear_truncated", "downsampling")

LargeModel = Literal["shared", "multitask", "auto"]
#: Models that can predict the large scale: the shared multi-fidelity GP, a
#: ``MultiTaskGP`` of the same data (see :func:`build_model`), or ``"auto"``: chosen
#: between them (and a GP of the large-scale points alone) at every step by the engine.
LARGE_MODELS: tuple[str, ...] = ("shared", "multitask", "auto")

# Numerical failures of a fit. torch's LinAlgError (a failed Cholesky) is a RuntimeError;
# other RuntimeErrors are caught too but logged with their traceback, so a real bug shows.
_FIT_ERRORS = (ModelFittingError, NotPSDError, NanError, RuntimeError)


def build_model(
    train_X: Tensor,
    train_Y: Tensor,
    *,
    kernel: Kernel = "linear_truncated",
    multitask: bool = False,
    categorical_columns: Sequence[int] = (),
    noise_floor: float | None = None,
) -> SingleTaskMultiFidelityGP | MultiTaskGP:
    """Build (not fit) the shared model.

    Args:
        train_X: ``n x (d + 1)`` float64 tensor in ``[0, 1]``, the last column the fidelity.
        train_Y: ``n x 1`` tensor of values to maximize (``-y``).
        kernel: ``"linear_truncated"`` (BoTorch's default multi-fidelity kernel) or
            ``"downsampling"`` (faster to fit).
        categorical_columns: The one-hot columns of categorical dimensions (see
            :attr:`scaleup_bo.space.SearchSpace.one_hot_columns`). With the
            linear-truncated kernel, their lengthscales in the kernel both scales share
            get BoTorch's dimension-scaled prior instead of ``Gamma(3, 6)`` (see
            :func:`design_kernel`).
        multitask: Build a ``MultiTaskGP(output_tasks=[1])`` instead (``kernel`` unused):
            the fidelity column becomes the task index (the large scale, fidelity 1.0,
            is task 1; every smaller fidelity task 0), BoTorch's default kernel and
            priors. It predicts the large scale at inputs whose last column is 1.0
            (its training inputs hold the task index, not the fidelity).
        noise_floor: Lower bound of the inferred noise variance (of the standardized
            outcomes) instead of BoTorch's ``1e-4``; BoTorch's noise prior is kept. A
            noise-free objective is then interpolated more closely, which locates its
            optimum more finely (``EXPLOIT_NOISE_FLOOR``); noisy data keep their noise.

    Returns:
        An unfitted model with a ``Standardize`` outcome transform.
    """
    if kernel not in KERNELS:
        raise DataError(f"kernel must be one of {KERNELS}, got {kernel!r}.")
    if train_X.ndim != 2 or train_Y.shape != (train_X.shape[0], 1):
        raise DataError(
            f"train_X must be n x (d + 1) and train_Y n x 1, got {tuple(train_X.shape)} "
            f"and {tuple(train_Y.shape)}."
        )
    if not torch.isfinite(train_X).all() or not torch.isfinite(train_Y).all():
        raise DataError("training data contain NaN or inf.")
    if (train_X < 0).any() or (train_X > 1).any():
        # BoTorch does not check this; fidelities outside [0, 1] give NaN covariances.
        raise DataError("training inputs must lie in the unit cube [0, 1].")
    fidelity_column = train_X.shape[-1] - 1
    categorical_columns = sorted(set(categorical_columns))
    if any(not 0 <= c < fidelity_column for c in categorical_columns):
        raise DataError(
            f"categorical_columns must be design columns (0 to {fidelity_column - 1}), "
            f"got {categorical_columns}."
        )
    noise_floor = check_noise_floor(noise_floor, "noise_floor")
    if multitask:
        X = train_X.clone()
        X[:, -1] = (X[:, -1] == LARGE_FIDELITY).to(X.dtype)
        if X[:, -1].unique().numel() < 2:
            raise DataError("a multi-task model needs points at both scales.")
        return _with_noise_floor(
            MultiTaskGP(X, train_Y, task_feature=-1, output_tasks=[1]), noise_floor
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InputDataWarning)
        model = SingleTaskMultiFidelityGP(
            train_X,
            train_Y,
            data_fidelities=[fidelity_column],
            linear_truncated=kernel == "linear_truncated",
            outcome_transform=Standardize(m=1),
        )
    if kernel == "linear_truncated" and categorical_columns:
        fidelity_kernel = model.covar_module.base_kernel.kernels[0]
        fidelity_kernel.covar_module_unbiased = design_kernel(
            fidelity_column, categorical_columns
        ).to(train_X)
    return _with_noise_floor(model, noise_floor)


def check_noise_floor(value: Any, name: str) -> float | None:
    """``value`` as a noise floor (``None`` or a number in ``(0, 1e-2)``), or a
    :class:`DataError` naming the parameter ``name``."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value < 1e-2:
        raise DataError(f"{name} must be None or a positive number below 1e-2, got {value!r}.")
    return float(value)


def _with_noise_floor(model: Any, floor: float | None) -> Any:
    """``model`` with the lower bound of its inferred noise moved to ``floor`` (BoTorch's
    models read theirs, ``1e-4``, when they are built; the prior and the starting value
    are kept)."""
    if floor is None:
        return model
    for module in model.likelihood.modules():
        old = getattr(module, "raw_noise_constraint", None)
        if isinstance(old, GreaterThan):
            start = old.initial_value  # in raw units: the noise itself without a transform
            if start is not None and old.enforced:
                start = old.transform(start)
            new = GreaterThan(floor, transform=None, initial_value=start)
            module.register_constraint("raw_noise", new.to(module.raw_noise))
    return model


def design_kernel(d: int, categorical_columns: Sequence[int]) -> MaternKernel:
    """The linear-truncated kernel's kernel of the design inputs (``k_0``, shared by both
    scales) for a space with categorical dimensions.

    BoTorch gives it a ``Gamma(3, 6)`` lengthscale prior (mean 0.5 in the unit cube) on
    every column. Two categories of a one-hot block are always at distance ``sqrt(2)``, so
    with lengthscales near 0.5 their correlation is about 0.06: each category is an almost
    independent function, and the few large-scale runs cannot carry what one category
    taught to another. Here the one-hot columns get the prior BoTorch's ``SingleTaskGP``
    uses (``LogNormal(sqrt(2) + log(d) / 2, sqrt(3))``, longer lengthscales as ``d``
    grows); the numeric columns keep ``Gamma(3, 6)`` (docs/choosing_the_defaults.md).

    Args:
        d: Number of design columns (without the fidelity).
        categorical_columns: The one-hot columns among them.
    """
    kernel = MaternKernel(nu=2.5, ard_num_dims=d)
    one_hot = set(categorical_columns)
    numeric = [c for c in range(d) if c not in one_hot]
    if numeric:
        _column_prior(kernel, "lengthscale_prior", GammaPrior(3.0, 6.0), numeric)
    prior = LogNormalPrior(math.sqrt(2) + math.log(d) / 2, math.sqrt(3))
    _column_prior(kernel, "categorical_lengthscale_prior", prior, list(categorical_columns))
    return kernel


def _column_prior(kernel: MaternKernel, name: str, prior: Any, columns: list[int]) -> None:
    """Register ``prior`` on the lengthscales of ``columns`` only (with the setter
    BoTorch's fit uses to restart from prior samples)."""

    def get(module: MaternKernel) -> Tensor:
        return module.lengthscale[..., columns]

    def set_(module: MaternKernel, value: Tensor) -> None:
        full = module.lengthscale.detach().clone()
        full[..., columns] = value.to(full)
        module._set_lengthscale(full)

    kernel.register_prior(name, prior, get, set_)


def winsorize_targets(train_X: Tensor, train_Y: Tensor) -> Tensor:
    """Ax's winsorization of the bad tail: the targets the model may be fitted on instead
    of ``train_Y`` (``-y``) when some runs diverge.

    A value ``y`` is lowered to the cutoff ``Q3 + 1.5 IQR`` when it lies above it both among
    all the given values and among the values of its own fidelity (the last column of
    ``train_X``; the larger of the two cutoffs applies). So a scale whose values all sit
    above the other scale's is not flattened, each scale's best value is never touched, and
    the units stay the objective's. Values are unchanged where fewer than 4 values, or an
    interquartile range of 0, leave no tail to speak of.
    """
    y = -train_Y.reshape(-1)
    pooled = _tail_cutoff(y)
    if pooled is None:
        return train_Y
    out = y.clone()
    fidelity = train_X[:, -1]
    for f in fidelity.unique():
        rows = fidelity == f
        own = _tail_cutoff(y[rows])
        if own is not None:
            out[rows] = y[rows].clamp_max(max(pooled, own))
    return -out.reshape(-1, 1)


def _tail_cutoff(y: Tensor) -> float | None:
    """``Q3 + 1.5 IQR`` of ``y`` (linear quantiles), or ``None`` with fewer than 4 values or
    an IQR of 0."""
    if y.numel() < 4:
        return None
    q1, q3 = torch.quantile(y, torch.tensor([0.25, 0.75], dtype=y.dtype)).tolist()
    return None if q3 == q1 else q3 + 1.5 * (q3 - q1)


def fit_model(
    train_X: Tensor,
    train_Y: Tensor,
    *,
    kernel: Kernel = "linear_truncated",
    seed: int = 0,
    attempts: int = 2,
    max_fit_points: int = MAX_FIT_POINTS,
    multitask: bool = False,
    categorical_columns: Sequence[int] = (),
    noise_floor: float | None = None,
    warm_start: Mapping[str, Any] | None = None,
) -> SingleTaskMultiFidelityGP | MultiTaskGP | None:
    """Build and fit the shared model, never raising on a numerical failure.

    Each attempt builds a fresh model and fits it with ``fit_gpytorch_mll`` (which
    itself retries from random hyperparameters on optimizer warnings). When every
    attempt fails, the failure is logged and ``None`` is returned: the caller falls
    back to a space-filling proposal instead of crashing the run.

    With ``warm_start``, the first attempt starts from those hyperparameters instead of
    BoTorch's initial values, for one L-BFGS run of at most ``WARM_FIT_MAX_ITERATIONS``
    iterations (when it fails, the second attempt starts afresh). A step of a run adds a
    point or two, so the previous step's hyperparameters are close to this step's optimum
    (README, "Per-step time").

    Args:
        train_X: ``n x (d + 1)`` inputs, last column the fidelity.
        train_Y: ``n x 1`` targets to maximize.
        kernel: See :func:`build_model`.
        seed: Seeds torch for the fit (each attempt uses ``seed + attempt``).
        attempts: Number of fresh models to try.
        max_fit_points: Larger data sets have their hyperparameters fitted on a
            random subset of this size (all points of the highest fidelity kept, up to
            half of it); the returned model conditions on every point.
        multitask: Fit the ``MultiTaskGP`` alternative (see :func:`build_model`).
        categorical_columns: One-hot columns (see :func:`build_model`).
        noise_floor: Lower bound of the inferred noise (see :func:`build_model`).
        warm_start: Raw hyperparameter values by parameter name, as
            :func:`hyperparameters` returns them for a model of the same kind, kernel and
            space; unless it holds every trainable parameter of this model, with its
            shape and finite, the fit starts from BoTorch's initial values.

    Returns:
        The fitted model in eval mode, or ``None``.
    """
    build = partial(
        build_model,
        kernel=kernel,
        multitask=multitask,
        categorical_columns=categorical_columns,
        noise_floor=noise_floor,
    )
    last_error: Exception | None = None
    for attempt in range(attempts):
        with torch.random.fork_rng():
            torch.manual_seed(seed + attempt)
            warm = False
            try:
                model = build(train_X, train_Y)
                fitted = model
                if train_X.shape[0] > max_fit_points:
                    rows = _fit_subset(train_X, max_fit_points)
                    fitted = build(train_X[rows], train_Y[rows])
                # A warm start gets one capped L-BFGS run (BoTorch's retries from prior
                # samples would keep the cap): a failure goes on to a cold attempt.
                warm = bool(warm_start) and attempt == 0
                warm = warm and _load_hyperparameters(fitted, warm_start)  # type: ignore[arg-type]
                options = {"maxiter": WARM_FIT_MAX_ITERATIONS} if warm else {}
                mll = ExactMarginalLogLikelihood(fitted.likelihood, fitted)
                with warnings.catch_warnings(), settings.max_cholesky_size(MAX_CHOLESKY_SIZE):
                    warnings.simplefilter("ignore", InputDataWarning)
                    fit_gpytorch_mll(
                        mll,
                        optimizer_kwargs={"options": options},
                        **({"max_attempts": 1} if warm else {}),
                    )
                if fitted is not model:
                    # Hyperparameters only: the outcome transform stays fitted to all data.
                    state = fitted.state_dict()
                    model.load_state_dict(
                        {k: v for k, v in state.items() if not k.startswith("outcome_transform")},
                        strict=False,
                    )
            except DataError:
                raise
            except _FIT_ERRORS as exc:  # numerical trouble: retry, then give up quietly
                last_error = exc
                known = isinstance(exc, (ModelFittingError, NotPSDError, NanError))
                if warm and known:
                    logger.info("warm-started fit failed (%s); fitting afresh", exc)
                    continue
                logger.warning(
                    "model fit attempt %d failed: %s", attempt + 1, exc, exc_info=not known
                )
                continue
        model.eval()
        return model
    logger.warning(
        "model fit failed %d times (%s); falling back to a space-filling proposal",
        attempts,
        last_error,
    )
    return None


def hyperparameters(model: Any) -> dict[str, Any]:
    """The fitted ``model``'s raw hyperparameters by parameter name, as nested lists of
    floats (JSON-friendly; a trial keeps those of the fits behind its proposal): the
    ``warm_start`` of :func:`fit_model`."""
    return {name: p.detach().tolist() for name, p in model.named_parameters()}


def _load_hyperparameters(model: Any, values: Mapping[str, Any]) -> bool:
    """Set ``model``'s trainable raw parameters from ``values`` when every one of them is
    there, of its shape and finite (the hyperparameters of a model of the same kind, kernel
    and space); else leave the model as built. Whether they were set."""
    params = {name: p for name, p in model.named_parameters() if p.requires_grad}
    loaded = {}
    for name, p in params.items():
        try:
            value = torch.as_tensor(values[name], dtype=p.dtype)
        except (KeyError, TypeError, ValueError):  # missing, or not a (rectangular) array
            return False
        if value.shape != p.shape or not bool(torch.isfinite(value).all()):
            return False
        loaded[name] = value
    with torch.no_grad():
        for name, value in loaded.items():
            params[name].copy_(value)
    return bool(loaded)


def _fit_subset(train_X: Tensor, size: int) -> Tensor:
    """Indices of a random subset of ``size`` rows (torch's RNG), keeping the rows at
    the highest fidelity first (the most recent, at most half of the subset unless
    the other rows are too few)."""
    fid = train_X[:, -1]
    top = torch.nonzero(fid == fid.max()).reshape(-1)
    rest = torch.nonzero(fid != fid.max()).reshape(-1)
    top = top[top.shape[0] - min(top.shape[0], max(size // 2, size - rest.shape[0])) :]
    rest = rest[torch.randperm(rest.shape[0])[: size - top.shape[0]]]
    return torch.sort(torch.cat([top, rest])).values


def loo_predictions(
    model: SingleTaskMultiFidelityGP | MultiTaskGP,
) -> tuple[Tensor, Tensor, Tensor]:
    """Leave-one-out predictions of every training point.

    Closed form for a fitted exact GP (hyperparameters kept, each point predicted
    from all the others, observation noise included), in the units of the outcomes
    the model was given, so two models fitted to different data can be compared on
    the same points.

    Args:
        model: A fitted model with a ``Standardize`` outcome transform.

    Returns:
        ``(mean, variance, observed)``, each of shape ``n``.
    """
    X = model.train_inputs[0]
    y = model.train_targets
    with torch.no_grad(), settings.max_cholesky_size(MAX_CHOLESKY_SIZE):
        # The prior at the training inputs plus the likelihood's noise (per task for
        # the MultiTaskGP): the same for every exact GP.
        prior = model.forward(X)
        K_noisy = model.likelihood(prior, X).covariance_matrix
        K_inv = torch.cholesky_inverse(torch.linalg.cholesky(K_noisy))
        alpha = K_inv @ (y - prior.mean)
        d = torch.diagonal(K_inv)
        mean, var = y - alpha / d, 1.0 / d
        shift = model.outcome_transform.means.reshape(())
        scale = model.outcome_transform.stdvs.reshape(())
    return mean * scale + shift, var * scale**2, y * scale + shift


def log_marginal_likelihood(model: SingleTaskMultiFidelityGP | MultiTaskGP) -> float:
    """The fitted model's exact log marginal likelihood of its training targets (as it
    sees them: standardized), at its fitted hyperparameters. Two models fitted to the same
    targets with the same ``Standardize`` transform can be compared by it."""
    X, y = model.train_inputs[0], model.train_targets
    with torch.no_grad(), settings.max_cholesky_size(MAX_CHOLESKY_SIZE):
        return float(model.likelihood(model.forward(X), X).log_prob(y))


def interpolating(model: Any) -> tuple[Any, dict[str, Any]]:
    """The fitted ``model`` with its noise pinned at ``INTERPOLATION_NOISE`` when its data
    show no noise, else ``model`` itself; with the evidence.

    A noise-free objective is fitted with some noise all the same: the noise prior holds
    the inferred noise above what the likelihood alone would choose, and a noise of
    about 1e-6 of the outcomes' variance smooths runs placed close together around the
    optimum enough to bias where the posterior mean peaks. The pinned copy keeps every
    other hyperparameter and is preferred when its log marginal likelihood is at least
    the fitted model's minus half the log of the number of points per noise parameter it
    drops (the Bayesian information criterion's price: one parameter, or one per task of
    a ``MultiTaskGP``); data with real noise (or a rough objective) lose far more than
    that and keep the fitted model. Models of more than ``MAX_CHOLESKY_SIZE`` points, and
    likelihoods with a fixed noise, are kept as they are.

    Returns:
        ``(model, evidence)``: the model to exploit, and ``evidence`` with
        ``"model"`` (``"pinned"`` or ``"fitted"``), both log marginal likelihoods and
        the penalty. A failed Cholesky of the pinned copy keeps the fitted model
        (``"model": "fitted"``, ``"error"`` set).
    """
    noise = float(model.likelihood.noise.detach().max())
    n = model.train_inputs[0].shape[0]
    if noise <= INTERPOLATION_NOISE or n > MAX_CHOLESKY_SIZE:
        # Above the exact-solve size gpytorch's iterative solves would not converge.
        return model, {"model": "fitted", "noise": noise}
    pinned = copy.deepcopy(model)
    dropped = 0  # noise parameters pinned: one, or one per task
    for module in pinned.likelihood.modules():
        if hasattr(module, "raw_noise_constraint"):
            module.register_constraint("raw_noise", GreaterThan(0.0, transform=None))
            module.raw_noise.data.fill_(INTERPOLATION_NOISE)
            module.raw_noise.requires_grad_(False)
            dropped += module.raw_noise.numel()
    if not dropped:  # a likelihood without an inferred noise (fixed noise): nothing to pin
        return model, {"model": "fitted", "noise": noise}
    pinned.train()  # drops the copied prediction caches
    pinned.eval()
    evidence: dict[str, Any] = {"noise": noise, "penalty": 0.5 * dropped * math.log(n)}
    try:
        evidence["log_likelihood_fitted"] = log_marginal_likelihood(model)
        evidence["log_likelihood_pinned"] = log_marginal_likelihood(pinned)
    except (RuntimeError, ValueError) as exc:  # NotPSDError and NanError are RuntimeErrors
        logger.warning("the model with its noise pinned at %g failed (%s); exploiting the "
                       "model as fitted", INTERPOLATION_NOISE, exc)  # fmt: skip
        evidence.update(model="fitted", error=str(exc))
        return model, evidence
    loss = evidence["log_likelihood_fitted"] - evidence["log_likelihood_pinned"]
    evidence["model"] = "pinned" if loss <= evidence["penalty"] else "fitted"
    return (pinned if evidence["model"] == "pinned" else model), evidence


def n_hyperparameters(model: Any) -> int:
    """How many numbers the model's fit chose (its trainable parameters' entries)."""
    return sum(p.numel() for p in model.parameters())


def task_scale_ratio(model: MultiTaskGP) -> float:
    """How many times the large scale's prior standard deviation is the small scale's,
    in a fitted two-task ``MultiTaskGP`` (task 0 small, task 1 large; both tasks share
    the input kernel, so the task covariance's diagonal sets their spreads)."""
    with torch.no_grad():
        B = model.covar_module.kernels[1].covar_matrix.to_dense()
    return float((B[1, 1] / B[0, 0]).sqrt())


def multitask_evidence(shared: SingleTaskMultiFidelityGP, multitask: MultiTaskGP) -> dict[str, Any]:
    """``large_model="auto"``'s rule, on the shared model and the MultiTaskGP fitted to
    the same data: the evidence, with ``"model"`` the one it prefers.

    The MultiTaskGP is preferred when both

    - its log marginal likelihood exceeds the shared model's by more than half the
      difference in their numbers of raw hyperparameter entries times the log of the
      number of points (the Bayesian information criterion's form; the raw count
      over-states the task covariance's free numbers, so the penalty is stricter than
      the criterion's: this is the rule the benchmark screened);
    - it says the scales' spreads differ: its ratio of the large to the small scale's
      standard deviation (:func:`task_scale_ratio`) is above ``AUTO_SCALE_RATIO`` or
      below its inverse (a scale factor, which the shared model cannot represent), and
      below ``AUTO_MAX_SCALE_RATIO`` (a small scale nearly flat next to the large one is
      not amplified).

    Raises:
        RuntimeError, ValueError: a failed Cholesky (the caller keeps the shared model).
    """
    lml_shared = log_marginal_likelihood(shared)
    lml_multitask = log_marginal_likelihood(multitask)
    ratio = task_scale_ratio(multitask)
    extra = n_hyperparameters(multitask) - n_hyperparameters(shared)
    penalty = 0.5 * extra * math.log(multitask.train_inputs[0].shape[0])
    better_fit = lml_multitask - lml_shared > penalty
    spreads_differ = abs(math.log(ratio)) > math.log(AUTO_SCALE_RATIO)
    spreads_differ = spreads_differ and ratio < AUTO_MAX_SCALE_RATIO
    return {
        "model": "multitask" if better_fit and spreads_differ else "shared",
        "log_likelihood_shared": lml_shared,
        "log_likelihood_multitask": lml_multitask,
        "penalty": penalty,
        "scale_ratio": ratio,
    }
