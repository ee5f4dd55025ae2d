"""One step's proposal, in the order a run needs them: the initial design, the transfer
of the small winners to the large scale, the acquisition's point (the final exploiting
run is an acquisition too: ``"PM"``, the posterior mean's maximizer).

Each function reads the step's encoded data (:class:`~scaleup_bo.data.StepData`) and
returns a point in user units that was not tried at that scale.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from botorch.acquisition import PosteriorMean
from torch import Tensor

from scaleup_bo.acquisition import AcquisitionBuilder, AcquisitionContext, build_acquisition
from scaleup_bo.data import StepData
from scaleup_bo.exceptions import SpaceExhaustedError
from scaleup_bo.history import History
from scaleup_bo.model import LARGE_FIDELITY
from scaleup_bo.optimize import fresh_points, propose, unit_key
from scaleup_bo.selection import ModelChoice
from scaleup_bo.space import SearchSpace

__all__ = [
    "TRANSFER_RADIUS",
    "acquisition_point",
    "check_untried",
    "design_point",
    "recommendation",
    "transfer_point",
    "untried_count",
]

#: Distance (times the square root of the number of unit-encoded columns) between the
#: small-scale configurations that ``transfer_points`` sends to the large scale.
TRANSFER_RADIUS = 0.3


def design_point(space: SearchSpace, tried: Tensor, n: int, seed: int) -> list[Any]:
    """The first point of an ``n``-point space-filling (Sobol) design with ``seed`` that is
    not among the ``tried`` encodings; in a small discrete space the design missed, the
    first untried point of the space."""
    seen = {tuple(u.tolist()) for u in tried}
    design = space.sample(n, seed=seed)
    for point, u in zip(design, space.to_unit(design), strict=True):
        if tuple(u.tolist()) not in seen:
            return point
    fresh = fresh_points(space, {unit_key(u) for u in tried})
    return design[0] if fresh is None else fresh[0]


def transfer_point(
    space: SearchSpace, history: History, unit: Tensor, tried_large: Tensor, n_points: int
) -> list[Any] | None:
    """While fewer than ``n_points`` large-scale points were tried (pending included): the
    best small-scale configuration at least ``TRANSFER_RADIUS * sqrt(columns)`` (unit
    encoding, ``unit`` holding every trial's) from every one tried at large scale: the
    small winner first, then the best of other basins. Else ``None``."""
    small = sorted(
        ((t, i) for i, t in enumerate(history.trials) if t.scale == "small" and t.ok),
        key=lambda ti: ti[0].value,
    )
    if tried_large.shape[0] >= n_points or not small:
        return None
    radius = TRANSFER_RADIUS * math.sqrt(space.n_columns)
    for trial, i in small:
        if not tried_large.shape[0] or torch.cdist(unit[i : i + 1], tried_large).min() >= radius:
            return list(trial.params)
    return None


def acquisition_point(
    acq_func: str | AcquisitionBuilder,
    choice: ModelChoice,
    data: StepData,
    scale: str,
    *,
    space: SearchSpace,
    seed: int,
    options: dict[str, Any],
    strategy: Any,
) -> list[Any]:
    """The maximizer of ``acq_func`` on the chosen model at ``scale``'s fidelity,
    conditioned on the points pending there, among the points not tried there."""
    target = data.fidelities[scale]
    context = AcquisitionContext.from_data(
        choice.model, choice.X, choice.Y, target, X_pending=data.pending_at(scale),
        options=options, seed=seed, space=space,
    )  # fmt: skip
    acqf = build_acquisition(acq_func, choice.model, context)
    return propose(
        acqf, space, target, exclude=data.tried[scale], seed=seed,
        num_restarts=strategy.num_restarts, raw_samples=strategy.raw_samples,
        X_baseline=context.X_baseline,
    )  # fmt: skip


def recommendation(
    choice: ModelChoice,
    data: StepData,
    history: History,
    *,
    space: SearchSpace,
    seed: int,
    strategy: Any,
    evaluated_only: bool = False,
) -> list[Any] | None:
    """The large-scale point with the largest posterior mean of ``-y`` on the exploiting
    model ``choice``: among the large-scale runs and (unless ``evaluated_only``) that
    mean's maximizer; ``None`` without either."""
    candidates = [list(t.params) for t in history.at("large", ok_only=True)]
    if not evaluated_only:
        candidates.append(
            propose(
                PosteriorMean(choice.model), space, LARGE_FIDELITY, seed=seed,
                num_restarts=strategy.num_restarts, raw_samples=strategy.raw_samples,
            )
        )  # fmt: skip
    if not candidates:
        return None
    X = data.at_fidelity(space.to_unit(candidates), "large")
    with torch.no_grad():
        mean = choice.model.posterior(X).mean.reshape(-1)
    return candidates[int(mean.argmax())]


def untried_count(space: SearchSpace, tried: Tensor, *, limit: int = 64) -> int | None:
    """Points of a discrete space not among the ``tried`` encodings when at most ``limit``
    are (only then are the tried ones counted); else ``None``."""
    size = space.n_points
    if size is None or tried.shape[0] < size - limit:
        return None
    return max(size - len({unit_key(u) for u in tried}), 0)


def check_untried(space: SearchSpace, tried: Tensor, scale: str, n: int = 1) -> None:
    """Raise ``SpaceExhaustedError`` when fewer than ``n`` points are left untried."""
    left = untried_count(space, tried)
    if left == 0:
        raise SpaceExhaustedError(
            f"every point of the search space ({space.n_points} points) has been "
            f"evaluated, or is pending, at the {scale} scale: nothing is left to propose "
            "there."
        )
    if left is not None and left < n:
        raise SpaceExhaustedError(
            f"only {left} point(s) of the search space are left untried at the "
            f"{scale} scale, fewer than n={n}: ask for at most {left}."
        )
