"""The ask/tell engine: the history of both scales, pending points, one step at a time.

:class:`Engine` coordinates the parts of a step, in one direction: the history is
encoded once (:mod:`scaleup_bo.data`), :mod:`scaleup_bo.selection` chooses and fits the
model, :mod:`scaleup_bo.proposal` turns it into a point (initial design, transfer of the
small winners, acquisition, final exploiting run), and the point is decoded into user
units. Every decision setting is the :class:`~scaleup_bo.strategy.Strategy`'s.

Example:
    >>> engine = Engine([(0.0, 1.0), ["a", "b"]], random_state=0)
    >>> engine.tell_many([[0.2, "a"], [0.7, "b"]], [1.0, 0.5], scale="small")
    >>> params = engine.ask(scale="large")
    >>> engine.tell(params, 0.4, scale="large").value
    0.4
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import gpytorch
import numpy as np
import torch

from scaleup_bo import proposal
from scaleup_bo._validate import (
    as_finite_float,
    check_callable,
    check_count,
    check_scale,
    check_seconds,
    check_seed,
    check_table,
)
from scaleup_bo.acquisition import (
    DEFAULT_ACQ,
    AcquisitionBuilder,
    exploits,
    per_scale,
    per_scale_record,
    resolve_acquisition,
)
from scaleup_bo.cost import InformationPerCost, ScaleChoiceContext, check_costs
from scaleup_bo.data import Encoder, StepData
from scaleup_bo.exceptions import DataError
from scaleup_bo.history import SCALES, History, Trial, read_table
from scaleup_bo.journal import Journal, JournalFile, open_journal
from scaleup_bo.model import LARGE_FIDELITY, MAX_CHOLESKY_SIZE, FitCache
from scaleup_bo.runner import FailurePolicy, plan, resolve_executor
from scaleup_bo.runner import run as run_loop
from scaleup_bo.selection import ModelChoice, ModelSelector
from scaleup_bo.space import SearchSpace
from scaleup_bo.strategy import Strategy, from_keywords

__all__ = ["DEFAULT_ACQ", "Engine"]

logger = logging.getLogger("scaleup_bo")


Objective = Callable[[list[Any]], float]
Acquisition = str | AcquisitionBuilder


class Engine:
    """Ask/tell Bayesian optimization over two scales with one shared model.

    Args:
        search_space: skopt dimensions (see :class:`~scaleup_bo.space.SearchSpace`).
        strategy: Every expert setting (:class:`~scaleup_bo.strategy.Strategy`).
        acq_func: A registered acquisition name or a callable
            ``(model, context) -> AcquisitionFunction``, for both scales, or a dict
            ``{"small": ..., "large": ...}``; ``None``: :data:`DEFAULT_ACQ`.
        acq_func_kwargs: Options of the acquisitions (``xi``, ``kappa``/``beta``, ...).
        n_initial_points: Successful observations (both scales together) collected from a
            space-filling design before the model proposes.
        random_state: Seed; the same seed and the same results give the same proposals.
        journal: A JSON-lines file path (or a :class:`~scaleup_bo.journal.JournalFile`):
            every finished trial is appended and fsynced; an existing one is resumed.
        catch: Objective exceptions :meth:`evaluate` records as failed trials and goes on
            after (default: every ``Exception``); others are recorded, then re-raised.
        max_consecutive_failures: :meth:`evaluate` raises ``TooManyFailuresError`` after
            this many of its evaluations failed in a row (``None``: never).
        executor: Default executor of :meth:`run`.
    """

    def __init__(
        self,
        search_space: Any,
        *,
        strategy: Strategy | None = None,
        acq_func: Acquisition | Mapping[str, Acquisition] | None = None,
        acq_func_kwargs: dict[str, Any] | None = None,
        n_initial_points: int = 1,
        random_state: int | None = None,
        journal: str | os.PathLike[str] | JournalFile | None = None,
        catch: type[BaseException] | tuple[type[BaseException], ...] = (Exception,),
        max_consecutive_failures: int | None = 10,
        executor: Any = None,
        **deprecated: Any,
    ) -> None:
        self.space = SearchSpace(search_space)
        self.strategy = from_keywords(strategy, deprecated, "Engine").resolved("large")
        self.acq_funcs, self.acq_func_kwargs = per_scale(acq_func, acq_func_kwargs)
        self.n_initial_points = check_count("n_initial_points", n_initial_points)
        self.failures = FailurePolicy(catch, max_consecutive_failures)
        resolve_executor(executor)  # fail now on something that is not an executor
        self.executor = executor
        seed = check_seed(random_state)
        self.random_state = seed if seed is not None else _fresh_seed()
        settings = {
            "strategy": self.strategy.to_dict(),
            "acq_func": per_scale_record(self.acq_funcs),
            "acq_func_kwargs": self.acq_func_kwargs,
            "n_initial_points": self.n_initial_points,
        }
        self._journal = None
        if journal is not None:
            run = {"search_space": self.space.describe(), "random_state": self.random_state}
            self._journal = open_journal(
                journal, run, settings, self.strategy, check_seed=seed is not None
            )
            self.random_state = int(self._journal.header["random_state"])
        self.history = History(
            metadata={
                "search_space": self.space.describe(),
                "random_state": self.random_state,
                "small_fidelity": self.strategy.small_fidelity,
                **settings,
            }
        )
        for trial in self._journal.trials if self._journal is not None else []:
            self.history.add(
                self.space.validate(trial.params), trial.value, trial.scale, status=trial.status,
                seconds=trial.seconds, error=trial.error, hyperparameters=trial.hyperparameters,
            )  # fmt: skip
        self._pending = _Pending(self.space)
        self._encoder = Encoder(
            self.space, self.strategy.small_fidelity,
            impute_failures=self.strategy.impute_failures, winsorize=self.strategy.winsorize,
        )  # fmt: skip
        self._cache = FitCache(self.strategy.warm_fits)
        self._selector = ModelSelector(self.space, self.strategy, self._cache, self.history)
        #: The last large-scale proposal's model choice and its evidence.
        self.large_model_choice: dict[str, Any] = {}
        #: The negative-transfer guard's last comparison (leave-one-out errors).
        self.transfer: dict[str, Any] = {}
        #: The last exploiting model's evidence for interpolating the runs.
        self.interpolation: dict[str, Any] = {}
        #: The last :meth:`ask_scale` decision: the scale and the values compared.
        self.scale_choice: dict[str, Any] = {}

    # ------------------------------------------------------------------ tell
    def fidelity(self, scale: str) -> float:
        """Fidelity value of ``scale`` (``"small"`` or ``"large"``)."""
        check_scale(scale)
        return LARGE_FIDELITY if scale == "large" else self.strategy.small_fidelity

    def tell(
        self, params: Sequence[Any], y: Any, scale: str = "large", *, seconds: float = 0.0,
        error: str | None = None,
    ) -> Trial:  # fmt: skip
        """Record one evaluation; a ``y`` that is not a finite number (``None``, NaN, a
        string...) is a failed trial: kept, never proposed again, never modelled as a
        value (imputed at its scale's worst with ``impute_failures``).

        Returns:
            The recorded :class:`~scaleup_bo.history.Trial`.
        """
        check_scale(scale)
        point = self.space.validate(params)
        seconds = check_seconds(seconds)
        value, problem = as_finite_float(y)
        if error is None and problem is not None:
            error = f"objective returned {problem}"
        asked = self._pending.take(point, scale)  # the fits behind the proposal, if asked
        if asked is None:
            self._pending.warn_unasked(point, scale)
        ok = value is not None and error is None
        trial = self.history.add(
            point, value if ok else None, scale, status="ok" if ok else "failed",
            seconds=seconds, error=None if ok else error, hyperparameters=asked or None,
        )  # fmt: skip
        if self._journal is not None:
            self._journal.append(trial)
        if not ok:
            logger.warning("trial %d at %s scale failed: %s", trial.number, scale, trial.error)
        return trial

    def claim(self, params: Sequence[Any], scale: str = "large") -> list[Any]:
        """Mark a point chosen by the caller as pending (``ask`` does this for its own); a
        point already pending or evaluated at ``scale`` is claimed again (a replicate),
        with a warning. Returns the validated point."""
        check_scale(scale)
        point = self.space.validate(params)
        self._pending.claim(point, scale, self.history)
        return point

    def cancel(self, params: Sequence[Any], scale: str = "large") -> None:
        """Withdraw a pending point that will not be evaluated (``DataError`` if none)."""
        check_scale(scale)
        if self._pending.take(self.space.validate(params), scale) is None:
            raise DataError(f"{list(params)} is not pending at the {scale} scale.")

    @property
    def pending(self) -> list[tuple[list[Any], str]]:
        """Points asked for (or claimed) and not yet told or cancelled, with their scales."""
        return [(list(p), s) for p, s in self._pending.points]

    def tell_many(
        self, X: Any, Y: Any, scale: str = "small", *, names: tuple[str, str] = ("X", "Y")
    ) -> None:
        """Record ``n`` known results (``X``: points in user units, ``Y``: their values)."""
        rows, values = check_table(self.space, X, Y, *names)
        for row, value in zip(rows, values, strict=True):
            self.tell(row, value, scale)

    def tell_table(
        self, source: Any, scale: str = "small", *, score_column: str | None = None
    ) -> None:
        """Record the rows of a results table (see :func:`~scaleup_bo.history.read_table`)."""
        points, scores = read_table(source, self.space, score_column=score_column, scale=scale)
        for point, score in zip(points, scores, strict=True):
            self.tell(point, score, scale)

    def evaluate(self, objective: Objective, params: Sequence[Any], scale: str) -> Trial:
        """Call ``objective(params)``, time it, and :meth:`record` the outcome."""
        check_callable("objective", objective)
        point = self.space.validate(params)
        start = time.perf_counter()
        try:
            y = objective(list(point))
        except Exception as exc:
            return self.record(point, scale, None, time.perf_counter() - start, exc)
        return self.record(point, scale, y, time.perf_counter() - start, None)

    def record(
        self, params: Sequence[Any], scale: str, y: Any, seconds: float,
        exc: BaseException | None,
    ) -> Trial:  # fmt: skip
        """Tell an evaluation's outcome under the :attr:`failures` policy
        (:class:`~scaleup_bo.runner.FailurePolicy`)."""
        return self.failures.record(self, params, scale, y, seconds, exc)

    def run(
        self, objective: Objective, scale: str, points: Sequence[Sequence[Any]] = (),
        n_asks: int = 0, *, n_parallel: int = 1, executor: Any = None,
        callback: Callable[[Trial], Any] | None = None, final_acq_func: Any = "strategy",
    ) -> list[Trial]:  # fmt: skip
        """Evaluate ``points``, then ``n_asks`` proposals, at ``scale``, up to
        ``n_parallel`` at once on ``executor`` (a ``concurrent.futures.Executor`` or a Dask
        ``Client``; default: the engine's, else here). The last proposal of a large-scale
        run uses ``final_acq_func`` (default: the strategy's, ``"PM"``; ``None``: the
        engine's acquisition). Returns the trials in the order they finished."""
        check_scale(scale)
        if final_acq_func == "strategy":
            final_acq_func = self.strategy.final_acq_func if scale == "large" else None
        return run_loop(
            self, {scale: objective}, plan(self, scale, points, n_asks, final_acq_func),
            n_parallel=n_parallel, executor=self.executor if executor is None else executor,
            on_trial=callback,
        )  # fmt: skip

    # ------------------------------------------------------------------ ask
    def ask(
        self, scale: str = "large", n: int | None = None, *, acq_func: Acquisition | None = None
    ) -> Any:
        """Propose the next point (or a batch of ``n`` distinct ones) to evaluate at ``scale``.

        Until ``n_initial_points`` successful observations exist, points come from a
        space-filling design; at large scale the first ``transfer_points`` asks re-run the
        best small configurations; then the acquisition (``acq_func`` for this call, e.g.
        ``"PM"``) on the model :meth:`model_at` shows. A point tried (or pending) at that
        scale is never proposed again; a batch conditions each point on the ones before it.

        Returns:
            A point in user units (or a list of ``n``), pending until told.

        Raises:
            SpaceExhaustedError: every point of a discrete space has been tried at
                ``scale`` (:meth:`exhausted`), or fewer than ``n`` are left.
        """
        check_scale(scale)
        if n is not None:
            n = check_count("n", n, minimum=1)
            self._check_untried(scale, n)
            batch: list[Any] = []
            try:
                for _ in range(n):
                    batch.append(self.ask(scale, acq_func=acq_func))
            except BaseException:
                for point in batch:  # all or nothing: no half batch left pending
                    self._pending.take(point, scale)
                raise
            return batch
        if acq_func is not None:
            resolve_acquisition(acq_func)
        data = self._data()
        self._check_untried(scale, data=data)
        seed = self._step_seed(scale)
        point = self.transfer_point(data) if scale == "large" else None
        if point is None and data.n_ok >= max(self.n_initial_points, 1):
            with _seeded(seed):
                point = self._propose(data, scale, seed, acq_func)
        if point is None:
            n_design = len(self.history) + len(self._pending.points) + 64
            point = proposal.design_point(
                self.space, data.tried[scale], n_design, self.random_state
            )
        self._pending.add(point, scale, self._cache.hyperparameters(len(self.history)))
        return point

    def ask_scale(
        self, costs: Mapping[str, float], *, large_acq_func: Acquisition | None = None,
        small_acq_func: Acquisition | None = None,
    ) -> tuple[list[Any], str]:  # fmt: skip
        """Propose the next point *and* the scale to run it at, among those of ``costs``
        (the cost of one run at each). The strategy's ``scale_chooser`` decides
        (:class:`~scaleup_bo.cost.InformationPerCost` by default); once chosen, a large
        run re-runs the small winners first (``transfer_points``), and
        ``large_acq_func``/``small_acq_func`` place the point instead of the chooser.
        Until the model can be fitted, the cheapest scale gets a space-filling point.
        :attr:`scale_choice` records the values compared.

        Returns:
            ``(params, scale)``; the point is pending at that scale until told.
        """
        costs = check_costs(costs)
        chooser = self.strategy.scale_chooser or InformationPerCost()
        if isinstance(chooser, InformationPerCost):
            chooser.resolve(self.acq_funcs["large"])
        tried_whole = [s for s in costs if self.exhausted(s)]
        if len(tried_whole) == len(costs):
            self._check_untried(tried_whole[0])
        costs = {s: c for s, c in costs.items() if s not in tried_whole}
        cheapest = min(costs, key=lambda s: (costs[s], s != "small"))
        seed = self._step_seed("large")
        data = self._data()
        choice: tuple[list[Any] | None, str] | None = None
        if data.n_ok >= max(self.n_initial_points, 1):
            with _seeded(seed):
                if len(costs) > 1 and "large" in costs and self._small_misleads(data, seed):
                    costs, cheapest = {"large": costs["large"]}, "large"
                if len(costs) > 1:
                    context = ScaleChoiceContext(self, costs, seed, data)
                    choice = context.checked(chooser(context))
                elif "large" in costs:
                    choice = (None, "large")
                place = {"small": small_acq_func, "large": large_acq_func}
                transfer = self.transfer_point(data) if choice and choice[1] == "large" else None
                if transfer is not None:  # the first large runs re-run the small winners
                    choice = (transfer, "large")
                elif choice is not None and place[choice[1]] is not None:
                    point = self._propose(data, choice[1], seed, place[choice[1]])
                    choice = choice if point is None else (point, choice[1])
        if choice is None or choice[0] is None:
            scale = cheapest if len(costs) > 1 else next(iter(costs))
            self.scale_choice = {"scale": scale, "values": {}}
            return self.ask(scale), scale
        point, scale = choice
        self._pending.add(point, scale, self._cache.hyperparameters(len(self.history)))
        return point, scale

    def _small_misleads(self, data: StepData, seed: int) -> bool:
        """With ``transfer_guard``: whether the guard drops the small scale now (then no
        small-scale run is worth its cost either)."""
        if not self.strategy.transfer_guard or self._choose(data, "large", seed) is None:
            return False
        return self.transfer.get("uses_small_scale") is False

    def _propose(
        self, data: StepData, scale: str, seed: int, acq_func: Acquisition | None
    ) -> list[Any] | None:
        acq_func = acq_func or self.acq_funcs[scale]
        choice = self._choose(data, scale, seed, exploit=exploits(acq_func))
        if choice is None:
            return None
        return proposal.acquisition_point(
            acq_func, choice, data, scale, space=self.space, seed=seed,
            options=self.acq_func_kwargs, strategy=self.strategy,
        )  # fmt: skip

    def _choose(
        self, data: StepData, scale: str, seed: int, *, exploit: bool = False
    ) -> ModelChoice | None:
        """The selector's model for ``scale``, its evidence kept on the engine."""
        if scale == "large":  # this step's evidence, not a stale earlier one's
            self.large_model_choice, self.transfer = {}, {}
        choice = self._selector.choose(data, scale, seed, exploit=exploit)
        if choice is None:
            return None
        if scale == "large":
            self.large_model_choice, self.transfer = choice.large_model, choice.transfer
        if choice.interpolation is not None:
            self.interpolation = choice.interpolation
        return choice

    def transfer_point(self, data: StepData | None = None) -> list[Any] | None:
        """The next of the ``transfer_points`` first large-scale points (the best small
        configuration not within reach of one tried at large scale), or ``None``."""
        data = self._data() if data is None else data
        return proposal.transfer_point(
            self.space, self.history, self._encoder.unit(self.history), data.tried["large"],
            self.strategy.transfer_points,
        )  # fmt: skip

    def exhausted(self, scale: str) -> bool:
        """Whether every point of a discrete space has been tried (evaluated, failed or
        pending) at ``scale``, so :meth:`ask` has nothing left to propose there."""
        if self.space.n_points is None:  # a continuous space: no step data to build
            return False
        return proposal.untried_count(self.space, self._data().tried[scale]) == 0

    def _check_untried(self, scale: str, n: int = 1, *, data: StepData | None = None) -> None:
        if self.space.n_points is None:  # a continuous space never runs out
            return
        data = self._data() if data is None else data
        proposal.check_untried(self.space, data.tried[scale], scale, n)

    def _step_seed(self, scale: str) -> int:
        seq = np.random.SeedSequence(
            [self.random_state, len(self.history), len(self._pending.points), SCALES.index(scale)]
        )
        return int(seq.generate_state(1)[0] >> 1)

    def _data(self) -> StepData:
        return self._encoder.step(self.history, self._pending.points)

    # ------------------------------------------------------------------ model
    def training_data(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``train_X`` (``n x (d + 1)``, fidelity last) and ``train_Y`` (``n x 1``, ``-y``)
        of the shared model: every successful trial, and failed ones imputed."""
        data = self._data()
        return data.X, data.Y

    def fit(self, seed: int | None = None, *, noise_floor: float | None = None) -> Any:
        """The shared model fitted to :meth:`training_data` (cached until the next tell),
        or ``None`` without data or when the fit failed (logged)."""
        seed = self.random_state if seed is None else seed
        return self._selector.shared(self._data(), seed, noise_floor)

    def model_at(self, scale: str = "large", *, exploit: bool = False) -> tuple[Any, str] | None:
        """The model behind the next proposal at ``scale`` and its kind (``"shared"``,
        ``"multitask"``, ``"large_only"`` or ``"custom"``), fitted with the seed the next
        ``ask(scale)`` uses (so looking does not change the run); with ``exploit``, the one
        behind an exploiting proposal (``"PM"``, :meth:`recommend`). Its evidence is in
        :attr:`large_model_choice`, :attr:`transfer` and :attr:`interpolation`. ``None``
        when no model can be fitted yet."""
        check_scale(scale)
        seed = self._step_seed(scale)
        with _seeded(seed):
            choice = self._choose(self._data(), scale, seed, exploit=exploit)
        return None if choice is None else (choice.model, choice.kind)

    @property
    def model(self) -> Any:
        """The shared model as last fitted for exploring (``None`` before the first fit)."""
        return self._cache.latest("surrogate" if self.strategy.surrogate else "shared")

    @property
    def journal(self) -> Journal | None:
        """The journal recording this engine's trials, if any."""
        return self._journal

    @property
    def acq_func(self) -> Any:
        """The acquisition of each scale (one value when both are the same)."""
        return per_scale_record(self.acq_funcs, names=False)

    # ------------------------------------------------------------------ results
    def recommend(self, *, evaluated_only: bool = False) -> list[Any] | None:
        """The best large-scale point under the large-scale model refitted for exploiting:
        the largest posterior mean of ``-y`` among the large-scale runs and (unless
        ``evaluated_only``) that mean's maximizer. ``None`` when no model can be fitted
        (then use :meth:`best`)."""
        seed, data = self._step_seed("large"), self._data()
        with _seeded(seed):
            choice = self._choose(data, "large", seed, exploit=True)
            if choice is None:
                return None
            return proposal.recommendation(
                choice, data, self.history, space=self.space, seed=seed,
                strategy=self.strategy, evaluated_only=evaluated_only,
            )  # fmt: skip

    def best(self, scale: str) -> Trial | None:
        """Best successful trial at ``scale`` (``None`` when there is none)."""
        check_scale(scale)
        return self.history.best(scale)


class _Pending:
    """Points in flight with their scales, and the fits behind each proposal (recorded with
    its trial when told; ``None`` for claimed points)."""

    def __init__(self, space: SearchSpace) -> None:
        self.space = space
        self.points: list[tuple[tuple[Any, ...], str]] = []
        self._fits: list[dict[str, Any] | None] = []

    def add(self, point: Sequence[Any], scale: str, fits: dict[str, Any] | None) -> None:
        self.points.append((tuple(point), scale))
        self._fits.append(fits)

    def claim(self, point: Sequence[Any], scale: str, history: History) -> None:
        """Add a point chosen by the caller, with a warning when it is a replicate."""
        if self.index(point, scale) is not None:
            logger.warning(
                "claimed %s again while it is pending at the %s scale: it stays pending until "
                "told once per claim (or engine.cancel()led).",
                list(point), scale,
            )  # fmt: skip
        elif any(tuple(t.params) == tuple(point) for t in history.at(scale)):
            logger.warning(
                "claimed %s, already evaluated at the %s scale, again.", list(point), scale
            )
        self.add(point, scale, None)

    def index(self, point: Sequence[Any], scale: str) -> int | None:
        """The pending point at ``scale`` that ``point`` reports on (the nearest within
        float rounding, 1e-4 in unit-cube coordinates), or ``None``."""
        at = [i for i, (_, s) in enumerate(self.points) if s == scale]
        if not at:
            return None
        U = self.space.to_unit([point] + [self.points[i][0] for i in at])
        gaps = (U[1:] - U[0]).abs().max(dim=-1).values
        k = int(gaps.argmin())
        return at[k] if float(gaps[k]) <= 1e-4 else None

    def take(self, point: Sequence[Any], scale: str) -> dict[str, Any] | None:
        """Forget the pending point ``point`` reports on: its fits (``{}`` when none were
        kept), or ``None`` when no such point is pending."""
        i = self.index(point, scale)
        if i is None:
            return None
        del self.points[i]
        return self._fits.pop(i) or {}

    def warn_unasked(self, point: list[Any], scale: str) -> None:
        """Say what stays pending when a point that was not asked at ``scale`` is told."""
        elsewhere = [s for s in SCALES if s != scale and self.index(point, s) is not None]
        waiting = [list(p) for p, s in self.points if s == scale]
        if elsewhere:
            logger.warning(
                "told at the %s scale a point asked at the %s scale: %s. It is recorded at "
                "the %s scale; the %s-scale ask stays pending (its cost committed) until "
                "told or engine.cancel()led.",
                scale, elsewhere[0], list(point), scale, elsewhere[0],
            )  # fmt: skip
        elif waiting:
            logger.warning(
                "told a %s-scale point that was not asked for: %s. The asked points %s "
                "stay pending (their cost committed) until told or engine.cancel()led.",
                scale, list(point), waiting,
            )  # fmt: skip


def _fresh_seed() -> int:
    return int(np.random.SeedSequence().generate_state(1)[0] >> 1)


@contextlib.contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """Seed torch for one proposal (Monte-Carlo acquisitions' base samples, qNEI's
    baseline pruning) without touching the caller's RNG; exact solves up to
    ``MAX_CHOLESKY_SIZE`` points."""
    with torch.random.fork_rng(), gpytorch.settings.max_cholesky_size(MAX_CHOLESKY_SIZE):
        torch.manual_seed(seed)
        yield
