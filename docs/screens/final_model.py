"""Screen: ``ScaleUpOptimizer``'s reserved last run (the recommendation) made under another
``large_model``, on the stored runs' states (not part of the library).

Each stored ``scaleup_cost`` run of ``docs/cost_results.json`` is rebuilt from its trials
but the last (``cost_replay.rebuilt``), then asked for its last run once with the
default ``large_model="shared"`` (the replay check: the stored last run comes back, since
the exploiting refit is fitted from BoTorch's start in the stored runs too) and once with
each other model given; every point asked is evaluated at large scale. The pseudo-model
``large_only`` is the shared run with the transfer guard forced to drop the small scale
(``guard_ratio`` set to infinity after construction), so the recommendation comes from a
GP of the large-scale runs alone, refitted for exploiting. The run's final
regret is then the better of its earlier best and that value, so only the last run
differs between the arms.

Usage (one-thread processes, at most two at a time on 2 cores)::

    OMP_NUM_THREADS=1 python docs/screens/final_model.py auto mixed_toy,rosenbrock4 0,1,2 out.jsonl
    OMP_NUM_THREADS=1 python docs/screens/final_model.py large_only forrester 0,1,2 out.jsonl
"""

from __future__ import annotations

import json
import math
import sys

from cost_replay import evaluated, rebuilt, same_as_stored, stored_runs


def main(models: str, names: str, seeds: str, out: str) -> None:
    with open(out, "a") as f:
        for name, problem, seed, trace, budget in stored_runs(names, seeds):
            record = {"problem": name, "seed": seed, "stored": trace["y"][-1]}
            for model in ["shared", *models.split(",")]:
                opt = rebuilt(
                    problem, seed, trace, budget, True,
                    large_model="shared" if model == "large_only" else model,
                )  # fmt: skip
                if model == "large_only":
                    opt.engine.guard_ratio = math.inf
                step = opt.ask()
                record[model] = {
                    "scale": None if step is None else step[1],
                    "value": evaluated(problem, step),
                    "same": same_as_stored(step, trace),
                    "kind": opt.engine._model_kind,
                    "interpolation": opt.engine.interpolation.get("model"),
                }
            f.write(json.dumps(record, default=str) + "\n")
            f.flush()
            print(name, seed, {m: r["value"] for m, r in record.items() if isinstance(r, dict)})


if __name__ == "__main__":
    main(*sys.argv[1:])
