"""The three façades over :class:`~scaleup_bo.engine.Engine`: they run at construction.

:class:`SmallScaleOptimizer` and :class:`LargeScaleOptimizer` loop over one objective,
as the seed package's classes did; :class:`ScaleUpOptimizer` loops over both under a
cost budget, letting its scale chooser pick the scale of every run. Every loop is
:func:`scaleup_bo.runner.run`; every expert setting is the
:class:`~scaleup_bo.strategy.Strategy`'s.

Example:
    >>> from skopt.space import Real, Integer
    >>> space = [Real(-2.0, 2.0, name="x"), Integer(0, 5, name="k")]
    >>> small = SmallScaleOptimizer(lambda p: (p[0] - 0.3) ** 2 + p[1], space,
    ...                             n_steps=5, random_state=0)
    >>> large = LargeScaleOptimizer(lambda p: (p[0] - 0.5) ** 2 + p[1], space,
    ...                             small=small, n_steps=3, random_state=0)
    >>> large.best_score <= large.Y_iters[0]
    True
"""

from __future__ import annotations

import logging
import math
import numbers
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from scaleup_bo._validate import (
    check_callable,
    check_count,
    check_points,
    check_table,
    is_table,
    space_difference,
)
from scaleup_bo.acquisition import COST_AWARE, AcquisitionBuilder
from scaleup_bo.cost import Budget, Costs, InformationPerCost
from scaleup_bo.engine import DEFAULT_ACQ, Engine
from scaleup_bo.exceptions import DataError, SpaceExhaustedError
from scaleup_bo.history import History, Trial, read_table
from scaleup_bo.journal import JournalFile
from scaleup_bo.runner import plan, run
from scaleup_bo.space import SearchSpace
from scaleup_bo.strategy import Strategy, from_keywords

__all__ = ["LargeScaleOptimizer", "ScaleUpOptimizer", "SmallScaleOptimizer"]

logger = logging.getLogger("scaleup_bo")

Objective = Callable[[list[Any]], float]
Journal = str | os.PathLike[str] | JournalFile | None
Catch = type[BaseException] | tuple[type[BaseException], ...]


class _Facade:
    """Results and run loop of an optimizer of one scale.

    A run is a *plan*: an ordered list of steps that each produce one trial (tell a known
    result, evaluate a given point, or evaluate a proposal). With a journal, the trials
    already recorded stand for the first steps, which are checked against the plan and
    skipped: a resumed run neither loses nor repeats an evaluation.
    """

    engine: Engine
    _scale: str
    _callback: Callable[[Trial], Any] | None = None
    _n_parallel: int = 1

    @property
    def history(self) -> History:
        """Every trial at both scales, in order (failures included)."""
        return self.engine.history

    @property
    def result(self) -> History:
        """Alias of :attr:`history`."""
        return self.engine.history

    @property
    def space(self) -> SearchSpace:
        """The :class:`~scaleup_bo.space.SearchSpace` adapter."""
        return self.engine.space

    @property
    def strategy(self) -> Strategy:
        """The run's :class:`~scaleup_bo.strategy.Strategy` (role defaults filled in)."""
        return self.engine.strategy

    @property
    def model(self) -> Any:
        """The shared two-fidelity model as last fitted."""
        return self.engine.model

    @property
    def best_params(self) -> list[Any] | None:
        """Best observed point at this optimizer's scale (``None`` if every trial failed)."""
        best = self.engine.best(self._scale)
        return None if best is None else list(best.params)

    @property
    def best_score(self) -> float:
        """Best observed value at this optimizer's scale (``inf`` if every trial failed)."""
        best = self.engine.best(self._scale)
        return math.inf if best is None else float(best.value)  # type: ignore[arg-type]

    @property
    def X_iters(self) -> np.ndarray:
        """Successful evaluations at this scale: object array, one row each, user units."""
        return self.engine.history.X(self._scale)

    @property
    def Y_iters(self) -> np.ndarray:
        """Their values (float array), in evaluation order."""
        return self.engine.history.Y(self._scale)

    def _loop_options(self, n_parallel: int, callback: Callable[[Trial], Any] | None) -> None:
        self._n_parallel = check_count("n_parallel", n_parallel, minimum=1)
        if callback is not None:
            check_callable("callback", callback)
        self._callback = callback

    def _run(self, objective: Objective, steps: list[_Step], progress: bool) -> None:
        from tqdm.auto import tqdm

        engine = self.engine
        done = len(engine.history)
        for i, step in enumerate(steps[:done]):
            step.check_matches(engine.history[i], i)
        if done > len(steps):
            logger.warning(
                "the journal %s holds %d trials, more than the %d this run plans (smaller "
                "n_steps?): all are kept and nothing more is evaluated.",
                engine.journal.path if engine.journal else "", done, len(steps),
            )  # fmt: skip
        remaining = steps[done:]
        n_scale = sum(step.scale == self._scale for step in steps)
        bar = tqdm(
            total=n_scale,
            initial=n_scale - sum(step.scale == self._scale for step in remaining),
            desc=f"{self._scale}-scale",
            disable=not progress,
        )

        def on_trial(trial: Trial, evaluated: bool = True) -> None:
            if trial.scale == self._scale:
                bar.update(1)
                if math.isfinite(self.best_score):
                    bar.set_postfix(best=f"{self.best_score:.4g}")
            if evaluated and self._callback is not None:
                self._callback(trial)

        final = engine.strategy.final_acq_func if self._scale == "large" else None
        source = plan(
            engine, self._scale, [s.params for s in remaining if s.kind == "evaluate"],
            sum(s.kind == "ask" for s in remaining), final,
        )  # fmt: skip
        try:
            for step in remaining:
                if step.kind == "tell":  # a known result: no evaluation, no callback
                    on_trial(step.tell(engine), evaluated=False)
            run(
                engine, {self._scale: objective}, source, n_parallel=self._n_parallel,
                executor=engine.executor, on_trial=on_trial,
            )  # fmt: skip
        except KeyboardInterrupt as exc:
            # The constructor does not return: hand the trials recorded so far over.
            exc.history = engine.history  # type: ignore[attr-defined]
            logger.warning(
                "interrupted after %d trials; they are on the exception's .history%s",
                len(engine.history),
                "" if engine.journal is None else f" and in {engine.journal.path}",
            )
            raise
        finally:
            bar.close()


