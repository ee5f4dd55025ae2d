"""Screen: ``exploit_large_alone`` for the two-stage pipeline's last run (not part of the
library).

Each run is the benchmark's ``scaleup_bo`` method up to its 10th large-scale run (the
stored small stage of ``docs/benchmark_results.json``, the small winner first, then qNEI on
``large_model="auto"``). The 11th run, the ``"PM"`` proposal, is then made twice from the
same state, so the pair is exact, and both are evaluated on the large scale:

- ``default``: ``LargeScaleOptimizer``'s default, ``exploit_large_alone=False``;
- ``large_alone``: ``exploit_large_alone=True``, ``ScaleUpOptimizer``'s default since
  commit ee98d9e (the large runs' own GP when only it interpolates them, for the shared
  model; a ``MultiTaskGP`` chosen by ``"auto"`` is left as it is).

Each record holds the first 10 values (to check them against the stored run), the model
kind of each proposal and both proposals' values and regrets.

Usage (one-thread processes, at most two at a time on 2 cores)::

    OMP_NUM_THREADS=1 python docs/screens/two_stage_large_alone.py forrester,currin 0,1,2 out.jsonl
"""

from __future__ import annotations

import json
import sys

from two_stage import before_last_run, stored_stages


def main(problems: str, seeds: str, out: str) -> None:
    with open(out, "a") as f:
        for name, problem, seed, X, Y in stored_stages(problems, seeds):
            engine, values = before_last_run(problem, seed, X, Y)
            record = {"problem": name, "seed": seed, "values10": values, "variants": {}}
            best10 = min(values)
            for key, flag in (("default", False), ("large_alone", True)):
                engine.exploit_large_alone = flag
                point = engine.ask("large", acq_func="PM")
                engine.cancel(point, "large")
                v = problem.large(point)
                record["variants"][key] = {
                    "kind": engine._model_kind, "value": v,
                    "regret": problem.regret(min(best10, v)),
                }  # fmt: skip
            f.write(json.dumps(record) + "\n")
            f.flush()
            shown = " ".join(
                f"{k}={r['kind']}:{r['regret']:.3g}" for k, r in record["variants"].items()
            )
            print(name, seed, f"best10={problem.regret(best10):.3g}", shown, flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
