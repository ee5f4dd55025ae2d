"""Regret at large scale against cumulative cost: the cost-aware optimizer's benchmark.

Three methods spend the same budget, ``n_small * cost_small + n_large * cost_large``
(the two-stage protocol's cost; 25 x 1 + 11 x 10 = 135 by default):

- ``scaleup_cost``: :class:`~scaleup_bo.scaleup.ScaleUpOptimizer`, which chooses
  the scale of every run;
- ``two_stage``: the two-stage pipeline of the main benchmark (25 small-scale runs,
  then ``LargeScaleOptimizer`` for 11 large-scale runs), read from (or added to) the
  main benchmark's results file, so it is the same run as in those tables;
- ``large_only``: BO on the large scale alone with ``budget / cost_large`` runs.

Each run is a *trace*: the cumulative cost after every trial and the large-scale
values. Regret at cost ``c`` is that of the best large-scale value observed once at
most ``c`` was spent (``inf`` before the first large-scale run).

Example:
    >>> data = run_cost_benchmark(["forrester"], [0], stages="stages.json")  # doctest: +SKIP
    >>> print(format_cost_tables(data))  # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from scaleup_bo.benchmarks.baselines import METHOD_VERSIONS, large_only
from scaleup_bo.benchmarks.problems import PROBLEMS
from scaleup_bo.benchmarks.runner import ResultsFileError, load, run_benchmark, save, wtl

__all__ = [
    "COST_LARGE",
    "COST_SMALL",
    "FRACTIONS",
    "format_cost_tables",
    "plot_cost",
    "regret_at_cost",
    "run_cost_benchmark",
]

#: Default cost of one run at each scale (a large run costs 10 small ones).
COST_SMALL, COST_LARGE = 1.0, 10.0
#: Fractions of the budget at which the tables read regret.
FRACTIONS = (0.3, 0.5, 0.7, 1.0)
COST_METHODS = ("scaleup_cost", "two_stage", "large_only")


def run_cost_benchmark(
    problems: Iterable[str],
    seeds: Iterable[int],
    *,
    stages: str | Path,
    cost_small: float = COST_SMALL,
    cost_large: float = COST_LARGE,
    n_small_initial: int = 5,
    n_small_steps: int = 20,
    n_large: int = 11,
    checkpoint: str | Path | None = None,
    progress: bool = True,
    **optimizer_kwargs: Any,
) -> dict[str, Any]:
    """Run the three methods on every (problem, seed); resumable like the main runner.

    Args:
        problems: Problem names.
        seeds: Seeds.
        stages: Results file of the main benchmark (its 5 + 20 small-stage protocol);
            missing ``scaleup_bo`` runs are added to it.
        cost_small, cost_large: Cost of one run at each scale.
        n_small_initial, n_small_steps, n_large: The two-stage protocol (as in the
            main benchmark) whose cost is the budget.
        checkpoint: This benchmark's results file (written after every run, resumed).
        optimizer_kwargs: Passed to ``ScaleUpOptimizer`` (e.g. ``acq_func``).

    Returns:
        ``{"config": ..., "traces": {problem: {method: {seed: trace}}}}``, a trace
        being ``{"cost": [...], "scale": [...], "value": [...], "overhead": [...]}``;
        ``scaleup_cost`` traces also hold every trial's ``params`` and value ``y`` (both
        scales; ``None`` for a failed trial), except those of files written before they
        were recorded (read them with ``.get``).
    """
    from tqdm.auto import tqdm

    from scaleup_bo.scaleup import ScaleUpOptimizer

    problems, seeds = list(problems), list(seeds)
    budget = (n_small_initial + n_small_steps) * cost_small + n_large * cost_large
    config = {
        "cost_small": cost_small, "cost_large": cost_large, "budget": budget,
        "optimizer": {k: str(v) for k, v in optimizer_kwargs.items()},
        "two_stage": METHOD_VERSIONS["scaleup_bo"],
        "scaleup_cost": METHOD_VERSIONS["scaleup_cost"],
        "large_only": METHOD_VERSIONS["large_only"],
    }  # fmt: skip
    data: dict[str, Any] = {"config": config, "traces": {}}
    if checkpoint is not None and Path(checkpoint).exists():
        data = load(checkpoint)
        differs = [k for k in config if data["config"].get(k) != config[k]]
        if differs == ["scaleup_cost"]:
            raise ResultsFileError(
                f"{checkpoint} holds scaleup_cost runs made by an earlier default of "
                f"ScaleUpOptimizer ({data['config'].get('scaleup_cost')!r}, now "
                f"{config['scaleup_cost']!r}): use another file"
            )
        if differs:
            raise ResultsFileError(
                f"{checkpoint} holds another protocol ({data['config']}): use another file"
            )
    data["config"]["optima"] = {
        **data["config"].get("optima", {}), **{p: PROBLEMS[p].optimum for p in problems},
    }  # fmt: skip
    stage = run_benchmark(
        problems, ["scaleup_bo"], seeds, n_small_initial=n_small_initial,
        n_small_steps=n_small_steps, n_large=n_large, progress=False, checkpoint=stages,
    )  # fmt: skip
    bar = tqdm(total=len(problems) * len(seeds), desc="cost benchmark", disable=not progress)
    for name in problems:
        problem = PROBLEMS[name]
        traces = data["traces"].setdefault(name, {m: {} for m in COST_METHODS})
        for seed in seeds:
            key = str(seed)
            if key not in traces["two_stage"]:
                values = stage["results"][name]["scaleup_bo"][key]["values"]
                n = len(stage["small"][name][key]["Y"])
                traces["two_stage"][key] = _trace(
                    ["small"] * n + ["large"] * len(values),
                    [math.nan] * n + list(values),
                    [cost_small] * n + [cost_large] * len(values),
                    stage["results"][name]["scaleup_bo"][key]["overhead"],  # large stage only
                )
            if key not in traces["large_only"]:
                r = large_only(problem, [], [], int(budget // cost_large), seed)
                traces["large_only"][key] = _trace(
                    ["large"] * len(r.values), r.values, [cost_large] * len(r.values), r.overhead
                )
            if key not in traces["scaleup_cost"]:
                opt = ScaleUpOptimizer(
                    problem.small, problem.large, problem.space(), budget,
                    cost_small=cost_small, cost_large=cost_large, random_state=seed,
                    **optimizer_kwargs,
                )  # fmt: skip
                trials = list(opt.history)
                traces["scaleup_cost"][key] = _trace(
                    [t.scale for t in trials],
                    [t.value if t.ok and t.scale == "large" else math.nan for t in trials],
                    [opt.costs.trial_cost(t) for t in trials],
                    opt.overhead,
                )
                # Every trial's point and value (both scales): the run's state before any
                # trial can be rebuilt by telling them, without re-running the optimizer.
                traces["scaleup_cost"][key]["params"] = [t.to_dict()["params"] for t in trials]
                traces["scaleup_cost"][key]["y"] = [t.value for t in trials]
            if checkpoint is not None:
                rows = [("traces", name, m, key) for m in COST_METHODS]
                save(data, checkpoint, rows=rows, protocol=[k for k in config if k != "optima"])
            bar.update(1)
    bar.close()
    return data


def _trace(
    scales: Sequence[str],
    values: Sequence[float | None],
    costs: Sequence[float],
    overhead: Sequence[float] = (),
) -> dict[str, Any]:
    return {
        "scale": list(scales),
        "value": [math.nan if v is None else float(v) for v in values],
        "cost": np.cumsum(costs).tolist(),
        "overhead": list(overhead),
    }


def regret_at_cost(trace: dict[str, Any], optimum: float, cost: float) -> float:
    """Regret of the best large-scale value observed once at most ``cost`` was spent."""
    best = math.inf
    for c, v in zip(trace["cost"], trace["value"], strict=True):
        if c > cost + 1e-9:
            break
        if v is not None and not math.isnan(v):
            best = min(best, v)
    return best - (0.0 if math.isnan(optimum) else optimum)


def _regrets(data: dict[str, Any], problem: str, method: str, cost: float) -> np.ndarray:
    runs = data["traces"][problem][method]
    opt = data["config"]["optima"][problem]
    return np.array([regret_at_cost(runs[s], opt, cost) for s in sorted(runs, key=int)])


def _quartiles(a: np.ndarray, axis: int | None = None) -> np.ndarray:
    """25/50/75th percentiles where ``inf`` (no large-scale run yet) stays ``inf``."""
    q = np.percentile(np.where(np.isinf(a), 1e300, a), [25, 50, 75], axis=axis)
    return np.where(q >= 1e299, np.inf, q)


def _median(a: np.ndarray) -> float:
    return float(_quartiles(a)[1]) if len(a) else math.nan


def format_cost_tables(data: dict[str, Any]) -> str:
    """Median regret [q1, q3] at fractions of the budget, the cost at which each method
    reaches the two-stage pipeline's final median, W/T/L and the runs made."""
    budget = data["config"]["budget"]
    lines = [
        f"regret at large scale vs cost (budget {budget:g} = two-stage cost; "
        f"small run {data['config']['cost_small']:g}, large run {data['config']['cost_large']:g})"
    ]
    summary = []
    for problem, traces in data["traces"].items():
        seeds = sorted(set.intersection(*(set(traces[m]) for m in COST_METHODS)), key=int)
        if not seeds:
            continue
        sub = {m: {s: traces[m][s] for s in seeds} for m in COST_METHODS}
        view = {"config": data["config"], "traces": {problem: sub}}
        lines.append(f"\n{problem} ({len(seeds)} seeds)")
        lines.append(
            f"{'method':14s}" + "".join(f"{f'{f:.0%} cost':>28s}" for f in FRACTIONS)
            + f"{'small/large runs':>18s}{'s/step':>8s}"
        )  # fmt: skip
        for m in COST_METHODS:
            cells = []
            for f in FRACTIONS:
                r = _regrets(view, problem, m, f * budget)
                q1, med, q3 = _quartiles(r)
                cells.append(f"{med:.3g} [{q1:.2g}, {q3:.2g}]".rjust(28))
            n_s = np.mean([t["scale"].count("small") for t in sub[m].values()])
            n_l = np.mean([t["scale"].count("large") for t in sub[m].values()])
            over = [x for t in sub[m].values() for x in t["overhead"]]
            lines.append(
                f"{m:14s}" + "".join(cells) + f"{f'{n_s:.1f}/{n_l:.1f}':>18s}"
                + f"{(np.median(over) if over else math.nan):8.2f}"
            )  # fmt: skip
        target = _median(_regrets(view, problem, "two_stage", budget))
        reach, low, high = reach_interval(view, problem)
        interval = (
            "["
            + ", ".join("never" if math.isinf(c) else f"{c / budget:.0%}" for c in (low, high))
            + "]"
        )
        a = _regrets(view, problem, "scaleup_cost", 0.7 * budget)
        b = _regrets(view, problem, "two_stage", budget)
        c = _regrets(view, problem, "scaleup_cost", budget)
        d = _regrets(view, problem, "large_only", budget)
        ratio = _median(c) / _median(d) if _median(d) > 0 else math.nan
        summary.append(
            f"{problem:14s}{target:>12.4g}{_fmt_reach(reach, budget):>16s}{interval:>16s}"
            f"{wtl(a, b):>14s}{ratio:>14.3g}{wtl(c, d):>12s}"
        )
    lines.append(
        "\nsummary: cost at which scaleup_cost's median regret reaches two_stage's final "
        "median, with a 90% seed-bootstrap interval (both methods' seeds resampled); "
        "W/T/L of scaleup_cost at 70% cost vs two_stage at 100%; "
        "scaleup_cost / large_only median, and W/T/L, at 100% cost"
    )
    lines.append(
        f"{'problem':14s}{'two_stage':>12s}{'reached at':>16s}{'90% interval':>16s}"
        f"{'W/T/L @70%':>14s}"
        f"{'vs large_only':>14s}{'W/T/L':>12s}"
    )
    lines += summary
    return "\n".join(lines)


