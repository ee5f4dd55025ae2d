"""Screen: ``ScaleUpOptimizer``'s reserved last run made again on the stored runs' states
(not part of the library).

Every ``scaleup_cost`` trace of ``docs/cost_results.json`` holds each trial's point and
value, so the run's state before its last trial can be rebuilt by telling them, without
re-running the optimizer. Here each run is rebuilt twice (ask/tell, the benchmark's
budget 135, small run 1, large run 10) and asked for its last run:

- ``fitted``: with ``exploit_interpolate=False`` (the default before commit 6e074f4);
- ``interp``: with the library's default (the exploiting model's noise pinned when its data
  show no noise), evaluated on the large scale.

The ask of the default that made the file must give its stored last trial back, which
checks the replay: ``same_last`` for the ``fitted`` ask, on the file as it was before
commit e302276 (``git show e302276~1:docs/cost_results.json``, where it held on all 180
runs); ``same_interp`` for the ``interp`` ask, on the file since (which holds these runs).
Told trials carry no fitted hyperparameters, so the rebuilt run fits from BoTorch's start.
The cold-fit runs (before commit 7091efb) fitted so too. The warm-fit runs warm-start their
exploring fits from hyperparameters the traces do not keep, but the exploiting refit behind
the last run starts cold in them as well (the proposal before it fitted no such model): the
replays of ``docs/screens/final_model.py`` gave the stored last run back on all 62 warm-fit
runs they asked; a guard decision made on the exploring fits could still differ.

Usage (one-thread processes, at most two at a time on 2 cores)::

    OMP_NUM_THREADS=1 python docs/screens/cost_replay.py forrester,currin 0,1,2 out.jsonl
"""

from __future__ import annotations

import json
import sys
import warnings
from collections.abc import Iterator
from typing import Any

from scaleup_bo.benchmarks.problems import PROBLEMS
from scaleup_bo.benchmarks.runner import load
from scaleup_bo.optimizers import ScaleUpOptimizer

FILE = "docs/cost_results.json"


def rebuilt(
    problem, seed: int, trace: dict, budget: float, interpolate: bool, **options
) -> ScaleUpOptimizer:
    """The run's state before its last trial (``options``: more ``ScaleUpOptimizer``
    arguments, as ``docs/screens/final_model.py`` passes)."""
    opt = ScaleUpOptimizer(
        None, None, problem.space(), budget, cost_small=1.0, cost_large=10.0,
        random_state=seed, exploit_interpolate=interpolate, **options,
    )  # fmt: skip
    for params, y, scale in zip(
        trace["params"][:-1], trace["y"][:-1], trace["scale"][:-1], strict=True
    ):
        opt.tell(params, y, scale)
    return opt


def stored_runs(problems: str, seeds: str) -> Iterator[tuple[str, Any, int, dict, float]]:
    """``(name, problem, seed, trace, budget)`` for every comma-separated problem and seed:
    the stored ``scaleup_cost`` run of ``FILE`` (warnings silenced for the screen)."""
    warnings.filterwarnings("ignore")
    data = load(FILE)
    for name in problems.split(","):
        for seed in seeds.split(","):
            trace = data["traces"][name]["scaleup_cost"][seed]
            yield name, PROBLEMS[name], int(seed), trace, data["config"]["budget"]


def same_as_stored(asked: tuple[list, str] | None, trace: dict) -> bool:
    """Whether ``asked`` (an ``ask()``'s ``(params, scale)``) is the run's stored last trial."""
    stored = [list(trace["params"][-1]), trace["scale"][-1]]
    return asked is not None and [list(asked[0]), asked[1]] == stored


def evaluated(problem, asked: tuple[list, str] | None) -> float | None:
    """The value of ``asked`` at its own scale (``None`` when nothing was asked)."""
    if asked is None:
        return None
    return (problem.large if asked[1] == "large" else problem.small)(asked[0])


def main(problems: str, seeds: str, out: str) -> None:
    with open(out, "a") as f:
        for name, problem, seed, trace, budget in stored_runs(problems, seeds):
            old = rebuilt(problem, seed, trace, budget, False).ask()
            opt = rebuilt(problem, seed, trace, budget, True)
            new = opt.ask()
            same = same_as_stored(old, trace)
            value = problem.large(new[0]) if new is not None and new[1] == "large" else None
            record = {
                "problem": name, "seed": seed, "same_last": same,
                "same_interp": same_as_stored(new, trace),
                "stored_value": trace["y"][-1], "scale": None if new is None else new[1],
                "params": None if new is None else list(new[0]),
                "value": value, "evidence": opt.engine.interpolation,
            }  # fmt: skip
            f.write(json.dumps(record, default=str) + "\n")
            f.flush()
            print(
                name, seed, f"same_last={same} same_interp={record['same_interp']}",
                record["evidence"].get("model"), trace["y"][-1], value, flush=True,
            )  # fmt: skip


if __name__ == "__main__":
    main(*sys.argv[1:])
