"""Maximizing an acquisition over the search space at a fixed fidelity.

:func:`propose` returns a valid, not-yet-evaluated point in user units: continuous
spaces through ``optimize_acqf``, mixed ones by enumerating one-hot patterns
(``optimize_acqf_mixed``) or, beyond a few combinations, with
``optimize_acqf_mixed_alternating`` on an ordinal encoding; integers are relaxed and
rounded in the adapter. A rounded optimum already tried gives way to the best fresh
point near it.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Iterable
from typing import Any

import torch
from botorch.acquisition import AcquisitionFunction, OneShotAcquisitionFunction
from botorch.optim import optimize_acqf, optimize_acqf_mixed
from botorch.optim.optimize_mixed import optimize_acqf_mixed_alternating
from torch import Tensor

from scaleup_bo.exceptions import SpaceExhaustedError
from scaleup_bo.space import SearchSpace

__all__ = ["acquisition_value", "fresh_points", "propose", "unit_key"]

logger = logging.getLogger("scaleup_bo")


def unit_key(row: Tensor) -> tuple[float, ...]:
    """A unit-cube point as a hashable key (rounded, so float noise maps to one key)."""
    return tuple(round(float(v), 9) for v in row)


def _ordinal_layout(space: SearchSpace) -> list[tuple[int, int]]:
    """For each column of the ordinal encoding: ``(n_categories, encoded_start)``.

    ``n_categories`` is 0 for a numeric column; a categorical's one-hot block becomes
    one column holding the category index.
    """
    blocks = dict(space.categorical_blocks)
    layout = []
    col = 0
    while col < space.n_columns:
        width = blocks.get(col, 0)
        layout.append((width, col))
        col += max(width, 1)
    return layout


class _OrdinalToOneHot(AcquisitionFunction):
    """Evaluates an acquisition defined on one-hot inputs at ordinal-encoded inputs.

    The mixed alternating optimizer wants each categorical as one column of
    category indices; the model was trained on one-hot blocks.
    """

    def __init__(
        self, acqf: AcquisitionFunction, space: SearchSpace, X_baseline: Tensor | None = None
    ) -> None:
        super().__init__(model=acqf.model)
        self.acqf = acqf
        self._layout = _ordinal_layout(space)
        # Read by BoTorch to place "spray" starting points near good observed points.
        self.X_baseline = None if X_baseline is None else self.collapse(X_baseline)

    def collapse(self, X: Tensor) -> Tensor:
        """``... x (d + 1)`` one-hot -> ``... x (d_ordinal + 1)`` (inverse of :meth:`expand`)."""
        parts = []
        for width, start in self._layout:
            if width:
                idx = X[..., start : start + width].argmax(dim=-1, keepdim=True)
                parts.append(idx.to(X))
            else:
                parts.append(X[..., start : start + 1])
        parts.append(X[..., -1:])
        return torch.cat(parts, dim=-1)

    def expand(self, X: Tensor) -> Tensor:
        """``... x (d_ordinal + 1)`` -> ``... x (d + 1)`` (fidelity last in both)."""
        parts = []
        for j, (width, _) in enumerate(self._layout):
            if width:
                idx = X[..., j].round().long().clamp(0, width - 1)
                parts.append(torch.nn.functional.one_hot(idx, width).to(X))
            else:
                parts.append(X[..., j : j + 1])
        parts.append(X[..., -1:])
        return torch.cat(parts, dim=-1)

    def forward(self, X: Tensor) -> Tensor:
        return self.acqf(self.expand(X))


def _ordinal_columns(space: SearchSpace) -> tuple[dict[int, list[float]], dict[int, list[float]]]:
    """Integer and categorical columns of the ordinal encoding, with their allowed values."""
    integer_cols = space.integer_columns()
    discrete: dict[int, list[float]] = {}
    cats: dict[int, list[float]] = {}
    for j, (width, start) in enumerate(_ordinal_layout(space)):
        if width:
            cats[j] = [float(i) for i in range(width)]
        elif start in integer_cols:
            discrete[j] = integer_cols[start]
    return discrete, cats


def propose(
    acqf: AcquisitionFunction,
    space: SearchSpace,
    target_fidelity: float,
    *,
    exclude: Tensor | None = None,
    seed: int = 0,
    num_restarts: int = 10,
    raw_samples: int = 512,
    max_combinations: int = 16,
    X_baseline: Tensor | None = None,
) -> list[Any]:
    """Maximize ``acqf`` at a fixed fidelity and return a new valid point.

    Purely continuous spaces use ``optimize_acqf``; spaces with categoricals enumerate
    the one-hot patterns with ``optimize_acqf_mixed`` when there are at most
    ``max_combinations`` of them, and use ``optimize_acqf_mixed_alternating``
    otherwise. Integers are relaxed and rounded. When the rounded optimum was already
    evaluated (a row of ``exclude``), the best unexcluded point among its neighbours
    (one step in one dimension) and a space-filling set of valid candidates is returned
    instead.

    Args:
        acqf: The acquisition function over ``(d + 1)``-dim inputs.
        space: The search space.
        target_fidelity: Value the fidelity column is fixed to.
        exclude: ``m x d`` encodings (without fidelity) of points not to propose.
        seed: Seeds the optimizer's random starts.
        X_baseline: ``m x (d + 1)`` good observed points near which the mixed
            alternating optimizer also starts.
        num_restarts: Starting points of the gradient optimization.
        raw_samples: Random points used to choose the starts.
        max_combinations: Largest number of one-hot patterns to enumerate.

    Returns:
        A point in user units.
    """
    d = space.n_columns
    bounds = torch.zeros(2, d + 1, dtype=torch.float64)
    bounds[1] = 1.0
    fid = {d: float(target_fidelity)}
    excluded = {unit_key(r) for r in exclude} if exclude is not None else set()
    options = {"seed": seed}
    n_comb = space.n_category_combinations
    one_shot = isinstance(acqf, OneShotAcquisitionFunction)
    # BoTorch warns (and retries) when L-BFGS stops abnormally; that is routine for an
    # acquisition surface, so it goes to the library's debug log, not to the user's console.
    with torch.random.fork_rng(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.manual_seed(seed)
        if not space.categorical_blocks:
            X, _ = optimize_acqf(
                acqf,
                bounds,
                q=1,
                num_restarts=num_restarts,
                raw_samples=raw_samples,
                fixed_features=fid,
                options=options,
            )
        elif n_comb <= max_combinations or one_shot:
            patterns = _onehot_patterns(space, max_combinations, seed)
            X, _ = optimize_acqf_mixed(
                acqf,
                bounds,
                q=1,
                num_restarts=max(2, num_restarts // 2),
                raw_samples=max(64, raw_samples // 4),
                fixed_features_list=[{**fid, **p} for p in patterns],
                options=options,
            )
        else:
            discrete, cats = _ordinal_columns(space)
            wrapped = _OrdinalToOneHot(acqf, space, X_baseline)
            d_ord = len(_ordinal_layout(space))
            ob = torch.zeros(2, d_ord + 1, dtype=torch.float64)
            ob[1] = 1.0
            for c, values in {**discrete, **cats}.items():
                ob[0, c], ob[1, c] = values[0], values[-1]
            Xo, _ = optimize_acqf_mixed_alternating(
                wrapped,
                ob,
                discrete_dims=discrete,
                cat_dims=cats,
                fixed_features={d_ord: float(target_fidelity)},
                num_restarts=num_restarts,
                raw_samples=raw_samples,
            )
            X = wrapped.expand(Xo)
    for w in caught:
        logger.debug("acquisition optimizer: %s", w.message)
    x = space.round_unit(X.reshape(-1, d + 1)[:1, :d])
    optimum = space.from_unit(x)[0]
    if unit_key(x[0]) not in excluded:
        return optimum
    logger.info("acquisition optimum was already evaluated; choosing among fresh candidates")
    return _best_fresh_candidate(
        acqf, space, target_fidelity, excluded, seed, one_shot, near=optimum
    )


def _onehot_patterns(space: SearchSpace, limit: int, seed: int) -> list[dict[int, float]]:
    """Every one-hot pattern, or ``limit`` random ones when there are more."""
    import itertools
    import random

    blocks = space.categorical_blocks
    chosen: Iterable[tuple[int, ...]]
    if space.n_category_combinations > limit:
        rng = random.Random(seed)
        combos: set[tuple[int, ...]] = set()
        while len(combos) < limit:  # distinct random patterns, every category reachable
            combos.add(tuple(rng.randrange(w) for _, w in blocks))
        chosen = sorted(combos)
    else:
        chosen = itertools.product(*[range(w) for _, w in blocks])
    patterns = []
    for combo in chosen:
        p: dict[int, float] = {}
        for (start, width), k in zip(blocks, combo, strict=True):
            for j in range(width):
                p[start + j] = 1.0 if j == k else 0.0
        patterns.append(p)
    return patterns


def fresh_points(space: SearchSpace, excluded: set[tuple[float, ...]]) -> list[list[Any]] | None:
    """The points of a small discrete space (:meth:`SearchSpace.all_points`) whose
    encodings (:func:`unit_key`) are not ``excluded``; ``None`` when the space is too large
    to enumerate.

    Raises:
        SpaceExhaustedError: every point is excluded.
    """
    every = space.all_points()
    if every is None:
        return None
    U = space.to_unit(every)
    points = [p for i, p in enumerate(every) if unit_key(U[i]) not in excluded]
    if not points:
        raise SpaceExhaustedError(
            f"every point of the search space ({len(every)} points) has been evaluated or "
            "is pending at this scale."
        )
    return points


def _best_fresh_candidate(
    acqf: AcquisitionFunction,
    space: SearchSpace,
    target_fidelity: float,
    excluded: set[tuple[float, ...]],
    seed: int,
    one_shot: bool,
    near: list[Any] | None = None,
) -> list[Any]:
    """The best unexcluded point, by ``acqf``, among a space-filling set and (with
    ``near``, the rounded optimum that was already evaluated) its neighbours, which in a
    discrete space are where the next-best points usually are."""
    points = (space.neighbours(near) if near is not None else []) + space.sample(
        2048, seed=seed + 1
    )
    U = space.to_unit(points)
    fresh: dict[tuple[float, ...], int] = {}  # first row of each distinct, unexcluded point
    for i in range(U.shape[0]):
        key = unit_key(U[i])
        if key not in excluded:
            fresh.setdefault(key, i)
    if not fresh:
        # Every candidate drawn was evaluated already: a small discrete space, which is
        # searched whole (and may be exhausted).
        points = fresh_points(space, excluded)
        if points is None:  # too large to enumerate: the sample missed fresh points
            logger.warning("no unevaluated candidate found; the space may be exhausted")
            return space.sample(1, seed=seed + 2)[0]
        U = space.to_unit(points)
        fresh = {unit_key(U[i]): i for i in range(U.shape[0])}
    U = U[list(fresh.values())]
    X = torch.cat([U, torch.full((U.shape[0], 1), target_fidelity, dtype=U.dtype)], dim=-1)
    with torch.no_grad():
        if one_shot:
            scores = acqf.model.posterior(X).mean.squeeze(-1)
        else:
            scores = torch.cat([acqf(chunk.unsqueeze(-2)) for chunk in X.split(256)])
    best = int(torch.nan_to_num(scores, nan=-math.inf).argmax())
    return space.from_unit(U[best : best + 1])[0]


def acquisition_value(
    acqf: AcquisitionFunction,
    space: SearchSpace,
    params: Any,
    fidelity: float,
    *,
    num_restarts: int = 10,
    raw_samples: int = 512,
) -> float:
    """Value of ``acqf`` at one point (user units) run at ``fidelity``.

    One-shot acquisitions (knowledge gradient) are evaluated by solving their inner
    problem; the others are called directly.
    """
    U = space.to_unit([params])
    X = torch.cat([U, torch.full((1, 1), float(fidelity), dtype=U.dtype)], dim=-1).unsqueeze(0)
    if isinstance(acqf, OneShotAcquisitionFunction):
        bounds = torch.zeros(2, X.shape[-1], dtype=X.dtype)
        bounds[1] = 1.0
        value = acqf.evaluate(X, bounds=bounds, num_restarts=num_restarts, raw_samples=raw_samples)
    else:
        with torch.no_grad():
            value = acqf(X)
    return float(value.reshape(-1)[0])
