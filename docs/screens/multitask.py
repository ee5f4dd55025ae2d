"""Screen: a MultiTaskGP (which learns a per-scale mean, variance and noise, hence a scale
factor between the scales) as the large-scale model of the two-stage pipeline.

Not part of the library: it reproduces the README table "MultiTaskGP as the large-scale
model". Each run is the benchmark's ``scaleup_bo`` method (the stored small stage of
``docs/benchmark_results.json``, the small winner first, then qNEI, 11 large-scale runs)
with one change: from the third large-scale run on, each proposal uses

- ``default``: the shared ``SingleTaskMultiFidelityGP`` (the library, unchanged);
- ``mt``: ``MultiTaskGP(output_tasks=[1])`` on the same data (fidelity column mapped to
  the task index: small 0, large 1; BoTorch's default priors): the library's
  ``large_model="multitask"`` (``fit_model(..., multitask=True)``);
- ``loo``: whichever of the two has the lower leave-one-out squared error on the
  large-scale points, chosen again at every step; ``loo<r>`` (e.g. ``loo0.5``): the
  MultiTaskGP only when its error is below ``r`` times the shared model's;
- ``mll``: whichever has the higher log marginal likelihood of all points;
- ``bic<c>``: the MultiTaskGP when its log marginal likelihood exceeds the shared model's
  by more than ``c`` times half the difference in their numbers of hyperparameters times
  the log of the number of points (``bic1``: the Bayesian information criterion; ``bic``
  means ``bic1``); ``bicr<r>``: ``bic1``, and only while the MultiTaskGP's correlation
  between the scales exceeds ``r`` (``bicr0.5``); ``bicg``: ``bic1``, and when it chooses
  the MultiTaskGP, a GP of the large-scale points alone instead whenever that predicts them
  better (leave-one-out squared error), a guard on the MultiTaskGP; ``bicgs<f>``: ``bicg``,
  and only while the MultiTaskGP's ratio of the two scales' standard deviations is above
  ``f`` or below ``1 / f`` (``bicgs1.5``; the library's ``large_model="auto"`` is
  ``bicgs1.5`` with the ratio also below ``AUTO_MAX_SCALE_RATIO`` = 3);
- ``stgp``: ``SingleTaskGP`` on the same data, the fidelity an ordinary input (BoTorch's
  default kernel and priors, no per-scale parameters);
- ``sequential``: whichever predicted the large-scale runs better before seeing them (the
  squared error of each model fitted at one step on the large-scale values that arrived at
  the next, summed over the run; from two such predictions on).

Usage (one-thread processes, at most two at a time on 2 cores)::

    OMP_NUM_THREADS=1 python docs/screens/multitask.py mt forrester,mixed_shift 0,1,2,3,4 out.jsonl

The last large-scale run is the library's ``"PM"`` ask, on the chosen model refitted with
``exploit_noise_floor``, as in the benchmark's ``scaleup_bo``; the choice is made with the
exploring fits. (Before commit f7ea5e1 the last run was qNEI like the others: the first
tables of this screen were made so.)

Each line of ``out.jsonl``: problem, seed, mode, the seconds each proposal took
(overhead), the best large-scale value and its regret after k = 1..11 large-scale runs
(``digits_mlp`` has no known optimum: its regret is NaN), and ``evidence``: for every
large-scale proposal from the third large-scale run on (modes other than ``default`` and
``mt``), ``[large points, all points, log marginal likelihood of the shared model, of the
MultiTaskGP, number of hyperparameters of each, the MultiTaskGP's correlation between the
scales and the ratio of their standard deviations (large / small), MultiTaskGP chosen]``.
"""

from __future__ import annotations

import math
import sys

import torch
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from gpytorch.mlls import ExactMarginalLogLikelihood
from two_stage import N_LARGE, run_screen

from scaleup_bo.model import (
    LARGE_FIDELITY,
    fit_model,
    log_marginal_likelihood,
    n_hyperparameters,
)
from scaleup_bo.model import task_scale_ratio as task_scale
from scaleup_bo.optimizers import DEFAULT_LARGE_ACQ, MULTITASK_MIN_LARGE, Engine, _loo_error

MIN_LARGE = MULTITASK_MIN_LARGE


def fit_single_task(train_X: torch.Tensor, train_Y: torch.Tensor, seed: int) -> SingleTaskGP:
    """BoTorch's default GP (RBF, dimension-scaled lengthscale prior), the fidelity an
    ordinary input: the MultiTaskGP's kernel and priors without its per-scale parameters."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = SingleTaskGP(train_X, train_Y)
        fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
    return model.eval()


def task_covariance(model) -> torch.Tensor:
    """The MultiTaskGP's 2 x 2 covariance of the small (task 0) and large (task 1) scale."""
    with torch.no_grad():
        return model.covar_module.kernels[1].covar_matrix.to_dense()


def task_correlation(model) -> float:
    """The MultiTaskGP's correlation between the small and the large scale."""
    B = task_covariance(model)
    return float(B[0, 1] / (B[0, 0] * B[1, 1]).sqrt())


