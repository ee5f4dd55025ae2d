"""Screen: how the last large-scale run is chosen (not part of the library).

Each run is the benchmark's ``scaleup_bo`` method up to its 10th large-scale run (the
stored small stage of ``docs/benchmark_results.json``, the small winner first, then qNEI).
The 11th run is then chosen in several ways *from the same state*, each evaluated on the
large scale, so the variants are paired exactly:

- ``pm``: the default before commit 9a8ad6a, the shared model's posterior-mean maximizer
  (``exploit_noise_floor=None``);
- ``lo``: the posterior-mean maximizer of a GP on the large-scale runs only (BoTorch's
  ``SingleTaskGP``, its default kernel and priors, a fixed noise of 1e-6 of the observed
  variance: the large scale is treated as noise-free);
- ``lo_tr<h>``: the same, searched in a box of half-width ``h`` (unit cube) around the best
  large-scale run, its categories held;
- ``sh_tr<h>``: the shared model's posterior mean in that box;
- ``sh_n<e>``: the shared model refitted with a noise floor of ``10^-e`` (BoTorch's is
  1e-4), its posterior-mean maximizer; ``sh_n7`` became the default
  (``exploit_noise_floor=1e-7``; the library fits with the step's seed, this screen with
  the run's, so single runs can differ).

Modes: ``all`` (``pm``, ``lo``, the boxes of half-width 0.1, 0.05, 0.02, ``sh_n6``);
``floors`` (``pm``, ``sh_n6``, ``sh_n7``, ``sh_n8``, ``sh_n10``); ``loo`` (``pm``, ``lo``,
``sh_n7``, and ``lo_lib``, the library's own large-only model as the transfer guard fits
it, with each model's leave-one-out error on the large-scale runs).

Usage (one-thread processes, at most two at a time on 2 cores)::

    OMP_NUM_THREADS=1 python docs/screens/final_local.py all forrester,branin 0,1,2 out.jsonl

Each line of ``out.jsonl``: problem, seed, the best value after 10 runs, and per variant
the value of its 11th run and the regret of the best after 11.
"""

from __future__ import annotations

import json
import sys

import torch
from botorch.acquisition.analytic import PosteriorMean
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from botorch.models.transforms.outcome import Standardize
from botorch.optim import optimize_acqf
from gpytorch.mlls import ExactMarginalLogLikelihood
from two_stage import stored_stages

from scaleup_bo.acquisition import propose, unit_key
from scaleup_bo.benchmarks.baselines import _best_small, _engine_loop
from scaleup_bo.model import fit_model
from scaleup_bo.optimizers import DEFAULT_LARGE_ACQ, Engine, _loo_error

HALF_WIDTHS = (0.1, 0.05, 0.02)


def large_only_model(engine: Engine):
    X, Y = engine.training_data()
    large = X[:, -1] == 1.0
    X, Y = X[large], Y[large]
    yvar = torch.full_like(Y, 1e-6 * float(Y.var()))
    model = SingleTaskGP(X, Y, train_Yvar=yvar, outcome_transform=Standardize(m=1))
    torch.manual_seed(0)
    fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
    return model.eval()


def shared_low_noise(engine: Engine, floor: float = 1e-6):
    X, Y = engine.training_data()
    return fit_model(
        X,
        Y,
        seed=engine.random_state,
        categorical_columns=engine.space.one_hot_columns,
        noise_floor=floor,
    )


