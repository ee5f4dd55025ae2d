"""Screen: the small scale's optimum moved by a learned shift (not part of the library).

Hyperparameters that are best at small scale move at large scale (a wider network wants
another learning rate). The shared model explains a moved optimum only through the
small scale's bias kernel, which then has to describe the difference of two shifted
bowls. Here the shared model gets one more parameter per numeric design column: the
small-scale inputs are shifted by ``delta`` before any kernel sees them,
``x -> x + delta (1 - s) / (1 - s_small)`` (no shift at the large scale, the whole shift at
the small one), so ``f(x, s_small) = g(x + delta) + bias`` and the large scale is ``g``.
``delta`` has a ``Normal(0, sigma)`` prior per column and is fitted with the other
hyperparameters (a learnable BoTorch input transform, as ``Warp`` is); one-hot columns
are not shifted (a category does not move). Each run is the benchmark's ``scaleup_bo``
method (the stored small stage of ``docs/benchmark_results.json``, the small winner
first, then qNEI, 11 large-scale runs) with the shift in every model it fits:

- ``shift<sigma>``: e.g. ``shift0.2`` (prior standard deviation 0.2 in the unit cube).

Usage (one-thread processes, at most two at a time on 2 cores)::

    OMP_NUM_THREADS=1 python docs/screens/fidelity_shift.py shift0.2 mixed_shift 0,1,2 out.jsonl

Each line of ``out.jsonl`` also holds the last fitted shift (``delta``).
"""

from __future__ import annotations

import sys

import botorch.models
import torch
from botorch.models.transforms.input import InputTransform
from gpytorch.module import Module
from gpytorch.priors import NormalPrior
from two_stage import run_screen

import scaleup_bo.model as model_module
from scaleup_bo.model import DEFAULT_SMALL_FIDELITY, LARGE_FIDELITY
from scaleup_bo.optimizers import DEFAULT_LARGE_ACQ, Engine


class FidelityShift(InputTransform, Module):
    """Shift the design columns ``columns`` of every input by ``delta`` times how far its
    fidelity (last column) lies below the large scale, relative to the small one."""

    def __init__(self, d: int, columns: list[int], sigma: float) -> None:
        super().__init__()
        self.transform_on_train = True
        self.transform_on_eval = True
        self.transform_on_fantasize = True
        self.register_buffer("columns", torch.tensor(columns, dtype=torch.long))
        self.register_parameter("delta", torch.nn.Parameter(torch.zeros(len(columns))))
        self.register_prior(
            "delta_prior", NormalPrior(0.0, sigma), lambda m: m.delta, lambda m, v: m._set(v)
        )

    def _set(self, value: torch.Tensor) -> None:
        self.delta.data = torch.as_tensor(value).to(self.delta).reshape(self.delta.shape)

    def transform(self, X: torch.Tensor) -> torch.Tensor:
        weight = (LARGE_FIDELITY - X[..., -1:]) / (LARGE_FIDELITY - DEFAULT_SMALL_FIDELITY)
        shift = torch.zeros(X.shape[-1], dtype=X.dtype, device=X.device)
        shift = shift.index_put((self.columns,), self.delta.to(X))
        return X + weight * shift

    def equals(self, other: InputTransform) -> bool:
        return False


_STATE: dict = {"columns": [], "sigma": 0.2, "last": None}


def _shifted_model(train_X, train_Y, **kwargs):
    transform = FidelityShift(train_X.shape[-1], _STATE["columns"], _STATE["sigma"]).to(train_X)
    model = botorch.models.SingleTaskMultiFidelityGP(
        train_X, train_Y, input_transform=transform, **kwargs
    )
    _STATE["last"] = transform
    return model


def main(mode: str, problems: str, seeds: str, out: str) -> None:
    if not mode.startswith("shift"):
        raise SystemExit(f"unknown mode {mode!r}")
    _STATE["sigma"] = float(mode[5:])
    model_module.SingleTaskMultiFidelityGP = _shifted_model

    def make_engine(problem, seed):
        engine = Engine(problem.space(), random_state=seed, acq_func=DEFAULT_LARGE_ACQ)
        one_hot = set(engine.space.one_hot_columns)
        _STATE["columns"] = [c for c in range(engine.space.n_columns) if c not in one_hot]
        return engine

    def describe(engine):
        model = engine.model
        if model is None or not hasattr(model, "input_transform"):
            return {"delta": None}
        return {"delta": [round(float(v), 3) for v in model.input_transform.delta]}

    run_screen(mode, problems, seeds, out, make_engine, describe)


if __name__ == "__main__":
    main(*sys.argv[1:])
