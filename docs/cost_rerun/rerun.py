"""Re-run the cost benchmark's ``scaleup_cost`` method with ``exploit_noise_floor=1e-7``
(not part of the library; see README.md in this folder).

Usage, from the repository root (one-thread processes, at most two at a time)::

    OMP_NUM_THREADS=1 python docs/cost_rerun/rerun.py hartmann6,mixed_toy,branin A

writes ``docs/cost_rerun/A.json`` after every run and resumes it when run again. The
two-stage runs are read from a temporary copy of ``docs/benchmark_results.json`` (so two
processes never write the same file); ``large_only`` is re-run too but not merged.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import warnings
from pathlib import Path

from scaleup_bo.benchmarks.budget import run_cost_benchmark

HERE = Path(__file__).parent


def main(problems: str, tag: str) -> None:
    warnings.filterwarnings("ignore")
    with tempfile.TemporaryDirectory() as tmp:
        stages = Path(tmp) / "stages.json"
        shutil.copy(HERE.parent / "benchmark_results.json", stages)
        run_cost_benchmark(
            problems.split(","),
            range(20),
            stages=stages,
            checkpoint=HERE / f"{tag}.json",
            progress=False,
            exploit_noise_floor=1e-7,
        )


if __name__ == "__main__":
    main(*sys.argv[1:])
