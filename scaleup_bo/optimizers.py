"""The ask/tell engine and the three façades over it.

:class:`Engine` owns the history of both scales and the shared two-fidelity model;
:class:`SmallScaleOptimizer` and :class:`LargeScaleOptimizer` only loop over an
objective, as the seed package's classes did (they run at construction);
:class:`ScaleUpOptimizer` loops over both objectives under a cost budget, letting
:meth:`Engine.ask_scale` choose the scale of every run.

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

import contextlib
import functools
import logging
import math
import numbers
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import gpytorch
import numpy as np
import torch
from botorch.acquisition import PosteriorMean
from torch import Tensor

from scaleup_bo.acquisition import (
    COST_AWARE,
    AcquisitionBuilder,
    AcquisitionContext,
    acquisition_value,
    build_acquisition,
    check_options,
    exploits,
    fresh_points,
    propose,
    resolve_acquisition,
    unit_key,
)
from scaleup_bo.cost import Costs, cost_utility
from scaleup_bo.exceptions import (
    AcquisitionError,
    DataError,
    SpaceExhaustedError,
    TooManyFailuresError,
)
from scaleup_bo.history import SCALES, History, Journal, Trial, read_table
from scaleup_bo.model import (
    AUTO_MAX_SCALE_RATIO as AUTO_MAX_SCALE_RATIO,  # re-exported: defined here until stop 21
)
from scaleup_bo.model import (
    AUTO_SCALE_RATIO as AUTO_SCALE_RATIO,
)
from scaleup_bo.model import (
    DEFAULT_SMALL_FIDELITY,
    EXPLOIT_NOISE_FLOOR,
    KERNELS,
    LARGE_FIDELITY,
    LARGE_MODELS,
    MAX_CHOLESKY_SIZE,
    Kernel,
    LargeModel,
    check_noise_floor,
    fit_model,
    hyperparameters,
    interpolating,
    loo_predictions,
    multitask_evidence,
    winsorize_targets,
)
from scaleup_bo.parallel import evaluate_in_parallel, log_exhausted, resolve_executor, thread_pool
from scaleup_bo.space import SearchSpace

__all__ = ["Engine", "LargeScaleOptimizer", "ScaleUpOptimizer", "SmallScaleOptimizer"]

logger = logging.getLogger("scaleup_bo")

#: Large-scale points needed before the negative-transfer guard compares models.
GUARD_MIN_LARGE = 4
#: With ``impute_failures``: successful trials a scale needs before its failed ones are
#: shown to the model at its worst value (the worst of one value is the best one).
IMPUTE_MIN_OK = 3
#: With ``large_model="multitask"``: large-scale points needed before the MultiTaskGP
#: proposes (the screen's setting: the first runs come from the shared model).
MULTITASK_MIN_LARGE = 3
#: The guard drops the small scale only when the large-only model's leave-one-out
#: error is below this fraction of the shared model's: a wrong switch costs a wild
#: exploratory run (a GP on a few points), a wrong stay costs little.
GUARD_RATIO = 0.5
#: ScaleUpOptimizer's guard ratio: plain leave-one-out model selection. There the
#: guard also decides whether small runs are still worth paying for, and on the
#: negative-transfer problem the 0.5 margin kept an uninformative small scale in the
#: model (README, cost-aware benchmark).
SCALEUP_GUARD_RATIO = 1.0

#: Default acquisition of LargeScaleOptimizer (and of the benchmark's scaleup_bo):
#: qLogNEI beat LogEI on the benchmark's large stage (docs/choosing_the_defaults.md).
DEFAULT_LARGE_ACQ = "qNEI"
#: Acquisition of ``LargeScaleOptimizer``'s last proposal: the posterior mean (exploit).
DEFAULT_FINAL_ACQ = "PM"

#: Distance (times sqrt of the number of unit-encoded columns) between the
#: small-scale configurations that ``transfer_points`` sends to the large scale.
TRANSFER_RADIUS = 0.3

Objective = Callable[[list[Any]], float]


def _log_changed_options(journal: Journal, options: dict[str, Any]) -> None:
    """Log the model options of this run that differ from those a journal was started
    with (they apply from now on); a journal without them (older) is not compared."""
    changed = [
        f"{key}={options[key]!r} (the journal was written with {recorded!r})"
        for key, recorded in journal.differences(options).items()
    ]
    if changed:
        logger.warning(
            "resuming %s with other model options than it was started with, used from "
            "now on: %s",
            journal.path, "; ".join(changed),
        )  # fmt: skip


class Engine:
    """Ask/tell Bayesian optimization over two scales with one shared model.

    Args:
        search_space: skopt dimensions (see :class:`~scaleup_bo.space.SearchSpace`).
        small_fidelity: Fidelity value of the small scale, in ``[0, 1)``; the large
            scale is ``1.0``.
        acq_func: A registered acquisition name (``"EI"``, ``"PI"``, ``"UCB"``,
            ``"qNEI"``, ``"KG"``, ``"MES"``, ``"PM"``; the cost-aware ``"MF-MES"``,
            ``"MF-GIBBON"``, ``"MF-KG"`` for :meth:`ask_scale`) or a callable
            ``(model, context) -> AcquisitionFunction``.
        acq_func_kwargs: Options for the acquisition (``xi``, ``kappa``/``beta``,
            ``num_fantasies``, ``num_candidates``).
        n_initial_points: Successful observations (both scales together) collected
            from a space-filling design before the model proposes.
        random_state: Seed; the same seed and the same results give the same proposals.
        kernel: Fidelity kernel of the shared model (``"linear_truncated"`` or
            ``"downsampling"``).
        num_restarts: Gradient restarts of the acquisition optimizer.
        raw_samples: Random points used to choose those restarts.
        journal: Path of a JSON-lines journal. Every finished trial is appended and
            fsynced before the next proposal; if the file exists, its trials are
            loaded first (resume) — it must have been written for the same search
            space, small fidelity and (when given) random state.
        catch: Exception types raised by the objective that :meth:`evaluate` records
            as failed trials and continues after (default: every ``Exception``).
            Others are recorded as failed and re-raised; ``KeyboardInterrupt`` is
            never caught and leaves no trial behind.
        max_consecutive_failures: :meth:`evaluate` raises
            :class:`~scaleup_bo.exceptions.TooManyFailuresError` after this many
            failed evaluations in a row (``None``: never). Only this engine's
            evaluations count: trials it is told (carried-over small-scale data, a
            resumed journal) do not.
        executor: Default executor of :meth:`run` (a ``concurrent.futures.Executor``
            or a ``dask.distributed.Client``); ``None`` evaluates in this process.
        transfer_points: Until this many large-scale trials exist (pending ones
            included), large-scale asks return the best small-scale configurations
            that lie at least ``TRANSFER_RADIUS * sqrt(columns)`` (unit encoding) from
            every configuration tried at large scale: the small winner, then the best
            of other basins. ``1`` (default): only the winner; ``0``: the model from
            the start. The benchmark chose 1: 3 won on Forrester and Branin and lost
            on Currin, the mixed toy and the unrelated problem (README).
        transfer_guard: Negative-transfer guard (see :meth:`_guard`); off by default
            because the benchmark did not show a gain.
        guard_ratio: The guard drops the small scale when the large-only model's
            leave-one-out error is below this fraction of the shared model's
            (default ``GUARD_RATIO`` = 0.5; 1.0: whichever model predicts better).
        winsorize: Fit the models on the observed values with their bad tail clipped
            at ``Q3 + 1.5 IQR``, of all values and of the value's own scale (see
            :func:`~scaleup_bo.model.winsorize_targets`; the history keeps the observed
            values). For objectives with diverging runs; off by default
            (docs/choosing_the_defaults.md: it helped digits and Rosenbrock and lost on
            Forrester and the negative-transfer problem).
        impute_failures: Show the models each failed trial as the worst value observed
            at its scale (default ``True``), so a region where runs fail (invalid
            configurations, diverging training) is learned and left, instead of being
            proposed again and again next to the failed points. ``False``: failed
            trials are only kept out of the proposals. The history keeps them as
            failed either way.
        large_model: The model behind large-scale proposals and :meth:`recommend`:
            ``"shared"`` (default, the multi-fidelity GP) or ``"multitask"``, a
            ``MultiTaskGP`` of the same data that learns a mean, variance (scale factor)
            and noise per scale, used once ``MULTITASK_MIN_LARGE`` large-scale points
            exist. Its median regret was 30-70x lower on the benchmark's two mixed
            problems, whose large scale is the small one shifted, scaled and offset, and
            higher on the continuous ones (docs/choosing_the_defaults.md). ``"auto"``:
            at every large-scale step, the MultiTaskGP when the evidence says the scales
            differ by a scale factor, else the shared model; a chosen MultiTaskGP gives
            way to a GP of the large-scale points alone when that predicts them better
            (without ``transfer_guard``; with it, the guard checks the chosen model).
            See :meth:`_choose_large_model`; the choice is in :attr:`large_model_choice`.
        exploit_noise_floor: Lower bound of the inferred noise variance (of the
            standardized outcomes) in the model behind exploiting choices: proposals of
            the ``"PM"`` acquisition (``LargeScaleOptimizer``'s last run) and
            :meth:`recommend`. That model is fitted again to the same data with this
            floor (default ``EXPLOIT_NOISE_FLOOR`` = 1e-7) instead of BoTorch's 1e-4,
            which the exploring proposals keep: a noise-free objective is then
            interpolated closely enough to locate its optimum finely, while noisy
            data keep their fitted noise. The transfer guard and ``large_model`` choose
            the model with the exploring fits; the chosen one is refitted (and used as
            fitted for exploring if the refit fails). When the refit's data show no
            noise (the likelihood loses less than the information criterion's penalty
            by it), its noise is then pinned at ``INTERPOLATION_NOISE`` (1e-9) so that
            it interpolates the runs (:func:`~scaleup_bo.model.interpolating`; the
            evidence is in :attr:`interpolation`; ``exploit_interpolate=False`` keeps
            the refit as fitted). ``None``: the exploring model (docs/choosing_the_defaults.md).
        exploit_interpolate: Pin the exploiting refit's noise at
            ``INTERPOLATION_NOISE`` when its data show no noise (default ``True``; see
            ``exploit_noise_floor``). Without a refit (``exploit_noise_floor=None``)
            there is nothing to pin.
        exploit_large_alone: When the shared model's exploiting refit (for a
            large-scale choice) shows noise, so it cannot interpolate the runs, while a GP
            of the large-scale runs alone, refitted the same way, shows none, exploit with
            that GP (default ``False``; ``ScaleUpOptimizer`` turns it on).
            A noise-free objective whose two scales the shared model cannot reconcile
            gets a noise that smooths the large runs clustered around the optimum; their
            own GP interpolates them and locates the optimum finely. Needs
            ``exploit_interpolate`` and ``GUARD_MIN_LARGE`` observed large-scale runs;
            see :meth:`_exploit_large_alone` (docs/choosing_the_defaults.md).
        warm_fits: Start each model fit from the hyperparameters its model reached for
            the last proposal (recorded with that trial), for at most
            ``WARM_FIT_MAX_ITERATIONS`` (50) L-BFGS iterations (default ``True``): a step
            then fits in a fraction of the time. ``False``: every fit from BoTorch's
            initial values, run to convergence (the library before the 24th session;
            README, "Per-step time").

    Example:
        >>> engine = Engine([(0.0, 1.0), ["a", "b"]], random_state=0)
        >>> engine.tell_many([[0.2, "a"], [0.7, "b"]], [1.0, 0.5], scale="small")
        >>> params = engine.ask(scale="large")
        >>> engine.tell(params, 0.4, scale="large").value
        0.4
    """

    def __init__(
        self,
        search_space: Any,
        *,
        small_fidelity: float = DEFAULT_SMALL_FIDELITY,
        acq_func: str | AcquisitionBuilder = "EI",
        acq_func_kwargs: dict[str, Any] | None = None,
        n_initial_points: int = 1,
        random_state: int | None = None,
        kernel: Kernel = "linear_truncated",
        num_restarts: int = 10,
        raw_samples: int = 512,
        journal: str | os.PathLike[str] | None = None,
        catch: type[BaseException] | tuple[type[BaseException], ...] = (Exception,),
        max_consecutive_failures: int | None = 10,
        executor: Any = None,
        transfer_points: int = 1,
        transfer_guard: bool = False,
        guard_ratio: float = GUARD_RATIO,
        large_model: LargeModel = "shared",
        winsorize: bool = False,
        impute_failures: bool = True,
        exploit_noise_floor: float | None = EXPLOIT_NOISE_FLOOR,
        exploit_interpolate: bool = True,
        exploit_large_alone: bool = False,
        warm_fits: bool = True,
    ) -> None:
        self.space = SearchSpace(search_space)
        if isinstance(small_fidelity, bool) or not isinstance(small_fidelity, numbers.Real):
            raise DataError(f"small_fidelity must be a number in [0, 1), got {small_fidelity!r}.")
        if not 0.0 <= float(small_fidelity) < LARGE_FIDELITY:
            raise DataError(f"small_fidelity must lie in [0, 1), got {small_fidelity!r}.")
        self.small_fidelity = float(small_fidelity)
        resolve_acquisition(acq_func)  # fail now on an unknown name
        self.acq_func = acq_func
        self.acq_func_kwargs = check_options(acq_func, acq_func_kwargs)
        self.n_initial_points = _check_count("n_initial_points", n_initial_points)
        if kernel not in KERNELS:
            raise DataError(f"kernel must be one of {KERNELS}, got {kernel!r}.")
        self.kernel: Kernel = kernel
        if large_model not in LARGE_MODELS:
            raise DataError(f"large_model must be one of {LARGE_MODELS}, got {large_model!r}.")
        self.large_model: LargeModel = large_model
        if not isinstance(winsorize, bool):
            raise DataError(f"winsorize must be True or False, got {winsorize!r}.")
        self.winsorize = winsorize
        if not isinstance(impute_failures, bool):
            raise DataError(f"impute_failures must be True or False, got {impute_failures!r}.")
        self.impute_failures = impute_failures
        self.exploit_noise_floor = check_noise_floor(exploit_noise_floor, "exploit_noise_floor")
        if not isinstance(exploit_interpolate, bool):
            raise DataError(
                f"exploit_interpolate must be True or False, got {exploit_interpolate!r}."
            )
        self.exploit_interpolate = exploit_interpolate
        if not isinstance(exploit_large_alone, bool):
            raise DataError(
                f"exploit_large_alone must be True or False, got {exploit_large_alone!r}."
            )
        self.exploit_large_alone = exploit_large_alone
        if not isinstance(warm_fits, bool):
            raise DataError(f"warm_fits must be True or False, got {warm_fits!r}.")
        self.warm_fits = warm_fits
        self.num_restarts = _check_count("num_restarts", num_restarts, minimum=1)
        self.raw_samples = _check_count("raw_samples", raw_samples, minimum=1)
        self.catch = _check_catch(catch)
        resolve_executor(executor)  # fail now on something that is not an executor
        self.executor = executor
        if max_consecutive_failures is not None:
            max_consecutive_failures = _check_count(
                "max_consecutive_failures", max_consecutive_failures, minimum=1
            )
        self.max_consecutive_failures = max_consecutive_failures
        # Failed evaluations in a row made through :meth:`record` (told trials, such as
        # carried-over small-scale data or a resumed journal, neither count nor reset).
        self._failures_in_a_row = 0
        given_state = random_state is not None
        if random_state is None:
            random_state = int(np.random.SeedSequence().generate_state(1)[0] >> 1)
        elif isinstance(random_state, bool) or not isinstance(random_state, numbers.Integral):
            raise DataError(f"random_state must be an int or None, got {random_state!r}.")
        self.random_state = int(random_state)
        self._journal: Journal | None = None
        resumed: list[Trial] = []
        # How the model is built and used: recorded, not checked, on resuming a journal.
        options = {
            "kernel": self.kernel,
            "large_model": self.large_model,
            "winsorize": self.winsorize,
            "impute_failures": self.impute_failures,
            "exploit_noise_floor": self.exploit_noise_floor,
            "exploit_interpolate": self.exploit_interpolate,
            "exploit_large_alone": self.exploit_large_alone,
            "warm_fits": self.warm_fits,
            "acq_func": _acq_name(acq_func),
        }
        if journal is not None:
            if not isinstance(journal, (str, os.PathLike)):
                raise DataError(f"journal must be a file path, got {journal!r}.")
            header = {
                "search_space": self.space.describe(),
                "small_fidelity": self.small_fidelity,
                "random_state": self.random_state,
                **options,
            }
            check = ["search_space", "small_fidelity"] + ["random_state"] * given_state
            self._journal = Journal(journal, header, check=check)
            self.random_state = int(self._journal.header["random_state"])
            resumed = self._journal.trials
            if resumed:
                logger.info("resuming from %s: %d trials", journal, len(resumed))
                _log_changed_options(self._journal, options)
            else:  # nothing ran under the recorded options: record this run's
                self._journal.rewrite_header({**header, "random_state": self.random_state})
        self.history = History(
            metadata={
                "search_space": self.space.describe(),
                "random_state": self.random_state,
                "small_fidelity": self.small_fidelity,
                **options,
            }
        )
        for trial in resumed:
            self.history.add(
                self.space.validate(trial.params),
                trial.value,
                trial.scale,
                status=trial.status,
                seconds=trial.seconds,
                error=trial.error,
                hyperparameters=trial.hyperparameters,
            )
        self._pending: list[tuple[tuple[Any, ...], str]] = []
        # The hyperparameters of the fits behind each pending point (aligned with
        # _pending; None for claimed points): recorded with its trial when told.
        self._pending_fits: list[dict[str, dict[str, Any]] | None] = []
        # Fitted models by name ("shared", "large_only", "multitask"; with "@<floor>"
        # when fitted with the exploit noise floor), each with the history size it was
        # fitted at: refitted once per tell (see _cached).
        self._fits: dict[str, tuple[int, Any]] = {}
        if not isinstance(transfer_guard, bool):
            raise DataError(f"transfer_guard must be True or False, got {transfer_guard!r}.")
        self.transfer_guard = transfer_guard
        if isinstance(guard_ratio, bool) or not (
            isinstance(guard_ratio, numbers.Real) and 0 < guard_ratio <= 1
        ):
            raise DataError(f"guard_ratio must be a number in (0, 1], got {guard_ratio!r}.")
        self.guard_ratio = float(guard_ratio)
        self.transfer_points = _check_count("transfer_points", transfer_points)
        #: The last large-scale proposal's model choice (see :meth:`_guard`).
        self.transfer: dict[str, Any] = {}
        #: With ``large_model="auto"``: the last large-scale model choice (see
        #: :meth:`_choose_large_model`).
        self.large_model_choice: dict[str, Any] = {}
        self._model_kind = "shared"  # of the model _model_for last returned
        #: The last exploiting model's evidence for interpolating the runs (see
        #: :func:`~scaleup_bo.model.interpolating`): ``"model"`` is ``"pinned"`` when its
        #: noise was pinned at ``INTERPOLATION_NOISE``.
        self.interpolation: dict[str, Any] = {}
        #: The last :meth:`ask_scale` decision: the chosen scale and the acquisition
        #: value (information per unit of cost) of the best point at each scale.
        self.scale_choice: dict[str, Any] = {}

    # ------------------------------------------------------------------ scales
    def fidelity(self, scale: str) -> float:
        """Fidelity value of ``scale`` (``"small"`` or ``"large"``)."""
        _check_scale(scale)
        return LARGE_FIDELITY if scale == "large" else self.small_fidelity

    # ------------------------------------------------------------------ tell
    def tell(
        self,
        params: Sequence[Any],
        y: Any,
        scale: str = "large",
        *,
        seconds: float = 0.0,
        error: str | None = None,
    ) -> Trial:
        """Record one evaluation.

        A ``y`` that is not a finite real number (``None``, NaN, inf, a string...)
        is recorded as a failed trial: kept in the history, never proposed again, shown
        to the model at the worst value of its scale (``impute_failures``) or not at all.

        Args:
            params: The evaluated point, in user units.
            y: Its value (to minimize).
            scale: ``"small"`` or ``"large"``.
            seconds: Evaluation wall time.
            error: Why the evaluation failed, if it did.

        Returns:
            The recorded :class:`~scaleup_bo.history.Trial`.
        """
        _check_scale(scale)
        point = self.space.validate(params)
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, numbers.Real)
            or not 0.0 <= float(seconds) < math.inf
        ):
            raise DataError(f"seconds must be a finite number >= 0, got {seconds!r}.")
        value, problem = _as_finite_float(y)
        if error is None and problem is not None:
            error = f"objective returned {problem}"
        # A point this engine proposed keeps the hyperparameters of the fits behind it.
        asked = self._take_pending(point, scale)
        if asked is None:
            elsewhere = [
                s for s in SCALES if s != scale and self._pending_index(point, s) is not None
            ]
            waiting = [p for p, s in self._pending if s == scale]
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
                    scale, list(point), [list(p) for p in waiting],
                )  # fmt: skip
        status = "ok" if value is not None and error is None else "failed"
        trial = self.history.add(
            point,
            value if status == "ok" else None,
            scale,
            status=status,
            seconds=seconds,
            error=error if status == "failed" else None,
            hyperparameters=asked or None,
        )
        if self._journal is not None:
            self._journal.append(trial)
        if status == "failed":
            logger.warning("trial %d at %s scale failed: %s", trial.number, scale, trial.error)
        return trial

    def _drop_pending(self, point: Sequence[Any], scale: str) -> bool:
        """Forget the pending point that ``point`` reports on (tolerating float rounding)."""
        return self._take_pending(point, scale) is not None

    def _add_pending(self, point: Sequence[Any], scale: str, fits: bool = False) -> None:
        """Mark ``point`` pending at ``scale``; with ``fits``, keep the hyperparameters of
        the fits made at this history size for its trial."""
        self._pending.append((tuple(point), scale))
        self._pending_fits.append(self._fit_hyperparameters() if fits else None)

    def _take_pending(self, point: Sequence[Any], scale: str) -> dict[str, Any] | None:
        """Forget the pending point that ``point`` reports on (tolerating float
        rounding): the hyperparameters kept for it (``{}`` when none were), or ``None``
        when no such point is pending."""
        i = self._pending_index(point, scale)
        if i is None:
            return None
        del self._pending[i]
        return self._pending_fits.pop(i) or {}

    def _pending_index(self, point: Sequence[Any], scale: str) -> int | None:
        """Index in :attr:`pending` of the point pending at ``scale`` that ``point``
        reports on (the nearest within float rounding), or ``None``."""
        u = self.space.to_unit([point])[0]
        gaps = [
            (float((self.space.to_unit([p])[0] - u).abs().max()), i)
            for i, (p, s) in enumerate(self._pending)
            if s == scale
        ]
        if not gaps or min(gaps)[0] > 1e-4:  # in unit-cube coordinates
            return None
        return min(gaps)[1]

    def claim(self, params: Sequence[Any], scale: str = "large") -> list[Any]:
        """Mark a point chosen by the caller as pending (``ask`` does this for its own).

        A point already pending or evaluated at ``scale`` is claimed again (a replicate
        of a noisy run), with a warning: each claim stays pending until its own
        :meth:`tell` (or :meth:`cancel`).

        Returns:
            The validated point.
        """
        _check_scale(scale)
        point = self.space.validate(params)
        if self._pending_index(point, scale) is not None:
            logger.warning(
                "claimed %s again while it is pending at the %s scale: it stays pending until "
                "told once per claim (or engine.cancel()led).",
                point, scale,
            )  # fmt: skip
        elif any(tuple(t.params) == tuple(point) for t in self.history.at(scale)):
            logger.warning("claimed %s, already evaluated at the %s scale, again.", point, scale)
        self._add_pending(point, scale)
        return point

    def cancel(self, params: Sequence[Any], scale: str = "large") -> None:
        """Withdraw a point returned by :meth:`ask` that will not be evaluated.

        Raises:
            DataError: ``params`` is not pending at ``scale``.
        """
        _check_scale(scale)
        if not self._drop_pending(self.space.validate(params), scale):
            raise DataError(f"{list(params)} is not pending at the {scale} scale.")

    @property
    def pending(self) -> list[tuple[list[Any], str]]:
        """Points asked for and not yet told (or cancelled), with their scales."""
        return [(list(p), s) for p, s in self._pending]

    def tell_many(
        self, X: Any, Y: Any, scale: str = "small", *, names: tuple[str, str] = ("X", "Y")
    ) -> None:
        """Record many evaluations (a warm start from any table of results).

        Args:
            X: ``n`` points (list of lists or a 2-D array), in user units.
            Y: ``n`` values.
            scale: Scale of all of them.
            names: How ``X`` and ``Y`` are called in error messages.
        """
        rows, values = _check_table(self.space, X, Y, *names)
        for row, value in zip(rows, values, strict=True):
            self.tell(row, value, scale)

    def tell_table(
        self, source: Any, scale: str = "small", *, score_column: str | None = None
    ) -> None:
        """Record the rows of a plain results table (DataFrame, CSV or JSON file, records).

        See :func:`~scaleup_bo.history.read_table` for the accepted formats.
        """
        points, scores = read_table(source, self.space, score_column=score_column, scale=scale)
        for point, score in zip(points, scores, strict=True):
            self.tell(point, score, scale)

    def evaluate(self, objective: Objective, params: Sequence[Any], scale: str) -> Trial:
        """Call ``objective(params)``, time it and tell the result.

        An exception listed in ``catch``, a NaN/inf or a non-numeric result becomes
        a failed trial and the run goes on; any other exception is recorded as a
        failed trial and re-raised. ``KeyboardInterrupt`` propagates at once and
        records nothing (the evaluation did not finish; a resumed run repeats it).

        Raises:
            TooManyFailuresError: ``max_consecutive_failures`` trials in a row failed.
        """
        _check_callable("objective", objective)
        point = self.space.validate(params)
        start = time.perf_counter()
        try:
            y = objective(list(point))
        except Exception as exc:
            return self.record(point, scale, None, time.perf_counter() - start, exc)
        return self.record(point, scale, y, time.perf_counter() - start, None)

    def record(
        self,
        params: Sequence[Any],
        scale: str,
        y: Any,
        seconds: float,
        exc: BaseException | None,
    ) -> Trial:
        """Tell the outcome of an evaluation made elsewhere, applying the failure policy.

        Args:
            params: The evaluated point.
            scale: Its scale.
            y: The objective's return value (ignored when ``exc`` is given).
            seconds: Wall time.
            exc: The exception the objective raised, if any.

        Returns:
            The recorded trial.

        Raises:
            Exception: ``exc`` itself when it is not an instance of ``catch`` (after
                recording the failed trial).
            TooManyFailuresError: ``max_consecutive_failures`` trials in a row failed.
        """
        if exc is None:
            trial = self.tell(params, y, scale, seconds=seconds)
        else:
            trial = self.tell(params, None, scale, seconds=seconds, error=_describe(exc))
            if not isinstance(exc, self.catch):
                raise exc
        self._failures_in_a_row = 0 if trial.ok else self._failures_in_a_row + 1
        limit = self.max_consecutive_failures
        if limit is not None and self._failures_in_a_row >= limit:
            raise TooManyFailuresError(
                f"{limit} evaluations in a row failed (last: {trial.error}); stopping. "
                "The history so far is kept on this exception's .history.",
                history=self.history,
            )
        return trial

    def run(
        self,
        objective: Objective,
        scale: str,
        points: Sequence[Sequence[Any]] = (),
        n_asks: int = 0,
        *,
        n_parallel: int = 1,
        executor: Any = None,
        callback: Callable[[Trial], Any] | None = None,
        final_acq_func: str | AcquisitionBuilder | None = None,
    ) -> list[Trial]:
        """Evaluate ``points``, then ``n_asks`` proposals, at ``scale``.

        Sequential (in this process) by default. With an ``executor`` (any
        ``concurrent.futures.Executor`` or a ``dask.distributed.Client``), up to
        ``n_parallel`` evaluations run at once; each new proposal is conditioned on
        the points still in flight, and every result is told (and journaled) as soon
        as it arrives. ``final_acq_func`` (e.g. ``"PM"``) proposes the last of the
        ``n_asks`` points instead of the engine's acquisition; in parallel it waits for
        the evaluations in flight first.

        Returns:
            The recorded trials, in the order they finished.
        """
        _check_scale(scale)
        _check_callable("objective", objective)
        n_asks = _check_count("n_asks", n_asks)
        n_parallel = _check_count("n_parallel", n_parallel, minimum=1)
        points = _check_points(self.space, points, "points")
        if callback is not None:
            _check_callable("callback", callback)
        _check_final_acq_func(final_acq_func)
        executor = resolve_executor(self.executor if executor is None else executor)
        if executor is None and n_parallel > 1:
            with thread_pool(n_parallel) as executor:
                return self.run(
                    objective,
                    scale,
                    points,
                    n_asks,
                    n_parallel=n_parallel,
                    executor=executor,
                    callback=callback,
                    final_acq_func=final_acq_func,
                )
        if executor is not None:
            return evaluate_in_parallel(
                self,
                objective,
                scale,
                points,
                n_asks,
                n_parallel=n_parallel,
                executor=executor,
                on_trial=callback,
                final_acq_func=final_acq_func,
            )
        trials = []
        for i, point in enumerate([*points, *([None] * n_asks)]):
            if point is None:
                last = i == len(points) + n_asks - 1
                try:
                    point = self.ask(scale, acq_func=final_acq_func if last else None)
                except SpaceExhaustedError as exc:
                    log_exhausted(exc, i - len(points), n_asks)
                    break
            trial = self.evaluate(objective, point, scale)
            trials.append(trial)
            if callback is not None:
                callback(trial)
        return trials

    # ------------------------------------------------------------------ ask
    def ask(
        self,
        scale: str = "large",
        n: int | None = None,
        *,
        acq_func: str | AcquisitionBuilder | None = None,
    ) -> Any:
        """Propose the next point (or ``n`` distinct points) to evaluate at ``scale``.

        Until ``n_initial_points`` successful observations exist (at least one), points
        come from a space-filling Sobol design; afterwards from the acquisition
        function at that scale's fidelity, on the shared model (at large scale on the
        model ``large_model`` and ``transfer_guard`` choose; :meth:`model_at`). A point already
        evaluated (or failed, or pending) at that scale is never proposed again.
        A batch is built greedily: each point is conditioned on the ones before it
        (Monte-Carlo acquisitions with ``X_pending``), on one model fit.

        Args:
            scale: ``"small"`` or ``"large"``.
            n: Batch size; ``None`` returns a single point rather than a list.
            acq_func: This proposal's acquisition instead of the engine's (a name or
                a builder), e.g. ``"PM"`` to spend a last run on the model's best guess.

        Returns:
            A point in user units (or a list of ``n``), marked pending until told.

        Raises:
            SpaceExhaustedError: every point of a discrete space has been tried at
                ``scale`` (:meth:`exhausted`), or fewer than ``n`` are left untried.
        """
        if n is not None:
            n = _check_count("n", n, minimum=1)
            _check_scale(scale)
            self._check_untried(scale, n)
            batch: list[Any] = []
            try:
                for _ in range(n):
                    batch.append(self.ask(scale, acq_func=acq_func))
            except BaseException:
                for point in batch:  # all or nothing: no half batch left pending
                    self._drop_pending(point, scale)
                raise
            return batch
        _check_scale(scale)
        if acq_func is not None:
            resolve_acquisition(acq_func)
        self._check_untried(scale)
        seed = self._step_seed(scale)
        n_ok = sum(t.ok for t in self.history)
        point = None
        if scale == "large":
            point = self._ask_transfer()
        if point is None and n_ok >= max(self.n_initial_points, 1):
            point = self._ask_model(scale, seed, acq_func)
        if point is None:
            point = self._ask_design(scale)
        self._add_pending(point, scale, fits=True)
        return point

    def ask_scale(
        self,
        costs: Mapping[str, float],
        *,
        large_acq_func: str | AcquisitionBuilder | None = None,
        small_acq_func: str | AcquisitionBuilder | None = None,
    ) -> tuple[list[Any], str]:
        """Propose the next point *and* the scale to run it at.

        The acquisition (a cost-aware one: ``"MF-MES"``, ``"MF-GIBBON"``,
        ``"MF-KG"``, or a callable using ``context.cost_utility``) is maximized at
        each scale of ``costs``; the point of larger value (information about the
        large scale per unit of cost) wins. Until the model can be fitted, the
        cheapest scale gets a space-filling point. :attr:`scale_choice` records the
        values compared.

        Args:
            costs: The scales that may be chosen, with the cost of one run at each
                (positive numbers, any unit).
            large_acq_func: When the large scale is chosen, propose its point with
                this acquisition (e.g. ``"qNEI"``) instead: information decides
                *whether* to pay for a large run, improvement decides *where*.
            small_acq_func: The same for small-scale points (e.g. ``"EI"`` at the
                small fidelity, as in the two-stage pipeline's small stage).

        Until ``transfer_points`` large-scale trials exist, a step that chooses the
        large scale runs the best small-scale configurations there, as :meth:`ask`
        does (the small winner first).

        Returns:
            ``(params, scale)``; the point is pending at that scale until told.
        """
        costs = dict(costs)
        if not costs or any(s not in SCALES for s in costs):
            raise DataError(f"costs must map some of {SCALES} to costs, got {costs!r}.")
        for s, c in costs.items():
            if not (isinstance(c, numbers.Real) and math.isfinite(c) and c > 0):
                raise DataError(f"the cost of the {s} scale must be a positive number, got {c!r}.")
        if isinstance(self.acq_func, str) and self.acq_func not in COST_AWARE:
            raise DataError(
                f"choosing the scale needs a cost-aware acquisition ({', '.join(COST_AWARE)} "
                f"or a callable), not {self.acq_func!r}."
            )
        tried_whole = [s for s in costs if self.exhausted(s)]
        if len(tried_whole) == len(costs):
            self._check_untried(tried_whole[0])
        costs = {s: c for s, c in costs.items() if s not in tried_whole}
        cheapest = min(costs, key=lambda s: (costs[s], s != "small"))
        seed = self._step_seed("large")
        n_ok = sum(t.ok for t in self.history)
        choice: tuple[list[Any] | None, str] | None = None
        if n_ok >= max(self.n_initial_points, 1):
            with _seeded(seed):
                if len(costs) > 1 and "large" in costs and self._small_is_misleading(seed):
                    costs = {"large": costs["large"]}
                    cheapest = "large"
                if len(costs) > 1:
                    choice = self._choose_scale(costs, seed)
                elif "large" in costs:
                    choice = (None, "large")
                where = {"small": small_acq_func, "large": large_acq_func}
                transfer = self._ask_transfer() if choice and choice[1] == "large" else None
                if transfer is not None:
                    # The first large-scale runs re-run the small winners, as ask("large").
                    choice = (transfer, "large")
                elif choice is not None and where[choice[1]] is not None:
                    point = self._propose(choice[1], seed, acq_func=where[choice[1]])
                    choice = choice if point is None else (point, choice[1])
        if choice is None or choice[0] is None:
            scale = cheapest if len(costs) > 1 else next(iter(costs))
            self.scale_choice = {"scale": scale, "values": {}}
            return self.ask(scale), scale
        point, scale = choice
        self._add_pending(point, scale, fits=True)
        return point, scale

    def _small_is_misleading(self, seed: int) -> bool:
        """With ``transfer_guard``: whether the guard drops the small scale now (then no
        small-scale run is worth its cost either)."""
        if not self.transfer_guard or self._model_for("large", seed) is None:
            return False
        return self.transfer.get("uses_small_scale") is False

    def _model_for(
        self, scale: str, seed: int, *, exploit: bool = False
    ) -> tuple[Any, Tensor, Tensor] | None:
        """The fitted model that predicts ``scale``, with its training data: the shared
        model, or at large scale with ``transfer_guard`` the guard's choice (see
        :meth:`_guard`), and with ``large_model="multitask"`` the MultiTaskGP in place of
        the shared model; ``large_model="auto"`` chooses between them, or the large-scale
        points alone when the guard is off (see :meth:`_choose_large_model`). With
        ``exploit``, the chosen model is then fitted again to its data with
        ``exploit_noise_floor``, its noise pinned when the data show none (see
        :meth:`_refit`), or, with ``exploit_large_alone``, replaced by the large-scale
        rows' own refit (see :meth:`_exploit_large_alone`); the choice itself is made with
        the exploring models. ``None`` when no model can be fitted yet."""
        if scale == "large":  # this step's choices, not a stale earlier one's
            self.large_model_choice, self.transfer = {}, {}
        model = self.fit(seed=seed)
        if model is None:
            return None
        train_X, train_Y, imputed = self._training_rows()
        kind = "shared"
        if scale == "large" and self.large_model == "multitask":
            multitask = self._fit_multitask(train_X, train_Y, seed, imputed=imputed)
            if multitask is not None:
                model, kind = multitask, "multitask"
        elif scale == "large" and self.large_model == "auto":
            kind, model, train_X, train_Y = self._choose_large_model(
                model, train_X, train_Y, seed, imputed
            )
        if scale == "large" and self.transfer_guard:
            model, train_X, train_Y = self._guard(model, train_X, train_Y, seed, imputed)
            if self.transfer.get("uses_small_scale") is False:
                kind = "large_only"
        if scale == "large" and not self.large_model_choice:
            self.large_model_choice = {"model": kind}
        if exploit and self.exploit_noise_floor is not None:
            model = self._refit(kind, model, train_X, train_Y, seed)
            if scale == "large" and kind == "shared":
                alone = self._exploit_large_alone(train_X, train_Y, seed, imputed)
                if alone is not None:
                    kind, (model, train_X, train_Y) = "large_only", alone
        self._model_kind = kind
        return model, train_X, train_Y

    def model_at(self, scale: str = "large") -> tuple[Any, str] | None:
        """The fitted model behind the next exploring proposal at ``scale``, and its kind:
        ``"shared"`` (the two-fidelity GP), ``"multitask"`` or ``"large_only"`` (a GP of
        the large-scale points alone), as ``large_model`` and ``transfer_guard`` choose it
        now. Its inputs are the unit-cube encoding plus the fidelity column
        (:meth:`fidelity`), as :attr:`model`'s. ``None`` when no model can be fitted yet.

        The model is fitted with the seed the next ``ask(scale)`` uses and cached for it,
        so looking at the scale that is proposed next (large during a large-scale stage,
        ``ask_scale``'s runs included) does not change the run. Fits are cached per history
        size, whichever scale's seed made them: looking at the *other* scale between
        steps, or after a ``claim``, can change the next proposal's fit where fits depend on
        the seed (above ``MAX_FIT_POINTS`` points, or after a fit's random restart). The
        choice is recorded in :attr:`large_model_choice` and :attr:`transfer` as a
        proposal's is. Exploiting choices (``"PM"``, :meth:`recommend`) use this model
        refitted with ``exploit_noise_floor`` (and its noise pinned when the data show
        none; see :meth:`_refit`).
        """
        _check_scale(scale)
        seed = self._step_seed(scale)
        with _seeded(seed):
            fitted = self._model_for(scale, seed)
        return None if fitted is None else (fitted[0], self._model_kind)

    def _refit(self, kind: str, model: Any, train_X: Tensor, train_Y: Tensor, seed: int) -> Any:
        """The exploring model ``model`` (``"shared"``, ``"multitask"`` or the guard's
        ``"large_only"``) fitted again to the same data with ``exploit_noise_floor``
        (cached until the next tell); ``model`` itself when that fit fails. With
        ``exploit_interpolate``, the refit's noise is then pinned at
        ``INTERPOLATION_NOISE`` when its data show no noise
        (:func:`~scaleup_bo.model.interpolating`, recorded in :attr:`interpolation`)."""
        floor = self.exploit_noise_floor
        # Said once per model kind and state: a failed fit is cached (as None) until the
        # next tell, so only a refit made now has news.
        fresh = self._fits.get(_fit_name(kind, floor), (-1, None))[0] != len(self.history)
        if kind == "shared":
            refit = self.fit(seed=seed, noise_floor=floor)
        elif kind == "multitask":
            refit = self._fit_multitask(train_X, train_Y, seed, floor)
        else:
            refit = self._fit_large_only(train_X, train_Y, seed, floor)
        if refit is None:
            if fresh and model is not None:
                logger.warning(
                    "the %s model's refit with noise floor %g failed; exploiting the model "
                    "as fitted for exploring",
                    kind, floor,
                )  # fmt: skip
            self.interpolation = {}
            return model
        if not self.exploit_interpolate:
            self.interpolation = {}
            return refit
        refit, self.interpolation = self._cached(
            _fit_name(kind, floor) + ":interpolating", lambda: interpolating(refit)
        )
        return refit

    def _exploit_large_alone(
        self, train_X: Tensor, train_Y: Tensor, seed: int, imputed: Tensor
    ) -> tuple[Any, Tensor, Tensor] | None:
        """With ``exploit_large_alone``, after :meth:`_refit` of the shared model for a
        large-scale exploiting choice: the large-scale rows' own GP, refitted for
        exploiting, with its rows, when the shared refit's data showed noise (the
        pinned copy compared and rejected by :func:`~scaleup_bo.model.interpolating`)
        and this one's show none (pinned); else ``None``. :attr:`interpolation` then
        holds the GP's evidence, with the replaced refit's under ``"instead_of"``.
        Screened on the shared model only (docs/choosing_the_defaults.md): a
        ``MultiTaskGP``'s refit, with a noise per scale, is left as it is."""
        evidence = self.interpolation
        shows_noise = (
            evidence.get("model") == "fitted"
            and "log_likelihood_pinned" in evidence
            and "error" not in evidence
        )
        if not (self.exploit_large_alone and shows_noise):
            return None
        rows = _guard_rows(train_X, imputed)
        if rows is None:
            return None
        large, _ = rows
        X, Y = train_X[large], train_Y[large]
        refit = self._refit("large_only", None, X, Y, seed)
        if refit is None or self.interpolation.get("model") != "pinned":
            self.interpolation = evidence
            return None
        self.interpolation = {**self.interpolation, "instead_of": evidence}
        logger.info("exploiting the large-scale runs' own GP: it interpolates them")
        return refit, X, Y

    def _fit_multitask(
        self,
        train_X: Tensor,
        train_Y: Tensor,
        seed: int,
        noise_floor: float | None = None,
        *,
        imputed: Tensor | None = None,
    ) -> Any:
        """The MultiTaskGP of ``large_model="multitask"``/``"auto"`` (cached until the next
        tell), or ``None`` while fewer than ``MULTITASK_MIN_LARGE`` large-scale points
        (imputed failures not counted; or no small-scale ones) exist, or when it cannot be
        fitted."""
        is_large = train_X[:, -1] == LARGE_FIDELITY
        real = is_large if imputed is None else is_large & ~imputed
        if int(real.sum()) < MULTITASK_MIN_LARGE or bool(is_large.all()):
            return None
        return self._cached_fit(
            _fit_name("multitask", noise_floor),
            lambda warm_start: fit_model(
                train_X, train_Y, seed=seed, multitask=True, noise_floor=noise_floor,
                warm_start=warm_start,
            ),
        )  # fmt: skip

    def _fit_large_only(
        self, train_X: Tensor, train_Y: Tensor, seed: int, noise_floor: float | None = None
    ) -> Any:
        """The transfer guard's model of the large-scale rows ``train_X``, ``train_Y``
        alone (cached until the next tell), or ``None`` when it cannot be fitted."""
        return self._cached_fit(
            _fit_name("large_only", noise_floor),
            lambda warm_start: fit_model(
                train_X, train_Y, kernel=self.kernel, seed=seed,
                categorical_columns=self.space.one_hot_columns, noise_floor=noise_floor,
                warm_start=warm_start,
            ),
        )  # fmt: skip

    def _warm_start(self, name: str) -> dict[str, Any] | None:
        """The hyperparameters the fit ``name`` starts from: those of the fits behind the
        latest trial this engine proposed from a model, when it fitted ``name`` too, else
        ``None`` (BoTorch's start; so a model fitted only now and then, such as the exploit
        refit of a last run, starts afresh rather than from a stale fit). A pure function
        of the history, so a run resumed from its journal fits as the run it continues.
        Always ``None`` without ``warm_fits``."""
        if not self.warm_fits:
            return None
        for trial in reversed(self.history.trials):
            if trial.hyperparameters:
                return trial.hyperparameters.get(name)
        return None

    def _fit_hyperparameters(self) -> dict[str, dict[str, Any]]:
        """The hyperparameters of every model fitted at the current history size (finite
        ones: the journal holds JSON)."""
        return {
            name: hyperparameters(model)
            for name, (size, model) in self._fits.items()
            if size == len(self.history)
            and isinstance(model, torch.nn.Module)
            and all(bool(torch.isfinite(p).all()) for p in model.parameters())
        }

    def _cached(self, name: str, fit: Callable[[], Any]) -> Any:
        """The model ``name``, from ``fit()`` once per history size (so refitted after
        every tell, reused within a step)."""
        size, model = self._fits.get(name, (-1, None))
        if size != len(self.history):
            model = fit()
            self._fits[name] = (len(self.history), model)
        return model

    def _cached_fit(self, name: str, fit: Callable[[dict[str, Any] | None], Any]) -> Any:
        """:meth:`_cached` for a model fit: ``fit`` is given the hyperparameters the fit
        ``name`` starts from (:meth:`_warm_start`)."""
        return self._cached(name, lambda: fit(self._warm_start(name)))

    def _choose_scale(self, costs: dict[str, float], seed: int) -> tuple[list[Any], str] | None:
        model = self.fit(seed=seed)
        if model is None:
            return None
        train_X, train_Y = self.training_data()
        pending = [self._encoded([p], self.fidelity(s)) for p, s in self._pending]
        context = AcquisitionContext.from_data(
            model,
            train_X,
            train_Y,
            LARGE_FIDELITY,
            X_pending=torch.cat(pending) if pending else None,
            options=self.acq_func_kwargs,
            seed=seed,
            space=self.space,
            cost_utility=cost_utility(
                self.small_fidelity,
                costs.get("small", costs.get("large", 1.0)),
                costs.get("large", costs.get("small", 1.0)),
            ),
        )
        acqf = build_acquisition(self.acq_func, model, context)
        values: dict[str, float] = {}
        points: dict[str, list[Any]] = {}
        for scale in costs:
            fid = self.fidelity(scale)
            points[scale] = self._optimize(acqf, scale, seed, context.X_baseline)
            values[scale] = acquisition_value(
                acqf, self.space, points[scale], fid, num_restarts=self.num_restarts,
                raw_samples=self.raw_samples,
            )  # fmt: skip
        best = max(values, key=lambda s: (math.isfinite(values[s]), values[s]))
        self.scale_choice = {"scale": best, "values": values}
        logger.info("scale choice: %s -> %s", values, best)
        return points[best], best

    def _ask_model(
        self, scale: str, seed: int, acq_func: str | AcquisitionBuilder | None = None
    ) -> list[Any] | None:
        with _seeded(seed):
            return self._propose(scale, seed, acq_func)

    def _propose(
        self, scale: str, seed: int, acq_func: str | AcquisitionBuilder | None = None
    ) -> list[Any] | None:
        acq_func = acq_func or self.acq_func
        fitted = self._model_for(scale, seed, exploit=exploits(acq_func))
        if fitted is None:
            return None
        model, train_X, train_Y = fitted
        target = self.fidelity(scale)
        pending = self._encoded([p for p, s in self._pending if s == scale], target)
        context = AcquisitionContext.from_data(
            model,
            train_X,
            train_Y,
            target,
            X_pending=pending if pending.shape[0] else None,
            options=self.acq_func_kwargs,
            seed=seed,
            space=self.space,
        )
        acqf = build_acquisition(acq_func, model, context)
        return self._optimize(acqf, scale, seed, context.X_baseline)

    def _optimize(self, acqf: Any, scale: str, seed: int, X_baseline: Tensor) -> list[Any]:
        """Maximize ``acqf`` at ``scale``'s fidelity; a fresh point at that scale."""
        return propose(
            acqf,
            self.space,
            self.fidelity(scale),
            exclude=self.space.to_unit(self._tried(scale)),
            seed=seed,
            num_restarts=self.num_restarts,
            raw_samples=self.raw_samples,
            X_baseline=X_baseline,
        )

    def _ask_transfer(self) -> list[Any] | None:
        """The next of the ``transfer_points`` first large-scale points, or ``None``."""
        tried = self._tried("large")
        small = sorted((t for t in self.history.at("small") if t.ok), key=lambda t: t.value)
        if len(tried) >= self.transfer_points or not small:
            return None
        radius = TRANSFER_RADIUS * math.sqrt(self.space.n_columns)
        chosen = self.space.to_unit(tried) if tried else None
        for trial in small:
            u = self.space.to_unit([trial.params])
            if chosen is None or torch.cdist(u, chosen).min() >= radius:
                return list(trial.params)
        return None

    def _ask_design(self, scale: str) -> list[Any]:
        tried_unit = self.space.to_unit(self._tried(scale))
        tried = {tuple(u.tolist()) for u in tried_unit}
        design = self.space.sample(
            len(self.history) + len(self._pending) + 64, seed=self.random_state
        )
        for point in design:
            if tuple(self.space.to_unit([point])[0].tolist()) not in tried:
                return point
        # A small discrete space whose fresh points the design missed: the first of them.
        fresh = fresh_points(self.space, {unit_key(u) for u in tried_unit})
        return design[0] if fresh is None else fresh[0]

    def exhausted(self, scale: str) -> bool:
        """Whether every point of a discrete space has been tried (evaluated, failed or
        pending) at ``scale``, so :meth:`ask` has nothing left to propose there."""
        return self._fresh_count(scale) == 0

    def _fresh_count(self, scale: str, *, limit: int = 64) -> int | None:
        """How many points of a discrete space are untried at ``scale`` when at most
        ``limit`` are (cheap: the tried points are only counted then); else ``None``."""
        size = self.space.n_points
        tried = self._tried(scale)
        if size is None or len(tried) < size - limit:
            return None
        return max(size - len({unit_key(u) for u in self.space.to_unit(tried)}), 0)

    def _check_untried(self, scale: str, n: int = 1) -> None:
        """Raise :class:`SpaceExhaustedError` when fewer than ``n`` points of a discrete
        space are untried at ``scale`` (none: :meth:`exhausted`)."""
        left = self._fresh_count(scale)
        if left == 0:
            raise SpaceExhaustedError(
                f"every point of the search space ({self.space.n_points} points) has been "
                f"evaluated, or is pending, at the {scale} scale: nothing is left to propose "
                "there."
            )
        if left is not None and left < n:
            raise SpaceExhaustedError(
                f"only {left} point(s) of the search space are left untried at the "
                f"{scale} scale, fewer than n={n}: ask for at most {left}."
            )

    def _tried(self, scale: str) -> list[list[Any]]:
        done = [list(t.params) for t in self.history.at(scale)]
        return done + [list(p) for p, s in self._pending if s == scale]

    def _step_seed(self, scale: str) -> int:
        seq = np.random.SeedSequence(
            [self.random_state, len(self.history), len(self._pending), SCALES.index(scale)]
        )
        return int(seq.generate_state(1)[0] >> 1)

    # ------------------------------------------------------------------ model
    def _encoded(self, points: Sequence[Sequence[Any]], fidelity: float) -> Tensor:
        U = self.space.to_unit(points)
        return torch.cat([U, torch.full((U.shape[0], 1), fidelity, dtype=U.dtype)], dim=-1)

    def training_data(self) -> tuple[Tensor, Tensor]:
        """Model inputs and targets: every successful trial and, with
        ``impute_failures``, every failed one at the worst value observed at its scale
        (see :meth:`_training_rows`).

        Returns:
            ``train_X``: ``n x (d + 1)`` (last column the fidelity) and ``train_Y``:
            ``n x 1`` holding ``-y`` (the model maximizes; with ``winsorize``, its bad
            tail clipped).
        """
        train_X, train_Y, _ = self._training_rows()
        return train_X, train_Y

    def _training_rows(self) -> tuple[Tensor, Tensor, Tensor]:
        """:meth:`training_data` and which of its rows are imputed failures.

        A failed trial is imputed at the worst (winsorized, with ``winsorize``) value of
        its scale once that scale has ``IMPUTE_MIN_OK`` successful trials: the worst of
        fewer is no penalty (of one, it is the best value). Rows keep the history's order.
        """
        ok = [t for t in self.history if t.ok]
        X_ok = self._stack([self._encoded([t.params], self.fidelity(t.scale)) for t in ok])
        Y_ok = -torch.tensor([[t.value] for t in ok], dtype=torch.float64).reshape(-1, 1)
        if self.winsorize:
            Y_ok = winsorize_targets(X_ok, Y_ok)
        worst: dict[str, float] = {}  # lowest -y per scale, among enough successes
        for scale in SCALES:
            ys = [float(y) for t, y in zip(ok, Y_ok[:, 0], strict=True) if t.scale == scale]
            if self.impute_failures and len(ys) >= IMPUTE_MIN_OK:
                worst[scale] = min(ys)
        if not any(not t.ok and t.scale in worst for t in self.history):
            return X_ok, Y_ok, torch.zeros(len(ok), dtype=torch.bool)
        rows, targets, imputed = [], [], []
        k = 0
        for t in self.history:
            if t.ok:
                rows.append(X_ok[k : k + 1])
                targets.append(float(Y_ok[k, 0]))
                imputed.append(False)
                k += 1
            elif t.scale in worst:
                rows.append(self._encoded([t.params], self.fidelity(t.scale)))
                targets.append(worst[t.scale])
                imputed.append(True)
        return (
            torch.cat(rows),
            torch.tensor(targets, dtype=torch.float64).reshape(-1, 1),
            torch.tensor(imputed, dtype=torch.bool),
        )

    def _stack(self, rows: list[Tensor]) -> Tensor:
        if rows:
            return torch.cat(rows)
        return torch.zeros(0, self.space.n_columns + 1, dtype=torch.float64)

    def fit(self, seed: int | None = None, *, noise_floor: float | None = None) -> Any:
        """Fit the shared model on :meth:`training_data` (cached until the next tell).

        Args:
            seed: Seeds the fit (default: ``random_state``).
            noise_floor: Lower bound of the inferred noise instead of BoTorch's (see
                :func:`~scaleup_bo.model.build_model`); cached separately.

        Returns:
            The fitted ``SingleTaskMultiFidelityGP``, or ``None`` when there is no data
            or fitting failed (the failure is logged).
        """

        def fit_shared(warm_start: dict[str, Any] | None) -> Any:
            train_X, train_Y = self.training_data()
            if train_X.shape[0] == 0:
                return None
            return fit_model(
                train_X, train_Y, kernel=self.kernel,
                seed=self.random_state if seed is None else seed,
                categorical_columns=self.space.one_hot_columns, noise_floor=noise_floor,
                warm_start=warm_start,
            )  # fmt: skip

        return self._cached_fit(_fit_name("shared", noise_floor), fit_shared)

    def _choose_large_model(
        self, shared: Any, train_X: Tensor, train_Y: Tensor, seed: int, imputed: Tensor
    ) -> tuple[str, Any, Tensor, Tensor]:
        """``large_model="auto"``: the model behind this large-scale proposal, as
        ``(kind, model, train_X, train_Y)``, ``kind`` one of ``"shared"``,
        ``"multitask"``, ``"large_only"``.

        Once ``MULTITASK_MIN_LARGE`` large-scale points exist (and small-scale ones), the
        MultiTaskGP is fitted next to the shared model, and
        :func:`~scaleup_bo.model.multitask_evidence` says which of the two the data
        prefer (a likelihood margin and a scale factor in a window).

        A chosen MultiTaskGP is then checked against a GP of the large-scale points
        alone, which replaces it when it predicts them better (leave-one-out squared
        error; imputed failures not scored): with a handful of large points the
        MultiTaskGP's extra freedom can fit the small scale's shape to the wrong place.
        With ``transfer_guard`` that check is the guard's (with its ``guard_ratio`` and
        ``GUARD_MIN_LARGE``), made on the chosen model. The choice is made again at
        every step and recorded in :attr:`large_model_choice`; a numerical failure
        keeps the shared model.
        """
        fallback = ("shared", shared, train_X, train_Y)
        multitask = self._fit_multitask(train_X, train_Y, seed, imputed=imputed)
        if multitask is None:
            return fallback
        try:
            choice = multitask_evidence(shared, multitask)
        except (RuntimeError, ValueError) as exc:  # a failed Cholesky: the shared model
            logger.warning("large-scale model choice skipped, shared model kept: %s", exc)
            self.large_model_choice = {"model": "shared"}
            return fallback
        self.large_model_choice = choice
        if choice["model"] == "shared":
            return fallback
        chosen = ("multitask", multitask, train_X, train_Y)
        if self.transfer_guard:
            return chosen
        large = train_X[:, -1] == LARGE_FIDELITY
        checked = self._loo_against_large_only(
            multitask, train_X, train_Y, large, large & ~imputed, seed,
            "large-only check of the MultiTaskGP",
        )  # fmt: skip
        if checked is None:  # keep the choice
            return chosen
        alone, loo_multitask, loo_alone = checked
        choice.update(loo_multitask=loo_multitask, loo_large=loo_alone)
        logger.info("large-scale model: %s", choice)
        if loo_alone < loo_multitask:
            choice["model"] = "large_only"
            return "large_only", alone, train_X[large], train_Y[large]
        return chosen

    def _loo_against_large_only(
        self,
        model: Any,
        train_X: Tensor,
        train_Y: Tensor,
        large: Tensor,
        observed: Tensor,
        seed: int,
        what: str,
    ) -> tuple[Any, float, float] | None:
        """A GP of the ``large`` rows alone and the leave-one-out squared errors, of
        ``model`` and of that GP, on the ``observed`` large-scale points (imputed failures
        left out): ``(large_only, loo_model, loo_large_only)``. ``None`` when the GP
        cannot be fitted or a Cholesky fails (logged as ``what`` skipped). Used by
        :meth:`_guard` and by ``large_model="auto"``'s check of the MultiTaskGP."""
        large_only = self._fit_large_only(train_X[large], train_Y[large], seed)
        if large_only is None:
            return None
        try:
            return large_only, _loo_error(model, observed), _loo_error(large_only, observed[large])
        except (RuntimeError, ValueError) as exc:  # a failed Cholesky
            logger.warning("%s skipped: %s", what, exc)
            return None

    def _guard(
        self, model: Any, train_X: Tensor, train_Y: Tensor, seed: int, imputed: Tensor
    ) -> tuple[Any, Tensor, Tensor]:
        """Negative-transfer guard: the shared model, or a large-scale-only one.

        Once ``GUARD_MIN_LARGE`` large-scale points exist next to small-scale ones, a
        model of the large-scale points alone is fitted too, and each model scores the
        large-scale points by leave-one-out mean squared error (in the user's units).
        The shared model is kept unless the large-only model predicts them better
        (error below ``guard_ratio`` times the shared one's): then the small
        scale is misleading here and is ignored for this proposal.
        The choice is made again at every step. Imputed failures (``imputed`` rows) are
        in both models' data but neither counted nor scored: the choice rests on the
        values observed.
        """
        rows = _guard_rows(train_X, imputed)
        if rows is None:
            self.transfer = {}
            return model, train_X, train_Y
        large, observed = rows
        checked = self._loo_against_large_only(
            model, train_X, train_Y, large, observed, seed, "transfer guard"
        )
        if checked is None:  # keep the shared model
            self.transfer = {}
            return model, train_X, train_Y
        large_only, shared, alone = checked
        use_small = not alone < self.guard_ratio * shared
        self.transfer = {"uses_small_scale": use_small, "loo_shared": shared, "loo_large": alone}
        logger.info(
            "transfer guard: LOO squared error shared %.3g, large-only %.3g -> %s",
            shared, alone, "shared model" if use_small else "large-scale points only",
        )  # fmt: skip
        if use_small:
            return model, train_X, train_Y
        return large_only, train_X[large], train_Y[large]

    @property
    def model(self) -> Any:
        """The shared model as last fitted for exploring (``None`` before the first fit);
        exploiting choices use its refit with ``exploit_noise_floor``
        (``fit(noise_floor=engine.exploit_noise_floor)``), its noise pinned when the data
        show none (``model.interpolating``)."""
        return self._fits.get("shared", (-1, None))[1]

    @property
    def journal(self) -> Journal | None:
        """The journal recording this engine's trials, if any."""
        return self._journal

    # ------------------------------------------------------------------ results
    def recommend(self, *, evaluated_only: bool = False) -> list[Any] | None:
        """The best large-scale point under the large-scale model (``large_model``).

        The largest posterior mean of ``-y`` at the large-scale fidelity, over the
        points evaluated at large scale and (unless ``evaluated_only``) the maximizer
        of that mean over the whole space. The model is fitted with
        ``exploit_noise_floor`` (its noise pinned when the data show none), as for a
        ``"PM"`` proposal. With ``transfer_guard``, the
        model is the one the guard chooses (the large-scale-only model when the small
        scale is misleading). ``None`` when the model cannot be fitted; then use
        :meth:`best`.
        """
        seed = self._step_seed("large")
        with _seeded(seed):
            fitted = self._model_for("large", seed, exploit=True)
            if fitted is None:
                return None
            model = fitted[0]
            candidates = [list(t.params) for t in self.history.at("large", ok_only=True)]
            if not evaluated_only:
                acqf = PosteriorMean(model)
                candidates.append(
                    propose(
                        acqf, self.space, LARGE_FIDELITY, seed=seed,
                        num_restarts=self.num_restarts, raw_samples=self.raw_samples,
                    )
                )  # fmt: skip
            if not candidates:
                return None
            with torch.no_grad():
                mean = model.posterior(self._encoded(candidates, LARGE_FIDELITY)).mean.reshape(-1)
        return candidates[int(mean.argmax())]

    def best(self, scale: str) -> Trial | None:
        """Best successful trial at ``scale`` (``None`` when there is none)."""
        _check_scale(scale)
        return self.history.best(scale)


class _Facade:
    """Shared results and run loop of the two optimizers (one scale each).

    A run is a *plan*: an ordered list of steps that each produce exactly one trial
    (tell a known result, evaluate a given point, or evaluate a proposal). With a
    journal, the trials already recorded stand for the first steps of the plan, which
    are checked against it and skipped: a resumed run neither loses nor repeats an
    evaluation.
    """

    engine: Engine
    _scale: str
    _callback: Callable[[Trial], Any] | None = None
    _n_parallel: int = 1
    _final_acq_func: str | AcquisitionBuilder | None = None

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

    def _start(
        self,
        objective: Objective,
        plan: list[_Step],
        progress: bool,
        callback: Callable[[Trial], Any] | None,
        n_parallel: int,
        space: SearchSpace,
        **engine_kwargs: Any,
    ) -> None:
        """Check the loop's own arguments, build the engine (opening any journal), run."""
        self._n_parallel = _check_count("n_parallel", n_parallel, minimum=1)
        if callback is not None:
            _check_callable("callback", callback)
        self._callback = callback
        self.engine = Engine(space, **engine_kwargs)
        if self._final_acq_func is not None:
            self.engine.history.metadata["final_acq_func"] = _acq_name(self._final_acq_func)
        self._run(objective, plan, progress)

    def _run(self, objective: Objective, plan: list[_Step], progress: bool) -> None:
        from tqdm.auto import tqdm

        done = len(self.engine.history)
        for i, step in enumerate(plan[:done]):
            step.check_matches(self.engine.history[i], i)
        if done > len(plan):
            logger.warning(
                "the journal %s holds %d trials, more than the %d this run plans (smaller "
                "n_steps?): all are kept and nothing more is evaluated.",
                self.engine.journal.path if self.engine.journal else "", done, len(plan),
            )  # fmt: skip
        remaining = plan[done:]
        n_scale = sum(step.scale == self._scale for step in plan)
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

        try:
            for step in remaining:
                if step.kind == "tell":  # a known result: no evaluation, no callback
                    on_trial(step.run(self.engine, objective), evaluated=False)
            self.engine.run(
                objective,
                self._scale,
                [s.params for s in remaining if s.kind == "evaluate"],
                sum(s.kind == "ask" for s in remaining),
                n_parallel=self._n_parallel,
                callback=on_trial,
                final_acq_func=self._final_acq_func,
            )
        except KeyboardInterrupt as exc:
            # The constructor does not return: hand the trials recorded so far over.
            exc.history = self.engine.history  # type: ignore[attr-defined]
            logger.warning(
                "interrupted after %d trials; they are on the exception's .history%s",
                len(self.engine.history),
                "" if self.engine.journal is None else f" and in {self.engine.journal.path}",
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

    def run(self, engine: Engine, objective: Objective) -> Trial:
        """Record a known result (evaluations go through :meth:`Engine.run`)."""
        t = self.trial
        assert self.kind == "tell" and t is not None
        # Without the trial's hyperparameters: those of another run's fits (a small stage's
        # own model, say) are no start for this run's first fit.
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
        n_steps: Model-guided evaluations after the initial ones (any ``n_steps >= 0``).
        n_initial_points: Space-filling evaluations before the model is used.
        initial_points: Points to evaluate first instead of the space-filling ones;
            or, with ``initial_scores`` or as a table (DataFrame, ``.csv``/``.json``
            path, list of dict records with a score column), known results that are
            recorded without being evaluated again.
        random_state: Seed for reproducible runs.
        acq_func_kwargs: Options of the acquisition function.
        initial_scores: Known values of ``initial_points``.
        small_fidelity: Fidelity value of the small scale (default 0.5).
        kernel: Fidelity kernel of the shared model.
        journal: JSON-lines file recording every trial as it finishes; constructing
            the optimizer again with the same file resumes the run.
        catch: Objective exceptions recorded as failed trials (default: all
            ``Exception``\\ s).
        max_consecutive_failures: Stop with ``TooManyFailuresError`` after this many
            failures in a row (``None``: never).
        score_column: Score column of a table given as ``initial_points``.
        n_parallel: Evaluations in flight at once (asynchronous; each new proposal is
            conditioned on the pending ones).
        executor: Where evaluations run: any ``concurrent.futures.Executor`` or a
            ``dask.distributed.Client``; ``None`` runs them here (in threads when
            ``n_parallel > 1``).
        progress: Show a progress bar.
        callback: Called with each :class:`~scaleup_bo.history.Trial` this run
            evaluates (not with known results it is given).
        winsorize: Clip the bad tail of the values the model is fitted on (diverging
            runs); see :class:`Engine`.
        impute_failures: Show the model each failed trial at the worst value of its
            scale, so a region where runs fail is left (default); see :class:`Engine`.
        warm_fits: Start each fit from the last proposal's hyperparameters, for at most
            50 L-BFGS iterations (default ``True``; ``False``: fits from BoTorch's start,
            to convergence); see :class:`Engine`.

    Attributes:
        best_params, best_score, X_iters, Y_iters: Results at the small scale.
        history: Every trial. ``engine``: the ask/tell engine underneath.

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
        acq_func: str | AcquisitionBuilder = "EI",
        n_steps: int = 10,
        n_initial_points: int = 1,
        initial_points: Any = None,
        random_state: int | None = None,
        acq_func_kwargs: dict[str, Any] | None = None,
        *,
        initial_scores: Sequence[float] | None = None,
        small_fidelity: float = DEFAULT_SMALL_FIDELITY,
        kernel: Kernel = "linear_truncated",
        journal: str | os.PathLike[str] | None = None,
        catch: type[BaseException] | tuple[type[BaseException], ...] = (Exception,),
        max_consecutive_failures: int | None = 10,
        score_column: str | None = None,
        n_parallel: int = 1,
        executor: Any = None,
        progress: bool = False,
        callback: Callable[[Trial], Any] | None = None,
        winsorize: bool = False,
        impute_failures: bool = True,
        warm_fits: bool = True,
    ) -> None:
        _check_callable("objective_func", objective_func)
        self.n_steps = _check_count("n_steps", n_steps)
        n_initial_points = _check_count("n_initial_points", n_initial_points)
        self.search_space = search_space
        self.objective_func = objective_func
        space = SearchSpace(search_space)
        plan: list[_Step] = []
        if initial_points is not None:
            n_initial_points = 0  # given points replace the space-filling ones
        if _is_table(initial_points) and initial_scores is not None:
            raise DataError(
                "initial_scores was given with a table as initial_points: the table's own "
                "score column is used (score_column=). Give initial_scores with a list of "
                "points, or put the scores in the table."
            )
        if _is_table(initial_points):
            points, scores = read_table(
                initial_points, space, score_column=score_column, scale="small"
            )
            plan += _Step.known(points, scores, "small")
        elif initial_points is not None and initial_scores is not None:
            points, scores = _check_table(
                space, initial_points, initial_scores, "initial_points", "initial_scores"
            )
            plan += _Step.known(points, scores, "small")
        elif initial_points is not None:
            points = _check_points(space, initial_points, "initial_points")
            plan += [_Step("evaluate", "small", p) for p in points]
        elif initial_scores is not None:
            raise DataError("initial_scores was given without initial_points.")
        plan += [_Step("ask", "small") for _ in range(n_initial_points + self.n_steps)]
        self._start(
            objective_func, plan, progress, callback, n_parallel,
            space,
            small_fidelity=small_fidelity,
            acq_func=acq_func,
            acq_func_kwargs=acq_func_kwargs,
            n_initial_points=max(n_initial_points, 1),
            random_state=random_state,
            kernel=kernel,
            journal=journal,
            catch=catch,
            max_consecutive_failures=max_consecutive_failures,
            executor=executor,
            winsorize=winsorize,
            impute_failures=impute_failures,
            warm_fits=warm_fits,
        )  # fmt: skip


class LargeScaleOptimizer(_Facade):
    """Bayesian optimization of the large-scale system, warm-started by the small one.

    First evaluates ``best_params`` (the small-scale winner) at large scale, then
    ``n_steps`` proposals of the large-scale model chosen by ``large_model`` (default
    ``"auto"``: the shared two-fidelity model, or a ``MultiTaskGP`` where the scales differ
    by a scale factor), fitted to every small- and large-scale observation.

    Args:
        objective_func: Large-scale ``f(params) -> float`` to minimize.
        search_space: The same dimensions as the small stage.
        best_params: First point to evaluate (default: the best small-scale point).
        X_iters_small: Small-scale points (list of lists or 2-D array).
        Y_iters_small: Their values.
        acq_func: Acquisition name or callable (default ``"qNEI"``, chosen by the
            benchmark; ``SmallScaleOptimizer`` and ``Engine`` default to ``"EI"``).
        n_steps: Model-guided evaluations after the first one.
        random_state: Seed.
        acq_func_kwargs: Options of the acquisition function.
        small: Instead of the three arrays: a finished :class:`SmallScaleOptimizer`
            or a :class:`~scaleup_bo.history.History` or the path of a saved one (whole
            history carried over, failures included), or a results table (pandas
            DataFrame, ``.csv`` or ``.json`` path, list of dict records: one column
            per dimension, named as in the search space, plus a score column).
        small_fidelity: Fidelity value of the small scale (default: the small
            optimizer's, else 0.5).
        kernel: Fidelity kernel of the shared model.
        journal: JSON-lines file recording every trial as it finishes; constructing
            the optimizer again with the same file resumes the run.
        catch: Objective exceptions recorded as failed trials.
        max_consecutive_failures: Stop with ``TooManyFailuresError`` after this many
            failures in a row (``None``: never).
        score_column: Score column of a table given as ``small``.
        n_parallel: Evaluations in flight at once.
        executor: Where evaluations run (``concurrent.futures.Executor`` or Dask
            ``Client``).
        progress: Show a progress bar.
        callback: Called with each trial this run evaluates (not with known results
            it is given, such as the small-scale data).
        transfer_points: The first large-scale steps re-run this many of the best
            small-scale configurations from distinct basins (``best_params`` first);
            see :class:`Engine`.
        transfer_guard: Negative-transfer guard; see :class:`Engine`.
        large_model: ``"auto"`` (default): from the fourth large-scale run on, a
            ``MultiTaskGP``, which learns a scale factor between the scales, when the
            evidence says the scales differ by one, else the shared model (the
            benchmark's shifted problem 0.0058 against 0.40;
            docs/choosing_the_defaults.md); ``"shared"``: always the shared model;
            ``"multitask"``: the ``MultiTaskGP`` from the fourth run on. See :class:`Engine`.
        winsorize: Clip the bad tail of the values the model is fitted on (diverging
            runs); see :class:`Engine`.
        impute_failures: Show the model each failed trial at the worst value of its
            scale, so a region where runs fail is left (default); see :class:`Engine`.
        final_acq_func: Acquisition of the last of the ``n_steps`` proposals (default
            ``"PM"``: the maximizer of the posterior mean at large scale, the model's
            best guess, so the run ends by evaluating what it would recommend, as
            ``ScaleUpOptimizer`` does; when that point was evaluated already, the best
            fresh point near it). ``None``: ``acq_func``, like the other steps. A last
            step that re-runs a small-scale configuration (``transfer_points``) stays
            one; with ``n_parallel > 1`` the last proposal waits for the runs in flight,
            so it sees every result.
        exploit_noise_floor: Noise floor of the refit behind ``"PM"`` proposals, so of
            the last run (default 1e-7; ``None``: no refit, the exploring model with
            BoTorch's 1e-4, as for the other proposals); see :class:`Engine`.
        exploit_interpolate: Pin that refit's noise at 1e-9 when the data show no noise,
            so it interpolates the runs (default ``True``); see :class:`Engine`.
        exploit_large_alone: Exploit with the large-scale runs' own GP when it
            interpolates them and the refit that uses the small scale cannot (default
            ``False`` here: the main benchmark's runs are without it); see :class:`Engine`.
        warm_fits: Start each fit from the last proposal's hyperparameters, for at most
            50 L-BFGS iterations (default ``True``; ``False``: fits from BoTorch's start,
            to convergence); see :class:`Engine`.

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
        acq_func: str | AcquisitionBuilder = DEFAULT_LARGE_ACQ,
        n_steps: int = 10,
        random_state: int | None = None,
        acq_func_kwargs: dict[str, Any] | None = None,
        *,
        small: Any = None,
        small_fidelity: float | None = None,
        kernel: Kernel = "linear_truncated",
        journal: str | os.PathLike[str] | None = None,
        catch: type[BaseException] | tuple[type[BaseException], ...] = (Exception,),
        max_consecutive_failures: int | None = 10,
        score_column: str | None = None,
        n_parallel: int = 1,
        executor: Any = None,
        progress: bool = False,
        callback: Callable[[Trial], Any] | None = None,
        transfer_points: int = 1,
        transfer_guard: bool = False,
        large_model: LargeModel = "auto",
        winsorize: bool = False,
        impute_failures: bool = True,
        final_acq_func: str | AcquisitionBuilder | None = DEFAULT_FINAL_ACQ,
        exploit_noise_floor: float | None = EXPLOIT_NOISE_FLOOR,
        exploit_interpolate: bool = True,
        exploit_large_alone: bool = False,
        warm_fits: bool = True,
    ) -> None:
        _check_callable("objective_func", objective_func)
        self.n_steps = _check_count("n_steps", n_steps)
        _check_final_acq_func(final_acq_func)
        self._final_acq_func = final_acq_func
        self.search_space = search_space
        self.objective_func = objective_func
        space = SearchSpace(search_space)
        if small is not None and (X_iters_small is not None or Y_iters_small is not None):
            raise DataError("give either small= or X_iters_small/Y_iters_small, not both.")
        if isinstance(small, (str, os.PathLike)) and History.is_saved(small):
            small = History.load(small)
        plan: list[_Step] = []
        if isinstance(small, SmallScaleOptimizer):
            if small.space != space:
                raise DataError(
                    "small was run on another search space: "
                    + _space_difference(small.space.describe(), space.describe())
                )
            if small_fidelity is None:
                small_fidelity = small.engine.small_fidelity
            plan += [_Step.of_trial(t) for t in small.history]
        elif isinstance(small, History):
            recorded = small.metadata.get("search_space")
            if recorded is not None and recorded != space.describe():
                raise DataError(
                    "small is a History of another search space: "
                    + _space_difference(recorded, space.describe())
                )
            if small_fidelity is None:
                small_fidelity = small.metadata.get("small_fidelity")
            plan += [_Step.of_trial(t) for t in small]
        elif _is_table(small):
            points, scores = read_table(small, space, score_column=score_column, scale="small")
            plan += _Step.known(points, scores, "small")
        elif small is not None:
            raise DataError(
                "small must be a SmallScaleOptimizer, a History or a results table "
                f"(DataFrame, .csv/.json path, list of records), got {type(small).__name__}."
            )
        elif X_iters_small is not None or Y_iters_small is not None:
            points, scores = _check_table(
                space, X_iters_small, Y_iters_small, "X_iters_small", "Y_iters_small"
            )
            plan += _Step.known(points, scores, "small")
        if best_params is None:
            known = [s.trial for s in plan if s.trial is not None and s.trial.ok]
            small_known = [t for t in known if t.scale == "small"]
            if not small_known:
                raise DataError(
                    "best_params is missing and there is no successful small-scale result "
                    "to take it from."
                )
            best_params = list(min(small_known, key=lambda t: t.value).params)  # type: ignore[arg-type, return-value]
        first = _check_points(space, [best_params], "best_params")[0]
        plan.append(_Step("evaluate", "large", first))
        plan += [_Step("ask", "large") for _ in range(self.n_steps)]
        self._start(
            objective_func, plan, progress, callback, n_parallel,
            space,
            small_fidelity=DEFAULT_SMALL_FIDELITY if small_fidelity is None else small_fidelity,
            acq_func=acq_func,
            acq_func_kwargs=acq_func_kwargs,
            random_state=random_state,
            kernel=kernel,
            journal=journal,
            catch=catch,
            max_consecutive_failures=max_consecutive_failures,
            executor=executor,
            transfer_points=transfer_points,
            transfer_guard=transfer_guard,
            large_model=large_model,
            winsorize=winsorize,
            impute_failures=impute_failures,
            exploit_noise_floor=exploit_noise_floor,
            exploit_interpolate=exploit_interpolate,
            exploit_large_alone=exploit_large_alone,
            warm_fits=warm_fits,
        )  # fmt: skip


#: Default acquisition of :class:`ScaleUpOptimizer`.
DEFAULT_SCALEUP_ACQ = "MF-MES"


class ScaleUpOptimizer(_Facade):
    """Cost-aware optimization over both scales: every step chooses the scale too.

    Runs ``n_initial_points`` space-filling small-scale evaluations (and, when costs
    are measured, the small winner at large scale to time it), then lets a cost-aware
    multi-fidelity acquisition (default
    ``"MF-MES"``, multi-fidelity max-value entropy search: information about the
    large-scale optimum per unit of cost) pick the scale and the point of each next
    run, as long as the budget allows. The first large-scale run is the small-scale
    winner at that time, as in the two-stage pipeline (the acquisition decides when).
    The cost of one large-scale run is held back for the end: the best large-scale
    point under the large-scale model (:meth:`Engine.recommend`) is evaluated at large
    scale if it has not been (if it has, the reserve is spent on one more model-chosen
    run). The constructor runs the optimization when both objectives are
    given; with ``objective_small=objective_large=None`` use :meth:`ask`/:meth:`tell`.

    Args:
        objective_small: Small-scale ``f(params) -> float`` to minimize (or ``None``).
        objective_large: Large-scale objective (or ``None``).
        search_space: skopt dimensions.
        budget: Total cost to spend: in the units of ``cost_small``/``cost_large``, or
            in seconds of evaluation wall time when they are not given (the optimizer's
            own time is not charged; it is in :attr:`overhead`).
        cost_small: Cost of one small-scale run (give both costs, or neither).
        cost_large: Cost of one large-scale run.
        acq_func: ``"MF-MES"`` (default), ``"MF-GIBBON"`` (its lower-bound variant),
            ``"MF-KG"`` (multi-fidelity knowledge gradient; 8 fantasies by default,
            ``acq_func_kwargs={"num_fantasies": n}``; several seconds per step), or a
            callable ``(model, context) -> AcquisitionFunction`` that uses
            ``context.cost_utility``.
        acq_func_kwargs: Options of the acquisition.
        n_initial_points: Small-scale space-filling runs before the model chooses.
        random_state: Seed.
        small_fidelity: Fidelity value of the small scale (default 0.5).
        kernel: Fidelity kernel of the shared model.
        journal: JSON-lines journal; the same file resumes a killed run (its trials
            count as spent).
        catch: Objective exceptions recorded as failed trials (they cost too).
        max_consecutive_failures: Stop with ``TooManyFailuresError`` after this many
            failures in a row.
        n_parallel: Evaluations in flight at once (their costs are committed while
            they run).
        executor: ``concurrent.futures.Executor`` or Dask ``Client``.
        progress: Progress bar over the budget.
        callback: Called with each trial this run evaluates.
        large_acq_func: Acquisition that places the large-scale runs once the
            cost-aware acquisition has chosen the large scale (default ``"qNEI"``);
            ``None``: the cost-aware acquisition's own point.
        small_acq_func: The same for the small-scale runs (default ``None``: the
            cost-aware acquisition's own point).
        transfer_guard: Negative-transfer guard (default on here): once 4 large-scale
            runs exist, when a model of the large-scale runs alone predicts them
            better (leave-one-out) than the shared model, the step makes a large-scale
            run from the large-only model instead of weighing a small one, and the
            final recommendation comes from that model (see :meth:`Engine._guard`).
        guard_ratio: How much better the large-only model must predict (its LOO
            error below this fraction of the shared model's; default 1.0 here, plain
            model selection; ``Engine``'s default is 0.5).
        large_model: ``"shared"`` (default here: the cost benchmark's runs), ``"multitask"``
            or ``"auto"``: the model behind the large-scale points and the
            recommendation; see :class:`Engine`.
        winsorize: Clip the bad tail of the values the model is fitted on (diverging
            runs); see :class:`Engine`.
        impute_failures: Show the model each failed trial at the worst value of its
            scale, so a region where runs fail is left (default); see :class:`Engine`.
        exploit_noise_floor: Noise floor of the model behind the exploiting choices:
            the recommendation (the reserved last run, :attr:`recommended_params`) and
            any ``"PM"`` given as ``large_acq_func``/``small_acq_func``. Default
            ``EXPLOIT_NOISE_FLOOR`` (1e-7): the model is fitted again to the same data
            with that lower bound on the inferred noise, as for ``LargeScaleOptimizer``'s
            last run (see :class:`Engine`); any number in ``(0, 1e-2)`` sets another
            bound, ``None`` keeps the exploring model.
        exploit_interpolate: Pin that refit's noise at 1e-9 when the data show no noise,
            so it interpolates the runs (default ``True``); see :class:`Engine`.
        exploit_large_alone: Exploit with the large-scale runs' own GP when it
            interpolates them and the refit that uses the small scale cannot (default
            ``True`` here: the cost benchmark's recommendations on Forrester and Currin,
            README); ``False``: the 24th session's recommendation. See :class:`Engine`.
        warm_fits: Start each fit from the last proposal's hyperparameters, for at most
            50 L-BFGS iterations (default ``True``; ``False``: fits from BoTorch's start,
            to convergence); see :class:`Engine`.

    Attributes:
        best_params, best_score, X_iters, Y_iters: Large-scale results (observed).
        recommended_params: The final recommendation: the large-scale point with the
            best posterior mean of those evaluated at large scale.
        costs: The :class:`~scaleup_bo.cost.Costs` (given or measured).
        overhead: Seconds the optimizer spent choosing each run.
        done: Whether the run is over (budget spent, or a discrete space exhausted, and
            no run in flight).

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
        small_fidelity: float = DEFAULT_SMALL_FIDELITY,
        kernel: Kernel = "linear_truncated",
        journal: str | os.PathLike[str] | None = None,
        catch: type[BaseException] | tuple[type[BaseException], ...] = (Exception,),
        max_consecutive_failures: int | None = 10,
        n_parallel: int = 1,
        executor: Any = None,
        progress: bool = False,
        callback: Callable[[Trial], Any] | None = None,
        large_acq_func: str | AcquisitionBuilder | None = DEFAULT_LARGE_ACQ,
        small_acq_func: str | AcquisitionBuilder | None = None,
        transfer_guard: bool = True,
        guard_ratio: float = SCALEUP_GUARD_RATIO,
        large_model: LargeModel = "shared",
        winsorize: bool = False,
        impute_failures: bool = True,
        exploit_noise_floor: float | None = EXPLOIT_NOISE_FLOOR,
        exploit_interpolate: bool = True,
        exploit_large_alone: bool = True,
        warm_fits: bool = True,
    ) -> None:
        if (objective_small is None) != (objective_large is None):
            raise DataError("give both objectives (or neither, to drive the run by ask/tell).")
        if objective_small is not None:
            _check_callable("objective_small", objective_small)
            _check_callable("objective_large", objective_large)
        if isinstance(budget, bool) or not isinstance(budget, numbers.Real):
            raise DataError(f"budget must be a positive number, got {budget!r}.")
        if not (math.isfinite(float(budget)) and budget > 0):
            raise DataError(f"budget must be a positive finite number, got {budget!r}.")
        if isinstance(acq_func, str) and acq_func not in COST_AWARE:
            raise DataError(
                f"acq_func must be a cost-aware acquisition ({', '.join(COST_AWARE)}) or a "
                f"callable, got {acq_func!r}."
            )
        self.budget = float(budget)
        self.costs = Costs(cost_small, cost_large)
        n_initial_points = _check_count("n_initial_points", n_initial_points, minimum=1)
        if self.costs.given is not None:
            small_cost, large_cost = self.costs.given["small"], self.costs.given["large"]
            if self.budget < small_cost + large_cost:
                raise DataError(
                    f"budget {budget!r} cannot pay for one small-scale run and one large-scale "
                    f"run ({small_cost:g} + {large_cost:g}): a cost-aware run needs both."
                )
            room = int((self.budget - large_cost) // small_cost)
            if room < n_initial_points:
                logger.warning(
                    "budget %g leaves room for %d of the n_initial_points=%d small-scale runs "
                    "besides the large-scale run held back for the recommendation.",
                    self.budget, room, n_initial_points,
                )  # fmt: skip
        self.search_space = search_space
        self.objectives = {"small": objective_small, "large": objective_large}
        self._n_parallel = _check_count("n_parallel", n_parallel, minimum=1)
        if callback is not None:
            _check_callable("callback", callback)
        self._callback = callback
        self.engine = Engine(
            search_space,
            small_fidelity=small_fidelity,
            acq_func=acq_func,
            acq_func_kwargs=acq_func_kwargs,
            n_initial_points=n_initial_points,
            random_state=random_state,
            kernel=kernel,
            journal=journal,
            catch=catch,
            max_consecutive_failures=max_consecutive_failures,
            executor=executor,
            transfer_guard=transfer_guard,
            guard_ratio=guard_ratio,
            large_model=large_model,
            winsorize=winsorize,
            impute_failures=impute_failures,
            exploit_noise_floor=exploit_noise_floor,
            exploit_interpolate=exploit_interpolate,
            exploit_large_alone=exploit_large_alone,
            warm_fits=warm_fits,
        )
        for where in (large_acq_func, small_acq_func):
            if where is not None:
                resolve_acquisition(where)
        self.large_acq_func = large_acq_func
        self.small_acq_func = small_acq_func
        self.overhead: list[float] = []
        self._reserve = True
        self._finished = False
        if self.spent > self.budget * (1 + 1e-9):
            logger.warning(
                "the journal's runs already cost %g %s, over the budget of %g: nothing more "
                "is evaluated.",
                self.spent, self.costs.unit, self.budget,
            )  # fmt: skip
        if objective_small is not None:
            self._run_budget(progress)

    # ------------------------------------------------------------------ budget
    @property
    def spent(self) -> float:
        """Cost of every trial so far (failed ones included)."""
        return self.costs.spent(self.engine.history)

    def _committed(self) -> float:
        """Spent plus the expected cost of the runs in flight."""
        pending = sum(self.costs.cost(s, self.engine.history) for _, s in self.engine.pending)
        return self.spent + (0.0 if math.isnan(pending) else pending)

    def cost(self, scale: str) -> float:
        """Expected cost of the next run at ``scale`` (``nan`` while unmeasured)."""
        return self.costs.cost(scale, self.engine.history)

    @property
    def recommended_params(self) -> list[Any] | None:
        """The large-scale point with the best posterior mean among those evaluated at
        large scale (the best observed one if the model cannot be fitted)."""
        rec = self.engine.recommend(evaluated_only=True)
        return rec if rec is not None else self.best_params

    # ------------------------------------------------------------------ ask/tell
    def ask(self) -> tuple[list[Any], str] | None:
        """The next run as ``(params, scale)``, or ``None`` when the budget is spent
        (or, with runs in flight, when nothing more can be committed until they end).

        The point is pending until :meth:`tell` (or ``engine.cancel``).
        """
        start = time.perf_counter()
        try:
            step = self._next()
        except SpaceExhaustedError as exc:
            logger.warning("%s The run ends here.", exc)
            self._reserve, self._finished = False, True
            return None
        if step is not None:
            self.overhead.append(time.perf_counter() - start)
        return step

    @property
    def done(self) -> bool:
        """Whether the run is over: :meth:`ask` has returned ``None`` with no run in
        flight (budget spent, or a discrete space exhausted). While runs are in flight
        ``ask()`` may return ``None`` only because nothing more can be committed until one
        of them is told."""
        return self._finished and not self.engine.pending

    def tell(
        self, params: Sequence[Any], y: Any, scale: str, *, seconds: float | None = None
    ) -> Trial:
        """Record a run. Without given costs, ``seconds`` (its wall time) is required:
        it is what the run cost."""
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

    def _next(self) -> tuple[list[Any], str] | None:
        engine, history = self.engine, self.engine.history
        pending = engine.pending
        n_small = len(history.at("small")) + sum(s == "small" for _, s in pending)
        n_large = len(history.at("large")) + sum(s == "large" for _, s in pending)
        committed = self._committed()
        reserve = self.cost("large") if self._reserve else 0.0  # nan while unmeasured
        if n_small < engine.n_initial_points and not engine.exhausted("small"):
            # The initial design leaves the held-back large run's cost (when known).
            if self._fits("small", committed + (0.0 if math.isnan(reserve) else reserve), pending):
                return engine.ask("small"), "small"
            return None if pending else self._finish()
        if n_large == 0 and not self.costs.known("large", history):
            # Measured costs: the first large run (the small winner) times the large scale.
            if not any(t.ok for t in history.at("small")) and pending:
                return None  # the first large run waits for a small-scale result
            if self._fits("large", committed, pending):
                return engine.ask("large"), "large"
            return None if pending else self._finish()
        if math.isnan(reserve):
            return None  # the first large-scale run is still being timed
        if engine.exhausted("large"):
            if self._reserve:
                logger.warning(
                    "every point of the search space has been run, or is running, at large "
                    "scale: the run ends with %g of the budget of %g %s spent.",
                    self.spent, self.budget, self.costs.unit,
                )  # fmt: skip
                self._reserve = False
            return None if pending else self._finish()
        affordable = {
            s: self.cost(s)
            for s in SCALES
            if not math.isnan(self.cost(s))
            and committed + self.cost(s) + reserve <= self.budget
            and not engine.exhausted(s)
        }
        if affordable:
            return engine.ask_scale(
                affordable, large_acq_func=self.large_acq_func, small_acq_func=self.small_acq_func
            )
        return None if pending else self._finish()

    def _fits(self, scale: str, committed: float, pending: list[Any]) -> bool:
        """Whether one more run at ``scale`` fits; an unmeasured scale's first run is
        always made (it measures the cost), one at a time."""
        cost = self.cost(scale)
        if math.isnan(cost):
            return not any(s == scale for _, s in pending)
        return committed + cost <= self.budget

    def _finish(self) -> tuple[list[Any], str] | None:
        """Spend the reserve: evaluate the recommendation, or run one more step."""
        if not self._reserve:
            self._finished = True
            return None
        self._reserve = False
        history = self.engine.history
        first = not history.at("large") and not any(s == "large" for _, s in self.engine.pending)
        # The only large run (a tight budget) is the first one: the small winner, as always.
        rec = (self.engine._ask_transfer() if first else None) or self.engine.recommend()
        done = {tuple(self.space.to_unit([t.params])[0].tolist()) for t in history.at("large")}
        # False on reopening a finished run; an unmeasured large cost: the first large
        # run is always made (it measures the cost).
        fits = self._committed() + self.cost("large") <= self.budget or (
            first and math.isnan(self.cost("large"))
        )
        if rec is not None and fits and tuple(self.space.to_unit([rec])[0].tolist()) not in done:
            logger.info("evaluating the recommendation %s at large scale", rec)
            return self.engine.claim(rec, "large"), "large"
        return self._next()

    # ------------------------------------------------------------------ run
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

        executor = resolve_executor(self.engine.executor)
        own = executor is None and self._n_parallel > 1  # a thread pool for this run
        pool = thread_pool(self._n_parallel) if own else contextlib.nullcontext(executor)
        try:
            with pool as executor:
                if executor is not None:
                    evaluate_in_parallel(
                        self.engine,
                        self.objectives,  # type: ignore[arg-type]
                        "large",
                        [],
                        0,
                        n_parallel=self._n_parallel,
                        executor=executor,
                        on_trial=on_trial,
                        next_point=self.ask,
                    )
                else:
                    while (step := self.ask()) is not None:
                        params, scale = step
                        on_trial(self.engine.evaluate(self.objectives[scale], params, scale))  # type: ignore[arg-type]
        except KeyboardInterrupt as exc:
            exc.history = self.engine.history  # type: ignore[attr-defined]
            logger.warning("interrupted after %d trials", len(self.engine.history))
            raise
        finally:
            bar.close()


@contextlib.contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """Seed torch for one proposal (Monte-Carlo acquisitions' base samples, qNEI's
    baseline pruning) without touching the caller's RNG; exact solves up to
    ``MAX_CHOLESKY_SIZE`` points."""
    with (
        torch.random.fork_rng(),
        gpytorch.settings.max_cholesky_size(MAX_CHOLESKY_SIZE),
    ):
        torch.manual_seed(seed)
        yield


def _space_difference(small: list[dict[str, Any]], large: list[dict[str, Any]]) -> str:
    """The first difference between two :meth:`SearchSpace.describe` lists, in words
    (the large stage runs on the small stage's space: the shared model needs one)."""

    def words(d: dict[str, Any]) -> str:
        return ", ".join(f"{k} {v}" for k, v in d.items() if k != "name")

    for i, (a, b) in enumerate(zip(small, large, strict=False)):
        if a == b:
            continue
        if a.get("name") == b.get("name"):
            what = f"dimension {i} ({a.get('name')!r}) is {words(a)} in small, {words(b)} here"
        else:
            what = (
                f"dimension {i} is {a.get('name')!r} ({words(a)}) in small, "
                f"{b.get('name')!r} ({words(b)}) here"
            )
        return f"{what}. The large stage needs the small stage's search space."
    return (
        f"small has {len(small)} dimensions, this search space {len(large)}. The large "
        "stage needs the small stage's search space."
    )


def _is_table(source: Any) -> bool:
    """A DataFrame, a file path, or a list of dict records (not a list of points)."""
    if isinstance(source, (str, os.PathLike)):
        return True
    if hasattr(source, "to_dict") and hasattr(source, "columns"):
        return True
    return isinstance(source, list) and bool(source) and all(isinstance(r, dict) for r in source)


# ---------------------------------------------------------------------- validation helpers
def _guard_rows(train_X: Tensor, imputed: Tensor) -> tuple[Tensor, Tensor] | None:
    """The large-scale rows of ``train_X`` and those of them observed (not imputed
    failures), as masks, when at least ``GUARD_MIN_LARGE`` are observed and small-scale
    rows exist too; else ``None``. What the transfer guard and ``exploit_large_alone``
    need before they fit a GP of the large-scale rows alone."""
    large = torch.isclose(train_X[:, -1], torch.tensor(LARGE_FIDELITY, dtype=train_X.dtype))
    observed = large & ~imputed
    if int(observed.sum()) < GUARD_MIN_LARGE or bool(large.all()):
        return None
    return large, observed


def _loo_error(model: Any, rows: Any) -> float:
    mean, _, observed = loo_predictions(model)
    return float(((mean - observed)[rows] ** 2).mean())


def _fit_name(name: str, noise_floor: float | None) -> str:
    """Cache key of a model fitted with ``noise_floor`` (``None``: BoTorch's)."""
    return name if noise_floor is None else f"{name}@{noise_floor:g}"


def _acq_name(acq_func: str | AcquisitionBuilder) -> str:
    """How an acquisition is recorded in a history's metadata and a journal's header:
    its name, or a callable's ``module.qualname`` (the function a ``functools.partial``
    wraps; an instance's class), the same in every process."""
    if isinstance(acq_func, str):
        return acq_func
    func = acq_func
    while isinstance(func, functools.partial):
        func = func.func
    named = func if hasattr(func, "__qualname__") else type(func)
    return f"{getattr(named, '__module__', '?')}.{named.__qualname__}"


def _check_final_acq_func(final_acq_func: str | AcquisitionBuilder | None) -> None:
    """Refuse an unknown ``final_acq_func`` before anything runs, naming the argument."""
    if final_acq_func is None:
        return
    try:
        resolve_acquisition(final_acq_func)
    except AcquisitionError as exc:
        raise AcquisitionError(f"final_acq_func: {exc}") from None


def _check_scale(scale: str) -> None:
    if scale not in SCALES:
        raise DataError(f"scale must be one of {SCALES}, got {scale!r}.")


def _check_callable(name: str, value: Any) -> None:
    if not callable(value):
        raise DataError(f"{name} must be callable, got {value!r}.")


def _check_count(name: str, value: Any, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise DataError(f"{name} must be an integer, got {value!r}.")
    if value < minimum:
        raise DataError(f"{name} must be >= {minimum}, got {value!r}.")
    return int(value)


def _check_catch(catch: Any) -> tuple[type[BaseException], ...]:
    types = catch if isinstance(catch, tuple) else (catch,)
    if not all(isinstance(t, type) and issubclass(t, BaseException) for t in types):
        raise DataError(f"catch must be an exception class or a tuple of them, got {catch!r}.")
    if any(issubclass(KeyboardInterrupt, t) for t in types):
        raise DataError("catch must not include KeyboardInterrupt (or BaseException).")
    return types


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _as_finite_float(y: Any) -> tuple[float | None, str | None]:
    """``(value, None)`` for a finite real scalar, else ``(None, what y is)``."""
    if y is None:
        return None, "None (no value)"
    if isinstance(y, Tensor):
        y = y.detach().cpu().numpy()
    if isinstance(y, np.ndarray):
        if y.size != 1:
            return None, f"an array of shape {y.shape}, not a scalar"
        y = y.reshape(()).item()
    if isinstance(y, (bool, np.bool_)) or not isinstance(y, numbers.Real):
        return None, f"{y!r}, not a real number"
    value = float(y)
    if not math.isfinite(value):
        return None, f"{value}"
    return value, None


def _check_points(space: SearchSpace, points: Any, name: str) -> list[list[Any]]:
    if isinstance(points, np.ndarray):
        points = points.tolist()
    if isinstance(points, (str, bytes)) or not isinstance(points, Sequence):
        raise DataError(f"{name} must be a list of points, got {type(points).__name__}.")
    out = []
    for i, point in enumerate(points):
        try:
            out.append(space.validate(point))
        except ValueError as exc:
            raise type(exc)(f"{name}[{i}]: {exc}") from exc
    return out


def _check_table(
    space: SearchSpace, X: Any, Y: Any, x_name: str, y_name: str
) -> tuple[list[list[Any]], list[float]]:
    if X is None or Y is None:
        raise DataError(f"{x_name} and {y_name} must both be given.")
    rows = _check_points(space, X, x_name)
    if np.ndim(Y) == 0:
        raise DataError(f"{y_name} must be a sequence of values, got {Y!r}.")
    y = np.asarray(Y, dtype=object).reshape(-1) if not isinstance(Y, np.ndarray) else Y.reshape(-1)
    if len(rows) != len(y):
        raise DataError(f"{x_name} has {len(rows)} rows but {y_name} has {len(y)} values.")
    values = []
    for i, v in enumerate(y):
        value, _ = _as_finite_float(v)
        if value is None:
            raise DataError(
                f"{y_name}[{i}] = {v!r} is not a finite number. Results given as a table are "
                "successful runs: leave a failed run's row out (or tell it with "
                "engine.tell, which records it as a failed trial)."
            )
        values.append(value)
    return rows, values
