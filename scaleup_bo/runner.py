"""The one run loop: sequential, on a thread or process pool, or on a Dask cluster.

:func:`run` keeps up to ``n_parallel`` evaluations in flight on an executor (a
``concurrent.futures.Executor`` or a ``dask.distributed.Client``; without one, each
evaluation runs here, in order). It asks a *step source* for the next run whenever a
slot is free: a point and its scale (pending in the engine), or ``None`` for nothing now.
Every result is told to the engine (and so journaled) the moment it arrives; the run
ends when the source has nothing and nothing is in flight. The façades, ``Engine.run``
and ``ScaleUpOptimizer`` all run through it; :func:`plan` is the source of a fixed
number of evaluations at one scale.

Parallel runs are not bit-for-bit reproducible: proposals depend on the order in
which evaluations finish.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import pickle
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from scaleup_bo._validate import check_callable, check_catch, check_count, check_points, describe
from scaleup_bo.exceptions import DataError, SpaceExhaustedError, TooManyFailuresError
from scaleup_bo.history import Trial
from scaleup_bo.strategy import Strategy

if TYPE_CHECKING:
    from scaleup_bo.engine import Engine

__all__ = [
    "WAIT_REPORT_SECONDS",
    "FailurePolicy",
    "Step",
    "check_transferable",
    "plan",
    "resolve_executor",
    "run",
    "run_plan",
    "thread_pool",
    "timed_call",
]

logger = logging.getLogger("scaleup_bo")

#: Seconds without a finished evaluation after which a parallel run says what it waits for.
WAIT_REPORT_SECONDS = 300.0

Objective = Callable[[list[Any]], Any]
#: ``(in_flight) -> (params, scale)`` (pending in the engine already) or ``None``.
StepSource = Callable[[int], "tuple[list[Any], str] | None"]


class FailurePolicy:
    """What a run does when an objective fails: the failure is recorded as a failed trial
    and the run goes on, unless the exception is not one of ``catch`` (recorded, then
    re-raised) or ``max_consecutive_failures`` evaluations in a row failed
    (``TooManyFailuresError``, its ``.history`` holding every trial; ``None``: never).
    Results told by the caller do not count: only evaluations."""

    def __init__(
        self,
        catch: type[BaseException] | tuple[type[BaseException], ...] = (Exception,),
        max_consecutive_failures: int | None = 10,
    ) -> None:
        self.catch = check_catch(catch)
        if max_consecutive_failures is not None:
            check_count("max_consecutive_failures", max_consecutive_failures, minimum=1)
        self.max_consecutive_failures = max_consecutive_failures
        self.in_a_row = 0

    def record(
        self, engine: Engine, params: Any, scale: str, y: Any, seconds: float,
        exc: BaseException | None,
    ) -> Trial:  # fmt: skip
        """Tell ``engine`` an evaluation's outcome (``exc``: the exception it raised)."""
        if exc is None:
            trial = engine.tell(params, y, scale, seconds=seconds)
        else:
            trial = engine.tell(params, None, scale, seconds=seconds, error=describe(exc))
            if not isinstance(exc, self.catch):
                raise exc
        self.in_a_row = 0 if trial.ok else self.in_a_row + 1
        limit = self.max_consecutive_failures
        if limit is not None and self.in_a_row >= limit:
            raise TooManyFailuresError(
                f"{limit} evaluations in a row failed (last: {trial.error}); stopping. "
                "The history so far is kept on this exception's .history.",
                history=engine.history,
            )
        return trial