class _Step:
    """One planned trial: ``tell`` a known result, ``evaluate`` a point, or ``ask``."""

    def __init__(
        self, kind: str, scale: str, params: list[Any] | None = None, trial: Trial | None = None
    ) -> None:
        self.kind, self.scale, self.params, self.trial = kind, scale, params, trial

    def tell(self, engine: Engine) -> Trial:
        """Record a known result (without its hyperparameters: those of another run's fits,
        a small stage's own model say, are no start for this run's first fit)."""
        t = self.trial
        assert self.kind == "tell" and t is not None
        return engine.tell(t.params, t.value, t.scale, seconds=t.seconds, error=t.error)

    def check_matches(self, recorded: Trial, i: int) -> None:
        expected = self.trial.params if self.trial is not None else self.params
        same = recorded.scale == self.scale and (
            expected is None or tuple(recorded.params) == tuple(expected)
        )
        if self.trial is not None and self.trial.ok:
            same = same and recorded.value == self.trial.value
        if not same:
            raise DataError(
                f"the journal does not match this run: its trial {i} is {recorded.scale}-scale "
                f"{list(recorded.params)}, this run plans a {self.scale}-scale "
                f"{'proposal' if expected is None else list(expected)} there. "
                "Use a new journal file for a different run."
            )

    @classmethod
    def known(
        cls, points: Sequence[Sequence[Any]], values: Sequence[float], scale: str
    ) -> list[_Step]:
        """Steps recording known results (no evaluation)."""
        return [
            cls("tell", scale, trial=Trial(0, tuple(p), v, scale))
            for p, v in zip(points, values, strict=True)
        ]

    @classmethod
    def of_trial(cls, trial: Trial) -> _Step:
        return cls("tell", trial.scale, trial=trial)


