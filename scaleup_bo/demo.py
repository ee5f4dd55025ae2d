"""The demo task: tune a small MLP on a slice of digits, then the full-size MLP.

Runs offline on scikit-learn's bundled digits dataset. The small scale trains a
network a quarter as wide on a quarter of the training data for 30 epochs; the
large scale trains the full-width network on all of it for 150 epochs. Both report
the validation log-loss (to minimize).
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from skopt.space import Categorical, Integer, Real

__all__ = ["DigitsMLPTask", "run_demo"]

SEARCH_SPACE = [
    Real(1e-4, 1e-1, prior="log-uniform", name="learning_rate_init"),
    Real(1e-6, 1e-1, prior="log-uniform", name="alpha"),
    Integer(16, 256, prior="log-uniform", name="hidden_units"),
    Categorical(["relu", "tanh", "logistic"], name="activation"),
]


@dataclass
class DigitsMLPTask:
    """Small- and large-scale objectives on the digits dataset (deterministic)."""

    small_fraction: float = 0.25
    small_epochs: int = 30
    large_epochs: int = 150
    seed: int = 0

    @cached_property
    def data(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        X, y = load_digits(return_X_y=True)
        return tuple(  # type: ignore[return-value]
            train_test_split(X / 16.0, y, test_size=0.3, random_state=self.seed, stratify=y)
        )

    def _loss(self, params: list[Any], fraction: float, epochs: int, width: float) -> float:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.metrics import log_loss
        from sklearn.neural_network import MLPClassifier

        lr, alpha, hidden, activation = params
        X_train, X_val, y_train, y_val = self.data
        n = int(fraction * len(X_train))
        model = MLPClassifier(
            hidden_layer_sizes=(max(2, int(hidden * width)),),
            activation=activation,
            alpha=alpha,
            learning_rate_init=lr,
            max_iter=epochs,
            random_state=self.seed,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X_train[:n], y_train[:n])
        return float(log_loss(y_val, model.predict_proba(X_val), labels=np.arange(10)))

    def small(self, params: list[Any]) -> float:
        """Small-scale objective: narrow network, a quarter of the data, few epochs."""
        return self._loss(params, self.small_fraction, self.small_epochs, width=0.25)

    def large(self, params: list[Any]) -> float:
        """Large-scale objective: full network, all the data, more epochs."""
        return self._loss(params, 1.0, self.large_epochs, width=1.0)


def run_demo(
    out: str | Path = "scaleup_bo_demo",
    *,
    small_steps: int = 20,
    large_steps: int = 10,
    seed: int = 0,
    progress: bool = True,
) -> dict[str, Any]:
    """Run the two-stage pipeline on :class:`DigitsMLPTask`; write a figure and the history.

    Args:
        out: Output folder (created if needed).
        small_steps: Model-guided small-scale evaluations (after 5 initial ones).
        large_steps: Model-guided large-scale evaluations (after the small winner).
        seed: Random state of both stages.
        progress: Show progress bars.

    Returns:
        A summary dict (also printed as a table by the CLI).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from scaleup_bo.optimizers import LargeScaleOptimizer, SmallScaleOptimizer
    from scaleup_bo.plots import plot_performance

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    task = DigitsMLPTask(seed=seed)
    t0 = time.perf_counter()
    small = SmallScaleOptimizer(
        task.small,
        SEARCH_SPACE,
        n_steps=small_steps,
        n_initial_points=5,
        random_state=seed,
        progress=progress,
    )
    t1 = time.perf_counter()
    large = LargeScaleOptimizer(
        task.large,
        SEARCH_SPACE,
        small=small,
        n_steps=large_steps,
        random_state=seed,
        progress=progress,
    )
    t2 = time.perf_counter()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    plot_performance(small, ax=axes[0])
    axes[0].set_title("Small scale: best validation log-loss")
    plot_performance(large, ax=axes[1])
    axes[1].axhline(large.Y_iters[0], color="grey", ls="--", label="small winner at large scale")
    axes[1].set_title("Large scale: best validation log-loss")
    axes[1].legend()
    fig.tight_layout()
    fig.savefig(out / "convergence.png", dpi=100)
    plt.close(fig)
    large.history.save(out / "history.json")
    names = [d.name for d in SEARCH_SPACE]
    summary = {
        "small_best": {
            "params": dict(zip(names, small.best_params, strict=True)),
            "score": small.best_score,
        },
        "small_best_at_large": {"score": float(large.Y_iters[0])},
        "large_best": {
            "params": dict(zip(names, large.best_params, strict=True)),
            "score": large.best_score,
        },
        "seconds": {"small_stage": t1 - t0, "large_stage": t2 - t1},
        "evaluations": {"small": len(small.history), "large": len(large.history.at("large"))},
        "files": [str(out / "convergence.png"), str(out / "history.json")],
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary
