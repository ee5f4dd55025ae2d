"""Screen: ``exploit_large_alone`` for ``LargeScaleOptimizer``'s last run, on the public API
(not part of the library).

Each run is the benchmark's ``scaleup_bo`` method (``Engine`` with its defaults, the stored
small stage of ``docs/benchmark_results.json``, the small winner first) up to its 10th
large-scale run, journaled. The 11th run, the ``"PM"`` proposal, is then made twice from
the same state, so the pair is exact: by that engine (``exploit_large_alone=False``, the
default of the large-stage role) and by a second engine that resumes the same journal
under ``Strategy(exploit_large_alone=True)`` (``ScaleUpOptimizer``'s default); both
proposals are evaluated on the large scale.

Each record holds the first 10 values (to check them against the stored run), the model
kind behind each last proposal and both values and regrets.

Usage (one-thread processes, at most two at a time on 2 cores)::

    OMP_NUM_THREADS=1 python docs/screens/large_alone_two_stage.py forrester,currin 0,1,2 out.jsonl
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from scaleup_bo import Engine, JournalFile, Strategy
from scaleup_bo.benchmarks.problems import PROBLEMS
from scaleup_bo.benchmarks.runner import load

RESULTS = Path(__file__).resolve().parents[1] / "benchmark_results.json"


def main(problems: str, seeds: str, out: str) -> None:
    stored = load(RESULTS)
    with open(out, "a") as f, tempfile.TemporaryDirectory() as tmp:
        for name in problems.split(","):
            problem = PROBLEMS[name]
            for seed in [int(s) for s in seeds.split(",")]:
                small = stored["small"][name][str(seed)]
                journal = Path(tmp) / f"{name}-{seed}.jsonl"
                engine = Engine(problem.space(), random_state=seed, journal=journal)
                engine.tell_many(small["X"], small["Y"], "small")
                first = list(small["X"][int(np.argmin(small["Y"]))])
                values = [engine.evaluate(problem.large, first, "large").value]
                for _ in range(9):
                    point = engine.ask("large")
                    values.append(engine.evaluate(problem.large, point, "large").value)
                spec = JournalFile(journal, accept_strategy_change=True)
                other = Engine(
                    problem.space(), random_state=seed, journal=spec,
                    strategy=Strategy(exploit_large_alone=True),
                )  # fmt: skip
                record = {"problem": name, "seed": seed, "values10": values, "variants": {}}
                for key, e in (("default", engine), ("large_alone", other)):
                    point = e.ask("large", acq_func="PM")
                    kind = e.model_at("large", exploit=True)[1]
                    v = problem.large(point)
                    record["variants"][key] = {
                        "kind": kind,
                        "value": v,
                        "regret": problem.regret(min(*values, v)),
                    }
                f.write(json.dumps(record) + "\n")
                f.flush()
                same = values == stored["results"][name]["scaleup_bo"][str(seed)]["values"][:10]
                shown = " ".join(
                    f"{k}={r['kind']}:{r['regret']:.3g}" for k, r in record["variants"].items()
                )
                print(name, seed, "first 10 as stored" if same else "FIRST 10 DIFFER", shown,
                      flush=True)  # fmt: skip


if __name__ == "__main__":
    main(*sys.argv[1:])
