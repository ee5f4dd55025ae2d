"""Screen: warm-started fits and their iteration cap (not part of the library).

Each run is the benchmark's ``scaleup_bo`` method (the stored small stage of
``docs/benchmark_results.json``, the small winner first, then qNEI on
``large_model="auto"``, the last run ``"PM"``), with its fits:

- ``cold``: every fit from BoTorch's initial values, run to convergence (the library
  before commit 7091efb);
- ``capN``: warm-started from the last proposal's fits, at most ``N`` L-BFGS iterations
  (the library's default is ``cap50``, ``scaleup_bo.model.WARM_FIT_MAX_ITERATIONS``);
- ``uncapped``: warm-started, run to convergence.

The mode ``cap50`` is the library as it is, and ``cold`` the library before commit
7091efb, so their records equal the benchmark's ``scaleup_bo`` rows of either.

Usage (one-thread processes, at most two at a time on 2 cores)::

    OMP_NUM_THREADS=1 python docs/screens/warm_start.py cap100 mixed_toy 0,1,2 out.jsonl
"""

from __future__ import annotations

import json
import sys

from two_stage import stored_stages

import scaleup_bo.model as model_module
from scaleup_bo.benchmarks.baselines import scaleup_bo
from scaleup_bo.optimizers import Engine


def main(mode: str, problems: str, seeds: str, out: str) -> None:
    if mode == "cold":
        Engine._warm_start = lambda self, name: None  # type: ignore[method-assign]
    elif mode == "uncapped":
        model_module.WARM_FIT_MAX_ITERATIONS = 15000  # scipy's own default
    elif mode.startswith("cap"):
        model_module.WARM_FIT_MAX_ITERATIONS = int(mode[3:])
    else:
        raise SystemExit(f"unknown mode {mode!r}")

    with open(out, "a") as f:
        for name, problem, seed, X, Y in stored_stages(problems, seeds):
            result = scaleup_bo(problem, X, Y, 11, seed)  # the benchmark's method
            record = {"problem": name, "seed": seed, "mode": mode, "values": result.values}
            record["overhead"] = result.overhead
            f.write(json.dumps(record) + "\n")
            f.flush()
            print(name, seed, mode, f"{problem.regret(min(result.values)):.3g}", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
