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
import os
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
from scaleup_bo.acquisition import AcquisitionBuilder
from scaleup_bo.engine import DEFAULT_ACQ, Engine
from scaleup_bo.exceptions import DataError
from scaleup_bo.history import History, Trial, read_table
from scaleup_bo.journal import JournalFile
from scaleup_bo.runner import Step, run_plan
from scaleup_bo.space import SearchSpace
from scaleup_bo.strategy import Strategy, from_keywords

__all__ = ["LargeScaleOptimizer", "ScaleUpOptimizer", "SmallScaleOptimizer"]

logger = logging.getLogger("scaleup_bo")

Objective = Callable[[list[Any]], float]
Journal = str | os.PathLike[str] | JournalFile | None
Catch = type[BaseException] | tuple[type[BaseException], ...]


class _Facade:
    """Results of an optimizer of one scale, and its run: a plan of steps that each
    produce one trial (:func:`~scaleup_bo.runner.run_plan`)."""

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

    def _run(self, objective: Objective, steps: list[Step], progress: bool) -> None:
        from tqdm.auto import tqdm

        n_scale = sum(step.scale == self._scale for step in steps)
        done = sum(step.scale == self._scale for step in steps[: len(self.history)])
        bar = tqdm(total=n_scale, initial=done, desc=f"{self._scale}-scale", disable=not progress)

        def on_trial(trial: Trial, evaluated: bool) -> None:
            if trial.scale == self._scale:
                bar.update(1)
                if math.isfinite(self.best_score):
                    bar.set_postfix(best=f"{self.best_score:.4g}")
            if evaluated and self._callback is not None:
                self._callback(trial)

        try:
            run_plan(
                self.engine, objective, self._scale, steps, n_parallel=self._n_parallel,
                on_trial=on_trial,
            )  # fmt: skip
        finally:
            bar.close()


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
        steps: list[Step] = []
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
            steps += Step.known(points, scores, "small")
        elif initial_points is not None and initial_scores is not None:
            points, scores = check_table(
                space, initial_points, initial_scores, "initial_points", "initial_scores"
            )
            steps += Step.known(points, scores, "small")
        elif initial_points is not None:
            points = check_points(space, initial_points, "initial_points")
            steps += [Step("evaluate", "small", p) for p in points]
        elif initial_scores is not None:
            raise DataError("initial_scores was given without initial_points.")
        steps += [Step("ask", "small") for _ in range(n_initial_points + self.n_steps)]
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
        steps.append(Step("evaluate", "large", first))
        steps += [Step("ask", "large") for _ in range(self.n_steps)]
        self._loop_options(n_parallel, callback)
        self.engine = Engine(
            space, strategy=strategy, acq_func=acq_func, acq_func_kwargs=acq_func_kwargs,
            random_state=random_state, journal=journal, catch=catch,
            max_consecutive_failures=max_consecutive_failures, executor=executor,
        )  # fmt: skip
        self._run(objective_func, steps, progress)


def _small_steps(
    space: SearchSpace, small: Any, X: Any, Y: Any, score_column: str | None
) -> tuple[list[Step], float | None]:
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
        return [
            Step("tell", t.scale, trial=t) for t in small.history
        ], small.strategy.small_fidelity
    if isinstance(small, History):
        recorded = small.metadata.get("search_space")
        if recorded is not None and recorded != space.describe():
            raise DataError(
                "small is a History of another search space: "
                + space_difference(recorded, space.describe())
            )
        return Step.of_trials(small), small.metadata.get("small_fidelity")
    if is_table(small):
        points, scores = read_table(small, space, score_column=score_column, scale="small")
        return Step.known(points, scores, "small"), None
    if small is not None:
        raise DataError(
            "small must be a SmallScaleOptimizer, a History or a results table "
            f"(DataFrame, .csv/.json path, list of records), got {type(small).__name__}."
        )
    if X is not None or Y is not None:
        points, scores = check_table(space, X, Y, "X_iters_small", "Y_iters_small")
        return Step.known(points, scores, "small"), None
    return [], None


# Importable from here too, beside the two stages.
from scaleup_bo.scaleup import ScaleUpOptimizer  # noqa: E402
