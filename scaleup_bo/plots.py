"""Matplotlib figures of a run. Each function takes ``ax=None`` and returns the Axes.

Plot data are computed by separate ``*_data`` functions, so they can be checked
without drawing. Nothing here calls ``plt.show()``.

Every function accepts an optimizer, an :class:`~scaleup_bo.engine.Engine` or a
:class:`~scaleup_bo.history.History` where it makes sense (slices need a model, so an
optimizer or engine).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from skopt.space import Categorical, Integer

from scaleup_bo.history import SCALES, History
from scaleup_bo.space import SearchSpace

__all__ = [
    "FidelityComparison",
    "SliceData",
    "convergence_data",
    "cost_convergence_data",
    "evaluations_data",
    "fidelity_comparison_data",
    "performance_data",
    "plot_convergence",
    "plot_cost_convergence",
    "plot_evaluations",
    "plot_fidelity_comparison",
    "plot_opt_process",
    "plot_performance",
    "plot_slice",
    "plot_slices",
    "slice_data",
]

_COLORS = {"small": "tab:orange", "large": "tab:blue"}


def _axes(ax: Any) -> Any:
    if ax is None:
        import matplotlib.pyplot as plt

        ax = plt.gca()
    return ax


def _history(obj: Any) -> History:
    return obj if isinstance(obj, History) else obj.history


def _space(obj: Any) -> SearchSpace:
    if isinstance(obj, History):
        return SearchSpace.from_description(obj.metadata["search_space"])
    return obj.space


def _engine(obj: Any, what: str) -> Any:
    """The engine of an optimizer (or the engine itself); a clear error for anything else,
    such as a ``History``, which holds no model."""
    engine = getattr(obj, "engine", obj)
    if not hasattr(engine, "fit") or not hasattr(engine, "space"):
        raise TypeError(
            f"{what} needs an optimizer or an Engine (it fits the model), got a "
            f"{type(obj).__name__}."
        )
    return engine


def _y_iters(obj: Any) -> np.ndarray:
    if not hasattr(obj, "Y_iters"):
        raise TypeError(
            "this plot needs an optimizer (its Y_iters at its own scale), got a "
            f"{type(obj).__name__}; for a History use plot_convergence."
        )
    return np.asarray(obj.Y_iters, dtype=float)


def _dimension_index(space: SearchSpace, dimension: int | str) -> int:
    """Position of a dimension given by name or index, or a ValueError naming the choices."""
    if isinstance(dimension, str):
        if dimension not in space.names:
            raise ValueError(f"no dimension named {dimension!r}; the names are {space.names}.")
        return space.names.index(dimension)
    if isinstance(dimension, bool) or not isinstance(dimension, (int, np.integer)):
        raise TypeError(f"dimension must be a name or an index, got {dimension!r}.")
    if not -space.n_dims <= dimension < space.n_dims:
        raise ValueError(
            f"dimension index {dimension} is out of range for {space.n_dims} dimensions."
        )
    return int(dimension) % space.n_dims


# ---------------------------------------------------------------------- the seed's two plots
def performance_data(optimizer: Any) -> tuple[np.ndarray, np.ndarray]:
    """Iteration numbers (1-based) and the best value found so far after each one.

    Args:
        optimizer: Anything with a ``Y_iters`` array (both optimizers).

    Returns:
        ``(iterations, running_minimum)``, each of length ``len(Y_iters)``.
    """
    y = _y_iters(optimizer)
    return np.arange(1, len(y) + 1), np.minimum.accumulate(y) if len(y) else y


def plot_performance(optimizer: Any, ax: Any = None) -> Any:
    """Convergence at the optimizer's scale: best value so far versus iteration.

    Args:
        optimizer: A ``SmallScaleOptimizer`` or ``LargeScaleOptimizer`` (anything with
            ``Y_iters``).
        ax: Axes to draw on (default: the current Axes).

    Returns:
        The Axes.
    """
    ax = _axes(ax)
    x, best = performance_data(optimizer)
    ax.plot(x, best, marker="o", label="best so far")
    ax.set_xlabel("iteration")
    ax.set_ylabel("best objective value")
    ax.set_title("Convergence")
    ax.grid(True, alpha=0.3)
    return ax


def plot_opt_process(optimizer: Any, ax: Any = None) -> Any:
    """Every objective value in evaluation order, with the best one marked.

    Args:
        optimizer: A ``SmallScaleOptimizer`` or ``LargeScaleOptimizer``.
        ax: Axes to draw on (default: the current Axes).

    Returns:
        The Axes.
    """
    ax = _axes(ax)
    y = _y_iters(optimizer)
    x = np.arange(1, len(y) + 1)
    ax.plot(x, y, marker="o", label="objective value")
    if len(y):
        i = int(np.argmin(y))
        ax.scatter([x[i]], [y[i]], color="red", zorder=3, label=f"best = {y[i]:.4g}")
    ax.set_xlabel("iteration")
    ax.set_ylabel("objective value")
    ax.set_title("Optimization process")
    ax.legend()
    ax.grid(True, alpha=0.3)
    return ax


# ---------------------------------------------------------------------- both scales
def convergence_data(obj: Any) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Best value so far at each scale, against the evaluation number at that scale.

    Failed trials count as evaluations but never improve the best; before the first
    success the best is NaN.

    Returns:
        ``{scale: (evaluation_numbers, best_so_far)}`` for the scales that have trials.
    """
    out = {}
    for scale in SCALES:
        trials = _history(obj).at(scale)
        if not trials:
            continue
        values = np.array([t.value if t.ok else np.inf for t in trials], dtype=float)
        best = np.minimum.accumulate(values)
        best[~np.isfinite(best)] = np.nan
        out[scale] = (np.arange(1, len(trials) + 1), best)
    return out


def plot_convergence(obj: Any, ax: Any = None) -> Any:
    """Both scales' convergence on one Axes (best value so far per evaluation).

    Args:
        obj: An optimizer, an engine or a history.
        ax: Axes to draw on.

    Returns:
        The Axes.
    """
    ax = _axes(ax)
    for scale, (x, best) in convergence_data(obj).items():
        ax.step(x, best, where="post", marker="o", color=_COLORS[scale], label=f"{scale} scale")
    history = _history(obj)
    failed = [t for t in history if not t.ok]
    if failed:
        ax.text(0.99, 0.98, f"{len(failed)} failed", transform=ax.transAxes, ha="right", va="top")
    ax.set_xlabel("evaluation number at that scale")
    ax.set_ylabel("best value so far")
    ax.set_title("Convergence at both scales")
    ax.legend()
    ax.grid(True, alpha=0.3)
    return ax


def cost_convergence_data(optimizer: Any) -> dict[str, np.ndarray]:
    """Cost on the x-axis: what each trial cost and the best large-scale value so far.

    Args:
        optimizer: A :class:`~scaleup_bo.scaleup.ScaleUpOptimizer` (anything with
            ``history`` and ``costs``).

    Returns:
        ``cost``: cumulative cost after each trial; ``scale``: its scale; ``value``:
        its value (NaN if it failed); ``best_large``: best large-scale value so far
        (NaN before the first successful large-scale trial).
    """
    if not hasattr(optimizer, "costs"):
        raise TypeError(
            "the cost plots need a ScaleUpOptimizer (its costs per scale), got a "
            f"{type(optimizer).__name__}; for other optimizers or a History use "
            "plot_convergence."
        )
    history, costs = _history(optimizer), optimizer.costs
    values = np.array([t.value if t.ok else np.nan for t in history], dtype=float)
    scales = np.array([t.scale for t in history], dtype=object)
    large = np.where((scales == "large") & np.isfinite(values), values, np.inf)
    best = np.minimum.accumulate(large) if len(large) else large
    best[~np.isfinite(best)] = np.nan
    return {
        "cost": np.array(costs.cumulative(history), dtype=float),
        "scale": scales,
        "value": values,
        "best_large": best,
    }


