"""The shared two-fidelity surrogate: one ``SingleTaskMultiFidelityGP`` over ``[x, s]``.

``x`` is the unit-cube encoding of a point (see :mod:`scaleup_bo.space`) and ``s``
the fidelity column, appended last: the small scale at ``small_fidelity`` (< 1),
the large scale, the target, at ``1.0``. Outcomes are standardized and the noise
is inferred. The model sees ``-y`` (BoTorch maximizes); that negation is done by the
engine, once.

An alternative model of the same data predicts the large scale when asked for
(``multitask=True``): a ``MultiTaskGP`` with the small scale as task 0 and the large one
as task 1, which learns a mean, a variance (so a scale factor) and a noise per scale.

Fits never raise on numerical trouble (:func:`fit_model` returns ``None``), and a run
fits each model once per history size through its :class:`FitCache`, which also starts
each fit from the hyperparameters the same model reached for the last proposal.
"""

from __future__ import annotations

import logging
import math
import numbers
import warnings
from collections.abc import Callable, Mapping, Sequence
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
    "KERNELS",
    "LARGE_FIDELITY",
    "LARGE_MODELS",
    "WARM_FIT_MAX_ITERATIONS",
    "FitCache",
    "SurrogateFactory",
    "build_model",
    "check_noise_floor",
    "design_kernel",
    "fit_model",
    "hyperparameters",
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

#: A custom surrogate: ``(train_X, train_Y) -> fitted BoTorch Model`` (see
#: :class:`~scaleup_bo.strategy.Strategy`'s ``surrogate``).
SurrogateFactory = Callable[[Tensor, Tensor], Any]

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


class FitCache:
    """The fitted models of one run by name, each fitted once per history size.

    Every tell adds a trial, so every model is refitted at the next step and reused within
    a step (a batch, the model choice and the proposal share one fit). With ``warm_fits``
    a fit starts from the hyperparameters the same model reached for the latest proposal
    made from a model (recorded with that trial: a resumed journal fits as the run it
    continues).

    Args:
        warm_fits: Start fits from the recorded hyperparameters.
    """

    def __init__(self, warm_fits: bool = True) -> None:
        self.warm_fits = warm_fits
        self._fits: dict[str, tuple[int, Any]] = {}
        #: Names whose hyperparameters are not recorded (a custom surrogate's).
        self.unrecorded: set[str] = set()

    def get(self, name: str, size: int, make: Callable[[], Any]) -> Any:
        """The value ``name`` at history size ``size``, from ``make()`` once per size."""
        at, value = self._fits.get(name, (-1, None))
        if at != size:
            value = make()
            self._fits[name] = (size, value)
        return value

    def fit(self, name: str, history: Any, fit: Callable[[dict[str, Any] | None], Any]) -> Any:
        """The model ``name`` for ``history``: ``fit(warm_start)`` once per history size,
        ``warm_start`` the hyperparameters it starts from (:meth:`warm_start`)."""
        return self.get(name, len(history), lambda: fit(self.warm_start(name, history)))

    def has(self, name: str, size: int) -> bool:
        """Whether ``name`` was made at history size ``size``."""
        return self._fits.get(name, (-1, None))[0] == size

    def latest(self, name: str) -> Any:
        """The last value made under ``name`` (``None`` before the first)."""
        return self._fits.get(name, (-1, None))[1]

    def warm_start(self, name: str, history: Any) -> dict[str, Any] | None:
        """The hyperparameters the fit ``name`` starts from: those of the fits behind the
        latest trial proposed from a model, when it fitted ``name`` too, else ``None``
        (BoTorch's start: a model fitted only now and then, such as the exploit refit of
        a last run, starts afresh rather than from a stale fit)."""
        if not self.warm_fits:
            return None
        for trial in reversed(history.trials):
            if trial.hyperparameters:
                return trial.hyperparameters.get(name)
        return None

    def hyperparameters(self, size: int) -> dict[str, dict[str, Any]]:
        """The hyperparameters of every model fitted at history size ``size`` (finite
        ones: the journal holds JSON)."""
        return {
            name: hyperparameters(model)
            for name, (at, model) in self._fits.items()
            if at == size
            and name not in self.unrecorded
            and isinstance(model, torch.nn.Module)
            and all(bool(torch.isfinite(p).all()) for p in model.parameters())
        }


def fit_name(name: str, noise_floor: float | None) -> str:
    """Cache name of a model fitted with ``noise_floor`` (``None``: BoTorch's)."""
    return name if noise_floor is None else f"{name}@{noise_floor:g}"
