"""Screen: ``ScaleUpOptimizer(large_model=<mode>)`` on the cost protocol (not part of the
library).

Runs the cost benchmark's ``scaleup_cost`` method (budget, costs and seeds of
``docs/cost_results.json``) with ``large_model`` set to ``mode`` and compares each run with
the stored one of the same seed: the cost at which it first reaches the two-stage
pipeline's final median (``reach``; ``null`` if never), its regret at 70% of the budget and
at the full budget, and how many runs it made at each scale.

Usage (one-thread processes, at most two at a time on 2 cores)::

    OMP_NUM_THREADS=1 python docs/screens/scaleup_auto.py auto mixed_shift 0,1,2 out.jsonl
"""

from __future__ import annotations

import json
import math
import statistics
import sys
import time
import warnings

from scaleup_bo.benchmarks.budget import regret_at_cost
from scaleup_bo.benchmarks.problems import PROBLEMS
from scaleup_bo.benchmarks.runner import load
from scaleup_bo.optimizers import ScaleUpOptimizer


def main(mode: str, name: str, seeds: str, out: str) -> None:
    warnings.filterwarnings("ignore")
    stored = load("docs/cost_results.json")
    cfg = stored["config"]
    optimum = cfg["optima"][name]
    traces = stored["traces"][name]
    budget = cfg["budget"]
    target = statistics.median(
        regret_at_cost(t, optimum, budget) for t in traces["two_stage"].values()
    )
    problem = PROBLEMS[name]

    def reach(trace: dict) -> float | None:
        for c, v in zip(trace["cost"], trace["value"], strict=True):
            if v is not None and not math.isnan(v) and v - optimum <= target:
                return c
        return None

    for seed in map(int, seeds.split(",")):
        start = time.perf_counter()
        opt = ScaleUpOptimizer(
            problem.small, problem.large, problem.space(), budget,
            cost_small=cfg["cost_small"], cost_large=cfg["cost_large"], random_state=seed,
            large_model=mode,
        )  # fmt: skip
        trials = list(opt.history)
        costs = [opt.costs.trial_cost(t) for t in trials]
        trace = {
            "cost": [sum(costs[: i + 1]) for i in range(len(costs))],
            "value": [t.value if t.ok and t.scale == "large" else math.nan for t in trials],
        }
        old = traces["scaleup_cost"][str(seed)]
        record = {
            "problem": name, "seed": seed, "mode": mode, "target": target,
            "reach": reach(trace), "reach_stored": reach(old),
            "at70": regret_at_cost(trace, optimum, 0.7 * budget),
            "at70_stored": regret_at_cost(old, optimum, 0.7 * budget),
            "final": regret_at_cost(trace, optimum, budget),
            "final_stored": regret_at_cost(old, optimum, budget),
            "n_small": sum(t.scale == "small" for t in trials),
            "n_large": sum(t.scale == "large" for t in trials),
            "seconds": time.perf_counter() - start,
        }  # fmt: skip
        with open(out, "a") as f:
            f.write(json.dumps(record) + "\n")
        print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:5])
