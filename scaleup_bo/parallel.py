"""Evaluating through a ``concurrent.futures.Executor`` (local pools, Dask).

:func:`evaluate_in_parallel` keeps ``n_parallel`` evaluations in flight on any
executor — a ``ThreadPoolExecutor``, a ``ProcessPoolExecutor``, or a
``dask.distributed.Client`` (through its ``get_executor()``). Whenever one finishes,
its result is told to the engine (and so written to the journal at once) and a new
point is proposed, conditioned on the points still being evaluated.

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
from typing import Any

from scaleup_bo.acquisition import resolve_acquisition
from scaleup_bo.exceptions import DataError, SpaceExhaustedError

__all__ = [
    "check_transferable",
    "evaluate_in_parallel",
    "resolve_executor",
    "thread_pool",
    "timed_call",
]

logger = logging.getLogger("scaleup_bo")


def log_exhausted(exc: SpaceExhaustedError, made: int, planned: int) -> None:
    """Say that a run of ``planned`` proposals stops after ``made`` of them because the
    space is exhausted (what :meth:`Engine.run` and :func:`evaluate_in_parallel` do
    rather than propose a point again)."""
    logger.warning("%s Stopping after %d of %d proposals.", exc, made, planned)


#: Seconds without a finished evaluation after which a parallel run says what it waits for.
WAIT_REPORT_SECONDS = 300.0


def _report_wait(executor: cf.Executor, in_flight: Mapping[Any, tuple[Any, ...]]) -> None:
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


def evaluate_in_parallel(
    engine: Any,
    objective: Callable[[list[Any]], Any] | Mapping[str, Callable[[list[Any]], Any]],
    scale: str,
    points: Sequence[Sequence[Any]],
    n_asks: int,
    *,
    n_parallel: int,
    executor: cf.Executor,
    on_trial: Callable[[Any], Any] | None = None,
    next_point: Callable[[], tuple[list[Any], str] | None] | None = None,
    final_acq_func: Any = None,
) -> list[Any]:
    """Evaluate ``points`` then ``n_asks`` proposals, ``n_parallel`` at a time.

    Args:
        engine: The :class:`~scaleup_bo.optimizers.Engine` (asks, claims and tells).
        objective: ``f(params) -> float``, or one per scale (``{"small": f, "large": g}``).
        scale: Scale of every evaluation (of ``points`` and of ``engine.ask``).
        points: Points to evaluate first (claimed as pending while in flight).
        n_asks: Number of proposals to evaluate afterwards.
        n_parallel: Evaluations in flight at once.
        executor: Where to run them.
        on_trial: Called with each recorded trial, in completion order.
        next_point: Instead of ``n_asks`` calls of ``engine.ask(scale)``: called
            whenever a worker is free; returns ``(params, scale)`` (pending already) or
            ``None`` for nothing now. The run ends when it returns ``None`` with
            nothing in flight.
        final_acq_func: Acquisition of the last of the ``n_asks`` proposals (``None``:
            the engine's); that proposal waits until nothing else is in flight.

    Returns:
        The recorded trials, in completion order.
    """
    objectives = objective if isinstance(objective, Mapping) else {scale: objective}
    for f in objectives.values():
        check_transferable(f, executor)
    if final_acq_func is not None:
        resolve_acquisition(final_acq_func)
    todo: list[list[Any] | None] = [list(p) for p in points] + [None] * n_asks
    in_flight: dict[cf.Future[Any], tuple[int, list[Any], str, float]] = {}
    trials = []
    submitted = 0
    try:
        while True:
            while len(in_flight) < n_parallel and (todo or next_point is not None):
                if todo:
                    if todo == [None] and final_acq_func is not None and in_flight:
                        break  # the final proposal waits for every result
                    point = todo.pop(0)
                    at = scale
                    if point is None:
                        last = final_acq_func if not todo else None
                        try:
                            params = engine.ask(scale, acq_func=last)
                        except SpaceExhaustedError as exc:
                            log_exhausted(exc, n_asks - len(todo) - 1, n_asks)
                            todo = [p for p in todo if p is not None]
                            continue
                    else:
                        params = engine.claim(point, scale)
                else:
                    assert next_point is not None
                    chosen = next_point()
                    if chosen is None:
                        break
                    params, at = chosen
                future = executor.submit(timed_call, objectives[at], params)
                in_flight[future] = (submitted, params, at, time.perf_counter())
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
                _, params, at, started = in_flight.pop(future)
                try:
                    y, seconds, exc = future.result()
                except Exception as died:  # the worker died (or could not run the call)
                    trial = engine.record(params, at, None, time.perf_counter() - started, died)
                else:
                    trial = engine.record(params, at, y, seconds, exc)
                trials.append(trial)
                if on_trial is not None:
                    on_trial(trial)
    except BaseException:
        # Stopping (interrupt, too many failures, an uncaught error): withdraw the rest.
        for future, (_, params, at, _) in in_flight.items():
            future.cancel()
            engine.cancel(params, at)
        if in_flight:
            logger.warning("stopped with %d evaluations in flight; not recorded", len(in_flight))
        raise
    return trials