class ScreenEngine(Engine):
    mode = "default"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.previous = None  # (number of large points, shared model, multitask model)
        self.errors = {"shared": [], "mt": []}
        self.ratios: list[float] = []  # LOO error of the MultiTaskGP / the shared model's
        self.evidence: list[list[float]] = []

    def ask(self, scale="large", n=None, *, acq_func=None):
        if scale == "large" and len(self.history.at("large")) == N_LARGE - 1:
            acq_func = "PM"
        return super().ask(scale, n, acq_func=acq_func)

    def _score_previous(self, X, Y, large):
        """Squared error of each model fitted at the previous step on the large-scale
        points that arrived since (a genuine out-of-sample test)."""
        if self.previous is None:
            return
        n_before, shared, mt = self.previous
        rows = torch.nonzero(large).reshape(-1)[n_before:]
        if not rows.numel():
            return
        with torch.no_grad():
            for name, model in (("shared", shared), ("mt", mt)):
                mean = model.posterior(X[rows]).mean.reshape(-1)
                self.errors[name] += ((mean - Y[rows].reshape(-1)) ** 2).tolist()

    def _model_for(self, scale, seed, *, exploit=False):
        if scale != "large" or self.mode in ("default", "mt"):
            return super()._model_for(scale, seed, exploit=exploit)
        base = super()._model_for(scale, seed)
        if base is None:
            return None
        model, X, Y = self._choose(base, seed)
        if exploit and self.exploit_noise_floor is not None:
            kind = "shared" if model is base[0] else "multitask"
            if X.shape[0] < base[1].shape[0]:
                kind = "large_only"  # the guard's choice (mode bicg)
            model = self._refit(kind, model, X, Y, seed)
        return model, X, Y

    def _choose(self, base, seed):
        shared, X, Y = base
        large = X[:, -1] == LARGE_FIDELITY
        if self.mode == "sequential" and int(large.sum()) >= 1 and not bool(large.all()):
            self._score_previous(X, Y, large)
            mt = fit_model(X, Y, seed=seed, multitask=True)
            self.previous = (int(large.sum()), shared, mt)
            n = len(self.errors["mt"])
            if n >= MIN_LARGE - 1 and sum(self.errors["mt"]) < sum(self.errors["shared"]):
                return mt, X, Y
            return base
        if int(large.sum()) < MIN_LARGE or bool(large.all()):
            return base
        if self.mode == "stgp":
            return fit_single_task(X, Y, seed), X, Y
        mt = self._fit_multitask(X, Y, seed)
        if mt is None:
            return base
        if self.mode.startswith("loo"):
            ratio = _loo_error(mt, large) / max(_loo_error(shared, large), 1e-300)
            self.ratios.append(ratio)
            use = ratio < float(self.mode[3:] or 1.0)
        else:
            lml = log_marginal_likelihood(shared), log_marginal_likelihood(mt)
            k = n_hyperparameters(shared), n_hyperparameters(mt)
            rho = task_correlation(mt)
            c, r = 0.0, -1.0
            if self.mode.startswith("bicg"):
                c = 1.0
            elif self.mode.startswith("bicr"):
                c, r = 1.0, float(self.mode[4:])
            elif self.mode.startswith("bic"):
                c = float(self.mode[3:] or 1.0)
            use = lml[1] - lml[0] > c * 0.5 * (k[1] - k[0]) * math.log(X.shape[0]) and rho > r
            if self.mode.startswith("bicgs"):
                # Only while the MultiTaskGP says the two scales' spreads differ by more
                # than this factor (its advantage over the shared model): bicgs1.5.
                factor = float(self.mode[5:] or 1.5)
                use = use and abs(math.log(task_scale(mt))) > math.log(factor)
            record = [int(large.sum()), X.shape[0], *lml, *k, rho, task_scale(mt), int(use)]
            if use and self.mode.startswith("bicg"):
                # The guard on the chosen MultiTaskGP: a GP of the large points alone when
                # it predicts them better (leave-one-out), as the library's guard does for
                # the shared model.
                alone = self._fit_large_only(X[large], Y[large], seed)
                if alone is not None and _loo_error(alone, slice(None)) < _loo_error(mt, large):
                    record.append("large_only")
                    if not self.evidence or self.evidence[-1][:2] != record[:2]:
                        self.evidence.append(record)
                    return alone, X[large], Y[large]
            if not self.evidence or self.evidence[-1][:2] != record[:2]:
                self.evidence.append(record)
        return (mt, X, Y) if use else base


def main(mode: str, problems: str, seeds: str, out: str) -> None:
    def make_engine(problem, seed):
        engine = ScreenEngine(
            problem.space(),
            random_state=seed,
            acq_func=DEFAULT_LARGE_ACQ,
            large_model="multitask" if mode == "mt" else "shared",
        )
        engine.mode = mode
        return engine

    run_screen(mode, problems, seeds, out, make_engine, describe)


def describe(engine):
    return {"ratios": engine.ratios, "evidence": engine.evidence}


if __name__ == "__main__":
    main(*sys.argv[1:])
