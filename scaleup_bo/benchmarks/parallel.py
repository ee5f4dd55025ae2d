"""Parallel evaluation benchmark: does running large-scale evaluations at once pay?

Run: ``python -m scaleup_bo.benchmarks.parallel [--sleep 1.0] [--evaluations 8]
[--repeats 3] [--problem branin]``.

The large stage as ``LargeScaleOptimizer`` runs it (the small winner, then proposals, the
last one the model's best guess), warm-started by 25 space-filling small-scale points, on
an objective that sleeps ``--sleep`` seconds (a stand-in for a training job): sequentially,
and on a ``dask.distributed.LocalCluster`` of 2 single-thread process workers with
``n_parallel=2``. It prints the wall time of each, the speed-up, and where the optimizer's
own time goes (the proposals, and the rest: telling, journaling, waiting on the cluster).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence
from functools import partial
from typing import Any

from scaleup_bo.benchmarks.problems import PROBLEMS, Problem
from scaleup_bo.engine import Engine

__all__ = ["run_large_stage", "sleepy"]


def sleepy(objective: Any, seconds: float, p: Sequence[Any]) -> float:
    """``objective(p)`` after sleeping ``seconds`` (a stand-in for a training job)."""
    time.sleep(seconds)
    return objective(p)


class _TimedEngine(Engine):
    """An engine that keeps the duration of each of its proposals."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ask_seconds: list[float] = []

    def ask(self, *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return super().ask(*args, **kwargs)
        finally:
            self.ask_seconds.append(time.perf_counter() - start)


def run_large_stage(
    problem: Problem,
    *,
    n_large: int = 8,
    n_small: int = 25,
    n_parallel: int = 1,
    executor: Any = None,
    sleep: float = 0.0,
    seed: int = 0,
) -> tuple[float, float, list[float]]:
    """Warm-start with ``n_small`` space-filling small-scale points, then ``n_large``
    large-scale evaluations (the first is the small-scale best, the last the model's best
    guess).

    Returns:
        ``(wall seconds of the large stage, best large-scale regret, seconds of each
        proposal)``.
    """
    engine = _TimedEngine(problem.space(), random_state=seed)
    for p in engine.space.sample(n_small, seed=seed):
        engine.tell(p, problem.small(p), "small")
    best_small = list(engine.best("small").params)
    objective = partial(sleepy, problem.large, sleep) if sleep else problem.large
    start = time.perf_counter()
    engine.run(
        objective, "large", [best_small], n_large - 1, n_parallel=n_parallel, executor=executor
    )
    wall = time.perf_counter() - start
    return wall, problem.regret(engine.best("large").value), engine.ask_seconds


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sleep", type=float, default=1.0, help="seconds per evaluation")
    parser.add_argument("--evaluations", type=int, default=8, help="large-scale evaluations")
    parser.add_argument("--repeats", type=int, default=3, help="seeds 0..repeats-1")
    parser.add_argument("--problem", default="branin", choices=sorted(PROBLEMS))
    args = parser.parse_args(argv)

    from distributed import Client, LocalCluster

    problem = PROBLEMS[args.problem]
    rows: dict[str, list[tuple[float, float, list[float]]]] = {"sequential": [], "dask": []}
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        client.submit(sum, [1]).result()  # workers up
        for seed in range(args.repeats):
            for name, n, executor in (("sequential", 1, None), ("dask", 2, client)):
                rows[name].append(
                    run_large_stage(
                        problem,
                        n_large=args.evaluations,
                        n_parallel=n,
                        executor=executor,
                        sleep=args.sleep,
                        seed=seed,
                    )
                )
    print(
        f"{args.problem}, {args.evaluations} large-scale evaluations of {args.sleep:g} s, "
        f"median over seeds 0-{args.repeats - 1}:"
    )
    print(
        f"{'run':<26}{'wall (s)':>10}{'speed-up':>10}{'proposals (s)':>15}"
        f"{'s/proposal':>12}{'other (s)':>11}"
    )
    base = statistics.median(r[0] for r in rows["sequential"])
    for name, label in (("sequential", "sequential"), ("dask", "Dask, 2 workers, 2 at once")):
        wall = statistics.median(r[0] for r in rows[name])
        asks = statistics.median(sum(r[2]) for r in rows[name])
        per = statistics.median(s for r in rows[name] for s in r[2])
        evaluating = args.evaluations * args.sleep if name == "sequential" else 0.0
        other = statistics.median(
            r[0] - sum(r[2]) - evaluating for r in rows[name]
        )  # waiting for a free worker or a result, telling, journaling
        print(
            f"{label:<26}{wall:>10.1f}{base / wall:>10.2f}{asks:>15.1f}{per:>12.2f}{other:>11.1f}"
        )


if __name__ == "__main__":
    main()
