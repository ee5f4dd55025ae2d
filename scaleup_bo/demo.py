"""The demo: the seed package's story with small and large PyTorch CNNs, offline.

The data are scikit-learn's bundled digits (8 x 8 images, no download). The small
scale trains a narrow CNN (like the seed's ``ModelS``: one convolution, a 1 x 1
channel merge) for 3 epochs on 30% of the training data; the large scale trains the
seed's ``ModelL`` (two convolutions with 32 and 64 channels, a 128-unit classifier)
for 8 epochs on all of it. Both return the best validation negative log-likelihood
over their epochs (to minimize), as the seed's objectives did.

Hyperparameters, as in the seed: dropout, a log-uniform learning rate, and the
integer convolution and pooling kernel sizes. Kernel sizes that shrink the feature
map to nothing make PyTorch raise: those are failed trials, not crashes.

``--fashion-mnist`` runs the same pipeline on torchvision's FashionMNIST (28 x 28),
for users who have torchvision and the data.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from skopt.space import Integer, Real

__all__ = ["SEARCH_SPACE", "CNNTask", "load_digits_data", "load_fashion_mnist", "run_demo"]

SEARCH_SPACE = [
    Real(0.1, 0.9, name="dropout_rate"),
    Real(1e-4, 1e-1, prior="log-uniform", name="learning_rate"),
    Integer(1, 7, name="conv_kernel_size"),
    Integer(1, 3, name="pool_kernel_size"),
]


def _small_model(image: int, dropout: float, conv: int, pool: int) -> Any:
    """The seed's ModelS, narrower: conv(16) -> ReLU -> max-pool -> 1x1 merge to 8."""
    import torch
    from torch import nn

    features = nn.Sequential(
        nn.Conv2d(1, 16, kernel_size=conv, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(kernel_size=pool),
        nn.Conv2d(16, 8, kernel_size=1),
    )
    with torch.no_grad():
        n = features(torch.zeros(1, 1, image, image)).numel()
    classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(n, 10), nn.LogSoftmax(dim=1))
    return nn.Sequential(features, nn.Flatten(), classifier)