def plot_cost_convergence(optimizer: Any, ax: Any = None) -> Any:
    """Best large-scale value against cumulative cost, with every run marked.

    Large-scale runs are dots at their values; small-scale runs are ticks along the
    bottom (their values are on another scale of the problem). A dashed line marks
    the budget.

    Args:
        optimizer: A :class:`~scaleup_bo.scaleup.ScaleUpOptimizer`.
        ax: Axes to draw on.

    Returns:
        The Axes.
    """
    ax = _axes(ax)
    d = cost_convergence_data(optimizer)
    ok = np.isfinite(d["best_large"])
    ax.step(d["cost"][ok], d["best_large"][ok], where="post", color=_COLORS["large"],
            label="best large-scale value")  # fmt: skip
    is_large = d["scale"] == "large"
    ax.plot(d["cost"][is_large], d["value"][is_large], "o", color=_COLORS["large"], alpha=0.6,
            label=f"large-scale run ({int(is_large.sum())})")  # fmt: skip
    small = d["cost"][~is_large]
    rug = ax.get_xaxis_transform()  # x in data units, y in axes units: ticks at the bottom
    ax.plot(small, np.zeros_like(small), "|", color=_COLORS["small"], markersize=12,
            transform=rug, label=f"small-scale run ({len(small)})")  # fmt: skip
    budget = getattr(optimizer, "budget", None)
    if budget is not None:
        ax.axvline(budget, color="grey", ls="--", lw=1, label="budget")
    ax.set_xlabel(f"cumulative cost ({optimizer.costs.unit})")
    ax.set_ylabel("large-scale value")
    ax.set_title("Large-scale result against cost")
    ax.legend()
    ax.grid(True, alpha=0.3)
    return ax


@dataclass(frozen=True)
class FidelityComparison:
    """Configurations evaluated successfully at both scales.

    Attributes:
        params: The configurations.
        small: Their small-scale values.
        large: Their large-scale values.
        spearman: Rank correlation of the two (NaN with fewer than 3 pairs).
    """

    params: list[tuple[Any, ...]]
    small: np.ndarray
    large: np.ndarray
    spearman: float


def fidelity_comparison_data(obj: Any) -> FidelityComparison:
    """Pair each configuration's small- and large-scale values (first success at each)."""
    history = _history(obj)
    small = {t.params: t.value for t in reversed(history.at("small", ok_only=True))}
    pairs = [
        (t.params, small[t.params], t.value)
        for t in history.at("large", ok_only=True)
        if t.params in small
    ]
    pairs = [p for i, p in enumerate(pairs) if p[0] not in {q[0] for q in pairs[:i]}]
    s = np.array([p[1] for p in pairs], dtype=float)
    large = np.array([p[2] for p in pairs], dtype=float)
    rho = math.nan
    if len(pairs) >= 3 and np.ptp(s) > 0 and np.ptp(large) > 0:
        from scipy.stats import spearmanr

        rho = float(spearmanr(s, large).statistic)
    return FidelityComparison([p[0] for p in pairs], s, large, rho)


def plot_fidelity_comparison(obj: Any, ax: Any = None) -> Any:
    """Small- versus large-scale value of every configuration run at both scales.

    Args:
        obj: An optimizer, an engine or a history.
        ax: Axes to draw on.

    Returns:
        The Axes.
    """
    ax = _axes(ax)
    data = fidelity_comparison_data(obj)
    ax.scatter(data.small, data.large, color="tab:purple", zorder=3)
    for i, (xs, yl) in enumerate(zip(data.small, data.large, strict=True)):
        ax.annotate(str(i + 1), (xs, yl), textcoords="offset points", xytext=(4, 4), fontsize=8)
    rho = "n/a" if math.isnan(data.spearman) else f"{data.spearman:.2f}"
    ax.set_title(f"Small vs large scale ({len(data.small)} configs, Spearman {rho})")
    ax.set_xlabel("small-scale value")
    ax.set_ylabel("large-scale value")
    ax.grid(True, alpha=0.3)
    return ax


# ---------------------------------------------------------------------- model slices
@dataclass(frozen=True)
class SliceData:
    """The model along one dimension, the others held at a reference point.

    Attributes:
        name: Dimension name.
        values: Grid in user units (categories for a categorical dimension).
        mean: Posterior mean of the objective (user sign: lower is better).
        lower: ``mean - 2 std``.
        upper: ``mean + 2 std``.
        log_scale: The dimension is log-uniform.
        categorical: The dimension is categorical.
        reference: The point the other dimensions are held at.
        model: Which model predicted: ``"shared"`` (the two-fidelity GP),
            ``"multitask"`` or ``"large_only"`` (see :meth:`Engine.model_at`).
    """

    name: str
    values: list[Any]
    mean: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    log_scale: bool
    categorical: bool
    reference: list[Any]
    model: str = "shared"


#: Grid size of a numeric dimension's slice.
SLICE_POINTS = 60


