"""Screen: restart large-scale BO when the small scale is dropped (not part of the library).

On the held-out problem ``h3_unrel`` (``auto_heldout.py``: Hartmann-3 at large scale, an
unrelated bowl at small scale) ``large_model="auto"`` hands most steps to the GP of the
large-scale points alone, yet ends at regret 2.9-3.2 where large-scale-only BO reaches
0.04-0.3: the large points all sit around the small scale's winner, so the large-only GP
only refines a local optimum there. Large-scale-only BO starts from 3 space-filling points.

Mode ``restart<n>``: the library's ``scaleup_bo`` method (``LargeScaleOptimizer``'s
defaults), except that the first ``n`` exploring large-scale proposals made while the
large-only GP is the chosen model are space-filling instead: the point of a Sobol design
farthest from every large-scale point tried. Each record is compared with the stored run of
the default (``docs/benchmark_results.json`` for the benchmark's problems, the held-out
screen's results file for the held-out ones), on the same small stage.

Usage (one-thread processes, at most two at a time on 2 cores)::

    OMP_NUM_THREADS=1 python docs/screens/restart.py restart2 h3_unrel 0,1 out.jsonl \
        [heldout.json]
"""

from __future__ import annotations

import json
import sys
import warnings
from typing import Any

import torch
from auto_heldout import held_out_problems

from scaleup_bo.acquisition import exploits
from scaleup_bo.benchmarks.baselines import _best_small, _engine_loop
from scaleup_bo.benchmarks.problems import PROBLEMS
from scaleup_bo.benchmarks.runner import load
from scaleup_bo.optimizers import DEFAULT_FINAL_ACQ, DEFAULT_LARGE_ACQ, Engine


class Restart(Engine):
    """``Engine`` whose first ``n_restart`` exploring proposals from the large-only GP are
    space-filling."""

    n_restart = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.restarts = 0

    def _propose(self, scale: str, seed: int, acq_func: Any = None) -> Any:
        explore = not exploits(acq_func or self.acq_func)
        if scale == "large" and explore and self.restarts < self.n_restart:
            fitted = self._model_for("large", seed)
            if fitted is not None and self._model_kind == "large_only":
                self.restarts += 1
                return self._farthest(seed)
        return super()._propose(scale, seed, acq_func)

    def _farthest(self, seed: int) -> list[Any]:
        candidates = self.space.sample(512, seed=seed % 2**31)
        tried = self.space.to_unit(self._tried("large"))
        distance = torch.cdist(self.space.to_unit(candidates), tried).min(dim=-1).values
        return candidates[int(distance.argmax())]


def main(mode: str, problems: str, seeds: str, out: str, heldout: str | None = None) -> None:
    warnings.filterwarnings("ignore")
    PROBLEMS.update(held_out_problems())
    stored = load("docs/benchmark_results.json")
    extra = load(heldout) if heldout else {"small": {}, "results": {}}
    Restart.n_restart = int(mode.removeprefix("restart"))
    for name in problems.split(","):
        problem = PROBLEMS[name]
        source = stored if name in stored["small"] else extra
        default = "scaleup_bo" if source is stored else "auto"
        for seed in map(int, seeds.split(",")):
            stage = source["small"][name][str(seed)]
            X, Y = stage["X"], stage["Y"]
            engine = Restart(
                problem.space(), random_state=seed, acq_func=DEFAULT_LARGE_ACQ, large_model="auto"
            )
            engine.tell_many(X, Y, "small")
            result = _engine_loop(engine, problem, _best_small(X, Y), 11, DEFAULT_FINAL_ACQ)
            before = source["results"][name][default][str(seed)]["values"]
            record = {
                "problem": name, "seed": seed, "mode": mode, "restarts": engine.restarts,
                "regret": min(result.values) - problem.optimum,
                "regret_default": min(before) - problem.optimum, "values": result.values,
            }  # fmt: skip
            with open(out, "a") as f:
                f.write(json.dumps(record) + "\n")
            print(name, seed, mode, engine.restarts, f"{record['regret']:.3g}",
                  f"(default {record['regret_default']:.3g})", flush=True)  # fmt: skip


if __name__ == "__main__":
    main(*sys.argv[1:])
