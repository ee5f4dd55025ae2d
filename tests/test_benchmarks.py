"""The benchmark problems: formulas checked against their known optima."""

from __future__ import annotations

import pytest

from scaleup_bo import SearchSpace
from scaleup_bo.benchmarks.problems import PROBLEMS

KNOWN_MINIMISERS = {
    "forrester": [0.757249],
    "currin": [0.21667, 0.0],
    "branin": [-3.141592653589793, 12.275],
    "hartmann6": [0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573],
    "rosenbrock4": [1.0, 1.0, 1.0, 1.0],
    "mixed_toy": [10**-2.2, 4, "adam", 0.45],
}


@pytest.mark.parametrize("name", sorted(PROBLEMS))
def test_optimum_is_reached_at_the_known_minimiser_and_nowhere_below(name):
    problem = PROBLEMS[name]
    assert problem.large(KNOWN_MINIMISERS[name]) == pytest.approx(problem.optimum, abs=2e-4)
    space = SearchSpace(problem.space())
    points = space.sample(512, seed=0)
    assert min(problem.large(p) for p in points) >= problem.optimum - 1e-6
    # The small scale is a different function.
    assert any(problem.small(p) != pytest.approx(problem.large(p)) for p in points[:8])


def test_forrester_small_optimum_is_in_the_wrong_basin():
    problem = PROBLEMS["forrester"]
    grid = [[i / 1000] for i in range(1001)]
    x_small = min(grid, key=problem.small)[0]
    assert problem.regret(problem.large([x_small])) > 5.0


def test_parallel_benchmark_smoke():
    import concurrent.futures as cf

    from scaleup_bo.benchmarks.parallel import run_large_stage

    with cf.ThreadPoolExecutor(max_workers=2) as pool:
        wall, regret = run_large_stage(
            PROBLEMS["branin"], n_large=3, n_small=5, n_parallel=2, executor=pool, sleep=0.01
        )
    assert wall > 0 and regret >= -1e-9


def test_overhead_benchmark_smoke():
    from scaleup_bo.benchmarks.overhead import engine_step_times, skopt_step_times

    assert len(engine_step_times("EI", n_small=5, n_large=2)) == 2
    assert len(skopt_step_times(n_calls=7, n_initial_points=5)) == 2
