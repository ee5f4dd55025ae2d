"""Benchmark runner: every method on every problem and seed, the same small-scale data.

Protocol (issue #4): a small stage of ``n_small_initial`` space-filling + ``n_small_steps``
model-guided evaluations (scaleup_bo's ``SmallScaleOptimizer``, shared by every method
of a seed), then ``n_large`` large-scale evaluations per method. Regret is the best
large-scale value observed after ``k`` evaluations minus the optimum.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from scaleup_bo.benchmarks.baselines import METHODS
from scaleup_bo.benchmarks.problems import PROBLEMS

__all__ = ["format_tables", "load", "plot_regret", "regret_curve", "run_benchmark", "save"]

KS = (1, 3, 5, 11)


def run_benchmark(
    problems: Iterable[str],
    methods: Iterable[str],
    seeds: Iterable[int],
    *,
    n_small_initial: int = 5,
    n_small_steps: int = 20,
    n_large: int = 11,
    progress: bool = True,
    checkpoint: str | Path | None = None,
) -> dict[str, Any]:
    """Run the protocol; returns a JSON-friendly dict of raw results.

    With ``checkpoint``, the results so far are written there after every
    (problem, seed), so a long run that is stopped keeps what it measured.

    Returns:
        ``{"config": ..., "results": {problem: {method: {seed: {"values", "overhead"}}}}}``
    """
    from tqdm.auto import tqdm

    from scaleup_bo.optimizers import SmallScaleOptimizer

    problems, methods, seeds = list(problems), list(methods), list(seeds)
    unknown = [p for p in problems if p not in PROBLEMS] + [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(
            f"unknown problem/method {unknown}; problems: {sorted(PROBLEMS)}, "
            f"methods: {list(METHODS)}"
        )
    results: dict[str, Any] = {p: {m: {} for m in methods} for p in problems}
    config = {
        "problems": problems, "methods": methods, "seeds": seeds,
        "n_small_initial": n_small_initial, "n_small_steps": n_small_steps, "n_large": n_large,
        "optima": {p: PROBLEMS[p].optimum for p in problems},
    }  # fmt: skip
    data = {"config": config, "results": results}
    bar = tqdm(total=len(problems) * len(seeds), desc="benchmark", disable=not progress)
    for name in problems:
        problem = PROBLEMS[name]
        for seed in seeds:
            small = SmallScaleOptimizer(
                problem.small, problem.space(), n_steps=n_small_steps,
                n_initial_points=n_small_initial, random_state=seed,
            )  # fmt: skip
            X, Y = small.X_iters.tolist(), small.Y_iters.tolist()
            for method in methods:
                r = METHODS[method](problem, X, Y, n_large, seed)
                results[name][method][str(seed)] = {"values": r.values, "overhead": r.overhead}
            bar.update(1)
            if checkpoint is not None:
                save(data, checkpoint)
    bar.close()
    return data


def regret_curve(values: Sequence[float], optimum: float, n: int) -> np.ndarray:
    """Best-so-far regret after 1..n evaluations (a method that stopped keeps its best)."""
    v = np.array([x if x is not None and math.isfinite(x) else np.inf for x in values], float)
    best = np.minimum.accumulate(v) if len(v) else np.array([np.inf])
    best = np.concatenate([best, np.full(max(0, n - len(best)), best[-1])])[:n]
    return best - (0.0 if math.isnan(optimum) else optimum)


def _curves(data: dict[str, Any], problem: str, method: str) -> np.ndarray:
    n = data["config"]["n_large"]
    opt = data["config"]["optima"][problem]
    runs = data["results"][problem][method]
    return np.array([regret_curve(r["values"], opt, n) for r in runs.values()])


def format_tables(data: dict[str, Any], reference: str = "scaleup_bo") -> str:
    """Median [quartiles] regret after k large evaluations, win/tie/loss against
    ``reference`` at the last k, and median overhead per step, one table per problem."""
    cfg = data["config"]
    n = cfg["n_large"]
    ks = [k for k in KS if k <= n]
    lines = []
    for problem in cfg["problems"]:
        seeds = len(data["results"][problem][cfg["methods"][0]])
        if not seeds:  # a stopped run: this problem was not reached
            continue
        what = "regret" if not math.isnan(cfg["optima"][problem]) else "best value"
        lines.append(
            f"\n{problem}: {what} after k large-scale evaluations, median [q1, q3], {seeds} seeds"
        )
        head = f"{'method':<14}" + "".join(f"{'k=' + str(k):>30}" for k in ks)
        lines.append(head + f"{'W/T/L vs ' + reference:>20}{'s/step':>8}")
        ref = _curves(data, problem, reference) if reference in cfg["methods"] else None
        for method in cfg["methods"]:
            c = _curves(data, problem, method)
            cells = []
            for k in ks:
                col = c[:, k - 1]
                q1, med, q3 = np.percentile(col, [25, 50, 75])
                cells.append(f" {med:.4g} [{q1:.3g}, {q3:.3g}]")
            wtl = ""
            if ref is not None and method != reference:
                a, b = c[:, n - 1], ref[:, n - 1]
                tol = 1e-6 + 1e-3 * np.abs(b)
                wins = int(np.sum(a < b - tol))
                losses = int(np.sum(a > b + tol))
                wtl = f"{wins}/{len(a) - wins - losses}/{losses}"
            overhead = [s for r in data["results"][problem][method].values() for s in r["overhead"]]
            oh = f"{statistics.median(overhead):.2f}" if overhead else "-"
            lines.append(f"{method:<14}" + "".join(f"{x:>30}" for x in cells) + f"{wtl:>20}{oh:>8}")
    return "\n".join(lines)


def plot_regret(data: dict[str, Any], path: str | Path | None = None) -> Any:
    """Median regret versus k (quartile band) per problem; saved to ``path`` if given."""
    import matplotlib.pyplot as plt

    problems = data["config"]["problems"]
    cols = min(3, len(problems))
    rows = math.ceil(len(problems) / cols)
    problems = [p for p in problems if data["results"][p][data["config"]["methods"][0]]]
    cols = min(3, len(problems))
    rows = math.ceil(len(problems) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.6 * rows), squeeze=False)
    k = np.arange(1, data["config"]["n_large"] + 1)
    for ax, problem in zip(axes.flat, problems, strict=False):
        for method in data["config"]["methods"]:
            c = _curves(data, problem, method)
            q1, med, q3 = np.percentile(c, [25, 50, 75], axis=0)
            (line,) = ax.plot(k, med, marker=".", label=method)
            ax.fill_between(k, q1, q3, alpha=0.12, color=line.get_color())
        ax.set_title(problem)
        ax.set_xlabel("large-scale evaluations")
        ax.set_ylabel("regret" if not math.isnan(data["config"]["optima"][problem]) else "best")
        if np.all(
            np.array([_curves(data, problem, m).min() for m in data["config"]["methods"]]) > 0
        ):
            ax.set_yscale("log")
        ax.grid(True, alpha=0.3)
    for ax in list(axes.flat)[len(problems) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=8)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig


def load(path: str | Path) -> dict[str, Any]:
    """Read results written by :func:`save`."""
    return json.loads(Path(path).read_text())


def save(data: dict[str, Any], path: str | Path) -> None:
    """Write the results as JSON (atomically: write, then rename)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, default=float))
    tmp.replace(path)