def _first_reach(grid: np.ndarray, medians: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """The first cost of ``grid`` where a median regret curve (last axis) is at or below its
    target, ``inf`` where it never is."""
    hit = medians <= targets[..., None]
    return np.where(hit.any(axis=-1), grid[hit.argmax(axis=-1)], np.inf)


def reach_interval(
    data: dict[str, Any],
    problem: str,
    method: str = "scaleup_cost",
    *,
    n_boot: int = 2000,
    level: float = 0.9,
    seed: int = 0,
) -> tuple[float, float, float]:
    """The cost at which ``method``'s median regret reaches two_stage's final median, and
    a seed-bootstrap interval for it.

    Both medians come from a handful of seeds, so the cost to reach is uncertain: each
    of ``n_boot`` replicates resamples the seeds of the two methods (independently, with
    replacement) and recomputes it on the same 1%-of-budget grid as the point estimate.

    Returns:
        ``(point, low, high)``: the estimate and the ``level`` percentile interval of the
        replicates (``inf`` where the target is not reached within the budget).
    """
    budget = data["config"]["budget"]
    grid = np.linspace(0, budget, 101)[1:]
    runs = data["traces"][problem]
    optimum = data["config"]["optima"][problem]
    curves = np.array([
        [regret_at_cost(runs[method][s], optimum, float(c)) for c in grid]
        for s in sorted(runs[method], key=int)
    ])  # fmt: skip
    finals = _regrets(data, problem, "two_stage", budget)
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, len(curves), size=(n_boot, len(curves)))
    picks = rng.integers(0, len(finals), size=(n_boot, len(finals)))
    reach = _first_reach(
        grid, _quartiles(curves[rows], axis=1)[1], _quartiles(finals[picks], axis=1)[1]
    )  # one cost per replicate
    point = float(_first_reach(grid, _quartiles(curves, axis=0)[1], np.array(_median(finals))))
    tail = (1.0 - level) / 2.0
    low = float(np.quantile(reach, tail, method="lower"))
    high = float(np.quantile(reach, 1.0 - tail, method="higher"))
    return point, low, high


