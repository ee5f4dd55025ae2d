"""Screen: ``ScaleUpOptimizer``'s reserved last run made again on the stored runs' states
(not part of the library).

Every ``scaleup_cost`` trace of ``docs/cost_results.json`` holds each trial's point and
value, so the run's state before its last trial can be rebuilt by telling them, without
re-running the optimizer. Here each run is rebuilt twice (ask/tell, the benchmark's
budget 135, small run 1, large run 10) and asked for its last run:

- ``fitted``: with ``model.interpolating`` switched off (the 20th session's default): the
  ask must give the stored last trial back (``same_last``), which checks the replay;
- ``interp``: with the library's default since the 23rd session (the exploiting model's
  noise pinned when its data show no noise), evaluated on the large scale.

Usage (one-thread processes, at most two at a time on 2 cores)::

    OMP_NUM_THREADS=1 python docs/screens/cost_replay.py forrester,currin 0,1,2 out.jsonl
"""

from __future__ import annotations

import json
import sys
import warnings

import scaleup_bo.optimizers as optimizers
from scaleup_bo.benchmarks.problems import PROBLEMS
from scaleup_bo.benchmarks.runner import load
from scaleup_bo.optimizers import ScaleUpOptimizer


def rebuilt(problem, seed: int, trace: dict, budget: float) -> ScaleUpOptimizer:
    opt = ScaleUpOptimizer(
        None, None, problem.space(), budget, cost_small=1.0, cost_large=10.0, random_state=seed
    )
    for params, y, scale in zip(
        trace["params"][:-1], trace["y"][:-1], trace["scale"][:-1], strict=True
    ):
        opt.tell(params, y, scale)
    return opt


def main(problems: str, seeds: str, out: str) -> None:
    warnings.filterwarnings("ignore")
    data = load("docs/cost_results.json")
    budget = data["config"]["budget"]
    with open(out, "a") as f:
        for name in problems.split(","):
            problem = PROBLEMS[name]
            for seed in seeds.split(","):
                trace = data["traces"][name]["scaleup_cost"][seed]
                original = optimizers.interpolating
                optimizers.interpolating = lambda model: (model, {"model": "fitted"})
                try:
                    old = rebuilt(problem, int(seed), trace, budget).ask()
                finally:
                    optimizers.interpolating = original
                opt = rebuilt(problem, int(seed), trace, budget)
                new = opt.ask()
                stored = (trace["params"][-1], trace["scale"][-1])
                same = old is not None and [list(old[0]), old[1]] == [list(stored[0]), stored[1]]
                value = problem.large(new[0]) if new is not None and new[1] == "large" else None
                record = {
                    "problem": name, "seed": int(seed), "same_last": same,
                    "stored_value": trace["y"][-1], "scale": None if new is None else new[1],
                    "params": None if new is None else list(new[0]),
                    "value": value, "evidence": opt.engine.interpolation,
                }  # fmt: skip
                f.write(json.dumps(record, default=str) + "\n")
                f.flush()
                print(
                    name, seed, "same" if same else f"DIFFERENT {old} vs {stored}",
                    record["evidence"].get("model"), trace["y"][-1], value, flush=True,
                )  # fmt: skip


if __name__ == "__main__":
    main(*sys.argv[1:])