def run(
    engine: Engine,
    objectives: Mapping[str, Objective],
    next_step: StepSource,
    *,
    n_parallel: int = 1,
    executor: Any = None,
    on_trial: Callable[[Trial], Any] | None = None,
) -> list[Trial]:
    """Evaluate what ``next_step`` proposes, ``n_parallel`` at a time, until it has
    nothing more and nothing is in flight.

    Args:
        engine: Records every result (``engine.record``: the failure policy applies).
        objectives: The objective of each scale.
        next_step: The step source, called with the number of evaluations in flight.
        n_parallel: Evaluations in flight at once.
        executor: Where they run (see :func:`resolve_executor`); ``None`` with
            ``n_parallel > 1``: a pool of that many threads for this run.
        on_trial: Called with each recorded trial, in completion order.

    Returns:
        The recorded trials, in completion order.
    """
    n_parallel = check_count("n_parallel", n_parallel, minimum=1)
    for f in objectives.values():
        check_callable("objective", f)
    if on_trial is not None:
        check_callable("callback", on_trial)
    executor = resolve_executor(executor)
    if executor is None and n_parallel > 1:
        with thread_pool(n_parallel) as pool:
            return run(
                engine, objectives, next_step, n_parallel=n_parallel, executor=pool,
                on_trial=on_trial,
            )  # fmt: skip
    for f in objectives.values():
        check_transferable(f, executor)
    submit = _inline if executor is None else executor.submit
    in_flight: dict[cf.Future[Any], tuple[int, list[Any], str, float]] = {}
    trials: list[Trial] = []
    submitted = 0
    try:
        while True:
            while len(in_flight) < n_parallel and (step := next_step(len(in_flight))):
                params, scale = step
                try:
                    future = submit(timed_call, objectives[scale], params)
                except BaseException:  # interrupted mid-evaluation (inline) or not sent
                    engine.cancel(params, scale)
                    raise
                in_flight[future] = (submitted, params, scale, time.perf_counter())
                submitted += 1
            if not in_flight:
                break
            done, _ = cf.wait(
                in_flight, timeout=WAIT_REPORT_SECONDS, return_when=cf.FIRST_COMPLETED
            )
            if not done:
                _report_wait(executor, in_flight)
                continue
            for future in sorted(done, key=lambda f: in_flight[f][0]):
                _, params, scale, started = in_flight.pop(future)
                try:
                    y, seconds, exc = future.result()
                except Exception as died:  # the worker died (or could not run the call)
                    trial = engine.record(params, scale, None, time.perf_counter() - started, died)
                else:
                    trial = engine.record(params, scale, y, seconds, exc)
                trials.append(trial)
                if on_trial is not None:
                    on_trial(trial)
    except BaseException as exc:
        # Stopping (interrupt, too many failures, an uncaught error): withdraw the rest.
        for future, (_, params, scale, _) in in_flight.items():
            future.cancel()
            engine.cancel(params, scale)
        if in_flight:
            logger.warning("stopped with %d evaluations in flight; not recorded", len(in_flight))
        _hand_over(engine, exc)
        raise
    return trials


def _hand_over(engine: Engine, exc: BaseException) -> None:
    """An interrupted run (whose constructor, say, does not return) hands the trials
    recorded so far over on the exception."""
    if isinstance(exc, KeyboardInterrupt) and not hasattr(exc, "history"):
        exc.history = engine.history  # type: ignore[attr-defined]
        journal = engine.journal
        logger.warning(
            "interrupted after %d trials; they are on the exception's .history%s",
            len(engine.history), "" if journal is None else f" and in {journal.path}",
        )  # fmt: skip


def plan(
    engine: Engine,
    scale: str,
    points: Sequence[Sequence[Any]],
    n_asks: int,
    final_acq_func: Any = None,
) -> StepSource:
    """The step source of a fixed run at ``scale``: ``points`` first (claimed while in
    flight), then ``n_asks`` proposals, the last of them with ``final_acq_func`` (which
    waits until nothing else is in flight, so it sees every result). A discrete space that
    runs out ends the proposals early, with a warning."""
    if final_acq_func is not None:
        Strategy(final_acq_func=final_acq_func)  # refuse an unknown one, naming it
    todo = check_points(engine.space, points, "points")
    left = n_asks = check_count("n_asks", n_asks)

    def next_step(in_flight: int) -> tuple[list[Any], str] | None:
        nonlocal left
        if todo:
            return engine.claim(todo.pop(0), scale), scale
        if left == 0 or (left == 1 and final_acq_func is not None and in_flight):
            return None
        try:
            params = engine.ask(scale, acq_func=final_acq_func if left == 1 else None)
        except SpaceExhaustedError as exc:
            logger.warning("%s Stopping after %d of %d proposals.", exc, n_asks - left, n_asks)
            left = 0
            return None
        left -= 1
        return params, scale

    return next_step