def _fmt_reach(cost: float, budget: float) -> str:
    return "never" if math.isinf(cost) else f"{cost:.4g} ({cost / budget:.0%})"


def plot_cost(data: dict[str, Any], path: str | Path | None = None) -> Any:
    """Median regret (quartile band) against cumulative cost, one panel per problem."""
    import matplotlib.pyplot as plt

    problems = list(data["traces"])
    budget = data["config"]["budget"]
    cols = min(3, len(problems))
    rows = math.ceil(len(problems) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.6 * rows), squeeze=False)
    grid = np.linspace(0, budget, 136)[1:]
    for ax, problem in zip(axes.flat, problems, strict=False):
        for m in COST_METHODS:
            if not data["traces"][problem].get(m):
                continue
            r = np.array([_regrets(data, problem, m, float(c)) for c in grid])
            q1, med, q3 = _quartiles(r, axis=1)
            ok = np.isfinite(med)
            (line,) = ax.plot(grid[ok], np.maximum(med[ok], 1e-8), label=m)
            band = np.isfinite(q1) & np.isfinite(q3)
            ax.fill_between(
                grid[band], np.maximum(q1[band], 1e-8), np.maximum(q3[band], 1e-8),
                color=line.get_color(), alpha=0.15,
            )  # fmt: skip
        ax.axvline(0.7 * budget, color="grey", ls=":", lw=1)
        ax.set_yscale("log")
        ax.set_title(problem)
        ax.set_xlabel("cumulative cost")
        known = not math.isnan(data["config"]["optima"][problem])
        ax.set_ylabel("large-scale regret" if known else "best large-scale value")
        ax.grid(True, alpha=0.3)
    for ax in list(axes.flat)[len(problems) :]:
        ax.set_visible(False)
    axes.flat[0].legend()
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110)
    return fig
