"""Screen: the lengthscale prior of the shared model's kernel.

Not part of the library: it reproduces the README's "Lengthscale prior of the one-hot
columns". BoTorch's ``LinearTruncatedFidelityKernel`` (the shared model's kernel) gives the
Matern kernel of the design inputs a ``Gamma(3, 6)`` lengthscale prior (mean 0.5 in the unit
cube, whatever the dimension), while BoTorch's ``SingleTaskGP`` uses a dimension-scaled
``LogNormal(sqrt(2) + log(d) / 2, sqrt(3))`` prior, which favours longer lengthscales as the
(one-hot encoded) dimension grows. Each run is the benchmark's ``scaleup_bo`` method (the
stored small stage of ``docs/benchmark_results.json``, the small winner first, then qNEI, 11
large-scale runs) with the design-input kernel ``k_0`` of the linear-truncated kernel (the
part the two scales share) given:

- ``default``: the library's default: the dimension-scaled prior on the one-hot columns of
  categorical dimensions, ``Gamma(3, 6)`` on the others (:func:`scaleup_bo.model.design_kernel`;
  a space without categorical dimensions keeps BoTorch's kernel);
- ``gamma``: ``Gamma(3, 6)`` on every column (BoTorch's kernel; the default before commit
  6bdf34d);
- ``scaled``: the dimension-scaled prior on every column (Matern 5/2, as before);
- ``scaled:both``: the same for the bias kernel ``k_1`` too.

Usage (one-thread processes, at most two at a time on 2 cores)::

    OMP_NUM_THREADS=1 python docs/screens/lengthscale_prior.py scaled mixed_toy 0,1 out.jsonl

Each line of ``out.jsonl``: problem, seed, mode, the shortest and longest fitted lengthscale
of ``k_0`` at the end, the seconds each proposal took, and the best large-scale value and its
regret after k = 1..11 large-scale runs.
"""

from __future__ import annotations

import sys

from botorch.models.utils.gpytorch_modules import get_covar_module_with_dim_scaled_prior
from two_stage import run_screen

import scaleup_bo.model as model_module
from scaleup_bo.optimizers import DEFAULT_LARGE_ACQ, Engine

build_model = model_module.build_model


def _fidelity_kernel(model):
    return model.covar_module.base_kernel.kernels[0]


def main(mode: str, problems: str, seeds: str, out: str) -> None:
    if mode not in ("default", "gamma", "scaled", "scaled:both"):
        raise SystemExit(f"unknown mode {mode!r}")

    def build(train_X, train_Y, **kwargs):
        if mode != "default":
            kwargs["categorical_columns"] = ()
        model = build_model(train_X, train_Y, **kwargs)
        if not mode.startswith("scaled") or kwargs.get("multitask"):
            return model
        kernel = _fidelity_kernel(model)
        d = kernel.covar_module_unbiased.ard_num_dims
        names = ["covar_module_unbiased"] + (["covar_module_biased"] if "both" in mode else [])
        for name in names:
            new = get_covar_module_with_dim_scaled_prior(ard_num_dims=d, use_rbf_kernel=False)
            setattr(kernel, name, new.to(train_X))
        return model

    # fit_model looks build_model up in its module at every fit.
    model_module.build_model = build

    def make_engine(problem, seed):
        return Engine(problem.space(), random_state=seed, acq_func=DEFAULT_LARGE_ACQ)

    def describe(engine):
        if engine.model is None:
            return {}
        lengthscales = _fidelity_kernel(engine.model).covar_module_unbiased.lengthscale
        return {"ls_min": float(lengthscales.min()), "ls_max": float(lengthscales.max())}

    run_screen(mode, problems, seeds, out, make_engine, describe)


if __name__ == "__main__":
    main(*sys.argv[1:])
