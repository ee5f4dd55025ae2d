"""What a run costs at each scale, the cost-aware choice of the next scale, the budget.

:class:`Costs` answers what the next run at a scale will cost and how much the trials
so far have spent; :func:`cost_utility` tells a multi-fidelity acquisition how to weigh
information per unit of cost. :class:`InformationPerCost` is the default scale chooser
of :class:`~scaleup_bo.scaleup.ScaleUpOptimizer` (any callable taking a
:class:`ScaleChoiceContext` can replace it), and :class:`Budget` decides what the run
may still buy.

With ``small`` and ``large`` given, costs are in the user's units (GPU-hours,
dollars...) and a trial costs its scale's value. Without them, costs are measured:
a scale costs the mean wall time of its trials so far, and the budget is in seconds
of evaluation (the optimizer's own time is reported apart, never charged).

Example:
    >>> from scaleup_bo.history import History
    >>> costs = Costs(small=1.0, large=10.0)
    >>> history = History()
    >>> _ = history.add([0.5], 1.0, "small")
    >>> _ = history.add([0.5], 2.0, "large")
    >>> costs.spent(history), costs.cost("large", history)
    (11.0, 10.0)
"""

from __future__ import annotations

import logging
import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import torch
from botorch.acquisition.cost_aware import InverseCostWeightedUtility
from botorch.models.deterministic import GenericDeterministicModel
from torch import Tensor

from scaleup_bo._validate import check_scale
from scaleup_bo.acquisition import (
    COST_AWARE,
    DEFAULT_ACQ,
    AcquisitionBuilder,
    AcquisitionContext,
    acquisition_name,
    build_acquisition,
    resolve_acquisition,
)
from scaleup_bo.exceptions import DataError, SpaceExhaustedError
from scaleup_bo.history import SCALES, History, Trial
from scaleup_bo.model import LARGE_FIDELITY
from scaleup_bo.optimize import acquisition_value, propose

if TYPE_CHECKING:
    from scaleup_bo.data import StepData
    from scaleup_bo.engine import Engine

__all__ = [
    "Budget",
    "Costs",
    "InformationPerCost",
    "ScaleChoiceContext",
    "ScaleChooser",
    "check_budget",
    "check_costs",
    "cost_utility",
]

logger = logging.getLogger("scaleup_bo")

#: A measured cost is never taken below this (seconds): a run that returns at once
#: would otherwise make its scale look free.
MIN_MEASURED_COST = 1e-3


class Costs:
    """Costs per scale, given or measured.

    Args:
        small: Cost of one small-scale run (``None`` with ``large=None``: measured).
        large: Cost of one large-scale run.

    Raises:
        DataError: only one of the two given, or a value that is not a positive
            finite number.
    """

    def __init__(self, small: float | None = None, large: float | None = None) -> None:
        if (small is None) != (large is None):
            raise DataError(
                "give both cost_small and cost_large (in the same units), or neither "
                "(then both are measured as evaluation wall time in seconds)."
            )
        self.given: dict[str, float] | None = None
        if small is not None and large is not None:
            self.given = {
                "small": _positive("cost_small", small),
                "large": _positive("cost_large", large),
            }

    @property
    def measured(self) -> bool:
        """True when costs are wall times measured from the trials."""
        return self.given is None

    @property
    def unit(self) -> str:
        """``"s"`` when measured, else ``"cost units"``."""
        return "s" if self.measured else "cost units"

    def trial_cost(self, trial: Trial) -> float:
        """What ``trial`` cost (failed trials cost too)."""
        if self.given is not None:
            return self.given[trial.scale]
        return max(float(trial.seconds), 0.0)

    def spent(self, history: History) -> float:
        """Total cost of every trial in ``history``."""
        return math.fsum(self.trial_cost(t) for t in history)

    def cumulative(self, history: History) -> list[float]:
        """Cost spent after each trial, in history order."""
        total, out = 0.0, []
        for t in history:
            total += self.trial_cost(t)
            out.append(total)
        return out

    def known(self, scale: str, history: History) -> bool:
        """Whether the cost of ``scale`` is known (given, or measured at least once)."""
        return self.given is not None or any(t.scale == scale for t in history)

    def cost(self, scale: str, history: History) -> float:
        """Expected cost of the next run at ``scale``.

        Measured costs are the mean wall time of that scale's trials; a scale not
        run yet costs ``nan`` (unknown).
        """
        if scale not in SCALES:
            raise DataError(f"scale must be one of {SCALES}, got {scale!r}.")
        if self.given is not None:
            return self.given[scale]
        seconds = [t.seconds for t in history if t.scale == scale]
        if not seconds:
            return math.nan
        return max(math.fsum(seconds) / len(seconds), MIN_MEASURED_COST)