def _large_model(image: int, dropout: float, conv: int, pool: int) -> Any:
    """The seed's ModelL: two conv/ReLU/max-pool blocks (32, 64 channels), 128-unit head."""
    import torch
    from torch import nn

    features = nn.Sequential(
        nn.Conv2d(1, 32, kernel_size=conv, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(kernel_size=pool, stride=2),
        nn.Conv2d(32, 64, kernel_size=conv, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(kernel_size=pool, stride=2),
    )
    with torch.no_grad():
        n = features(torch.zeros(1, 1, image, image)).numel()
    classifier = nn.Sequential(
        nn.Dropout(dropout),
        nn.Linear(n, 128),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.Linear(128, 10),
        nn.LogSoftmax(dim=1),
    )
    return nn.Sequential(features, nn.Flatten(), classifier)


def load_digits_data(seed: int = 0) -> tuple[np.ndarray, ...]:
    """Bundled digits as ``(X_train, y_train, X_val, y_val)``, images ``n x 1 x 8 x 8``."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    X_tr, X_va, y_tr, y_va = train_test_split(X, y, test_size=0.3, random_state=seed, stratify=y)
    return X_tr, y_tr, X_va, y_va


def load_fashion_mnist(root: str | Path = "datasets") -> tuple[np.ndarray, ...]:
    """torchvision's FashionMNIST as arrays (downloads into ``root`` if missing).

    Raises:
        SystemExit: torchvision is not installed or the data cannot be had, with advice.
    """
    try:
        from torchvision import datasets
    except ImportError as exc:
        raise SystemExit(
            "--fashion-mnist needs torchvision (an optional dependency): "
            "pip install torchvision. It also downloads FashionMNIST on first use."
        ) from exc
    try:
        train = datasets.FashionMNIST(root=str(root), train=True, download=True)
        test = datasets.FashionMNIST(root=str(root), train=False, download=True)
    except Exception as exc:  # offline, blocked mirror...
        raise SystemExit(f"could not load FashionMNIST into {root}: {exc}") from exc

    def arrays(ds: Any) -> tuple[np.ndarray, np.ndarray]:
        X = ds.data.numpy().astype(np.float32)[:, None] / 255.0
        return X, ds.targets.numpy()

    return (*arrays(train), *arrays(test))


@dataclass
class CNNTask:
    """Small- and large-scale objectives over one dataset (deterministic per seed).

    Attributes:
        data: ``(X_train, y_train, X_val, y_val)``; images ``n x 1 x s x s``.
        small_fraction, small_epochs, large_epochs: How much cheaper the small scale is.
        seed: Seeds the data split order and the network initialisation.
    """

    data: tuple[np.ndarray, ...] = field(default_factory=load_digits_data)
    small_fraction: float = 0.3
    small_epochs: int = 3
    large_epochs: int = 8
    seed: int = 0

    def _loss(self, params: Sequence[Any], large: bool) -> float:
        import torch
        from torch import nn

        dropout, lr, conv, pool = params
        X_tr, y_tr, X_va, y_va = self.data
        n = len(X_tr) if large else int(self.small_fraction * len(X_tr))
        torch.manual_seed(self.seed)
        build = _large_model if large else _small_model
        model = build(X_tr.shape[-1], float(dropout), int(conv), int(pool))  # may raise
        optimizer = torch.optim.Adam(model.parameters(), lr=float(lr))
        X, y = torch.from_numpy(X_tr[:n]), torch.from_numpy(y_tr[:n]).long()
        X_val, y_val = torch.from_numpy(X_va), torch.from_numpy(y_va).long()
        best = float("inf")
        for _ in range(self.large_epochs if large else self.small_epochs):
            model.train()
            for idx in torch.randperm(n).split(64):
                optimizer.zero_grad()
                loss = nn.functional.nll_loss(model(X[idx]), y[idx])
                loss.backward()
                optimizer.step()
            model.eval()
            with torch.no_grad():
                best = min(best, float(nn.functional.nll_loss(model(X_val), y_val)))
        return best

    def small(self, params: Sequence[Any]) -> float:
        """Small-scale objective: narrow CNN, a subset of the data, few epochs."""
        return self._loss(params, large=False)

    def large(self, params: Sequence[Any]) -> float:
        """Large-scale objective: the seed's ModelL, all the data, more epochs."""
        return self._loss(params, large=True)


def run_demo(
    out: str | Path = "scaleup_bo_demo",
    *,
    small_steps: int = 20,
    large_steps: int = 10,
    seed: int = 0,
    fashion_mnist: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Run both stages; write ``demo.png``, ``history.json`` and ``summary.json``.

    PyTorch runs on one thread meanwhile (the count is restored after): its results on
    CPU depend on the thread count, so this way the demo prints the same numbers on
    every machine with the same kind of CPU, whatever its number of cores; networks
    this small train no slower.

    Args:
        out: Output folder (created if needed).
        small_steps: Model-guided small-scale evaluations (after 5 initial ones).
        large_steps: Model-guided large-scale evaluations (after the small winner).
        seed: Random state of both stages and of the networks.
        fashion_mnist: Use torchvision's FashionMNIST instead of the bundled digits.
        progress: Show progress bars.

    Returns:
        A summary dict (printed as a table by the CLI).
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _run_demo(Path(out), small_steps, large_steps, seed, fashion_mnist, progress)
    finally:
        torch.set_num_threads(threads)


def _run_demo(
    out: Path, small_steps: int, large_steps: int, seed: int, fashion_mnist: bool, progress: bool
) -> dict[str, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from scaleup_bo.optimizers import LargeScaleOptimizer, SmallScaleOptimizer
    from scaleup_bo.plots import plot_convergence, plot_slice

    out.mkdir(parents=True, exist_ok=True)
    data = load_fashion_mnist() if fashion_mnist else load_digits_data(seed)
    task = CNNTask(data=data, seed=seed)
    t0 = time.perf_counter()
    small = SmallScaleOptimizer(
        task.small, SEARCH_SPACE, n_steps=small_steps, n_initial_points=5,
        random_state=seed, progress=progress,
    )  # fmt: skip
    t1 = time.perf_counter()
    large = LargeScaleOptimizer(
        task.large, SEARCH_SPACE, small=small, n_steps=large_steps,
        random_state=seed, progress=progress,
    )  # fmt: skip
    t2 = time.perf_counter()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    plot_convergence(large.history, ax=axes[0])
    axes[0].set_ylabel("best validation NLL so far")
    plot_slice(large, "learning_rate", ax=axes[1])
    axes[1].axvline(small.best_params[1], color="tab:orange", ls="--", label="small-scale best")
    # Two lines: the longest model name ("large-scale-only GP") ran past the figure's edge.
    axes[1].set_title(f"What the {axes[1].get_title()} learned\nabout the learning rate")
    axes[1].legend()
    fig.suptitle("scaleup_bo demo: CNN on digits, small scale then large scale")
    fig.tight_layout()
    fig.savefig(out / "demo.png", dpi=100)
    plt.close(fig)
    large.history.save(out / "history.json")
    names = [d.name for d in SEARCH_SPACE]
    failed = sum(not t.ok for t in large.history)
    first = large.history.at("large")[0]  # the small-scale winner, run at large scale

    def result(params: Any, score: float | None) -> dict[str, Any]:
        """A point and its score; ``None`` for both when every run failed."""
        if params is None:
            return {"params": None, "score": None}
        return {"params": dict(zip(names, params, strict=True)), "score": score}

    summary = {
        "small_best": result(small.best_params, small.best_score),
        # The winner may be invalid at large scale (a kernel too large): then a failed
        # run, reported as such, not another run's score.
        "small_best_at_large": {"score": first.value, "error": first.error},
        "large_best": result(large.best_params, large.best_score),
        "seconds": {"small_stage": t1 - t0, "large_stage": t2 - t1},
        "evaluations": {
            "small": len(large.history.at("small")),
            "large": len(large.history.at("large")),
            "failed": failed,
        },
        "files": [str(out / n) for n in ("demo.png", "history.json", "summary.json")],
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary
