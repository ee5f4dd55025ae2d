"""Optimizer overhead per step (fit + propose), compared with ``skopt.gp_minimize``.

Run: ``python -m scaleup_bo.benchmarks.overhead [--repeats 3]``.

The problem is a cheap 4-D mixed space (log-uniform Real, Integer, string Categorical,
uniform Real), so the time between evaluations is the optimizer's own overhead. For
scaleup_bo, 25 small-scale points are told, then 11 large-scale points are asked and
told one by one; each large-scale ``ask`` (model fit + acquisition optimization) is
timed. For scikit-optimize, ``gp_minimize`` runs 36 calls on the large scale alone
(5 initial points), and the time between consecutive callbacks after the initial
points is taken.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence

from scaleup_bo.benchmarks.problems import mixed_toy_large, mixed_toy_small, mixed_toy_space
from scaleup_bo.engine import Engine
from scaleup_bo.strategy import Strategy

__all__ = ["engine_step_times", "skopt_step_times"]


def engine_step_times(
    acq_func: str = "EI",
    n_small: int = 25,
    n_large: int = 11,
    seed: int = 0,
    *,
    kernel: str = "linear_truncated",
    n_large_known: int = 0,
    large_model: str = "shared",
) -> list[float]:
    """Seconds of each of ``n_large`` model-guided large-scale asks (each then told its
    value), after ``n_small`` small-scale and ``n_large_known`` large-scale space-filling
    points. ``transfer_points=0``: every ask is a model step, none a free re-run.
    ``large_model`` as the :class:`~scaleup_bo.strategy.Strategy`'s (``"shared"`` here:
    the default ``"auto"`` also fits a ``MultiTaskGP``)."""
    strategy = Strategy(kernel=kernel, transfer_points=0, large_model=large_model)  # type: ignore[arg-type]
    engine = Engine(mixed_toy_space(), acq_func=acq_func, random_state=seed, strategy=strategy)
    for p in engine.space.sample(n_small, seed=seed):
        engine.tell(p, mixed_toy_small(p), "small")
    for p in engine.space.sample(n_large_known, seed=seed + 1):
        engine.tell(p, mixed_toy_large(p), "large")
    times = []
    for _ in range(n_large):
        start = time.perf_counter()
        p = engine.ask("large")
        times.append(time.perf_counter() - start)
        engine.tell(p, mixed_toy_large(p), "large")
    return times


def skopt_step_times(n_calls: int = 36, n_initial_points: int = 5, seed: int = 0) -> list[float]:
    """Seconds between consecutive ``gp_minimize`` evaluations after the initial design."""
    from skopt import gp_minimize

    stamps: list[float] = []
    gp_minimize(
        mixed_toy_large,
        mixed_toy_space(),
        n_calls=n_calls,
        n_initial_points=n_initial_points,
        random_state=seed,
        callback=lambda res: stamps.append(time.perf_counter()),
    )
    return [
        b - a
        for a, b in zip(stamps[n_initial_points - 1 :], stamps[n_initial_points:], strict=False)
    ]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3, help="seeds per method")
    parser.add_argument("--acq", nargs="*", default=["EI", "PI", "UCB", "qNEI", "KG", "MES"])
    args = parser.parse_args(argv)
    rows = []
    for acq in args.acq:
        times = [t for s in range(args.repeats) for t in engine_step_times(acq, seed=s)]
        rows.append((f"scaleup_bo {acq} (25 small + 1..11 large)", times))
    sk = [t for s in range(args.repeats) for t in skopt_step_times(seed=s)]
    rows.append(("skopt.gp_minimize (large only, calls 6..36)", sk))
    print(f"{'method':<46}{'median s/step':>14}{'p90 s/step':>12}{'steps':>7}")
    for name, times in rows:
        p90 = sorted(times)[int(0.9 * (len(times) - 1))]
        print(f"{name:<46}{statistics.median(times):>14.3f}{p90:>12.3f}{len(times):>7}")


if __name__ == "__main__":
    main()