def slice_data(
    optimizer: Any, dimension: int | str, *, scale: str = "large", n_points: int = SLICE_POINTS
) -> SliceData:
    """The model's prediction at ``scale`` along one dimension: the model the engine's
    next exploring proposal at that scale would use (at large scale with
    ``large_model="auto"`` the shared model, the MultiTaskGP or the large-scale points'
    GP, whichever it chooses now; :meth:`Engine.model_at`, whose notes on seeds apply).
    The exploiting last run and ``recommend`` use it refitted with a lower noise floor.

    The other dimensions are held at the best point observed at ``scale`` (or at the
    other scale when this one has none).

    Args:
        optimizer: An optimizer or engine whose model can be fitted.
        dimension: Index or name.
        scale: Fidelity to predict at.
        n_points: Grid size for numeric dimensions (integers: at most one per value).

    Returns:
        The slice, in user units.
    """
    engine = _engine(optimizer, "slice_data")
    return _slice_data(engine, dimension, scale, n_points, None)


def _slice_reference(engine: Any, scale: str) -> Any:
    """The trial a slice holds the other dimensions at, or a clear error."""
    best = engine.best(scale) or engine.best("small" if scale == "large" else "large")
    if best is None:
        raise ValueError("no successful trial yet: nothing to slice.")
    return best


def _slice_model(engine: Any, scale: str) -> tuple[Any, str]:
    """``engine.model_at(scale)``, or a clear error when no model can be fitted."""
    fitted = engine.model_at(scale)
    if fitted is None:
        raise ValueError("the model could not be fitted; see the scaleup_bo log.")
    return fitted


def _slice_data(
    engine: Any, dimension: int | str, scale: str, n_points: int, fitted: tuple[Any, str] | None
) -> SliceData:
    """:func:`slice_data` on ``fitted`` (:func:`_slice_model`'s, made here when ``None``)."""
    space: SearchSpace = engine.space
    i = _dimension_index(space, dimension)
    dim = space.dimensions[i]
    best = _slice_reference(engine, scale)
    model, kind = fitted or _slice_model(engine, scale)
    reference = list(best.params)
    if isinstance(dim, Categorical):
        values: list[Any] = list(dim.categories)
    elif isinstance(dim, Integer):
        lo, hi = int(dim.low), int(dim.high)
        values = sorted({round(v) for v in _grid(lo, hi, n_points, dim.prior)})
    else:
        values = list(_grid(float(dim.low), float(dim.high), n_points, dim.prior))
    points = [[*reference[:i], v, *reference[i + 1 :]] for v in values]
    X = space.to_unit(points)
    X = torch.cat([X, torch.full((len(points), 1), engine.fidelity(scale), dtype=X.dtype)], -1)
    with torch.no_grad():
        post = model.posterior(X)
        mean = -post.mean.squeeze(-1).numpy()  # the model sees -y
        std = post.variance.clamp_min(0).sqrt().squeeze(-1).numpy()
    return SliceData(
        space.names[i],
        values,
        mean,
        mean - 2 * std,
        mean + 2 * std,
        dim.prior == "log-uniform",
        isinstance(dim, Categorical),
        reference,
        kind,
    )


def _grid(low: float, high: float, n: int, prior: str) -> np.ndarray:
    if prior == "log-uniform":
        return np.geomspace(low, high, n)
    return np.linspace(low, high, n)


_MODEL_NAMES = {
    "shared": "shared model",
    "multitask": "MultiTaskGP",
    "large_only": "large-scale-only GP",
}


def plot_slice(
    optimizer: Any, dimension: int | str, ax: Any = None, *, scale: str = "large"
) -> Any:
    """The model's prediction at ``scale`` along one dimension, with a 2-sigma band.

    The other dimensions are held at the best point; observations at that scale are
    marked. A log-uniform dimension gets a log x-axis, a categorical one labels.

    Args:
        optimizer: An optimizer or engine.
        dimension: Index or name.
        ax: Axes to draw on.
        scale: Fidelity to predict at.

    Returns:
        The Axes.
    """
    engine = _engine(optimizer, "plot_slice")
    return _plot_slice(engine, dimension, ax, scale, None)


