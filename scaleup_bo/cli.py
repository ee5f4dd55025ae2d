"""Command line: ``scaleup-bo demo`` and ``scaleup-bo benchmark``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

__all__ = ["main"]


def _demo(args: argparse.Namespace) -> int:
    from scaleup_bo.demo import run_demo

    if args.budget == "tiny":
        args.small_steps, args.large_steps = 1, 1

    s = run_demo(
        args.out,
        small_steps=args.small_steps,
        large_steps=args.large_steps,
        seed=args.seed,
        fashion_mnist=args.fashion_mnist,
        progress=not args.quiet,
    )
    rows = [
        ("small-scale best (small score)", s["small_best"]["score"], s["seconds"]["small_stage"]),
        ("small-scale best, run at large scale", s["small_best_at_large"]["score"], None),
        ("large-scale best", s["large_best"]["score"], s["seconds"]["large_stage"]),
    ]
    print()
    print(f"{'result':<40}{'val. NLL':>10}{'stage time (s)':>16}")
    for name, score, secs in rows:
        print(f"{name:<40}{score:>10.4f}{'' if secs is None else f'{secs:.1f}':>16}")
    print()
    e = s["evaluations"]
    print(f"evaluations: {e['small']} small, {e['large']} large, {e['failed']} failed")
    print("large-scale best parameters:", s["large_best"]["params"])
    print("wrote:", ", ".join(s["files"]))
    return 0


def _benchmark(args: argparse.Namespace) -> int:
    from scaleup_bo.benchmarks.runner import format_tables, load, plot_regret, run_benchmark

    if args.cost_aware:
        return _cost_benchmark(args)
    if args.report:
        data = load(args.report)
    else:
        data = run_benchmark(
            args.problems,
            args.methods,
            range(args.seeds),
            n_small_initial=args.small_initial,
            n_small_steps=args.small_steps,
            n_large=args.large,
            progress=not args.quiet,
            checkpoint=args.out,
        )
    print(format_tables(data))
    if args.out and not args.report:
        print("wrote", args.out)  # run_benchmark saved it after every run
    _plot(plot_regret, data, args.plot)
    return 0


def _cost_benchmark(args: argparse.Namespace) -> int:
    import tempfile

    from scaleup_bo.benchmarks.budget import format_cost_tables, plot_cost, run_cost_benchmark
    from scaleup_bo.benchmarks.runner import load

    if args.report:
        data = load(args.report)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            stages = args.stages or (
                f"{args.out}.stages.json" if args.out else f"{tmp}/stages.json"
            )
            data = run_cost_benchmark(
                args.problems,
                range(args.seeds),
                stages=stages,
                cost_small=args.cost_small,
                cost_large=args.cost_large,
                n_small_initial=args.small_initial,
                n_small_steps=args.small_steps,
                n_large=args.large,
                checkpoint=args.out,
                progress=not args.quiet,
            )
    print(format_cost_tables(data))
    if args.out and not args.report:
        print("wrote", args.out)
    _plot(plot_cost, data, args.plot)
    return 0


def _plot(plot: Any, data: dict[str, Any], path: str | None) -> None:
    if path:
        import matplotlib

        matplotlib.use("Agg")
        plot(data, path)
        print("wrote", path)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``scaleup-bo`` console script."""
    parser = argparse.ArgumentParser(prog="scaleup-bo", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="tune a small CNN on digits, then the large one")
    demo.add_argument("--out", default="scaleup_bo_demo", help="output folder")
    demo.add_argument("--small-steps", type=int, default=20, help="model-guided small-scale runs")
    demo.add_argument("--large-steps", type=int, default=10, help="model-guided large-scale runs")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument(
        "--budget",
        choices=["tiny", "default"],
        default="default",
        help="tiny: 1 small + 1 large model-guided run (a smoke test)",
    )
    demo.add_argument(
        "--fashion-mnist",
        action="store_true",
        help="use torchvision's FashionMNIST (optional dependency, downloads the data)",
    )
    demo.add_argument("--quiet", action="store_true", help="no progress bars")
    demo.set_defaults(func=_demo)

    from scaleup_bo.benchmarks.baselines import METHODS
    from scaleup_bo.benchmarks.problems import PROBLEMS

    bench = sub.add_parser("benchmark", help="compare scaleup_bo with the alternatives")
    bench.add_argument("--problems", nargs="+", default=list(PROBLEMS), choices=list(PROBLEMS))
    bench.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    bench.add_argument("--seeds", type=int, default=20, help="seeds 0..N-1")
    bench.add_argument("--small-initial", type=int, default=5)
    bench.add_argument("--small-steps", type=int, default=20)
    bench.add_argument("--large", type=int, default=11, help="large-scale evaluations")
    bench.add_argument(
        "--out",
        help="raw results JSON, written after every run; an existing file of the same "
        "protocol is resumed (stored runs are kept, missing ones added)",
    )
    bench.add_argument("--plot", help="write regret-vs-k curves (PNG)")
    bench.add_argument("--report", help="print tables (and --plot) from a saved results JSON")
    bench.add_argument("--quiet", action="store_true")
    cost = bench.add_argument_group(
        "cost-aware benchmark",
        "regret vs cumulative cost: ScaleUpOptimizer (scaleup_cost) against the two-stage "
        "pipeline and large-only BO on the budget of the two-stage protocol",
    )
    cost.add_argument("--cost-aware", action="store_true", help="run the cost-aware benchmark")
    cost.add_argument("--cost-small", type=float, default=1.0, help="cost of a small-scale run")
    cost.add_argument("--cost-large", type=float, default=10.0, help="cost of a large-scale run")
    cost.add_argument(
        "--stages",
        help="main-benchmark results file holding (or receiving) the two-stage runs "
        "(default: OUT.stages.json)",
    )
    bench.set_defaults(func=_benchmark)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
