"""Large-stage methods compared by the benchmark, all with the same signature.

``method(problem, X_small, Y_small, n_large, seed) -> StageResult``: given the
small-scale results (the same for every method of a seed), spend ``n_large``
large-scale evaluations. Methods that ignore the small scale simply do not look at
it. ``StageResult.values`` are the large-scale values in evaluation order;
``overhead`` the seconds each method spent choosing its points (not evaluating).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scaleup_bo.benchmarks.problems import Problem
from scaleup_bo.engine import Engine
from scaleup_bo.space import SearchSpace
from scaleup_bo.strategy import Strategy

__all__ = ["METHODS", "StageResult"]


@dataclass
class StageResult:
    """Large-scale values in evaluation order and the per-proposal overhead (s)."""

    values: list[float] = field(default_factory=list)
    overhead: list[float] = field(default_factory=list)


Method = Callable[[Problem, list[list[Any]], list[float], int, int], StageResult]


def _best_small(X: Sequence[Sequence[Any]], Y: Sequence[float]) -> list[Any]:
    return list(X[int(np.argmin(Y))])


def _engine_loop(
    engine: Engine,
    problem: Problem,
    first: list[Any] | None,
    n: int,
    final_acq_func: str | None = None,
) -> StageResult:
    result = StageResult()
    for i in range(n):
        start = time.perf_counter()
        acq = final_acq_func if i == n - 1 else None
        params = first if (i == 0 and first is not None) else engine.ask("large", acq_func=acq)
        result.overhead.append(time.perf_counter() - start)
        trial = engine.evaluate(problem.large, params, "large")
        result.values.append(trial.value if trial.ok else float("nan"))
    return result


def scaleup_bo(problem: Problem, X: list, Y: list, n_large: int, seed: int) -> StageResult:
    """The library as ``LargeScaleOptimizer`` runs it: first run = the small-scale
    winner, then its default acquisition (qNEI) on its default ``large_model="auto"``
    (the shared two-fidelity model, or a MultiTaskGP where the scales differ by a scale
    factor, or a GP of the large points alone), the last run on the posterior mean's
    maximizer (its default ``final_acq_func``) under the model refitted with its
    ``exploit_noise_floor``."""
    engine = Engine(problem.space(), random_state=seed)
    engine.tell_many(X, Y, "small")
    final = engine.strategy.final_acq_func
    return _engine_loop(engine, problem, _best_small(X, Y), n_large, final)


def large_only(problem: Problem, X: list, Y: list, n_large: int, seed: int) -> StageResult:
    """Our engine with transfer off: 3 space-filling points, then EI on large data only
    (the linear-truncated model; its fidelity column is constant here)."""
    engine = Engine(
        problem.space(), random_state=seed, n_initial_points=3, acq_func="EI",
        strategy=Strategy(large_model="shared"),
    )  # fmt: skip
    return _engine_loop(engine, problem, None, n_large)


def skopt_large(problem: Problem, X: list, Y: list, n_large: int, seed: int) -> StageResult:
    """``skopt.gp_minimize`` on the large scale alone (3 initial points).

    It runs on to ``4 n_large`` evaluations for the moonshot comparison; the regret
    tables read its first ``n_large`` values, which do not depend on how many follow
    (gp_minimize does not know its budget when it proposes).
    """
    from skopt import gp_minimize

    stamps: list[float] = []
    timed: list[float] = []

    def objective(p: list[Any]) -> float:
        stamps.append(time.perf_counter())
        value = problem.large(p)
        timed.append(time.perf_counter() - stamps[-1])
        return value

    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = gp_minimize(
            objective, problem.space(), n_calls=4 * n_large, n_initial_points=min(3, n_large),
            random_state=seed,
        )  # fmt: skip
    total = time.perf_counter() - start - sum(timed)
    n = len(res.func_vals)
    return StageResult([float(v) for v in res.func_vals], [total / max(n, 1)] * n)


def random_search(problem: Problem, X: list, Y: list, n_large: int, seed: int) -> StageResult:
    """Uniform random points (log-uniform where the prior says so) on the large scale."""
    from skopt.space import Space

    points = Space(problem.space()).rvs(n_large, random_state=seed)
    return StageResult([problem.large(p) for p in points], [0.0] * n_large)


def small_best(problem: Problem, X: list, Y: list, n_large: int, seed: int) -> StageResult:
    """Evaluate the small-scale winner at large scale, then stop."""
    return StageResult([problem.large(_best_small(X, Y))], [0.0])


def top_k(problem: Problem, X: list, Y: list, n_large: int, seed: int) -> StageResult:
    """Re-evaluate the ``n_large`` best distinct small-scale configurations, best first."""
    order = np.argsort(Y, kind="stable")
    chosen: list[list[Any]] = []
    for i in order:
        if list(X[i]) not in chosen:
            chosen.append(list(X[i]))
        if len(chosen) == n_large:
            break
    return StageResult([problem.large(p) for p in chosen], [0.0] * len(chosen))


def minimal_loop(problem: Problem, X: list, Y: list, n_large: int, seed: int) -> StageResult:
    """The few-dozen-line loop a BoTorch user would write: shared MF GP (s_small = 0.5,
    default kernel), first large run = small best, then LogEI at s = 1 on the relaxed
    space, rounded."""
    import torch
    from botorch.acquisition import LogExpectedImprovement
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import SingleTaskMultiFidelityGP
    from botorch.models.transforms.outcome import Standardize
    from botorch.optim import optimize_acqf
    from gpytorch.mlls import ExactMarginalLogLikelihood

    space = SearchSpace(problem.space())
    d = space.n_columns
    torch.manual_seed(seed)
    xs, fs, ys = list(X), [0.5] * len(X), list(Y)
    result = StageResult()
    point = _best_small(X, Y)
    for step in range(n_large):
        start = time.perf_counter()
        if step:
            U = space.to_unit(xs)
            train_X = torch.cat([U, torch.tensor(fs, dtype=U.dtype).unsqueeze(-1)], -1)
            train_Y = -torch.tensor(ys, dtype=U.dtype).unsqueeze(-1)
            model = SingleTaskMultiFidelityGP(
                train_X, train_Y, data_fidelities=[d], outcome_transform=Standardize(m=1)
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
            large_y = [y for y, f in zip(ys, fs, strict=True) if f == 1.0]
            acqf = LogExpectedImprovement(model, best_f=-min(large_y))
            bounds = torch.stack([torch.zeros(d + 1), torch.ones(d + 1)]).double()
            cand, _ = optimize_acqf(
                acqf, bounds, q=1, num_restarts=10, raw_samples=512,
                fixed_features={d: 1.0}, options={"seed": seed + step},
            )  # fmt: skip
            point = space.from_unit(cand[:, :d])[0]
        result.overhead.append(time.perf_counter() - start)
        value = problem.large(point)
        result.values.append(value)
        xs.append(point)
        fs.append(1.0)
        ys.append(value)
    return result


#: What the methods that follow the library's defaults run, recorded in a results file's
#: config: a file whose stored runs of such a method were made by another version is not
#: resumed, so one table never mixes two defaults.
METHOD_VERSIONS: dict[str, str] = {
    "scaleup_bo": "LargeScaleOptimizer's defaults: qNEI, large_model 'auto' (spread ratio in "
    "(1.5, 3) or below 1/1.5), the last run PM on the refit with noise floor 1e-7 that "
    "interpolates runs showing no noise, fits warm-started from the previous step's "
    "hyperparameters (at most 50 iterations)",
    # Our engine on the large scale alone: its fits are warm-started too.
    "large_only": "EI on the large runs alone, fits warm-started from the previous step's "
    "hyperparameters (at most 50 iterations)",
    # The cost-aware benchmark's ``ScaleUpOptimizer`` runs (recorded in its file's config).
    "scaleup_cost": "ScaleUpOptimizer's defaults: MF-MES chooses the scale, large points by "
    "qNEI, the guard on, the recommendation on the refit with noise floor 1e-7 that "
    "interpolates runs showing no noise, or on the large runs' own GP when only it "
    "interpolates them, fits warm-started from the previous step's hyperparameters (at most "
    "50 iterations)",
}

#: Methods by name, in table order.
METHODS: dict[str, Method] = {
    "scaleup_bo": scaleup_bo,
    "minimal_loop": minimal_loop,
    "top_k": top_k,
    "small_best": small_best,
    "large_only": large_only,
    "skopt_large": skopt_large,
    "random": random_search,
}
