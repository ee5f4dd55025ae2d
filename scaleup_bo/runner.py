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
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from scaleup_bo.exceptions import DataError, SpaceExhaustedError

if TYPE_CHECKING:
    from scaleup_bo.engine import Engine
    from scaleup_bo.history import Trial

__all__ = [
    "WAIT_REPORT_SECONDS",
    "check_transferable",
    "plan",
    "resolve_executor",
    "run",
    "thread_pool",
    "timed_call",
]

logger = logging.getLogger("scaleup_bo")

#: Seconds without a finished evaluation after which a parallel run says what it waits for.
WAIT_REPORT_SECONDS = 300.0

Objective = Callable[[list[Any]], Any]
#: ``(in_flight) -> (params, scale)`` (pending in the engine already) or ``None``.
StepSource = Callable[[int], "tuple[list[Any], str] | None"]


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
    except BaseException:
        # Stopping (interrupt, too many failures, an uncaught error): withdraw the rest.
        for future, (_, params, scale, _) in in_flight.items():
            future.cancel()
            engine.cancel(params, scale)
        if in_flight:
            logger.warning("stopped with %d evaluations in flight; not recorded", len(in_flight))
        raise
    return trials


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
    todo = [list(p) for p in points]
    left = n_asks

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
