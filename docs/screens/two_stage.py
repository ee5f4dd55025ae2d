"""The two-stage protocol that the screens of this folder vary (not part of the library).

Each run is the benchmark's ``scaleup_bo`` method: the stored small stage of
``docs/benchmark_results.json``, then 11 large-scale runs, the small winner first. A screen
supplies the engine; every run appends one JSON line to ``out``: problem, seed, mode, the
seconds each proposal took (overhead), the best large-scale value and its regret after
k = 1..11 large-scale runs (``digits_mlp`` has no known optimum: its regret is NaN), and any
fields the screen's ``describe`` adds.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Iterator
from typing import Any

from scaleup_bo.benchmarks.baselines import _best_small, _engine_loop
from scaleup_bo.benchmarks.problems import PROBLEMS, Problem
from scaleup_bo.benchmarks.runner import load
from scaleup_bo.optimizers import DEFAULT_LARGE_ACQ, Engine

N_LARGE = 11


def run_screen(
    mode: str,
    problems: str,
    seeds: str,
    out: str,
    make_engine: Callable[[Problem, int], Engine],
    describe: Callable[[Engine], dict[str, Any]] | None = None,
) -> None:
    """Run ``make_engine(problem, seed)`` through the protocol for every comma-separated
    problem and seed, appending a record per run to ``out``."""
    with open(out, "a") as f:
        for name, problem, seed, X, Y in stored_stages(problems, seeds):
            engine = make_engine(problem, seed)
            engine.tell_many(X, Y, "small")
            result = _engine_loop(engine, problem, _best_small(X, Y), N_LARGE)
            best = [min(result.values[: k + 1]) for k in range(N_LARGE)]
            regret = [problem.regret(v) for v in best]
            extra = describe(engine) if describe is not None else {}
            record = {"problem": name, "seed": seed, "mode": mode, **extra}
            record.update(regret=regret, best=best, overhead=result.overhead)
            f.write(json.dumps(record) + "\n")
            f.flush()
            shown = " ".join(f"{k}={_short(v)}" for k, v in extra.items() if v is not None)
            print(name, seed, mode, f"{regret[-1]:.3g}", shown, flush=True)


def stored_stages(problems: str, seeds: str) -> Iterator[tuple[str, Problem, int, list, list]]:
    """``(name, problem, seed, X, Y)`` for every comma-separated problem and seed: the small
    stage stored in ``docs/benchmark_results.json`` (warnings silenced for the screen)."""
    warnings.filterwarnings("ignore")
    stages = load("docs/benchmark_results.json")["small"]
    for name in problems.split(","):
        for seed in map(int, seeds.split(",")):
            stage = stages[name][str(seed)]
            yield name, PROBLEMS[name], seed, stage["X"], stage["Y"]


def before_last_run(problem: Problem, seed: int, X: list, Y: list) -> tuple[Engine, list[float]]:
    """The benchmark's ``scaleup_bo`` run up to its 10th large-scale run (the small winner
    first, then qNEI on ``large_model="auto"``): the engine, ready to make the 11th (last)
    run, and the 10 values."""
    engine = Engine(
        problem.space(), random_state=seed, acq_func=DEFAULT_LARGE_ACQ, large_model="auto"
    )
    engine.tell_many(X, Y, "small")
    first = _best_small(X, Y)
    values = []
    for i in range(N_LARGE - 1):
        params = first if i == 0 else engine.ask("large")
        values.append(engine.evaluate(problem.large, params, "large").value)
    return engine, values


def _short(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_short(v) for v in value) + "]"
    return f"{value:.2g}" if isinstance(value, float) else str(value)