def cost_utility(small_fidelity: float, small: float, large: float) -> InverseCostWeightedUtility:
    """Information per unit of cost, for the multi-fidelity acquisitions.

    The cost of an input row is read from its fidelity (last) column: ``small`` below
    the midpoint between the two fidelities, ``large`` above. Only two fidelity values
    are ever evaluated, so this is a step rather than an ``AffineFidelityCostModel``:
    an affine cost through both points needs a negative fixed cost whenever a large
    run costs more than ``1 / small_fidelity`` times a small one.
    """
    threshold = (small_fidelity + 1.0) / 2.0

    def cost(X: Tensor) -> Tensor:
        fid = X[..., -1:]
        return torch.where(
            fid >= threshold, torch.full_like(fid, large), torch.full_like(fid, small)
        )

    return InverseCostWeightedUtility(cost_model=GenericDeterministicModel(cost, num_outputs=1))


def check_costs(costs: Mapping[str, Any]) -> dict[str, float]:
    """``costs`` (the cost of one run at some of the scales), checked."""
    costs = dict(costs)
    if not costs or any(s not in SCALES for s in costs):
        raise DataError(f"costs must map some of {SCALES} to costs, got {costs!r}.")
    for s, c in costs.items():
        if not (isinstance(c, numbers.Real) and math.isfinite(c) and c > 0):
            raise DataError(f"the cost of the {s} scale must be a positive number, got {c!r}.")
    return costs


