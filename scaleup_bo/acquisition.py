"""Acquisition registry and proposal optimization at a fixed fidelity.

A name (``"EI"``, ``"PI"``, ``"UCB"``, ``"qNEI"``, ``"KG"``, ``"MES"``, ``"PM"``) or any callable
``(model, context) -> botorch AcquisitionFunction`` becomes an acquisition function;
:func:`propose` then maximizes it with the fidelity column fixed to the scale being
optimized (1.0 for large-scale proposals) and returns a valid, not-yet-evaluated
point in user units.

Every acquisition maximizes: the model sees ``-y``, so ``UCB`` here is the optimistic
*lower* bound of the loss, and ``best_f`` is the best ``-y`` observed at the scale
being optimized.

Example:
    >>> from botorch.acquisition import qUpperConfidenceBound
    >>> def my_ucb(model, context):
    ...     return qUpperConfidenceBound(model, beta=0.5, X_pending=context.X_pending)
    >>> register_acquisition("qUCB", my_ucb)   # or pass my_ucb as acq_func directly
"""

from __future__ import annotations

import logging
import math
import numbers
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import torch
from botorch.acquisition import (
    AcquisitionFunction,
    LogExpectedImprovement,
    OneShotAcquisitionFunction,
    PosteriorMean,
    UpperConfidenceBound,
    qKnowledgeGradient,
    qLogExpectedImprovement,
    qLogNoisyExpectedImprovement,
    qMaxValueEntropy,
    qProbabilityOfImprovement,
    qUpperConfidenceBound,
)
from botorch.acquisition.analytic import LogProbabilityOfImprovement
from botorch.acquisition.cost_aware import CostAwareUtility, InverseCostWeightedUtility
from botorch.acquisition.knowledge_gradient import qMultiFidelityKnowledgeGradient
from botorch.acquisition.max_value_entropy_search import (
    qMultiFidelityLowerBoundMaxValueEntropy,
    qMultiFidelityMaxValueEntropy,
)
from botorch.acquisition.utils import project_to_target_fidelity
from botorch.models.deterministic import GenericDeterministicModel
from botorch.models.model import Model
from botorch.optim import optimize_acqf, optimize_acqf_mixed
from botorch.optim.optimize_mixed import optimize_acqf_mixed_alternating
from torch import Tensor

from scaleup_bo.exceptions import AcquisitionError, SpaceExhaustedError
from scaleup_bo.model import LARGE_FIDELITY
from scaleup_bo.space import SearchSpace

__all__ = [
    "ACQUISITIONS",
    "COST_AWARE",
    "AcquisitionBuilder",
    "AcquisitionContext",
    "acquisition_value",
    "build_acquisition",
    "exploits",
    "propose",
    "register_acquisition",
    "resolve_acquisition",
]

logger = logging.getLogger("scaleup_bo")


