"""Screen: warping the observed values before the shared model sees them.

Not part of the library. Hyperparameter losses are skewed: most configurations score near
the optimum and a few diverge (digits: log-loss 0.06-0.08 for good networks, 1.4-2.4 for
diverged ones). A GP with a stationary kernel and Gaussian noise then spends its
lengthscales and noise on the outliers and cannot resolve the differences that matter near
the optimum. Each run is the benchmark's ``scaleup_bo`` method (the stored small stage of
``docs/benchmark_results.json``, the small winner first, then qNEI, 11 large-scale runs)
with the model's targets changed:

- ``default``: the library, unchanged (``-y``, standardized inside the model);
- ``yj``: HEBO's warping: ``y`` standardized, then a Yeo-Johnson power transform whose
  exponent is fitted to all observed values (both scales) by maximum likelihood at every
  step (scikit-learn's ``PowerTransformer``). It is monotone, so the best point stays the
  best, and it is close to the identity when the values are already Gaussian-looking;
- ``wins-pooled``: Ax's winsorization of the bad tail: values above ``Q3 + 1.5 IQR`` of all
  observed values (both scales) are clipped to that cutoff; the rest are unchanged (the
  README's "winsorize" column);
- ``wins-scale``: the same cutoff computed and applied per scale (a scale with fewer than
  4 values is left alone), so one scale's values never clip the other's;
- ``wins``: the library's ``Engine(winsorize=True)``: a value is clipped when it lies above
  both cutoffs (all values, and its own scale's; the larger applies), and a scale with
  fewer than 4 values or an IQR of 0 is left alone. Pooled clipping alone can flatten a
  whole scale whose values sit above the other's, which this prevents;
- ``wins-mad``: like ``wins``, with a stricter test for divergence: the cutoff is the median
  plus 10 robust standard deviations (``1.4826 MAD``) instead of ``Q3 + 1.5 IQR``, so only
  runs far outside the rest are clipped (digits' small-scale log-losses of 12-32 among
  0.4-2.4), not a steep but genuine part of the function.

Usage (one-thread processes, at most two at a time on 2 cores)::

    OMP_NUM_THREADS=1 python docs/screens/output_warp.py yj digits_mlp,forrester 0,1,2 out.jsonl

Each line of ``out.jsonl``: problem, seed, mode, the last fitted exponent (``yj``) or
clipped fraction (``wins-pooled``, ``wins-scale``, ``wins-mad``) as ``lam``, the seconds each
proposal took, and the best large-scale value and its regret after k = 1..11 large-scale runs.
"""

from __future__ import annotations

import sys

import numpy as np
import torch
from sklearn.preprocessing import PowerTransformer
from two_stage import run_screen

from scaleup_bo.optimizers import DEFAULT_LARGE_ACQ, Engine


def winsorize(y: np.ndarray) -> tuple[np.ndarray, float]:
    """Clip the bad (high) tail at ``Q3 + 1.5 IQR``; returns values and clipped fraction."""
    if len(y) < 4:
        return y, 0.0
    q1, q3 = np.percentile(y, [25, 75])
    cut = q3 + 1.5 * (q3 - q1)
    return np.minimum(y, cut), float(np.mean(y > cut))


def mad_cutoff(y: np.ndarray) -> float | None:
    """Median + 10 x 1.4826 MAD, or ``None`` with fewer than 4 values or a MAD of 0."""
    if len(y) < 4:
        return None
    med = np.median(y)
    mad = np.median(np.abs(y - med))
    return None if mad == 0 else float(med + 10 * 1.4826 * mad)


def warp(y: np.ndarray) -> tuple[np.ndarray, float]:
    """Standardize, then Yeo-Johnson (standardized again); returns values and exponent."""
    std = y.std()
    if len(y) < 3 or std == 0:
        return y, 1.0
    z = ((y - y.mean()) / std).reshape(-1, 1)
    pt = PowerTransformer(method="yeo-johnson", standardize=True)
    out = pt.fit_transform(z).reshape(-1)
    return out, float(pt.lambdas_[0])


class WarpEngine(Engine):
    mode = "default"
    lam = None

    def training_data(self):
        train_X, train_Y = super().training_data()
        if self.mode == "wins-scale" and train_Y.shape[0]:
            y = -train_Y.reshape(-1).numpy().copy()
            large = train_X[:, -1].numpy() == 1.0
            clipped = 0.0
            for rows in (large, ~large):
                y[rows], frac = winsorize(y[rows])
                clipped += frac * rows.sum()
            self.lam = clipped / len(y)
            train_Y = -torch.tensor(y, dtype=train_Y.dtype).reshape(-1, 1)
        elif self.mode == "wins-mad" and train_Y.shape[0]:
            y = -train_Y.reshape(-1).numpy().copy()
            pooled = mad_cutoff(y)
            fid = train_X[:, -1].numpy()
            n = 0
            for f in np.unique(fid) if pooled is not None else []:
                rows = fid == f
                own = mad_cutoff(y[rows])
                if own is not None:
                    cut = max(pooled, own)
                    n += int((y[rows] > cut).sum())
                    y[rows] = np.minimum(y[rows], cut)
            self.lam = n / len(y)
            train_Y = -torch.tensor(y, dtype=train_Y.dtype).reshape(-1, 1)
        elif self.mode == "wins-pooled" and train_Y.shape[0]:
            y, self.lam = winsorize(-train_Y.reshape(-1).numpy())
            train_Y = -torch.tensor(y, dtype=train_Y.dtype).reshape(-1, 1)
        elif self.mode == "yj" and train_Y.shape[0]:
            y = -train_Y.reshape(-1).numpy()
            w, self.lam = warp(y)
            train_Y = -torch.tensor(w, dtype=train_Y.dtype).reshape(-1, 1)
        return train_X, train_Y


def main(mode: str, problems: str, seeds: str, out: str) -> None:
    if mode not in ("default", "yj", "wins", "wins-pooled", "wins-scale", "wins-mad"):
        raise SystemExit(f"unknown mode {mode!r}")

    def make_engine(problem, seed):
        engine = WarpEngine(
            problem.space(),
            random_state=seed,
            acq_func=DEFAULT_LARGE_ACQ,
            winsorize=mode == "wins",
        )
        engine.mode = mode
        return engine

    run_screen(mode, problems, seeds, out, make_engine, lambda e: {"lam": e.lam})


if __name__ == "__main__":
    main(*sys.argv[1:])
