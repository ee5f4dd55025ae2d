"""Acquisition registry: a name or a callable becomes a BoTorch acquisition function.

A name (``"EI"``, ``"PI"``, ``"UCB"``, ``"qNEI"``, ``"KG"``, ``"MES"``, ``"PM"``; the
cost-aware ``"MF-MES"``, ``"MF-GIBBON"``, ``"MF-KG"``) or any callable
``(model, context) -> botorch AcquisitionFunction`` becomes an acquisition function;
:func:`scaleup_bo.optimize.propose` then maximizes it with the fidelity column fixed to
the scale being optimized (1.0 for large-scale proposals).

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
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import torch
from botorch.acquisition import (
    AcquisitionFunction,
    LogExpectedImprovement,
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
from torch import Tensor

from scaleup_bo.exceptions import AcquisitionError, DataError
from scaleup_bo.history import SCALES
from scaleup_bo.model import LARGE_FIDELITY
from scaleup_bo.space import SearchSpace

__all__ = [
    "ACQUISITIONS",
    "COST_AWARE",
    "DEFAULT_ACQ",
    "AcquisitionBuilder",
    "AcquisitionContext",
    "acquisition_name",
    "build_acquisition",
    "exploits",
    "per_scale",
    "per_scale_record",
    "register_acquisition",
    "resolve_acquisition",
]

#: The acquisition of each scale unless one is given: LogEI for the small stage, qLogNEI
#: at large scale (it beat LogEI on 17 of 20 Currin seeds and 15 of 20 Forrester seeds).
DEFAULT_ACQ: dict[str, str] = {"small": "EI", "large": "qNEI"}

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
#: :class:`~scaleup_bo.scaleup.ScaleUpOptimizer` can choose a scale with).
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


def acquisition_name(acq_func: str | Callable[..., Any]) -> str:
    """How an acquisition (or any callable setting) is recorded in a history's metadata
    and a journal's header: its name, or a callable's ``module.qualname`` (the function a
    ``functools.partial`` wraps; an instance's class), the same in every process."""
    if isinstance(acq_func, str):
        return acq_func
    func = acq_func
    while isinstance(func, partial):
        func = func.func
    named = func if hasattr(func, "__qualname__") else type(func)
    return f"{getattr(named, '__module__', '?')}.{named.__qualname__}"


def per_scale(
    acq_func: Any, options: Any
) -> tuple[dict[str, str | AcquisitionBuilder], dict[str, Any]]:
    """The acquisition of each scale (one for both, a dict ``{"small": ..., "large":
    ...}``, or ``None``: :data:`DEFAULT_ACQ`) and their options, checked."""
    if acq_func is None:
        funcs = dict(DEFAULT_ACQ)
    elif isinstance(acq_func, Mapping):
        if set(acq_func) != set(SCALES):
            raise DataError(f"acq_func as a dict must map both {SCALES}, got {list(acq_func)}.")
        funcs = {s: acq_func[s] for s in SCALES}
    else:
        funcs = {s: acq_func for s in SCALES}
    checked: dict[str, Any] = {}
    for acq in dict.fromkeys(funcs.values()):
        resolve_acquisition(acq)  # fail now on an unknown name
        checked = check_options(acq, options)
    return funcs, checked


def per_scale_record(funcs: Mapping[str, str | AcquisitionBuilder], *, names: bool = True) -> Any:
    """One value when both scales share their acquisition, else the dict (as names when
    ``names``: a journal header and a history's metadata)."""
    values = {s: acquisition_name(f) if names else f for s, f in funcs.items()}
    return values["small"] if funcs["small"] is funcs["large"] else values