@dataclass(frozen=True)
class AcquisitionContext:
    """What an acquisition builder may need besides the model.

    Attributes:
        train_X: ``n x (d + 1)`` inputs of every successful observation (last column
            the fidelity).
        train_Y: ``n x 1`` targets (``-y``; larger is better).
        target_fidelity: Fidelity value of the scale being optimized.
        best_f: Best target (``-y``) observed at that scale; when the scale has no
            observation yet, the largest posterior mean at that fidelity over the
            observed points.
        X_baseline: ``m x (d + 1)`` observed points moved to the target fidelity
            (those observed at that scale when there are any, else all of them).
        X_pending: ``p x (d + 1)`` points being evaluated at the target fidelity, or None.
        options: The user's ``acq_func_kwargs``.
        seed: Seed for any sampling the builder does.
        space: The search space (for candidate sets).
        cost_utility: How the multi-fidelity acquisitions (``MF-MES``, ``MF-GIBBON``,
            ``MF-KG``) weigh information against the cost of the fidelity it is
            bought at; ``None``: every run costs the same.
    """

    train_X: Tensor
    train_Y: Tensor
    target_fidelity: float
    best_f: float
    X_baseline: Tensor
    X_pending: Tensor | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    seed: int = 0
    space: SearchSpace | None = None
    cost_utility: CostAwareUtility | None = None

    @property
    def fidelity_column(self) -> int:
        """Index of the fidelity column (the last one)."""
        return self.train_X.shape[-1] - 1

    @classmethod
    def from_data(
        cls,
        model: Model,
        train_X: Tensor,
        train_Y: Tensor,
        target_fidelity: float,
        *,
        X_pending: Tensor | None = None,
        options: Mapping[str, Any] | None = None,
        seed: int = 0,
        space: SearchSpace | None = None,
        cost_utility: CostAwareUtility | None = None,
    ) -> AcquisitionContext:
        """Derive ``best_f`` and ``X_baseline`` from the training data."""
        fid = train_X[:, -1]
        at_target = torch.isclose(fid, torch.tensor(target_fidelity, dtype=fid.dtype))
        if at_target.any():
            X_baseline = train_X[at_target]
            best_f = float(train_Y[at_target].max())
        else:
            X_baseline = train_X.clone()
            X_baseline[:, -1] = target_fidelity
            with torch.no_grad():
                best_f = float(model.posterior(X_baseline).mean.max())
        return cls(
            train_X=train_X,
            train_Y=train_Y,
            target_fidelity=target_fidelity,
            best_f=best_f,
            X_baseline=X_baseline,
            X_pending=X_pending,
            options=dict(options or {}),
            seed=seed,
            space=space,
            cost_utility=cost_utility,
        )


AcquisitionBuilder = Callable[[Model, AcquisitionContext], AcquisitionFunction]


def _option(context: AcquisitionContext, names: Iterable[str], default: Any) -> Any:
    for name in names:
        if name in context.options:
            return context.options[name]
    return default


# The analytic EI/PI/UCB ignore pending points; while points are being evaluated
# their Monte-Carlo twins, which condition on X_pending, are used instead.
def _ei(model: Model, context: AcquisitionContext) -> AcquisitionFunction:
    best_f = context.best_f + float(_option(context, ["xi"], 0.0))
    if context.X_pending is not None:
        return qLogExpectedImprovement(model, best_f=best_f, X_pending=context.X_pending)
    return LogExpectedImprovement(model, best_f=best_f)


def _pi(model: Model, context: AcquisitionContext) -> AcquisitionFunction:
    best_f = context.best_f + float(_option(context, ["xi"], 0.0))
    if context.X_pending is not None:
        return qProbabilityOfImprovement(model, best_f=best_f, X_pending=context.X_pending)
    return LogProbabilityOfImprovement(model, best_f=best_f)


def _ucb(model: Model, context: AcquisitionContext) -> AcquisitionFunction:
    if "beta" in context.options:
        beta = float(context.options["beta"])
    else:
        beta = float(_option(context, ["kappa"], 1.96)) ** 2
    # The model sees -y, so the upper bound of -y is the optimistic lower bound of the loss.
    if context.X_pending is not None:
        return qUpperConfidenceBound(model, beta=beta, X_pending=context.X_pending)
    return UpperConfidenceBound(model, beta=beta)


def _qnei(model: Model, context: AcquisitionContext) -> AcquisitionFunction:
    return qLogNoisyExpectedImprovement(
        model,
        X_baseline=context.X_baseline,
        X_pending=context.X_pending,
        prune_baseline=True,
    )


def _pm(model: Model, context: AcquisitionContext) -> AcquisitionFunction:
    """Pure exploitation: the posterior mean (the model's best guess). It cannot take
    pending points into account (it would propose them again), so it refuses them."""
    if context.X_pending is not None:
        raise AcquisitionError(
            "PM (the posterior mean) ignores points being evaluated and would propose "
            "them again: ask it when nothing is pending, one point at a time."
        )
    return PosteriorMean(model)


def _kg(model: Model, context: AcquisitionContext) -> AcquisitionFunction:
    num_fantasies = int(_option(context, ["num_fantasies"], 16))
    with torch.no_grad():
        current = model.posterior(context.X_baseline).mean.max()
    return qKnowledgeGradient(
        model,
        num_fantasies=num_fantasies,
        X_pending=context.X_pending,
        current_value=current,
    )


