"""Merge the re-run's ``scaleup_cost`` traces into ``docs/cost_results.json`` (not part of
the library; see README.md in this folder).

Usage, from the repository root, once every problem has its 20 seeds::

    python docs/cost_rerun/merge.py            # refuses while a problem is incomplete
    python docs/cost_rerun/merge.py --preview  # the report of the complete problems only

Only ``scaleup_cost`` is replaced; ``two_stage`` and ``large_only`` keep the stored traces.
The merged file's ``optimizer`` config becomes ``{}``: it describes the library's defaults
once ``ScaleUpOptimizer``'s ``exploit_noise_floor`` default is ``1e-7``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from scaleup_bo.benchmarks.budget import format_cost_tables
from scaleup_bo.benchmarks.runner import load, save

HERE = Path(__file__).parent
TARGET = HERE.parent / "cost_results.json"


def rerun_traces() -> dict[str, dict]:
    old = load(TARGET)
    runs: dict[str, dict] = {}
    for path in sorted(HERE.glob("[A-Z].json")):
        new = load(path)
        assert new["config"]["optimizer"] == {"exploit_noise_floor": "1e-07"}, path
        assert new["config"]["two_stage"] == old["config"]["two_stage"], path
        for problem, traces in new["traces"].items():
            runs.setdefault(problem, {}).update(traces["scaleup_cost"])
    return runs


def main(preview: bool) -> None:
    data = load(TARGET)
    runs = rerun_traces()
    problems = data["config"]["optima"]
    done = {p: r for p, r in runs.items() if len(r) == 20}
    missing = {p: 20 - len(runs.get(p, {})) for p in problems if p not in done}
    if preview:
        data["traces"] = {p: data["traces"][p] for p in done}
        for p, r in done.items():
            data["traces"][p]["scaleup_cost"] = r
        print(format_cost_tables(data))
        print("incomplete (runs missing):", missing)
        return
    if missing:
        raise SystemExit(f"incomplete (runs missing): {missing}")
    for p, r in done.items():
        data["traces"][p]["scaleup_cost"] = {str(s): r[str(s)] for s in range(20)}
    data["config"]["optimizer"] = {}
    save(data, TARGET)
    print("merged into", TARGET)


if __name__ == "__main__":
    main("--preview" in sys.argv)
