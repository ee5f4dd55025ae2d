"""Screen: a per-scale mean, or a per-scale noise level, in the shared model.

Not part of the library: it reproduces the README's "one constant mean and one noise level
for both scales". Each run is the benchmark's ``scaleup_bo`` method (the stored small stage
of ``docs/benchmark_results.json``, the small winner first, then qNEI, 11 large-scale runs)
with the shared ``SingleTaskMultiFidelityGP`` changed:

- ``default``: the library, unchanged (one constant mean, one noise level);
- ``offset``: a constant mean plus a learned offset for the small scale, so a small scale
  whose values are shifted (the mixed problems, Forrester's ``- 5``) need not be explained
  by the fidelity kernel;
- ``noise``: one inferred noise level per scale, each with BoTorch's floor (``1e-4``) and
  its default ``LogNormal(-4, 1)`` noise prior (the shifted problem's small scale is noisy,
  its large scale is not);
- ``scale``: a learned output scale factor for the small scale: the covariance is
  multiplied by ``a(s) a(s')`` with ``a(1) = 1`` and ``a(s_small) = alpha`` (``log alpha``
  with a ``Normal(0, 1)`` prior), so a small scale whose values are the large scale's
  times a factor (the mixed problems' ``x 0.6`` and ``x 2``, Forrester's ``0.5 f``) need
  not be explained by the fidelity kernel's bias term.

Usage (one-thread processes, at most two at a time on 2 cores)::

    OMP_NUM_THREADS=1 python docs/screens/per_scale.py offset mixed_shift,forrester 0,1,2 out.jsonl

Each line of ``out.jsonl``: problem, seed, mode, the fitted offset or the two noise levels at
the end, the seconds each proposal took, and the best large-scale value and its regret after
k = 1..11 large-scale runs.
"""

from __future__ import annotations

import sys

import torch
from botorch.models.utils.gpytorch_modules import MIN_INFERRED_NOISE_LEVEL
from gpytorch.constraints import GreaterThan
from gpytorch.kernels import Kernel
from gpytorch.likelihoods import _GaussianLikelihoodBase
from gpytorch.likelihoods.noise_models import Noise
from gpytorch.means import Mean
from gpytorch.priors import LogNormalPrior, NormalPrior
from linear_operator import to_dense
from linear_operator.operators import DiagLinearOperator
from two_stage import run_screen

import scaleup_bo.model as model_module
from scaleup_bo.model import DEFAULT_SMALL_FIDELITY, LARGE_FIDELITY
from scaleup_bo.optimizers import DEFAULT_LARGE_ACQ, Engine

build_model = model_module.build_model


def _is_small(x: torch.Tensor) -> torch.Tensor:
    return x[..., -1] < LARGE_FIDELITY


class ScaleMean(Mean):
    """``c`` at the large scale, ``c + offset`` at any smaller fidelity."""

    def __init__(self) -> None:
        super().__init__()
        self.register_parameter("constant", torch.nn.Parameter(torch.zeros(1)))
        self.register_parameter("offset", torch.nn.Parameter(torch.zeros(1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.constant + self.offset * _is_small(x).to(x)


class ScaleNoise(Noise):
    """One noise variance per scale, each with BoTorch's floor and noise prior."""

    def __init__(self) -> None:
        super().__init__()
        for scale in ("small", "large"):
            name = f"raw_{scale}"
            prior = LogNormalPrior(-4.0, 1.0)
            self.register_parameter(name, torch.nn.Parameter(torch.tensor(0.0)))
            self.register_constraint(
                name,
                GreaterThan(MIN_INFERRED_NOISE_LEVEL, transform=None, initial_value=prior.mode),
            )
            self.register_prior(f"{scale}_prior", prior, lambda m, s=scale: m.level(s))

    def level(self, scale: str) -> torch.Tensor:
        return getattr(self, f"raw_{scale}_constraint").transform(getattr(self, f"raw_{scale}"))

    def forward(self, *params, shape=None, **kwargs):
        X = params[0][0] if isinstance(params[0], (list, tuple)) else params[0]
        return DiagLinearOperator(
            torch.where(_is_small(X), self.level("small"), self.level("large"))
        )


class FidelityScaleKernel(Kernel):
    """``a(s) a(s') k((x, s), (x', s'))``: the small scale's values are ``alpha`` times
    what the base kernel says (geometric interpolation in the fidelity; ``a(1) = 1``)."""

    def __init__(self, base: Kernel, small_fidelity: float = DEFAULT_SMALL_FIDELITY) -> None:
        super().__init__()
        self.base = base
        self.small_fidelity = small_fidelity
        self.register_parameter("log_alpha", torch.nn.Parameter(torch.zeros(1)))
        self.register_prior(
            "log_alpha_prior",
            NormalPrior(0.0, 1.0),
            lambda m: m.log_alpha,
            lambda m, v: m.initialize(log_alpha=v),
        )

    def _a(self, x: torch.Tensor) -> torch.Tensor:
        w = ((LARGE_FIDELITY - x[..., -1]) / (LARGE_FIDELITY - self.small_fidelity)).clamp(0, 1)
        return torch.exp(self.log_alpha * w)

    def forward(self, x1, x2, diag=False, last_dim_is_batch=False, **params):
        K = self.base.forward(x1, x2, diag=diag, last_dim_is_batch=last_dim_is_batch, **params)
        a1, a2 = self._a(x1), self._a(x2)
        if diag:
            return a1 * to_dense(K) * a2
        return a1.unsqueeze(-1) * to_dense(K) * a2.unsqueeze(-2)


class ScaleLikelihood(_GaussianLikelihoodBase):
    def __init__(self) -> None:
        super().__init__(noise_covar=ScaleNoise())


def main(mode: str, problems: str, seeds: str, out: str) -> None:
    if mode not in ("default", "offset", "noise", "scale"):
        raise SystemExit(f"unknown mode {mode!r}")
    if mode != "default":

        def build(train_X, train_Y, **kwargs):
            model = build_model(train_X, train_Y, **kwargs)
            if kwargs.get("multitask"):
                return model
            if mode == "offset":
                model.mean_module = ScaleMean().to(train_X)
            elif mode == "scale":
                model.covar_module = FidelityScaleKernel(model.covar_module).to(train_X)
            else:
                model.likelihood = ScaleLikelihood().to(train_X)
            return model

        # fit_model looks build_model up in its module at every fit.
        model_module.build_model = build

    def make_engine(problem, seed):
        return Engine(problem.space(), random_state=seed, acq_func=DEFAULT_LARGE_ACQ)

    def describe(engine):
        model = engine.model
        if model is None or mode == "default":
            return {}
        if mode == "offset":
            return {"offset": float(model.mean_module.offset)}
        if mode == "scale":
            return {"alpha": float(model.covar_module.log_alpha.exp())}
        noise = model.likelihood.noise_covar
        return {
            "noise_small": float(noise.level("small")),
            "noise_large": float(noise.level("large")),
        }

    run_screen(mode, problems, seeds, out, make_engine, describe)


if __name__ == "__main__":
    main(*sys.argv[1:])
