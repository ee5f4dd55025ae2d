"""Screen: the lengthscale prior of the shared model's kernel.

Not part of the library. BoTorch's ``LinearTruncatedFidelityKernel`` (the shared model's
default) gives the Matern kernel of the design inputs a ``Gamma(3, 6)`` lengthscale prior
(mean 0.5 in the unit cube, whatever the dimension), while BoTorch's ``SingleTaskGP`` now
uses a dimension-scaled ``LogNormal(sqrt(2) + log(d) / 2, sqrt(3))`` prior, which favours
longer lengthscales as the (one-hot encoded) dimension grows. Each run is the benchmark's
``scaleup_bo`` method (the stored small stage of ``docs/benchmark_results.json``, the small
winner first, then qNEI, 11 large-scale runs) with the shared model's kernel changed:

- ``default``: the library, unchanged;
- ``scaled``: the design-input kernel ``k_0`` of the linear-truncated kernel (the part the
  two scales share) gets BoTorch's dimension-scaled prior (Matern 5/2, as before);
- ``scaled:both``: the bias kernel ``k_1`` too;
- ``categorical``: only the one-hot columns of categorical dimensions get the
  dimension-scaled prior (``d`` = all design columns), the other columns keep
  ``Gamma(3, 6)``. Two categories are always at distance ``sqrt(2)`` in one-hot space, so
  with lengthscales near 0.5 every category is a nearly independent function; a space
  without categorical dimensions is unchanged.

Usage (one-thread processes, at most two at a time on 2 cores)::

    OMP_NUM_THREADS=1 python docs/screens/lengthscale_prior.py scaled mixed_toy 0,1 out.jsonl

Each line of ``out.jsonl``: problem, seed, mode, the shortest and longest fitted lengthscale
of ``k_0`` at the end, the seconds each proposal took, and the best large-scale value and its
regret after k = 1..11 large-scale runs.
"""

from __future__ import annotations

import math
import sys

from botorch.models.utils.gpytorch_modules import get_covar_module_with_dim_scaled_prior
from gpytorch.kernels import MaternKernel
from gpytorch.priors import GammaPrior, LogNormalPrior
from two_stage import run_screen

import scaleup_bo.model as model_module
from scaleup_bo.optimizers import DEFAULT_LARGE_ACQ, Engine
from scaleup_bo.space import SearchSpace

build_model = model_module.build_model


def _fidelity_kernel(model):
    return model.covar_module.base_kernel.kernels[0]


#: One-hot columns of the problem being run (set per run by ``make_engine``).
ONE_HOT: list[int] = []


def _slice_prior(kernel, name, prior, columns):
    """A prior on ``kernel``'s lengthscales of ``columns`` only."""

    def get(m):
        return m.lengthscale[..., columns]

    def set_(m, value):
        full = m.lengthscale.detach().clone()
        full[..., columns] = value.to(full)
        m._set_lengthscale(full)

    kernel.register_prior(name, prior, get, set_)


def categorical_kernel(d: int, one_hot: list[int]) -> MaternKernel:
    """Matern 5/2 over ``d`` columns: ``Gamma(3, 6)`` lengthscale prior on the numeric
    columns, BoTorch's dimension-scaled ``LogNormal`` on the one-hot ones."""
    kernel = MaternKernel(nu=2.5, ard_num_dims=d)
    numeric = [c for c in range(d) if c not in one_hot]
    if numeric:
        _slice_prior(kernel, "lengthscale_prior", GammaPrior(3.0, 6.0), numeric)
    loc = math.sqrt(2) + math.log(d) / 2
    _slice_prior(kernel, "one_hot_lengthscale_prior", LogNormalPrior(loc, math.sqrt(3)), one_hot)
    return kernel


def main(mode: str, problems: str, seeds: str, out: str) -> None:
    if mode not in ("default", "scaled", "scaled:both", "categorical"):
        raise SystemExit(f"unknown mode {mode!r}")
    if mode == "categorical":

        def build(train_X, train_Y, **kwargs):
            model = build_model(train_X, train_Y, **kwargs)
            if kwargs.get("multitask") or not ONE_HOT:
                return model
            kernel = _fidelity_kernel(model)
            d = kernel.covar_module_unbiased.ard_num_dims
            kernel.covar_module_unbiased = categorical_kernel(d, ONE_HOT).to(train_X)
            return model

        model_module.build_model = build
    elif mode != "default":

        def build(train_X, train_Y, **kwargs):
            model = build_model(train_X, train_Y, **kwargs)
            if kwargs.get("multitask") or kwargs.get("kernel", "linear_truncated") != (
                "linear_truncated"
            ):
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
        space = SearchSpace(problem.space())
        ONE_HOT[:] = [s + i for s, w in space.categorical_blocks for i in range(w)]
        return Engine(problem.space(), random_state=seed, acq_func=DEFAULT_LARGE_ACQ)

    def describe(engine):
        if engine.model is None:
            return {}
        k0 = _fidelity_kernel(engine.model).covar_module_unbiased
        lengthscales = k0.lengthscale.reshape(-1)
        return {"ls_min": float(lengthscales.min()), "ls_max": float(lengthscales.max())}

    run_screen(mode, problems, seeds, out, make_engine, describe)


if __name__ == "__main__":
    main(*sys.argv[1:])