def _plot_slice(
    engine: Any, dimension: int | str, ax: Any, scale: str, fitted: tuple[Any, str] | None
) -> Any:
    data = _slice_data(engine, dimension, scale, SLICE_POINTS, fitted)
    ax = _axes(ax)
    i = engine.space.names.index(data.name)
    observed = engine.history.at(scale, ok_only=True)
    if data.categorical:
        x = np.arange(len(data.values))
        ax.errorbar(
            x, data.mean, yerr=[data.mean - data.lower, data.upper - data.mean],
            fmt="o", capsize=4, color=_COLORS[scale],
        )  # fmt: skip
        ax.set_xticks(x, [str(v) for v in data.values])
        obs_x = [data.values.index(t.params[i]) for t in observed]
    else:
        label = f"{_MODEL_NAMES[data.model]} at {scale} scale"
        ax.plot(data.values, data.mean, color=_COLORS[scale], label=label)
        ax.fill_between(data.values, data.lower, data.upper, alpha=0.2, color=_COLORS[scale])
        obs_x = [t.params[i] for t in observed]
        if data.log_scale:
            ax.set_xscale("log")
    ax.scatter(obs_x, [t.value for t in observed], s=12, color="k", zorder=3, label="observed")
    ax.set_xlabel(data.name)
    ax.set_ylabel(f"predicted value at {scale} scale")
    ax.set_title(f"{_MODEL_NAMES[data.model]}", fontsize="small")
    ax.grid(True, alpha=0.3)
    return ax


def plot_slices(optimizer: Any, axes: Any = None, *, scale: str = "large") -> Any:
    """:func:`plot_slice` for every dimension.

    Args:
        optimizer: An optimizer or engine.
        axes: A sequence of ``n_dims`` Axes (default: a new row of subplots).
        scale: Fidelity to predict at.

    Returns:
        The array of Axes.
    """
    engine = _engine(optimizer, "plot_slices")
    n = engine.space.n_dims
    if axes is None:
        import matplotlib.pyplot as plt

        _, axes = plt.subplots(
            1, n, figsize=(3.2 * n, 3), squeeze=False, layout="constrained", sharey=True
        )
        axes = axes[0]
    _slice_reference(engine, scale)  # its error first, as a single slice's
    fitted = _slice_model(engine, scale)  # one model choice for every panel
    for i, ax in enumerate(axes):
        _plot_slice(engine, i, ax, scale, fitted)
        if i:
            ax.set_ylabel("")
    return axes


# ---------------------------------------------------------------------- evaluations
def evaluations_data(obj: Any, dimension: int | str) -> dict[str, list[Any]]:
    """Values tried along one dimension at each scale (failed trials included)."""
    space = _space(obj)
    i = space.names.index(dimension) if isinstance(dimension, str) else int(dimension)
    history = _history(obj)
    return {scale: [t.params[i] for t in history.at(scale)] for scale in SCALES}


def plot_evaluations(obj: Any, axes: Any = None, *, bins: int = 12) -> Any:
    """Histogram of the values tried along each dimension, both scales overlaid.

    Log-uniform dimensions get log-spaced bins and a log axis; categorical ones a bar
    per category.

    Args:
        obj: An optimizer, an engine or a history.
        axes: A sequence of ``n_dims`` Axes (default: a new row of subplots).
        bins: Bins of numeric dimensions.

    Returns:
        The array of Axes.
    """
    space = _space(obj)
    if axes is None:
        import matplotlib.pyplot as plt

        _, axes = plt.subplots(
            1, space.n_dims, figsize=(3.2 * space.n_dims, 3), squeeze=False, layout="constrained"
        )
        axes = axes[0]
    for i, (ax, dim) in enumerate(zip(axes, space.dimensions, strict=True)):
        data = evaluations_data(obj, i)
        if isinstance(dim, Categorical):
            x = np.arange(len(dim.categories))
            for k, scale in enumerate(SCALES):
                counts = [sum(v == c for v in data[scale]) for c in dim.categories]
                ax.bar(x + (k - 0.5) * 0.4, counts, width=0.4, color=_COLORS[scale], label=scale)
            ax.set_xticks(x, [str(c) for c in dim.categories])
        else:
            edges = _grid(float(dim.low), float(dim.high), bins + 1, dim.prior)
            for scale in SCALES:
                ax.hist(data[scale], bins=edges, alpha=0.5, color=_COLORS[scale], label=scale)
            if dim.prior == "log-uniform":
                ax.set_xscale("log")
        ax.set_xlabel(space.names[i])
    axes[0].set_ylabel("evaluations")
    axes[0].legend()
    return axes
