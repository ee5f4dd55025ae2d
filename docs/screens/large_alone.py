"""Screen and re-make: ``ScaleUpOptimizer``'s reserved last run with ``exploit_large_alone``
(the default since commit ee98d9e) on the stored runs' states (not part of the library).

Each stored ``scaleup_cost`` run of ``docs/cost_results.json`` is rebuilt from its trials
but the last (``cost_replay.rebuilt``) and asked for its last run with the library's defaults.
When the large-scale runs' own GP replaced the shared model's refit (the shared refit
showed noise, the large runs' own one none), the point differs from the stored last run
and is evaluated, at the scale asked (a run whose reserve was spent before its last trial
asks a small-scale point, which ``--apply`` refuses); otherwise it is the stored run
(``same``; the replay of
the stored last runs themselves gave them back on all 62 runs asked,
``docs/screens/final_model.py``). Only the last run can change, so the stored traces are
brought up to date by replacing it (``--apply`` does that to the file).

Usage (one-thread processes, at most two at a time on 2 cores)::

    OMP_NUM_THREADS=1 python docs/screens/large_alone.py forrester,currin 0,1,2 out.jsonl
    python docs/screens/large_alone.py --apply out.jsonl [more.jsonl ...]
"""

from __future__ import annotations

import json
import math
import sys

from cost_replay import FILE, evaluated, rebuilt, same_as_stored, stored_runs

from scaleup_bo.benchmarks.baselines import METHOD_VERSIONS
from scaleup_bo.benchmarks.runner import load, save


def main(names: str, seeds: str, out: str) -> None:
    with open(out, "a") as f:
        for name, problem, seed, trace, budget in stored_runs(names, seeds):
            opt = rebuilt(problem, seed, trace, budget, True)
            step = opt.ask()
            same = same_as_stored(step, trace)
            value = trace["y"][-1] if same else evaluated(problem, step)
            record = {
                "problem": name, "seed": seed, "same": same, "scale": step[1],
                "params": list(step[0]), "value": value, "stored": trace["y"][-1],
                "evidence": opt.engine.interpolation,
            }  # fmt: skip
            f.write(json.dumps(record, default=str) + "\n")
            f.flush()
            print(name, seed, same, trace["y"][-1], value, flush=True)


def apply(paths: list[str]) -> None:
    data = load(FILE)
    for path in paths:
        with open(path) as f:
            records = [json.loads(line) for line in f]
        for r in records:
            trace = data["traces"][r["problem"]]["scaleup_cost"][str(r["seed"])]
            assert trace["scale"][-1] == r["scale"] == "large"
            trace["params"][-1] = r["params"]
            trace["y"][-1] = r["value"]
            trace["value"][-1] = math.nan if r["value"] is None else float(r["value"])
    data["config"]["scaleup_cost"] = METHOD_VERSIONS["scaleup_cost"]
    save(data, FILE)


if __name__ == "__main__":
    if sys.argv[1] == "--apply":
        apply(sys.argv[2:])
    else:
        main(*sys.argv[1:])