def box_argmax(acqf, engine: Engine, half: float, seed: int):
    """Maximize ``acqf`` over the box around the best large run (categories held)."""
    space = engine.space
    d = space.n_columns
    best = engine.best("large")
    centre = space.to_unit([best.params])[0]
    onehot = set(space.one_hot_columns)
    lo = torch.zeros(d + 1, dtype=torch.float64)
    hi = torch.ones(d + 1, dtype=torch.float64)
    fixed = {d: 1.0}
    for c in range(d):
        if c in onehot:
            fixed[c] = float(centre[c])
        else:
            lo[c] = max(0.0, float(centre[c]) - half)
            hi[c] = min(1.0, float(centre[c]) + half)
    bounds = torch.stack([lo, hi])
    excluded = {unit_key(r) for r in space.to_unit([t.params for t in engine.history.at("large")])}
    torch.manual_seed(seed)
    X, _ = optimize_acqf(acqf, bounds, q=1, num_restarts=10, raw_samples=512, fixed_features=fixed)
    x = space.round_unit(X.reshape(-1, d + 1)[:1, :d])
    if unit_key(x[0]) not in excluded:
        return space.from_unit(x)[0]
    # Rounded onto an evaluated point: the best fresh one among random points of the box.
    U = lo[:d] + (hi[:d] - lo[:d]) * torch.rand(4096, d, dtype=torch.float64)
    for c in onehot:
        U[:, c] = centre[c]
    U = space.round_unit(U)
    keep = [i for i in range(U.shape[0]) if unit_key(U[i]) not in excluded]
    U = U[keep]
    with torch.no_grad():
        scores = acqf(torch.cat([U, torch.ones(U.shape[0], 1, dtype=U.dtype)], -1).unsqueeze(-2))
    return space.from_unit(U[int(scores.argmax())][None])[0]


def global_argmax(acqf, engine: Engine, seed: int):
    tried = engine.space.to_unit([t.params for t in engine.history.at("large")])
    return propose(acqf, engine.space, 1.0, exclude=tried, seed=seed)


def main(mode: str, problems: str, seeds: str, out: str) -> None:
    with open(out, "a") as f:
        for name, problem, seed, X, Y in stored_stages(problems, seeds):
            engine = Engine(
                problem.space(),
                random_state=seed,
                acq_func=DEFAULT_LARGE_ACQ,
                exploit_noise_floor=None,
            )
            engine.tell_many(X, Y, "small")
            result = _engine_loop(engine, problem, _best_small(X, Y), 10)
            best10 = min(result.values)
            points = {}
            seed11 = engine._step_seed("large")
            points["pm"] = engine.ask("large", acq_func="PM")
            engine.cancel(points["pm"], "large")
            if mode == "floors":
                for e in (6, 7, 8, 10):
                    low = shared_low_noise(engine, 10.0**-e)
                    if low is not None:
                        points[f"sh_n{e}"] = global_argmax(PosteriorMean(low), engine, seed11)
                evaluate(problem, name, seed, best10, points, f)
                continue
            shared = engine.fit()
            lo = large_only_model(engine)
            points["lo"] = global_argmax(PosteriorMean(lo), engine, seed11)
            if mode == "all":
                for h in HALF_WIDTHS:
                    points[f"lo_tr{h}"] = box_argmax(PosteriorMean(lo), engine, h, seed11)
                    points[f"sh_tr{h}"] = box_argmax(PosteriorMean(shared), engine, h, seed11)
            low = shared_low_noise(engine, 1e-6 if mode == "all" else 1e-7)
            if low is not None:
                points["sh_n6" if mode == "all" else "sh_n7"] = global_argmax(
                    PosteriorMean(low), engine, seed11
                )
            extra = {}
            if mode == "loo":
                X, Y = engine.training_data()
                large = X[:, -1] == 1.0
                lib = fit_model(
                    X[large],
                    Y[large],
                    seed=seed,
                    categorical_columns=engine.space.one_hot_columns,
                )
                points["lo_lib"] = global_argmax(PosteriorMean(lib), engine, seed11)
                extra = {
                    "loo_shared": _loo_error(shared, large),
                    "loo_lo": _loo_error(lo, slice(None)),
                    "loo_lib": _loo_error(lib, slice(None)),
                }
                if low is not None:
                    extra["loo_sh_n7"] = _loo_error(low, large)
            evaluate(problem, name, seed, best10, points, f, extra)


def evaluate(problem, name, seed, best10, points, f, extra=None) -> None:
    record = {"problem": name, "seed": seed, "best10": best10, "variants": {}, **(extra or {})}
    for key, p in points.items():
        v = problem.large(p)
        record["variants"][key] = {
            "value": v,
            "regret": problem.regret(min(best10, v)),
            "params": [x if isinstance(x, (int, str)) else float(x) for x in p],
        }
    f.write(json.dumps(record) + "\n")
    f.flush()
    shown = " ".join(f"{k}={r['regret']:.3g}" for k, r in record["variants"].items())
    print(name, seed, f"best10={problem.regret(best10):.3g}", shown, flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
