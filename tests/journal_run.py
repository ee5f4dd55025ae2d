"""Run a small optimization with a journal (used by the SIGKILL test in a subprocess).

Usage: python tests/journal_run.py JOURNAL CALLS_LOG
Each objective call appends a line to CALLS_LOG (fsynced) before returning.
"""

from __future__ import annotations

import os
import sys
import time

from skopt.space import Categorical, Real

from scaleup_bo import SmallScaleOptimizer

N_INITIAL, N_STEPS = 3, 5
SPACE = [Real(-2.0, 2.0, name="x"), Categorical(["a", "b"], name="c")]


def main(journal: str, calls_log: str) -> None:
    def objective(p):
        time.sleep(0.05)
        value = (p[0] - 0.5) ** 2 + (0.0 if p[1] == "a" else 0.3)
        with open(calls_log, "a") as f:
            f.write(f"{p[0]!r},{p[1]}\n")
            f.flush()
            os.fsync(f.fileno())
        return value

    SmallScaleOptimizer(
        objective,
        SPACE,
        n_steps=N_STEPS,
        n_initial_points=N_INITIAL,
        random_state=3,
        journal=journal,
    )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