def _candidates(
    context: AcquisitionContext,
    name: str,
    fidelity: float,
    *,
    observed: bool = False,
    n: int | None = None,
) -> Tensor:
    """``n`` (default: ``num_candidates``) space-filling points, and if ``observed``
    every observed one, at ``fidelity``: where maxima are sampled or searched."""
    if context.space is None:
        raise AcquisitionError(f"{name} needs the search space to draw its candidate set.")
    if n is None:
        n = int(_option(context, ["num_candidates"], 1000))
    cand = context.space.to_unit(context.space.sample(n, seed=context.seed))
    if observed:
        cand = torch.cat([cand, context.train_X[:, :-1].to(cand)])
    fid = torch.full((cand.shape[0], 1), fidelity, dtype=cand.dtype)
    return torch.cat([cand, fid], dim=-1)


def _mes(model: Model, context: AcquisitionContext) -> AcquisitionFunction:
    candidate_set = _candidates(context, "MES", context.target_fidelity)
    with torch.random.fork_rng():
        torch.manual_seed(context.seed)
        return qMaxValueEntropy(
            model,
            candidate_set=candidate_set,
            num_fantasies=int(_option(context, ["num_fantasies"], 16)),
            X_pending=context.X_pending,
        )


def _to_large(context: AcquisitionContext) -> Callable[[Tensor], Tensor]:
    d = context.train_X.shape[-1]
    return partial(project_to_target_fidelity, target_fidelities={d - 1: LARGE_FIDELITY}, d=d)


# The multi-fidelity acquisitions value a run at any fidelity by what it tells about
# the large scale (its maximum, or the best large-scale posterior mean), divided by
# the run's cost: they are what lets the optimizer choose the scale.
def _mf_mes(
    model: Model, context: AcquisitionContext, *, gibbon: bool = False
) -> AcquisitionFunction:
    cls = qMultiFidelityLowerBoundMaxValueEntropy if gibbon else qMultiFidelityMaxValueEntropy
    candidate_set = _candidates(context, "MF-MES", LARGE_FIDELITY, observed=True)
    with torch.random.fork_rng():
        torch.manual_seed(context.seed)
        return cls(
            model,
            candidate_set=candidate_set,
            num_fantasies=int(_option(context, ["num_fantasies"], 16)),
            X_pending=context.X_pending,
            cost_aware_utility=context.cost_utility or _unit_cost(),
            project=_to_large(context),
        )


def _mf_gibbon(model: Model, context: AcquisitionContext) -> AcquisitionFunction:
    return _mf_mes(model, context, gibbon=True)


def _mf_kg(model: Model, context: AcquisitionContext) -> AcquisitionFunction:
    project = _to_large(context)
    with torch.no_grad():
        candidates = _candidates(context, "MF-KG", LARGE_FIDELITY, observed=True, n=256)
        current = model.posterior(project(candidates)).mean.max()
    return qMultiFidelityKnowledgeGradient(
        model,
        num_fantasies=int(_option(context, ["num_fantasies"], 8)),
        X_pending=context.X_pending,
        current_value=current,
        cost_aware_utility=context.cost_utility or _unit_cost(),
        project=project,
    )


def _unit_cost() -> CostAwareUtility:
    return InverseCostWeightedUtility(
        cost_model=GenericDeterministicModel(lambda X: torch.ones_like(X[..., -1:]), num_outputs=1)
    )


#: Options each built-in acquisition accepts in ``acq_func_kwargs``, with their types.
ACQUISITION_OPTIONS: dict[str, dict[str, type]] = {
    "EI": {"xi": float},
    "PI": {"xi": float},
    "UCB": {"kappa": float, "beta": float},
    "qNEI": {},
    "PM": {},
    "KG": {"num_fantasies": int},
    "MES": {"num_candidates": int, "num_fantasies": int},
    "MF-MES": {"num_candidates": int, "num_fantasies": int},
    "MF-GIBBON": {"num_candidates": int, "num_fantasies": int},
    "MF-KG": {"num_fantasies": int},
}


