"""The shared two-fidelity surrogate: one ``SingleTaskMultiFidelityGP`` over ``[x, s]``.

``x`` is the unit-cube encoding of a point (see :mod:`scaleup_bo.space`) and ``s``
the fidelity column, appended last: the small scale at ``small_fidelity`` (< 1),
the large scale, the target, at ``1.0``. Outcomes are standardized and the noise
is inferred. The model sees ``-y`` (BoTorch maximizes); that negation is done by the
engine, once.
"""

from __future__ import annotations

import logging
import warnings
from typing import Literal

import torch
from botorch.exceptions.errors import ModelFittingError
from botorch.exceptions.warnings import InputDataWarning
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskMultiFidelityGP
from botorch.models.transforms.outcome import Standardize
from gpytorch.mlls import ExactMarginalLogLikelihood
from linear_operator.utils.errors import NanError, NotPSDError
from torch import Tensor

from scaleup_bo.exceptions import DataError

__all__ = ["DEFAULT_SMALL_FIDELITY", "KERNELS", "LARGE_FIDELITY", "build_model", "fit_model"]

logger = logging.getLogger("scaleup_bo")

#: Fidelity value of the large (target) scale.
LARGE_FIDELITY = 1.0
#: Default fidelity value of the small scale. With the default kernel, a small value of
#: 0.0 fixes the small/large correlation at about 0.71; at 0.5 it is learned (DESIGN.md).
DEFAULT_SMALL_FIDELITY = 0.5

Kernel = Literal["linear_truncated", "downsampling"]
#: Fidelity kernels the shared model can use.
KERNELS: tuple[str, ...] = ("linear_truncated", "downsampling")

# Numerical failures of a fit. torch's LinAlgError (a failed Cholesky) is a RuntimeError;
# other RuntimeErrors are caught too but logged with their traceback, so a real bug shows.
_FIT_ERRORS = (ModelFittingError, NotPSDError, NanError, RuntimeError)


def build_model(
    train_X: Tensor, train_Y: Tensor, *, kernel: Kernel = "linear_truncated"
) -> SingleTaskMultiFidelityGP:
    """Build (not fit) the shared model.

    Args:
        train_X: ``n x (d + 1)`` float64 tensor in ``[0, 1]``, the last column the fidelity.
        train_Y: ``n x 1`` tensor of values to maximize (``-y``).
        kernel: ``"linear_truncated"`` (BoTorch's default multi-fidelity kernel) or
            ``"downsampling"`` (faster to fit).

    Returns:
        An unfitted ``SingleTaskMultiFidelityGP`` with a ``Standardize`` outcome transform.
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
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InputDataWarning)
        return SingleTaskMultiFidelityGP(
            train_X,
            train_Y,
            data_fidelities=[fidelity_column],
            linear_truncated=kernel == "linear_truncated",
            outcome_transform=Standardize(m=1),
        )


def fit_model(
    train_X: Tensor,
    train_Y: Tensor,
    *,
    kernel: Kernel = "linear_truncated",
    seed: int = 0,
    attempts: int = 2,
) -> SingleTaskMultiFidelityGP | None:
    """Build and fit the shared model, never raising on a numerical failure.

    Each attempt builds a fresh model and fits it with ``fit_gpytorch_mll`` (which
    itself retries from random hyperparameters on optimizer warnings). When every
    attempt fails, the failure is logged and ``None`` is returned: the caller falls
    back to a space-filling proposal instead of crashing the run.

    Args:
        train_X: ``n x (d + 1)`` inputs, last column the fidelity.
        train_Y: ``n x 1`` targets to maximize.
        kernel: See :func:`build_model`.
        seed: Seeds torch for the fit (each attempt uses ``seed + attempt``).
        attempts: Number of fresh models to try.

    Returns:
        The fitted model in eval mode, or ``None``.
    """
    last_error: Exception | None = None
    for attempt in range(attempts):
        with torch.random.fork_rng():
            torch.manual_seed(seed + attempt)
            try:
                model = build_model(train_X, train_Y, kernel=kernel)
                mll = ExactMarginalLogLikelihood(model.likelihood, model)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", InputDataWarning)
                    fit_gpytorch_mll(mll)
            except DataError:
                raise
            except _FIT_ERRORS as exc:  # numerical trouble: retry, then give up quietly
                last_error = exc
                known = isinstance(exc, (ModelFittingError, NotPSDError, NanError))
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