class SmallScaleOptimizer(_Facade):
    """Bayesian optimization of the small-scale system (runs at construction).

    Args:
        objective_func: ``f(params) -> float`` to minimize; ``params`` is a list of
            Python values in search-space order.
        search_space: skopt dimensions (``Real``, ``Integer``, ``Categorical``,
            shorthand tuples/lists, or a ``skopt.space.Space``).
        acq_func: Acquisition name or callable (see :mod:`scaleup_bo.acquisition`).
        n_steps: Model-guided evaluations after the initial ones.
        n_initial_points: Space-filling evaluations before the model is used.
        initial_points: Points to evaluate first instead of the space-filling ones; or,
            with ``initial_scores`` or as a table (DataFrame, ``.csv``/``.json`` path, list
            of dict records with a score column), known results recorded, not evaluated.
        random_state: Seed for reproducible runs.
        acq_func_kwargs: Options of the acquisition function.
        initial_scores: Known values of ``initial_points``.
        score_column: Score column of a table given as ``initial_points``.
        strategy: Expert settings (:class:`~scaleup_bo.strategy.Strategy`).
        journal: JSON-lines file recording every trial as it finishes; constructing the
            optimizer again with the same file resumes the run.
        catch: Objective exceptions recorded as failed trials (default: every ``Exception``).
        max_consecutive_failures: Stop with ``TooManyFailuresError`` after this many
            failures in a row (``None``: never).
        n_parallel: Evaluations in flight at once.
        executor: Where evaluations run: a ``concurrent.futures.Executor`` or a
            ``dask.distributed.Client``; ``None``: here (in threads when ``n_parallel > 1``).
        progress: Show a progress bar.
        callback: Called with each trial this run evaluates (not with known results).

    Example:
        >>> opt = SmallScaleOptimizer(lambda p: (p[0] - 1) ** 2, [(-3.0, 3.0)],
        ...                           n_steps=5, random_state=0)
        >>> len(opt.Y_iters)
        6
    """

    _scale = "small"

    def __init__(
        self,
        objective_func: Objective,
        search_space: Any,
        acq_func: str | AcquisitionBuilder = DEFAULT_ACQ["small"],
        n_steps: int = 10,
        n_initial_points: int = 1,
        initial_points: Any = None,
        random_state: int | None = None,
        acq_func_kwargs: dict[str, Any] | None = None,
        *,
        initial_scores: Sequence[float] | None = None,
        score_column: str | None = None,
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
        check_callable("objective_func", objective_func)
        strategy = from_keywords(strategy, deprecated, "SmallScaleOptimizer")
        self.n_steps = check_count("n_steps", n_steps)
        n_initial_points = check_count("n_initial_points", n_initial_points)
        self.search_space = search_space
        self.objective_func = objective_func
        space = SearchSpace(search_space)
        steps: list[_Step] = []
        if initial_points is not None:
            n_initial_points = 0  # given points replace the space-filling ones
        if is_table(initial_points) and initial_scores is not None:
            raise DataError(
                "initial_scores was given with a table as initial_points: the table's own "
                "score column is used (score_column=). Give initial_scores with a list of "
                "points, or put the scores in the table."
            )
        if is_table(initial_points):
            points, scores = read_table(
                initial_points, space, score_column=score_column, scale="small"
            )
            steps += _Step.known(points, scores, "small")
        elif initial_points is not None and initial_scores is not None:
            points, scores = check_table(
                space, initial_points, initial_scores, "initial_points", "initial_scores"
            )
            steps += _Step.known(points, scores, "small")
        elif initial_points is not None:
            points = check_points(space, initial_points, "initial_points")
            steps += [_Step("evaluate", "small", p) for p in points]
        elif initial_scores is not None:
            raise DataError("initial_scores was given without initial_points.")
        steps += [_Step("ask", "small") for _ in range(n_initial_points + self.n_steps)]
        self._loop_options(n_parallel, callback)
        self.engine = Engine(
            space, strategy=strategy, acq_func=acq_func, acq_func_kwargs=acq_func_kwargs,
            n_initial_points=max(n_initial_points, 1), random_state=random_state,
            journal=journal, catch=catch, max_consecutive_failures=max_consecutive_failures,
            executor=executor,
        )  # fmt: skip
        self._run(objective_func, steps, progress)


class LargeScaleOptimizer(_Facade):
    """Bayesian optimization of the large-scale system, warm-started by the small one.

    First evaluates ``best_params`` (the small-scale winner) at large scale, then
    ``n_steps`` proposals on a model of every small- and large-scale observation (the
    strategy's ``large_model``, ``"auto"`` by default), the last of them the model's best
    guess (the strategy's ``final_acq_func``, ``"PM"``).

    Args:
        objective_func: Large-scale ``f(params) -> float`` to minimize.
        search_space: The same dimensions as the small stage.
        best_params: First point to evaluate (default: the best small-scale point).
        X_iters_small: Small-scale points (list of lists or 2-D array).
        Y_iters_small: Their values.
        acq_func: Acquisition name or callable (default ``"qNEI"``).
        n_steps: Model-guided evaluations after the first one.
        random_state: Seed.
        acq_func_kwargs: Options of the acquisition function.
        small: Instead of the three arrays: a finished :class:`SmallScaleOptimizer`, a
            :class:`~scaleup_bo.history.History` or the path of a saved one (failures
            included), or a results table (DataFrame, ``.csv``/``.json`` path, list of dict
            records: one column per dimension plus a score column).
        score_column: Score column of a table given as ``small``.
        strategy: Expert settings (default: ``Strategy()`` with the small stage's
            ``small_fidelity`` when ``small`` records one).
        journal, catch, max_consecutive_failures, n_parallel, executor, progress,
            callback: As for :class:`SmallScaleOptimizer` (``callback`` is not called for
            the small-scale data).

    Example:
        >>> small = SmallScaleOptimizer(lambda p: (p[0] - 1) ** 2, [(-3.0, 3.0)],
        ...                             n_steps=5, random_state=0)
        >>> large = LargeScaleOptimizer(lambda p: (p[0] - 1.2) ** 2, [(-3.0, 3.0)],
        ...                             small=small, n_steps=3, random_state=0)
        >>> len(large.Y_iters)
        4
    """

    _scale = "large"

    def __init__(
        self,
        objective_func: Objective,
        search_space: Any,
        best_params: Sequence[Any] | None = None,
        X_iters_small: Any = None,
        Y_iters_small: Any = None,
        acq_func: str | AcquisitionBuilder = DEFAULT_ACQ["large"],
        n_steps: int = 10,
        random_state: int | None = None,
        acq_func_kwargs: dict[str, Any] | None = None,
        *,
        small: Any = None,
        score_column: str | None = None,
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
        check_callable("objective_func", objective_func)
        given = strategy is not None or "small_fidelity" in deprecated
        strategy = from_keywords(strategy, deprecated, "LargeScaleOptimizer")
        self.n_steps = check_count("n_steps", n_steps)
        self.search_space = search_space
        self.objective_func = objective_func
        space = SearchSpace(search_space)
        steps, recorded = _small_steps(space, small, X_iters_small, Y_iters_small, score_column)
        if recorded is not None and not given:
            strategy = strategy.replace(small_fidelity=recorded)
        if best_params is None:
            known = [s.trial for s in steps if s.trial is not None and s.trial.ok]
            small_known = [t for t in known if t.scale == "small"]
            if not small_known:
                raise DataError(
                    "best_params is missing and there is no successful small-scale result "
                    "to take it from."
                )
            best_params = list(min(small_known, key=lambda t: t.value).params)  # type: ignore[arg-type, return-value]
        first = check_points(space, [best_params], "best_params")[0]
        steps.append(_Step("evaluate", "large", first))
        steps += [_Step("ask", "large") for _ in range(self.n_steps)]
        self._loop_options(n_parallel, callback)
        self.engine = Engine(
            space, strategy=strategy, acq_func=acq_func, acq_func_kwargs=acq_func_kwargs,
            random_state=random_state, journal=journal, catch=catch,
            max_consecutive_failures=max_consecutive_failures, executor=executor,
        )  # fmt: skip
        self._run(objective_func, steps, progress)


def _small_steps(
    space: SearchSpace, small: Any, X: Any, Y: Any, score_column: str | None
) -> tuple[list[_Step], float | None]:
    """The known small-scale results of a large stage, as steps, and the small fidelity
    they were modelled at (when their source records it)."""
    if small is not None and (X is not None or Y is not None):
        raise DataError("give either small= or X_iters_small/Y_iters_small, not both.")
    if isinstance(small, (str, os.PathLike)) and History.is_saved(small):
        small = History.load(small)
    if isinstance(small, SmallScaleOptimizer):
        if small.space != space:
            raise DataError(
                "small was run on another search space: "
                + space_difference(small.space.describe(), space.describe())
            )
        return [_Step.of_trial(t) for t in small.history], small.strategy.small_fidelity
    if isinstance(small, History):
        recorded = small.metadata.get("search_space")
        if recorded is not None and recorded != space.describe():
            raise DataError(
                "small is a History of another search space: "
                + space_difference(recorded, space.describe())
            )
        return [_Step.of_trial(t) for t in small], small.metadata.get("small_fidelity")
    if is_table(small):
        points, scores = read_table(small, space, score_column=score_column, scale="small")
        return _Step.known(points, scores, "small"), None
    if small is not None:
        raise DataError(
            "small must be a SmallScaleOptimizer, a History or a results table "
            f"(DataFrame, .csv/.json path, list of records), got {type(small).__name__}."
        )
    if X is not None or Y is not None:
        points, scores = check_table(space, X, Y, "X_iters_small", "Y_iters_small")
        return _Step.known(points, scores, "small"), None
    return [], None


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
        if isinstance(budget, bool) or not isinstance(budget, numbers.Real):
            raise DataError(f"budget must be a positive number, got {budget!r}.")
        if not (math.isfinite(float(budget)) and budget > 0):
            raise DataError(f"budget must be a positive finite number, got {budget!r}.")
        if isinstance(acq_func, str) and acq_func not in COST_AWARE:
            raise DataError(
                f"acq_func must be a cost-aware acquisition ({', '.join(COST_AWARE)}) or a "
                f"callable, got {acq_func!r}."
            )
        strategy = from_keywords(strategy, deprecated, "ScaleUpOptimizer", chooser=True)
        self.budget = float(budget)
        self.costs = Costs(cost_small, cost_large)
        n_initial_points = check_count("n_initial_points", n_initial_points, minimum=1)
        self._check_room(n_initial_points)
        self.search_space = search_space
        self.objectives = {"small": objective_small, "large": objective_large}
        self._loop_options(n_parallel, callback)
        self.engine = Engine(
            search_space, strategy=strategy.resolved("scale_up"), acq_func=acq_func,
            acq_func_kwargs=acq_func_kwargs, n_initial_points=n_initial_points,
            random_state=random_state, journal=journal, catch=catch,
            max_consecutive_failures=max_consecutive_failures, executor=executor,
        )  # fmt: skip
        chooser = self.engine.strategy.scale_chooser
        if chooser is None or isinstance(chooser, InformationPerCost):
            chooser = chooser or InformationPerCost()
            placement = {"large_acq_func": chooser.large_acq_func,
                         "small_acq_func": chooser.small_acq_func}  # fmt: skip
        else:  # a custom chooser's large runs are placed as the default's are
            placement = {"large_acq_func": DEFAULT_ACQ["large"]}
        self._budget = Budget(self.budget, self.costs, self.engine, placement)
        self.overhead: list[float] = []
        if self.spent > self.budget * (1 + 1e-9):
            logger.warning(
                "the journal's runs already cost %g %s, over the budget of %g: nothing more "
                "is evaluated.",
                self.spent, self.costs.unit, self.budget,
            )  # fmt: skip
        if objective_small is not None:
            self._run_budget(progress)

    def _check_room(self, n_initial_points: int) -> None:
        if self.costs.given is None:
            return
        small_cost, large_cost = self.costs.given["small"], self.costs.given["large"]
        if self.budget < small_cost + large_cost:
            raise DataError(
                f"budget {self.budget:g} cannot pay for one small-scale run and one large-scale "
                f"run ({small_cost:g} + {large_cost:g}): a cost-aware run needs both."
            )
        room = int((self.budget - large_cost) // small_cost)
        if room < n_initial_points:
            logger.warning(
                "budget %g leaves room for %d of the n_initial_points=%d small-scale runs "
                "besides the large-scale run held back for the recommendation.",
                self.budget, room, n_initial_points,
            )  # fmt: skip

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
        try:
            step = self._budget.next()
        except SpaceExhaustedError as exc:
            logger.warning("%s The run ends here.", exc)
            self._budget.reserve, self._budget.finished = False, True
            return None
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
        except KeyboardInterrupt as exc:
            exc.history = self.engine.history  # type: ignore[attr-defined]
            logger.warning("interrupted after %d trials", len(self.engine.history))
            raise
        finally:
            bar.close()
