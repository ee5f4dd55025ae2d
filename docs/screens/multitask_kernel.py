"""Screen: the MultiTaskGP with the shared model's design kernel (not part of the library).

The ``MultiTaskGP`` (``large_model="multitask"``) wins by about 50x on the shifted problem
and loses on Forrester, Currin, Branin, Hartmann-6, Rosenbrock and ``unrelated``; no rule
picks it only where it wins. It differs from the shared model in two ways: its structure
(an intrinsic-coregionalization kernel ``k(x, x') B[t, t']``: a mean, a variance and a
noise per scale, a learned correlation between them) and its design kernel (BoTorch's
default: RBF with the dimension-scaled ``LogNormal`` lengthscale prior). This screen keeps
the structure and gives it the shared model's design kernel (Matern 5/2, ``Gamma(3, 6)``
on numeric columns, the dimension-scaled prior on one-hot columns:
``scaleup_bo.model.design_kernel``), to see which of the two carries the wins and which
the losses. Each run is the benchmark's ``scaleup_bo`` method (the stored small stage of
``docs/benchmark_results.json``, the small winner first, then qNEI, 11 large-scale runs)
with ``large_model="multitask"`` (from the third large-scale run on):

- ``mt``: the library's ``large_model="multitask"`` (BoTorch's default design kernel);
- ``mt-design``: the same with ``design_kernel`` as the MultiTaskGP's design kernel.

Usage (one-thread processes, at most two at a time on 2 cores)::

    OMP_NUM_THREADS=1 python docs/screens/multitask_kernel.py mt-design forrester 0,1,2 out.jsonl
"""

from __future__ import annotations

import sys

import botorch.models
from two_stage import run_screen

import scaleup_bo.model as model_module
from scaleup_bo.model import design_kernel
from scaleup_bo.optimizers import DEFAULT_LARGE_ACQ, Engine

_COLUMNS: list[int] = []


def _multitask_with_design_kernel(train_X, train_Y, **kwargs):
    d = train_X.shape[-1] - 1
    kernel = design_kernel(d, _COLUMNS).to(train_X)
    return botorch.models.MultiTaskGP(train_X, train_Y, covar_module=kernel, **kwargs)


def main(mode: str, problems: str, seeds: str, out: str) -> None:
    if mode not in ("mt", "mt-design"):
        raise SystemExit(f"unknown mode {mode!r}")
    if mode == "mt-design":
        model_module.MultiTaskGP = _multitask_with_design_kernel

    def make_engine(problem, seed):
        engine = Engine(
            problem.space(), random_state=seed, acq_func=DEFAULT_LARGE_ACQ, large_model="multitask"
        )
        _COLUMNS[:] = engine.space.one_hot_columns
        return engine

    run_screen(mode, problems, seeds, out, make_engine)


if __name__ == "__main__":
    main(*sys.argv[1:])
