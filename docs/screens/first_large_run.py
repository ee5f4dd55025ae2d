"""Screen: ScaleUpOptimizer's first large-scale run on the small-scale winner.

Not part of the library: it reproduces the README's cost-aware screen "first large-scale run
on the small winner". Each run is ``scaleup-bo benchmark --cost-aware`` for one problem
(``run_cost_benchmark``: ``ScaleUpOptimizer`` with its defaults, the two-stage pipeline read
from a copy of ``docs/benchmark_results.json``, and large-scale-only BO; budget 135 = 25 small
x 1 + 11 large x 10) with

- ``default``: the library, unchanged (with given costs, the first large-scale run is
  placed by the large-scale acquisition, qNEI, once MF-MES chooses the large scale);
- ``winner``: the first large-scale run is the best small-scale configuration so far, as
  in the two-stage pipeline (``Engine.ask("large")`` with ``transfer_points=1``) and as
  ``ScaleUpOptimizer`` already does when it measures costs; MF-MES still decides *when*
  (the library's behaviour since commit 5179964);
- ``pmsmall``: the first large-scale run is the model's predicted small-scale optimum (the
  maximizer of the posterior mean at the small fidelity, a fresh point) instead of the best
  small-scale run so far: after 13-15 information-placed small runs the best observed one
  can be far from the small optimum (screened at commit 4405e48).

Usage (one-thread processes, at most two at a time on 2 cores; a run takes 1-5 minutes)::

    OMP_NUM_THREADS=1 python docs/screens/first_large_run.py winner rosenbrock4 0,1,2,3,4 out_dir

writes ``out_dir/cost_<mode>_<problem>.json`` (the cost benchmark's results format, resumable;
``scaleup_bo.benchmarks.budget.format_cost_tables`` prints its tables).
"""

from __future__ import annotations

import shutil
import sys
import warnings
from pathlib import Path

from scaleup_bo.benchmarks.budget import run_cost_benchmark
from scaleup_bo.optimizers import Engine


def main(mode: str, problem: str, seeds: str, out_dir: str) -> None:
    warnings.filterwarnings("ignore")
    if mode == "winner":
        propose = Engine._propose

        def first_large_on_the_winner(self, scale, seed, acq_func=None):
            if scale == "large" and acq_func is not None and not self._tried("large"):
                winner = self._ask_transfer()
                if winner is not None:
                    return winner
            return propose(self, scale, seed, acq_func=acq_func)

        Engine._propose = first_large_on_the_winner
    elif mode == "pmsmall":
        transfer = Engine._ask_transfer

        def first_large_on_the_predicted_small_optimum(self):
            if not self._tried("large"):
                point = self._propose("small", self._step_seed("small"), acq_func="PM")
                if point is not None:
                    return point
            return transfer(self)

        Engine._ask_transfer = first_large_on_the_predicted_small_optimum
    elif mode != "default":
        raise SystemExit(f"mode must be default, winner or pmsmall, got {mode!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stages = out / f"stages_{mode}_{problem}.json"
    shutil.copy("docs/benchmark_results.json", stages)
    run_cost_benchmark(
        [problem],
        [int(s) for s in seeds.split(",")],
        stages=stages,
        checkpoint=out / f"cost_{mode}_{problem}.json",
        progress=False,
    )
    print("done", mode, problem, flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
