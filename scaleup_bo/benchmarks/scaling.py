"""Per-step time (fit + propose one large-scale point) as the small-scale history grows.

Run: ``python -m scaleup_bo.benchmarks.scaling [--sizes 25 100 300 1000] [--kernel ...]
[--acq ...] [--large-model shared auto] [--steps 5]``. Above
``scaleup_bo.model.MAX_FIT_POINTS`` points the hyperparameters are fitted on a subset.
4-D mixed toy problem; the small-scale points are a Sobol design, plus 3 large-scale points.
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Sequence

from scaleup_bo.benchmarks.overhead import engine_step_times
from scaleup_bo.engine import DEFAULT_ACQ

__all__ = ["step_times"]


def step_times(
    n_small: int,
    *,
    kernel: str = "linear_truncated",
    steps: int = 2,
    acq_func: str = "EI",
    large_model: str = "shared",
) -> list[float]:
    """Seconds of ``steps`` consecutive large-scale asks after ``n_small`` small points."""
    return engine_step_times(
        acq_func, n_small, steps, seed=0, kernel=kernel, n_large_known=3, large_model=large_model
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[25, 100, 300, 1000])
    parser.add_argument("--kernel", nargs="+", default=["linear_truncated", "downsampling"])
    parser.add_argument(
        "--steps", type=int, default=5,
        help="large-scale asks per size; the first fits from BoTorch's start, later ones "
        "warm-start from the step before",
    )  # fmt: skip
    parser.add_argument("--acq", nargs="+", default=[DEFAULT_ACQ["large"], "EI"])
    parser.add_argument("--large-model", nargs="+", default=["shared", "auto"])
    args = parser.parse_args(argv)
    print(
        f"{'kernel':<18}{'large model':<13}{'acq':<6}{'small points':>13}"
        f"{'median s/step':>15}{'max':>8}"
    )
    for kernel in args.kernel:
        for large_model in args.large_model:
            for acq in args.acq:
                for n in args.sizes:
                    t = step_times(
                        n, kernel=kernel, steps=args.steps, acq_func=acq, large_model=large_model
                    )
                    print(
                        f"{kernel:<18}{large_model:<13}{acq:<6}{n:>13}"
                        f"{statistics.median(t):>15.2f}{max(t):>8.2f}",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