def _positive(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise DataError(f"{name} must be a positive number, got {value!r}.")
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise DataError(f"{name} must be a positive finite number, got {value!r}.")
    return value


@dataclass(frozen=True)
class ScaleChoiceContext:
    """What a scale chooser is given at a step of ``ScaleUpOptimizer``.

    Attributes:
        engine: The engine (its ``history``, ``pending``, ``fit()``, ``space``...).
        costs: The scales this run can afford now, with the cost of one run at each
            (two of them: with one, nothing is asked).
        seed: This step's seed (torch is seeded with it during the call).
        data: The step's encoded data (:class:`~scaleup_bo.data.StepData`).
    """

    engine: Engine
    costs: dict[str, float]
    seed: int
    data: StepData

    @property
    def history(self) -> History:
        """Every trial so far."""
        return self.engine.history

    def model(self) -> Any:
        """The fitted shared model of this step (``None`` when it cannot be fitted)."""
        return self.engine.fit(seed=self.seed)

    def record(self, scale: str, values: Mapping[str, float]) -> None:
        """Keep the values the choice compared (``engine.scale_choice``)."""
        self.engine.scale_choice = {"scale": scale, "values": dict(values)}

    def checked(self, choice: Any) -> tuple[list[Any] | None, str] | None:
        """A chooser's answer as ``(params or None, scale)``, checked."""
        if choice is None:
            return None
        params, scale = (None, choice) if isinstance(choice, str) else choice
        check_scale(scale)
        return (None if params is None else self.engine.space.validate(params)), scale


#: A scale chooser: ``(context) -> scale``, ``(params, scale)`` or ``None`` (the cheapest).
ScaleChooser = Callable[[ScaleChoiceContext], Any]


@dataclass(frozen=True)
class InformationPerCost:
    """The default scale chooser: a cost-aware multi-fidelity acquisition, maximized at
    each scale; the scale of larger value (information about the large-scale optimum per
    unit of cost) wins, with the point that maximized it there.

    Args:
        acq_func: ``"MF-MES"``, ``"MF-GIBBON"``, ``"MF-KG"`` or a callable that uses
            ``context.cost_utility``; ``None``: the optimizer's ``acq_func``.
        large_acq_func: The acquisition that places a large-scale run once this chooser
            picked the large scale (``"qNEI"``: information decides *whether* to pay for
            a large run, improvement *where*); ``None``: the chooser's own point.
        small_acq_func: The same for small-scale runs (``None``: the chooser's own point;
            LogEI at the small fidelity did worse on ``unrelated``).
    """

    acq_func: str | AcquisitionBuilder | None = None
    large_acq_func: str | AcquisitionBuilder | None = "qNEI"
    small_acq_func: str | AcquisitionBuilder | None = None

    def __post_init__(self) -> None:
        for acq in (self.acq_func, self.large_acq_func, self.small_acq_func):
            if acq is not None:
                resolve_acquisition(acq)  # fail now on an unknown name

    def resolve(self, default: str | AcquisitionBuilder) -> str | AcquisitionBuilder:
        """The cost-aware acquisition this chooser maximizes (``default`` when unset)."""
        acq = default if self.acq_func is None else self.acq_func
        if isinstance(acq, str) and acq not in COST_AWARE:
            raise DataError(
                f"choosing the scale needs a cost-aware acquisition ({', '.join(COST_AWARE)} "
                f"or a callable), not {acq!r}."
            )
        return acq

    def __call__(self, context: ScaleChoiceContext) -> tuple[list[Any], str] | None:
        engine, data, costs, seed = context.engine, context.data, context.costs, context.seed
        model = context.model()
        if model is None:
            return None
        acq_context = AcquisitionContext.from_data(
            model,
            data.X,
            data.Y,
            LARGE_FIDELITY,
            X_pending=data.pending if data.pending.shape[0] else None,
            options=engine.acq_func_kwargs,
            seed=seed,
            space=engine.space,
            cost_utility=cost_utility(
                data.fidelities["small"],
                costs.get("small", costs.get("large", 1.0)),
                costs.get("large", costs.get("small", 1.0)),
            ),
        )
        acqf = build_acquisition(self.resolve(engine.acq_funcs["large"]), model, acq_context)
        strategy = engine.strategy
        values: dict[str, float] = {}
        points: dict[str, list[Any]] = {}
        for scale in costs:
            fid = data.fidelities[scale]
            points[scale] = propose(
                acqf, engine.space, fid, exclude=data.tried[scale], seed=seed,
                num_restarts=strategy.num_restarts, raw_samples=strategy.raw_samples,
                X_baseline=acq_context.X_baseline,
            )  # fmt: skip
            values[scale] = acquisition_value(
                acqf, engine.space, points[scale], fid, num_restarts=strategy.num_restarts,
                raw_samples=strategy.raw_samples,
            )  # fmt: skip
        best = max(values, key=lambda s: (math.isfinite(values[s]), values[s]))
        context.record(best, values)
        logger.info("scale choice: %s -> %s", values, best)
        return points[best], best

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly settings (callables by ``module.qualname``)."""
        out = {k: v if v is None or isinstance(v, str) else acquisition_name(v)
               for k, v in asdict(self).items()}  # fmt: skip
        return {"chooser": "InformationPerCost", **out}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> InformationPerCost:
        return cls(**{k: v for k, v in values.items() if k != "chooser"})


def check_budget(budget: Any, costs: Costs, n_initial_points: int) -> float:
    """A cost-aware run's budget, checked: with given costs it must pay for one run at
    each scale (a warning says when it leaves no room for the initial design)."""
    budget = _positive("budget", budget)
    if costs.given is not None:
        small, large = costs.given["small"], costs.given["large"]
        if budget < small + large:
            raise DataError(
                f"budget {budget:g} cannot pay for one small-scale run and one large-scale "
                f"run ({small:g} + {large:g}): a cost-aware run needs both."
            )
        room = int((budget - large) // small)
        if room < n_initial_points:
            logger.warning(
                "budget %g leaves room for %d of the n_initial_points=%d small-scale runs "
                "besides the large-scale run held back for the recommendation.",
                budget, room, n_initial_points,
            )  # fmt: skip
    return budget


class Budget:
    """What a cost-aware run may still spend, and which run it makes next.

    The run starts with ``n_initial_points`` space-filling small-scale runs (leaving the
    held-back large run's cost when known); with measured costs the small winner is then
    run at large scale to time it. Then each step asks the engine's scale choice among the
    affordable scales. The cost of one large run is held back to the end, for the
    recommendation (or, when it was evaluated already, one more model-chosen run).
    Nothing is started that the budget cannot pay for, counting the runs in flight.

    Args:
        total: The budget.
        costs: The run's :class:`Costs`.
        engine: The engine that proposes. With :class:`InformationPerCost`, its
            ``large_acq_func``/``small_acq_func`` place the chosen runs; a custom
            chooser's large runs are placed as the default's are.
    """

    def __init__(self, total: float, costs: Costs, engine: Engine) -> None:
        self.total, self.costs, self.engine = total, costs, engine
        chooser = engine.strategy.scale_chooser
        if chooser is None or isinstance(chooser, InformationPerCost):
            chooser = chooser or InformationPerCost()
            self.placement = {"large_acq_func": chooser.large_acq_func,
                              "small_acq_func": chooser.small_acq_func}  # fmt: skip
        else:
            self.placement = {"large_acq_func": DEFAULT_ACQ["large"]}
        self.reserve = True  # one large run's cost is held back for the recommendation
        self.finished = False

    @property
    def spent(self) -> float:
        """Cost of every trial so far (failed ones included)."""
        return self.costs.spent(self.engine.history)

    def cost(self, scale: str) -> float:
        """Expected cost of the next run at ``scale`` (``nan`` while unmeasured)."""
        return self.costs.cost(scale, self.engine.history)

    def committed(self) -> float:
        """Spent plus the expected cost of the runs in flight."""
        pending = sum(self.cost(s) for _, s in self.engine.pending)
        return self.spent + (0.0 if math.isnan(pending) else pending)

    def next(self) -> tuple[list[Any], str] | None:
        """The next run ``(params, scale)`` (pending in the engine), or ``None``: nothing
        now (runs in flight) or the run is over (:attr:`finished`; also when a discrete
        space has nothing left to run)."""
        try:
            return self._next()
        except SpaceExhaustedError as exc:
            logger.warning("%s The run ends here.", exc)
            self.reserve, self.finished = False, True
            return None

    def _next(self) -> tuple[list[Any], str] | None:
        engine, history = self.engine, self.engine.history
        pending = engine.pending
        n_small = len(history.at("small")) + sum(s == "small" for _, s in pending)
        n_large = len(history.at("large")) + sum(s == "large" for _, s in pending)
        committed = self.committed()
        reserve = self.cost("large") if self.reserve else 0.0  # nan while unmeasured
        if n_small < engine.n_initial_points and not engine.exhausted("small"):
            # The initial design leaves the held-back large run's cost (when known).
            if self._fits("small", committed + (0.0 if math.isnan(reserve) else reserve)):
                return engine.ask("small"), "small"
            return None if pending else self._finish()
        if n_large == 0 and not self.costs.known("large", history):
            # Measured costs: the first large run (the small winner) times the large scale.
            if not any(t.ok for t in history.at("small")) and pending:
                return None  # the first large run waits for a small-scale result
            if self._fits("large", committed):
                return engine.ask("large"), "large"
            return None if pending else self._finish()
        if math.isnan(reserve):
            return None  # the first large-scale run is still being timed
        if engine.exhausted("large"):
            if self.reserve:
                logger.warning(
                    "every point of the search space has been run, or is running, at large "
                    "scale: the run ends with %g of the budget of %g %s spent.",
                    self.spent, self.total, self.costs.unit,
                )  # fmt: skip
                self.reserve = False
            return None if pending else self._finish()
        affordable = {
            s: self.cost(s)
            for s in SCALES
            if not math.isnan(self.cost(s))
            and committed + self.cost(s) + reserve <= self.total
            and not engine.exhausted(s)
        }
        if affordable:
            return engine.ask_scale(affordable, **self.placement)
        return None if pending else self._finish()

    def _fits(self, scale: str, committed: float) -> bool:
        """Whether one more run at ``scale`` fits; an unmeasured scale's first run is
        always made (it measures the cost), one at a time."""
        cost = self.cost(scale)
        if math.isnan(cost):
            return not any(s == scale for _, s in self.engine.pending)
        return committed + cost <= self.total

    def _finish(self) -> tuple[list[Any], str] | None:
        """Spend the reserve: evaluate the recommendation, or run one more step."""
        if not self.reserve:
            self.finished = True
            return None
        self.reserve = False
        engine, history = self.engine, self.engine.history
        first = not history.at("large") and not any(s == "large" for _, s in engine.pending)
        # The only large run (a tight budget) is the first one: the small winner, as always.
        rec = (engine.transfer_point() if first else None) or engine.recommend()
        space = engine.space
        done = {tuple(u.tolist()) for u in space.to_unit([t.params for t in history.at("large")])}
        # False on reopening a finished run; an unmeasured large cost: the first large
        # run is always made (it measures the cost).
        fits = self.committed() + self.cost("large") <= self.total or (
            first and math.isnan(self.cost("large"))
        )
        if rec is not None and fits and tuple(space.to_unit([rec])[0].tolist()) not in done:
            logger.info("evaluating the recommendation %s at large scale", rec)
            return engine.claim(rec, "large"), "large"
        return self._next()