def check_options(acq_func: Any, options: Mapping[str, Any] | None) -> dict[str, Any]:
    """Validate ``acq_func_kwargs`` for a built-in acquisition (others pass through).

    Raises:
        AcquisitionError: an unknown option (the known ones are listed) or a value of
            the wrong type, naming the option.
    """
    if options is None:
        return {}
    if not isinstance(options, Mapping):
        raise AcquisitionError(f"acq_func_kwargs must be a dict, got {options!r}.")
    allowed = ACQUISITION_OPTIONS.get(acq_func) if isinstance(acq_func, str) else None
    if allowed is None:
        return dict(options)
    out: dict[str, Any] = {}
    for key, value in options.items():
        if key not in allowed:
            raise AcquisitionError(
                f"acq_func_kwargs: {acq_func} has no option {key!r}; "
                f"its options are {sorted(allowed) or 'none'}."
            )
        kind = allowed[key]
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
        if kind is int:
            ok = ok and isinstance(value, numbers.Integral) and value >= 1
        elif ok:
            ok = math.isfinite(float(value)) and (key == "xi" or float(value) >= 0)
        if not ok:
            what = "a positive integer" if kind is int else "a finite number"
            raise AcquisitionError(f"acq_func_kwargs[{key!r}] must be {what}, got {value!r}.")
        out[key] = kind(value)
    return out


#: Registered acquisition builders by name.
ACQUISITIONS: dict[str, AcquisitionBuilder] = {
    "EI": _ei,
    "PI": _pi,
    "UCB": _ucb,
    "qNEI": _qnei,
    "PM": _pm,
    "KG": _kg,
    "MES": _mes,
    "MF-MES": _mf_mes,
    "MF-GIBBON": _mf_gibbon,
    "MF-KG": _mf_kg,
}

#: The acquisitions that value runs at any fidelity per unit of cost (the ones
#: :class:`~scaleup_bo.optimizers.ScaleUpOptimizer` can choose a scale with).
COST_AWARE = ("MF-MES", "MF-GIBBON", "MF-KG")


def register_acquisition(
    name: str, builder: AcquisitionBuilder, *, overwrite: bool = False
) -> None:
    """Register ``builder`` under ``name`` so it can be chosen by ``acq_func=name``.

    Args:
        name: The name users will pass.
        builder: ``(model, context) -> AcquisitionFunction``.
        overwrite: Allow replacing an existing name.
    """
    if not callable(builder):
        raise AcquisitionError(f"builder for {name!r} must be callable, got {builder!r}.")
    if name in ACQUISITIONS and not overwrite:
        raise AcquisitionError(f"acquisition {name!r} is already registered.")
    ACQUISITIONS[name] = builder


def resolve_acquisition(acq_func: str | AcquisitionBuilder) -> AcquisitionBuilder:
    """Turn a registered name or a callable into a builder, or raise a clear error."""
    if callable(acq_func):
        return acq_func
    if isinstance(acq_func, str) and acq_func in ACQUISITIONS:
        return ACQUISITIONS[acq_func]
    raise AcquisitionError(
        f"unknown acq_func {acq_func!r}; use one of {sorted(ACQUISITIONS)} or a callable "
        "(model, context) -> botorch AcquisitionFunction."
    )


def exploits(acq_func: str | AcquisitionBuilder) -> bool:
    """Whether ``acq_func`` is pure exploitation (``"PM"``, the posterior mean): the
    engine then gives it the model fitted as for a recommendation (its
    ``exploit_noise_floor``) rather than the exploring one."""
    return resolve_acquisition(acq_func) is _pm


def build_acquisition(
    acq_func: str | AcquisitionBuilder, model: Model, context: AcquisitionContext
) -> AcquisitionFunction:
    """Build the acquisition function and check that the builder returned one."""
    acqf = resolve_acquisition(acq_func)(model, context)
    if not isinstance(acqf, AcquisitionFunction):
        raise AcquisitionError(
            f"acq_func {acq_func!r} returned {type(acqf).__name__}, "
            "not a botorch AcquisitionFunction."
        )
    return acqf


# ---------------------------------------------------------------------- optimization
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
