"""Parallel evaluation benchmark: wall-clock speed-up and regret, parallel vs sequential.

Run: ``python -m scaleup_bo.benchmarks.parallel [--sleep 1.0] [--seeds 3]``.

1. Wall-clock of 16 large-scale evaluations of a sleep-based objective (Branin plus
   ``time.sleep``), warm-started by 25 small-scale points, with ``n_parallel`` = 1, 2,
   4 on a thread pool and on a ``dask.distributed.LocalCluster`` of 4 single-thread
   process workers.
2. Large-scale regret after 16 evaluations on two benchmark problems (no sleep),
   ``n_parallel`` = 1 versus 4, several seeds.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import statistics
import time
from collections.abc import Sequence
from functools import partial
from typing import Any

from scaleup_bo.benchmarks.problems import PROBLEMS, Problem
from scaleup_bo.optimizers import Engine

__all__ = ["run_large_stage", "sleepy"]


def sleepy(objective: Any, seconds: float, p: Sequence[Any]) -> float:
    """``objective(p)`` after sleeping ``seconds`` (a stand-in for a training job)."""
    time.sleep(seconds)
    return objective(p)


def run_large_stage(
    problem: Problem,
    *,
    n_large: int = 16,
    n_small: int = 25,
    n_parallel: int = 1,
    executor: Any = None,
    sleep: float = 0.0,
    seed: int = 0,
) -> tuple[float, float]:
    """Warm-start with ``n_small`` space-filling small-scale points, then ``n_large``
    large-scale evaluations (the first is the small-scale best).

    Returns:
        ``(wall_seconds of the large stage, best large-scale regret)``.
    """
    engine = Engine(problem.space(), random_state=seed)
    for p in engine.space.sample(n_small, seed=seed):
        engine.tell(p, problem.small(p), "small")
    best_small = list(engine.best("small").params)
    objective = partial(sleepy, problem.large, sleep) if sleep else problem.large
    start = time.perf_counter()
    engine.run(
        objective, "large", [best_small], n_large - 1, n_parallel=n_parallel, executor=executor
    )
    wall = time.perf_counter() - start
    return wall, problem.regret(engine.best("large").value)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sleep", type=float, default=1.0, help="seconds per evaluation")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--problems", nargs="*", default=["branin", "forrester"])
    args = parser.parse_args(argv)

    from distributed import Client, LocalCluster

    problem = PROBLEMS["branin"]
    print(f"Wall-clock, 16 large-scale evaluations of Branin + sleep({args.sleep} s):")
    print(f"{'executor':<10}{'n_parallel':>11}{'wall (s)':>10}{'speed-up':>10}")
    base = None
    for n in [1, 2, 4]:
        with cf.ThreadPoolExecutor(max_workers=n) as pool:
            wall, _ = run_large_stage(problem, n_parallel=n, executor=pool, sleep=args.sleep)
        base = base or wall
        print(f"{'threads':<10}{n:>11}{wall:>10.1f}{base / wall:>10.2f}")
    with (
        LocalCluster(n_workers=4, threads_per_worker=1, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        client.submit(sum, [1]).result()  # workers up
        for n in [1, 2, 4]:
            wall, _ = run_large_stage(problem, n_parallel=n, executor=client, sleep=args.sleep)
            print(f"{'dask':<10}{n:>11}{wall:>10.1f}{base / wall:>10.2f}")

    print()
    print(f"Large-scale regret after 16 evaluations, median [min, max] over {args.seeds} seeds:")
    print(f"{'problem':<12}{'n_parallel=1':>26}{'n_parallel=4':>26}")
    for name in args.problems:
        cells = []
        for n in [1, 4]:
            regrets = [
                run_large_stage(PROBLEMS[name], n_parallel=n, executor=None, seed=s)[1]
                for s in range(args.seeds)
            ]
            cells.append(
                f"{statistics.median(regrets):.4f} [{min(regrets):.4f}, {max(regrets):.4f}]"
            )
        print(f"{name:<12}{cells[0]:>26}{cells[1]:>26}")


if __name__ == "__main__":
    main()