class Step:
    """One planned trial: ``"tell"`` a known result (``trial``), ``"evaluate"`` a point
    (``params``), or ``"ask"`` for a proposal, at ``scale``."""

    def __init__(
        self, kind: str, scale: str, params: list[Any] | None = None, trial: Trial | None = None
    ) -> None:
        self.kind, self.scale, self.params, self.trial = kind, scale, params, trial

    @classmethod
    def known(
        cls, points: Sequence[Sequence[Any]], values: Sequence[float], scale: str
    ) -> list[Step]:
        """Steps recording known results (no evaluation)."""
        return [
            cls("tell", scale, trial=Trial(0, tuple(p), v, scale))
            for p, v in zip(points, values, strict=True)
        ]

    @classmethod
    def of_trials(cls, trials: Iterable[Trial]) -> list[Step]:
        """Steps recording earlier trials as they are (failures included)."""
        return [cls("tell", t.scale, trial=t) for t in trials]

    def matches(self, recorded: Trial) -> bool:
        """Whether a journal's trial is this step's."""
        expected = self.trial.params if self.trial is not None else self.params
        same = recorded.scale == self.scale and (
            expected is None or tuple(recorded.params) == tuple(expected)
        )
        if self.trial is not None and self.trial.ok:
            same = same and recorded.value == self.trial.value
        return same

    def describe(self) -> str:
        expected = self.trial.params if self.trial is not None else self.params
        return f"a {self.scale}-scale {'proposal' if expected is None else list(expected)}"


def run_plan(
    engine: Engine,
    objective: Objective,
    scale: str,
    steps: Sequence[Step],
    *,
    n_parallel: int = 1,
    on_trial: Callable[[Trial, bool], Any] | None = None,
) -> None:
    """Run a fixed plan whose evaluations are at ``scale``. With a journal, the trials it
    already holds stand for the first steps: they are checked against the plan and
    skipped, so a resumed run neither loses nor repeats an evaluation. ``on_trial`` is
    called with each new trial and whether it was evaluated (known results are not)."""
    done = len(engine.history)
    for i, (step, recorded) in enumerate(zip(steps, engine.history, strict=False)):
        if not step.matches(recorded):
            raise DataError(
                f"the journal does not match this run: its trial {i} is {recorded.scale}-scale "
                f"{list(recorded.params)}, this run plans {step.describe()} there. "
                "Use a new journal file for a different run."
            )
    if done > len(steps):
        logger.warning(
            "the journal %s holds %d trials, more than the %d this run plans (smaller "
            "n_steps?): all are kept and nothing more is evaluated.",
            engine.journal.path if engine.journal else "", done, len(steps),
        )  # fmt: skip
    remaining = steps[done:]
    evaluated = [s for s in remaining if s.kind != "tell"]
    final = engine.strategy.final_acq_func if scale == "large" else None
    source = plan(
        engine, scale, [s.params for s in evaluated if s.kind == "evaluate"],
        sum(s.kind == "ask" for s in evaluated), final,
    )  # fmt: skip
    try:
        for step in remaining:
            if step.kind == "tell":  # a known result: no evaluation
                t = step.trial
                assert t is not None
                # Without its hyperparameters: another run's fits (a small stage's own model,
                # say) are no start for this run's first fit.
                trial = engine.tell(t.params, t.value, t.scale, seconds=t.seconds, error=t.error)
                if on_trial is not None:
                    on_trial(trial, False)
    except BaseException as exc:
        _hand_over(engine, exc)
        raise
    run(
        engine, {scale: objective}, source, n_parallel=n_parallel, executor=engine.executor,
        on_trial=None if on_trial is None else (lambda trial: on_trial(trial, True)),
    )  # fmt: skip


