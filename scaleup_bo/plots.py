"""Matplotlib figures of a run. Each function takes ``ax=None`` and returns the Axes.

Plot data are computed by separate ``*_data`` functions, so they can be checked
without drawing. Nothing here calls ``plt.show()``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["performance_data", "plot_opt_process", "plot_performance"]


def performance_data(optimizer: Any) -> tuple[np.ndarray, np.ndarray]:
    """Iteration numbers (1-based) and the best value found so far after each one.

    Args:
        optimizer: Anything with a ``Y_iters`` array (both optimizers).

    Returns:
        ``(iterations, running_minimum)``, each of length ``len(Y_iters)``.
    """
    y = np.asarray(optimizer.Y_iters, dtype=float)
    return np.arange(1, len(y) + 1), np.minimum.accumulate(y) if len(y) else y


def _axes(ax: Any) -> Any:
    if ax is None:
        import matplotlib.pyplot as plt

        ax = plt.gca()
    return ax


def plot_performance(optimizer: Any, ax: Any = None) -> Any:
    """Convergence: best value found so far versus iteration.

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
    y = np.asarray(optimizer.Y_iters, dtype=float)
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
