"""Screen: the last large-scale run on a model that interpolates the runs (not part of the
library).

Each run is the benchmark's ``scaleup_bo`` method up to its 10th large-scale run (the
stored small stage of ``docs/benchmark_results.json``, the small winner first, then qNEI on
``large_model="auto"``). The 11th run, the ``"PM"`` proposal, is then made twice from the
same state and both are evaluated on the large scale, so the pair is exact:

- ``fitted``: the default before commit 6e074f4: the chosen model refitted with the noise floor
  ``exploit_noise_floor`` = 1e-7, its noise inferred (``exploit_interpolate=False``);
- ``interp``: the library's default since commit 6e074f4: that refit, its noise pinned at
  ``INTERPOLATION_NOISE`` = 1e-9 when the data show no noise (``model.interpolating``).

Each record holds the first 10 values (to check them against the stored run), both
proposals' values and regrets, and the evidence of :func:`~scaleup_bo.model.interpolating`.

Usage (one-thread processes, at most two at a time on 2 cores)::

    OMP_NUM_THREADS=1 python docs/screens/interpolate.py forrester,branin 0,1,2 out.jsonl
"""

from __future__ import annotations

import json
import sys

from two_stage import before_last_run, stored_stages


def main(problems: str, seeds: str, out: str) -> None:
    with open(out, "a") as f:
        for name, problem, seed, X, Y in stored_stages(problems, seeds):
            engine, values = before_last_run(problem, seed, X, Y)
            points = {"interp": engine.ask("large", acq_func="PM")}
            engine.cancel(points["interp"], "large")
            record = {
                "problem": name,
                "seed": seed,
                "kind": engine._model_kind,
                "values10": values,
                "evidence": engine.interpolation,
            }
            engine.exploit_interpolate = False
            points["fitted"] = engine.ask("large", acq_func="PM")
            engine.cancel(points["fitted"], "large")
            best10 = min(values)
            record["variants"] = {}
            for key, p in points.items():
                v = problem.large(p)
                record["variants"][key] = {"value": v, "regret": problem.regret(min(best10, v))}
            f.write(json.dumps(record) + "\n")
            f.flush()
            shown = " ".join(f"{k}={r['regret']:.3g}" for k, r in record["variants"].items())
            print(
                name, seed, record["kind"], record["evidence"].get("model"),
                f"best10={problem.regret(best10):.3g}", shown, flush=True,
            )  # fmt: skip


if __name__ == "__main__":
    main(*sys.argv[1:])
