"""The cost-aware façade: :class:`ScaleUpOptimizer` runs both scales under one budget.

Every step its scale chooser (the strategy's ``scale_chooser``,
:class:`~scaleup_bo.cost.InformationPerCost` by default) picks the scale and the point,
:class:`~scaleup_bo.cost.Budget` keeps the run within the budget, and
:func:`scaleup_bo.runner.run` evaluates, as for the two stages (example: the class).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

from scaleup_bo._validate import check_callable, check_count
from scaleup_bo.acquisition import COST_AWARE, AcquisitionBuilder
from scaleup_bo.cost import Budget, Costs, check_budget
from scaleup_bo.engine import Engine
from scaleup_bo.exceptions import DataError
from scaleup_bo.history import Trial
from scaleup_bo.optimizers import Catch, Journal, Objective, _Facade
from scaleup_bo.runner import run
from scaleup_bo.strategy import Strategy, from_keywords

__all__ = ["DEFAULT_SCALEUP_ACQ", "ScaleUpOptimizer"]

logger = logging.getLogger("scaleup_bo")

#: Default acquisition of :class:`ScaleUpOptimizer`: information about the large-scale
#: optimum per unit of cost (MF-GIBBON was better on Currin, worse on Forrester and Branin).
DEFAULT_SCALEUP_ACQ = "MF-MES"


class ScaleUpOptimizer(_Facade):
    """Cost-aware optimization over both scales: every step chooses the scale too.

    Runs ``n_initial_points`` space-filling small-scale evaluations (and, when costs are
    measured, the small winner at large scale to time it), then lets the strategy's scale
    chooser (:class:`~scaleup_bo.cost.InformationPerCost` with ``acq_func``: information
    about the large-scale optimum per unit of cost) pick the scale and the point of each
    run while the budget allows. The first large-scale run is the small winner at that
    time. The cost of one large run is held back for the end: the best large-scale point
    under the model (:meth:`Engine.recommend`) is evaluated if it has not been (else one
    more model-chosen run). With ``objective_small=objective_large=None`` nothing runs:
    use :meth:`ask`/:meth:`tell`.

    Args:
        objective_small: Small-scale ``f(params) -> float`` to minimize (or ``None``).
        objective_large: Large-scale objective (or ``None``).
        search_space: skopt dimensions.
        budget: Total cost: in the units of ``cost_small``/``cost_large``, or in seconds of
            evaluation wall time when they are not given (the optimizer's own time is in
            :attr:`overhead`, not charged).
        cost_small: Cost of one small-scale run (give both costs, or neither).
        cost_large: Cost of one large-scale run.
        acq_func: The cost-aware acquisition: ``"MF-MES"`` (default), ``"MF-GIBBON"``,
            ``"MF-KG"``, or a callable ``(model, context) -> AcquisitionFunction`` that uses
            ``context.cost_utility``.
        acq_func_kwargs: Options of the acquisition.
        n_initial_points: Small-scale space-filling runs before the model chooses.
        random_state: Seed.
        strategy: Expert settings; its role defaults here: ``large_model="shared"``,
            ``transfer_guard=True``, ``exploit_large_alone=True``.
        journal, catch, max_consecutive_failures, n_parallel, executor, progress,
            callback: As for :class:`SmallScaleOptimizer` (failed runs cost too; the cost
            of the runs in flight is committed while they run).

    Attributes:
        best_params, best_score, X_iters, Y_iters: Large-scale results (observed).
        recommended_params: The large-scale point with the best posterior mean of those
            evaluated at large scale.
        costs: The :class:`~scaleup_bo.cost.Costs` (given or measured).
        overhead: Seconds the optimizer spent choosing each run.
        done: Whether the run is over (budget spent or space exhausted, nothing in flight).

    Example:
        >>> opt = ScaleUpOptimizer(lambda p: (p[0] - 0.3) ** 2, lambda p: (p[0] - 0.5) ** 2,
        ...                        [(-2.0, 2.0)], budget=40, cost_small=1, cost_large=10,
        ...                        n_initial_points=3, random_state=0)
        >>> opt.spent <= 40
        True
    """

    _scale = "large"

    def __init__(
        self,
        objective_small: Objective | None,
        objective_large: Objective | None,
        search_space: Any,
        budget: float,
        cost_small: float | None = None,
        cost_large: float | None = None,
        acq_func: str | AcquisitionBuilder = DEFAULT_SCALEUP_ACQ,
        acq_func_kwargs: dict[str, Any] | None = None,
        n_initial_points: int = 5,
        random_state: int | None = None,
        *,
        strategy: Strategy | None = None,
        journal: Journal = None,
        catch: Catch = (Exception,),
        max_consecutive_failures: int | None = 10,
        n_parallel: int = 1,
        executor: Any = None,
        progress: bool = False,
        callback: Callable[[Trial], Any] | None = None,
        **deprecated: Any,
    ) -> None:
        if (objective_small is None) != (objective_large is None):
            raise DataError("give both objectives (or neither, to drive the run by ask/tell).")
        if objective_small is not None:
            check_callable("objective_small", objective_small)
            check_callable("objective_large", objective_large)
        if isinstance(acq_func, str) and acq_func not in COST_AWARE:
            raise DataError(
                f"acq_func must be a cost-aware acquisition ({', '.join(COST_AWARE)}) or a "
                f"callable, got {acq_func!r}."
            )
        strategy = from_keywords(strategy, deprecated, "ScaleUpOptimizer", chooser=True)
        self.costs = Costs(cost_small, cost_large)
        n_initial_points = check_count("n_initial_points", n_initial_points, minimum=1)
        self.budget = check_budget(budget, self.costs, n_initial_points)
        self.search_space = search_space
        self.objectives = {"small": objective_small, "large": objective_large}
        self._loop_options(n_parallel, callback)
        self.engine = Engine(
            search_space, strategy=strategy.resolved("scale_up"), acq_func=acq_func,
            acq_func_kwargs=acq_func_kwargs, n_initial_points=n_initial_points,
            random_state=random_state, journal=journal, catch=catch,
            max_consecutive_failures=max_consecutive_failures, executor=executor,
        )  # fmt: skip
        self._budget = Budget(self.budget, self.costs, self.engine)
        self.overhead: list[float] = []
        if self.spent > self.budget * (1 + 1e-9):
            logger.warning(
                "the journal's runs already cost %g %s, over the budget of %g: nothing more "
                "is evaluated.",
                self.spent, self.costs.unit, self.budget,
            )  # fmt: skip
        if objective_small is not None:
            self._run_budget(progress)

    @property
    def spent(self) -> float:
        """Cost of every trial so far (failed ones included)."""
        return self._budget.spent

    def cost(self, scale: str) -> float:
        """Expected cost of the next run at ``scale`` (``nan`` while unmeasured)."""
        return self._budget.cost(scale)

    @property
    def recommended_params(self) -> list[Any] | None:
        """The large-scale point with the best posterior mean among those evaluated at
        large scale (the best observed one if the model cannot be fitted)."""
        rec = self.engine.recommend(evaluated_only=True)
        return rec if rec is not None else self.best_params

    def ask(self) -> tuple[list[Any], str] | None:
        """The next run as ``(params, scale)``, or ``None`` when the budget is spent (or,
        with runs in flight, when nothing more can be committed until one is told). The
        point is pending until :meth:`tell` (or ``engine.cancel``)."""
        start = time.perf_counter()
        step = self._budget.next()
        if step is not None:
            self.overhead.append(time.perf_counter() - start)
        return step

    @property
    def done(self) -> bool:
        """Whether the run is over: :meth:`ask` returned ``None`` with nothing in flight."""
        return self._budget.finished and not self.engine.pending

    def tell(
        self, params: Sequence[Any], y: Any, scale: str, *, seconds: float | None = None
    ) -> Trial:
        """Record a run. Without given costs, ``seconds`` (its wall time) is required: it
        is what the run cost."""
        if seconds is None and self.costs.measured:
            raise DataError(
                "costs are measured from wall times: pass seconds= (or give cost_small "
                "and cost_large to the constructor)."
            )
        n_pending, was_within = len(self.engine.pending), self.spent <= self.budget * (1 + 1e-9)
        trial = self.engine.tell(params, y, scale, seconds=0.0 if seconds is None else seconds)
        asked = len(self.engine.pending) < n_pending
        if not asked and was_within and self.spent > self.budget * (1 + 1e-9):
            logger.warning(
                "the runs told so far cost %g %s, over the budget of %g.",
                self.spent, self.costs.unit, self.budget,
            )  # fmt: skip
        return trial

    def _run_budget(self, progress: bool) -> None:
        from tqdm.auto import tqdm

        bar = tqdm(
            total=self.budget,
            initial=min(self.spent, self.budget),
            desc=f"budget ({self.costs.unit})",
            disable=not progress,
        )

        def on_trial(trial: Trial) -> None:
            bar.update(min(self.costs.trial_cost(trial), max(self.budget - bar.n, 0.0)))
            if math.isfinite(self.best_score):
                bar.set_postfix(best_large=f"{self.best_score:.4g}")
            if self._callback is not None:
                self._callback(trial)

        try:
            run(
                self.engine, self.objectives, lambda in_flight: self.ask(),  # type: ignore[arg-type]
                n_parallel=self._n_parallel, executor=self.engine.executor, on_trial=on_trial,
            )  # fmt: skip
        finally:
            bar.close()
