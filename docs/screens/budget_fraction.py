"""Screen: each method given only a fraction of the cost benchmark's budget (not part of
the library).

The cost benchmark's reach at 70% reads the cost-aware optimizer's regret *trace* at 70% of
the budget against the two-stage pipeline's final median. This screen measures the other
reading, a run that is *given* 70% of the budget and so ends with its own exploiting run:

- ``scaleup``: every stored ``scaleup_cost`` run of ``docs/cost_results.json`` is rebuilt
  from its trials up to the last one that leaves room for one large run within
  ``fraction * budget`` (told, not re-run), then continued by ``ScaleUpOptimizer`` with
  that budget until it stops; its last run is the reserved one, the recommendation. The
  rebuilt run fits from BoTorch's start (told trials carry no fits), so it is the stored
  run up to the cut, then a run of the library as checked out.
- ``two_stage``: the main benchmark's ``scaleup_bo`` method (``LargeScaleOptimizer``,
  last run on the posterior mean) from the stored small stage of
  ``docs/benchmark_results.json`` with ``n_large`` large runs instead of 11 (7 large runs:
  25 + 70 = 95, 70.4% of 135).

Each line of ``out`` is one run: problem, seed, the values of the large runs it made (for
``scaleup``, the continued part) and its best large-scale value.

Usage (one-thread processes, at most two at a time on 2 cores)::

    OMP_NUM_THREADS=1 python docs/screens/budget_fraction.py scaleup 0.7 forrester 0,1,2 out.jsonl
    OMP_NUM_THREADS=1 python docs/screens/budget_fraction.py two_stage 7 forrester 0,1,2 out.jsonl
"""

from __future__ import annotations

import json
import math
import sys
import warnings

from scaleup_bo.benchmarks.baselines import scaleup_bo
from scaleup_bo.benchmarks.problems import PROBLEMS
from scaleup_bo.benchmarks.runner import load
from scaleup_bo.optimizers import ScaleUpOptimizer


def scaleup(name: str, seed: str, fraction: float) -> dict:
    data = load("docs/cost_results.json")
    cfg, trace, problem = data["config"], data["traces"][name]["scaleup_cost"][seed], PROBLEMS[name]
    budget = fraction * cfg["budget"]
    opt = ScaleUpOptimizer(
        None, None, problem.space(), budget, cost_small=cfg["cost_small"],
        cost_large=cfg["cost_large"], random_state=int(seed),
    )  # fmt: skip
    best, told = math.inf, 0
    for params, y, scale, cost in zip(
        trace["params"], trace["y"], trace["scale"], trace["cost"], strict=True
    ):
        if cost > budget - cfg["cost_large"] + 1e-9:
            break
        opt.tell(params, y, scale)
        told += 1
        if scale == "large" and y is not None:
            best = min(best, y)
    made = []
    while (step := opt.ask()) is not None:
        params, scale = step
        y = (problem.large if scale == "large" else problem.small)(params)
        opt.tell(params, y, scale)
        made.append([scale, y])
        if scale == "large":
            best = min(best, y)
    return {"told": told, "made": made, "spent": opt.spent, "best": best}


def two_stage(name: str, seed: str, n_large: int) -> dict:
    stage = load("docs/benchmark_results.json")["small"][name][seed]
    result = scaleup_bo(PROBLEMS[name], stage["X"], stage["Y"], n_large, int(seed))
    values = [float(v) for v in result.values]
    return {"values": values, "best": min(values)}


def main(mode: str, size: str, names: str, seeds: str, out: str) -> None:
    warnings.filterwarnings("ignore")
    with open(out, "a") as f:
        for name in names.split(","):
            for seed in seeds.split(","):
                if mode == "scaleup":
                    record = scaleup(name, seed, float(size))
                else:
                    record = two_stage(name, seed, int(size))
                record = {"mode": mode, "size": float(size), "problem": name, "seed": int(seed),
                          **record}  # fmt: skip
                f.write(json.dumps(record) + "\n")
                f.flush()
                print(name, seed, record["best"], flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