def _inline(fn: Callable[..., Any], *args: Any) -> cf.Future[Any]:
    """Run ``fn(*args)`` here and now: the sequential run's executor. A
    ``KeyboardInterrupt`` propagates at once and records nothing."""
    future: cf.Future[Any] = cf.Future()
    future.set_result(fn(*args))
    return future


def _report_wait(executor: Any, in_flight: Mapping[Any, tuple[Any, ...]]) -> None:
    """Log what a parallel run has been waiting for (no evaluation finished for
    :data:`WAIT_REPORT_SECONDS`), and say so when a Dask cluster has no worker left to
    run them (its workers died, or an adaptive cluster has not started any yet)."""
    oldest = time.perf_counter() - min(started for *_, started in in_flight.values())
    logger.info(
        "waiting for %d evaluation(s) in flight, the oldest started %.0f s ago",
        len(in_flight), oldest,
    )  # fmt: skip
    client = getattr(executor, "_client", None)  # a Dask ClientExecutor
    if client is None:
        return
    try:
        workers = client.scheduler_info().get("workers", {})
    except Exception:  # a closing client: the futures will error
        return
    if not workers:
        logger.warning(
            "the Dask cluster has no workers: %d evaluation(s) wait until one joins "
            "(workers that kept dying are not restarted; scale the cluster, or interrupt "
            "and resume from the journal).",
            len(in_flight),
        )


def resolve_executor(executor: Any) -> cf.Executor | None:
    """Accept ``None``, any ``concurrent.futures.Executor`` or a Dask ``Client``.

    Raises:
        DataError: anything else.
    """
    if executor is None or isinstance(executor, cf.Executor):
        return executor
    if type(executor).__module__.startswith("distributed") and hasattr(executor, "get_executor"):
        # pure=False: never reuse a cached result, even for the same arguments.
        return executor.get_executor(pure=False)
    raise DataError(
        "executor must be a concurrent.futures.Executor or a dask.distributed.Client, "
        f"got {type(executor).__name__}."
    )


def check_transferable(objective: Callable[..., Any], executor: cf.Executor | None) -> None:
    """Fail before anything runs when ``objective`` cannot be sent to the workers.

    Threads share memory and need nothing. Process pools pickle the function; Dask
    uses cloudpickle (which also handles lambdas and closures).

    Raises:
        DataError: the objective cannot be serialized for this executor.
    """
    if executor is None or isinstance(executor, cf.ThreadPoolExecutor):
        return
    try:
        if isinstance(executor, cf.ProcessPoolExecutor):
            pickle.dumps(objective)
        else:
            import cloudpickle

            cloudpickle.dumps(objective)
    except Exception as exc:
        raise DataError(
            f"objective_func cannot be sent to the workers of {type(executor).__name__} "
            f"({type(exc).__name__}: {exc}). Define it at module level without unpicklable "
            "state (open files, locks, live connections), or use a ThreadPoolExecutor."
        ) from exc


def timed_call(
    objective: Callable[[list[Any]], Any], params: list[Any]
) -> tuple[Any, float, Exception | None]:
    """Run on a worker: ``(objective(params), seconds, None)``, or ``(None, seconds,
    exception)`` when the objective raised, so a failed run is charged its own time, not
    its time in the queue."""
    start = time.perf_counter()
    try:
        y = objective(list(params))
    except Exception as exc:
        return None, time.perf_counter() - start, exc
    return y, time.perf_counter() - start, None


@contextmanager
def thread_pool(n_workers: int) -> Iterator[cf.ThreadPoolExecutor]:
    """A pool of ``n_workers`` threads for one run. On ``KeyboardInterrupt`` the caller
    gets it at once: the evaluations still running are abandoned (their threads finish in
    the background, unrecorded), not waited for. On any other exception the queued ones
    are cancelled and the running ones waited for, so none is still running when the
    caller (say, resuming from the journal) starts them again."""
    pool = cf.ThreadPoolExecutor(max_workers=n_workers)
    try:
        yield pool
    except KeyboardInterrupt:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    except BaseException:
        pool.shutdown(cancel_futures=True)
        raise
    pool.shutdown()
