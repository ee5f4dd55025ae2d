"""Held-out check of ``large_model="auto"`` (not part of the library).

``auto``'s thresholds (a spread ratio in (1.5, 3) or below 1/1.5, a BIC-form margin) were read
off the benchmark's own nine problems. This screen runs it on problems it was not tuned on:
two base functions the benchmark does not use, Hartmann-3 (BoTorch's ``Hartmann(dim=3)``) and
the six-hump camel (on [-3, 3] x [-2, 2]), each with small scales of known relation to the
large one. Every small scale except the unrelated one is the large function at a point
displaced by ``SHIFT`` in every coordinate (clipped to the cube, so the small optimum is
displaced too), times a factor, plus an offset:

- ``<base>_x2``: small = 0.5 f(x + shift) + 1 (the large scale spreads 2x as much: inside
  ``auto``'s window, so it should take the MultiTaskGP);
- ``<base>_x5``: small = 0.2 f(x + shift) + 1 (5x: above the window, so the shared model);
- ``<base>_x02``: small = 5 f(x + shift) + 1 (0.2x: below 1/1.5, so the MultiTaskGP);
- ``<base>_same``: small = f(x + shift) + 0.5 (1x: the shared model);
- ``<base>_unrel``: small = an unrelated bowl with ripples whose optimum is elsewhere.

Per seed: the benchmark's small stage (5 + 20 runs, ``SMALL_STAGE``), then the same 11
large-scale runs protocol for three methods: ``auto`` (the benchmark's ``scaleup_bo``, i.e.
``LargeScaleOptimizer``'s defaults), ``shared`` (the same with ``large_model="shared"``) and
``large_only`` (the benchmark's, transfer off). ``auto``'s per-step choices (model, fitted
ratio) are written beside the results.

Usage (one-thread processes, at most two at a time on 2 cores)::

    OMP_NUM_THREADS=1 python docs/screens/auto_heldout.py h3_x2,h3_unrel 0,1,2 out.json
    OMP_NUM_THREADS=1 python docs/screens/auto_heldout.py h3_unrel 0,1 out.json auto_guard
    python docs/screens/auto_heldout.py --report out.json [more.json ...]

The optional fourth argument names the methods (default ``auto,shared,large_only``;
``auto_guard`` is ``"auto"`` with ``transfer_guard=True``); ``--report`` adds a column for
``auto_guard`` where it was run.
"""

from __future__ import annotations

import json
import math
import sys
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import numpy as np
from skopt.space import Real

from scaleup_bo.benchmarks.baselines import METHODS, StageResult, _best_small, _engine_loop
from scaleup_bo.benchmarks.problems import PROBLEMS, Problem
from scaleup_bo.benchmarks.runner import load, run_benchmark, wtl
from scaleup_bo.optimizers import DEFAULT_FINAL_ACQ, DEFAULT_LARGE_ACQ, Engine

SHIFT = 0.06
CHOICES = "choices"


def hartmann3(x: Sequence[float]) -> float:
    import torch
    from botorch.test_functions import Hartmann

    return float(Hartmann(dim=3)(torch.tensor([list(map(float, x))], dtype=torch.float64)))


def camel(x: Sequence[float]) -> float:
    a, b = -3 + 6 * float(x[0]), -2 + 4 * float(x[1])
    return (4 - 2.1 * a**2 + a**4 / 3) * a**2 + a * b + (-4 + 4 * b**2) * b**2


BASES: dict[str, tuple[Callable[[Sequence[float]], float], int, float]] = {
    "h3": (hartmann3, 3, -3.86278214782076),
    "camel": (camel, 2, -1.031628453489877),
}


def _shifted(f: Callable, x: Sequence[float]) -> float:
    return f([min(1.0, max(0.0, float(v) + SHIFT)) for v in x])


def _related(f: Callable, factor: float, offset: float, x: Sequence[float]) -> float:
    return factor * _shifted(f, x) + offset


def _unrelated(x: Sequence[float]) -> float:
    bowl = sum((float(v) - c) ** 2 for v, c in zip(x, (0.85, 0.15, 0.4), strict=False))
    return 5 * bowl + math.sin(7 * float(x[0])) * math.cos(5 * float(x[1]))


def _large(f: Callable, x: Sequence[float]) -> float:
    return f(list(map(float, x)))


def held_out_problems() -> dict[str, Problem]:
    problems = {}
    for base, (f, d, optimum) in BASES.items():
        space = partial(lambda d: [Real(0.0, 1.0, name=f"x{i}") for i in range(d)], d)
        smalls = {
            "x2": partial(_related, f, 0.5, 1.0),
            "x5": partial(_related, f, 0.2, 1.0),
            "x02": partial(_related, f, 5.0, 1.0),
            "same": partial(_related, f, 1.0, 0.5),
            "unrel": _unrelated,
        }
        for kind, small in smalls.items():
            name = f"{base}_{kind}"
            problems[name] = Problem(name, space, small, partial(_large, f), optimum)
    return problems


LOG: dict[str, dict[str, list[Any]]] = {}


def _auto(problem: Problem, X: list, Y: list, n_large: int, seed: int) -> StageResult:
    engine = Engine(
        problem.space(), random_state=seed, acq_func=DEFAULT_LARGE_ACQ, large_model="auto"
    )
    engine.tell_many(X, Y, "small")
    steps: list[Any] = []
    original = engine.ask

    def ask(*args: Any, **kwargs: Any) -> Any:
        params = original(*args, **kwargs)
        c = engine.large_model_choice
        steps.append([c.get("model"), c.get("scale_ratio")])
        return params

    engine.ask = ask  # type: ignore[method-assign]
    result = _engine_loop(engine, problem, _best_small(X, Y), n_large, DEFAULT_FINAL_ACQ)
    LOG.setdefault(problem.name, {})[str(seed)] = steps
    return result


def _shared(problem: Problem, X: list, Y: list, n_large: int, seed: int) -> StageResult:
    engine = Engine(
        problem.space(), random_state=seed, acq_func=DEFAULT_LARGE_ACQ, large_model="shared"
    )
    engine.tell_many(X, Y, "small")
    return _engine_loop(engine, problem, _best_small(X, Y), n_large, DEFAULT_FINAL_ACQ)


def _auto_guard(problem: Problem, X: list, Y: list, n_large: int, seed: int) -> StageResult:
    """``"auto"`` with the negative-transfer guard on (``transfer_guard=True``)."""
    engine = Engine(
        problem.space(), random_state=seed, acq_func=DEFAULT_LARGE_ACQ, large_model="auto",
        transfer_guard=True,
    )  # fmt: skip
    engine.tell_many(X, Y, "small")
    return _engine_loop(engine, problem, _best_small(X, Y), n_large, DEFAULT_FINAL_ACQ)


def run(problems: str, seeds: str, out: str, methods: str = "auto,shared,large_only") -> None:
    warnings.filterwarnings("ignore")
    PROBLEMS.update(held_out_problems())
    METHODS.update(auto=_auto, shared=_shared, auto_guard=_auto_guard)
    for name in problems.split(","):
        for seed in map(int, seeds.split(",")):
            data = run_benchmark([name], methods.split(","), [seed], checkpoint=out, progress=False)
            if name in LOG:
                data.setdefault(CHOICES, {}).setdefault(name, {}).update(LOG.pop(name))
                with open(out, "w") as f:
                    json.dump(data, f)
            runs = data["results"][name]
            regret = {m: min(runs[m][str(seed)]["values"]) - PROBLEMS[name].optimum for m in runs}
            print(name, seed, {m: f"{r:.3g}" for m, r in regret.items()}, flush=True)


def report(paths: list[str]) -> None:
    PROBLEMS.update(held_out_problems())
    merged: dict[str, Any] = {"results": {}, CHOICES: {}, "config": None}
    for path in paths:
        data = load(path)
        merged["config"] = merged["config"] or data["config"]
        for name, runs in data["results"].items():
            for m, seeds in runs.items():
                merged["results"].setdefault(name, {}).setdefault(m, {}).update(seeds)
        for name, seeds in data.get(CHOICES, {}).items():
            merged[CHOICES].setdefault(name, {}).update(seeds)
    print("problem        seeds  auto        shared      large_only  auto/shared W/T/L  p      "
          "auto/large_only W/T/L  auto's choices (steps)  ratio range")  # fmt: skip
    pooled: dict[str, list[np.ndarray]] = {"auto": [], "shared": []}
    for name, runs in merged["results"].items():
        opt = PROBLEMS[name].optimum
        common = sorted(set.intersection(*(set(runs[m]) for m in ("auto", "shared", "large_only"))))
        r = {
            m: np.array([min(runs[m][s]["values"]) - opt for s in common])
            for m in ("auto", "shared", "large_only")
        }
        steps = [c for s in common for c in merged[CHOICES].get(name, {}).get(s, [])]
        counts = Counter(c[0] for c in steps if c[0] is not None)
        ratios = [c[1] for c in steps if c[1] is not None]
        rng = f"{min(ratios):.2f}-{max(ratios):.2f}" if ratios else "-"
        pooled["auto"].append(r["auto"])
        pooled["shared"].append(r["shared"])
        print(
            f"{name:<14} {len(common):>5}  {np.median(r['auto']):<10.3g}  "
            f"{np.median(r['shared']):<10.3g}  {np.median(r['large_only']):<10.3g}  "
            f"{wtl(r['auto'], r['shared']):<17}  {_p(r['auto'], r['shared']):<5}  "
            f"{wtl(r['auto'], r['large_only']):<21}  {dict(counts)}  {rng}"
        )
    a, b = np.concatenate(pooled["auto"]), np.concatenate(pooled["shared"])
    print(f"all problems: auto against shared {wtl(a, b)} (Wilcoxon p {_p(a, b)})")
    guarded = [name for name, runs in merged["results"].items() if runs.get("auto_guard")]
    if guarded:
        print("\nproblem        seeds  auto_guard  auto        large_only  vs auto W/T/L  "
              "vs large_only W/T/L")  # fmt: skip
    for name in guarded:
        runs, opt = merged["results"][name], PROBLEMS[name].optimum
        common = sorted(set(runs["auto_guard"]) & set(runs["auto"]) & set(runs["large_only"]))
        r = {
            m: np.array([min(runs[m][s]["values"]) - opt for s in common])
            for m in ("auto_guard", "auto", "large_only")
        }
        print(
            f"{name:<14} {len(common):>5}  {np.median(r['auto_guard']):<10.3g}  "
            f"{np.median(r['auto']):<10.3g}  {np.median(r['large_only']):<10.3g}  "
            f"{wtl(r['auto_guard'], r['auto']):<13}  {wtl(r['auto_guard'], r['large_only'])}"
        )


def _p(a: np.ndarray, b: np.ndarray) -> str:
    """Two-sided Wilcoxon signed-rank p over the paired seeds (``-`` when all tie)."""
    from scipy.stats import wilcoxon

    if np.allclose(a, b):
        return "-"
    return f"{wilcoxon(a, b).pvalue:.2g}"


if __name__ == "__main__":
    if sys.argv[1] == "--report":
        report(sys.argv[2:])
    else:
        run(*sys.argv[1:5])
