"""Screen: the acquisition optimizer's budget (``num_restarts``, ``raw_samples``) in the large
stage (not part of the library).

Each run is the benchmark's ``scaleup_bo`` method (``Engine`` with its defaults, the stored
small stage of ``docs/benchmark_results.json``, the small winner first, 11 large runs, the
last one ``"PM"``) with ``Strategy(num_restarts=R, raw_samples=S)``. The default (10, 512)
is the stored ``scaleup_bo`` row of the same seed; each record holds the variant's values
and its seconds per proposal.

Usage (one-thread processes, at most two at a time on 2 cores)::

    OMP_NUM_THREADS=1 python docs/screens/acquisition_budget.py 5,256 forrester,currin 0,1 out.jsonl
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from scaleup_bo import Engine, Strategy
from scaleup_bo.benchmarks.problems import PROBLEMS
from scaleup_bo.benchmarks.runner import load

RESULTS = Path(__file__).resolve().parents[1] / "benchmark_results.json"


def main(budget: str, problems: str, seeds: str, out: str) -> None:
    restarts, samples = (int(v) for v in budget.split(","))
    stored = load(RESULTS)
    strategy = Strategy(num_restarts=restarts, raw_samples=samples)
    with open(out, "a") as f:
        for name in problems.split(","):
            problem = PROBLEMS[name]
            for seed in [int(s) for s in seeds.split(",")]:
                small = stored["small"][name][str(seed)]
                engine = Engine(problem.space(), random_state=seed, strategy=strategy)
                engine.tell_many(small["X"], small["Y"], "small")
                values, seconds = [], []
                for i in range(11):
                    start = time.perf_counter()
                    if i == 0:  # the small winner
                        params = list(small["X"][int(np.argmin(small["Y"]))])
                    else:
                        params = engine.ask("large", acq_func="PM" if i == 10 else None)
                    seconds.append(time.perf_counter() - start)
                    trial = engine.evaluate(problem.large, params, "large")
                    values.append(trial.value if trial.ok else float("nan"))
                record = {
                    "problem": name, "seed": seed, "budget": [restarts, samples],
                    "values": values, "seconds": seconds,
                }  # fmt: skip
                f.write(json.dumps(record) + "\n")
                f.flush()


if __name__ == "__main__":
    main(*sys.argv[1:])
