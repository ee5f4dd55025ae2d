"""Screen: the shared model's noise floor and the large-scale acquisition.

Not part of the library: it reproduces the README table "Noise floor". Each run is the
benchmark's ``scaleup_bo`` method (the stored small stage of
``docs/benchmark_results.json``, the small winner first, then 10 proposals, 11
large-scale runs) with up to three changes, given as ``FLOOR[:ACQ[:guard]]``:

- ``FLOOR``: the lower bound of the inferred noise variance (of the standardized
  outcomes). BoTorch's is ``1e-4`` (``MIN_INFERRED_NOISE_LEVEL``), the library's default;
- ``ACQ``: the large-scale acquisition (default ``qNEI``, the library's; ``EI`` is
  analytic LogEI against the best large-scale value observed);
- ``guard``: ``transfer_guard=True``.

Usage (one-thread processes, at most two at a time on 2 cores)::

    OMP_NUM_THREADS=1 python docs/screens/noise_floor.py 1e-6:EI forrester,unrelated 0,1,2 out.jsonl

Each line of ``out.jsonl``: problem, seed, mode, the fitted noise at the end, the seconds each
proposal took, and the best large-scale value and its regret after k = 1..11 large-scale runs
(``digits_mlp`` has no known optimum: its regret is NaN).
"""

from __future__ import annotations

import sys

import botorch.models.utils.gpytorch_modules as modules
from two_stage import run_screen

from scaleup_bo.optimizers import DEFAULT_LARGE_ACQ, Engine


def main(mode: str, problems: str, seeds: str, out: str) -> None:
    floor, _, rest = mode.partition(":")
    acq, _, guard = rest.partition(":")
    # Read by BoTorch's likelihood factory when a model is built, so this sets the floor
    # of every model fitted from here on.
    modules.MIN_INFERRED_NOISE_LEVEL = float(floor)

    def make_engine(problem, seed):
        return Engine(
            problem.space(),
            random_state=seed,
            acq_func=acq or DEFAULT_LARGE_ACQ,
            transfer_guard=guard == "guard",
        )

    def describe(engine):
        model = engine.model
        return {"noise": float(model.likelihood.noise) if model is not None else None}

    run_screen(mode, problems, seeds, out, make_engine, describe)


if __name__ == "__main__":
    main(*sys.argv[1:])
