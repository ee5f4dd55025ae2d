"""Command line: ``scaleup-bo demo`` and ``scaleup-bo benchmark``."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["main"]


def _count(minimum: int) -> Any:
    """An argparse ``type``: an integer at least ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, got {text!r}")
        return value

    return parse


def _cost(text: str) -> float:
    """An argparse ``type``: a positive finite number."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {text!r}")
    return value


def _fail(why: str) -> int:
    print(f"scaleup-bo benchmark: error: {why}", file=sys.stderr)
    return 2


def _demo(args: argparse.Namespace) -> int:
    from scaleup_bo.demo import run_demo

    # --budget sets the steps not given explicitly.
    tiny = args.budget == "tiny"
    if args.small_steps is None:
        args.small_steps = 1 if tiny else 20
    if args.large_steps is None:
        args.large_steps = 1 if tiny else 10

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
        value = "failed" if score is None else f"{score:.4f}"
        print(f"{name:<40}{value:>10}{'' if secs is None else f'{secs:.1f}':>16}")
    if s["small_best_at_large"]["error"] is not None:
        print("the small-scale best failed at large scale:", s["small_best_at_large"]["error"])
    print()
    e = s["evaluations"]
    print(f"evaluations: {e['small']} small, {e['large']} large, {e['failed']} failed")
    print("large-scale best parameters:", s["large_best"]["params"])
    print("wrote:", ", ".join(s["files"]))
    return 0


def _benchmark(args: argparse.Namespace) -> int:
    from scaleup_bo.benchmarks.runner import (
        ResultsFileError,
        format_tables,
        plot_regret,
        run_benchmark,
    )

    for flag in ("out", "plot"):
        path = getattr(args, flag)
        if path and not Path(path).resolve().parent.is_dir():
            return _fail(f"--{flag} {path}: its folder does not exist")
    if args.cost_aware:
        return _cost_benchmark(args)
    if args.report:
        data = _read_report(args.report, cost_aware=False)
        if data is None:
            return 2
    else:
        try:
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
        except ResultsFileError as exc:  # a results file of another protocol or version
            return _fail(str(exc))
    print(format_tables(data))
    if args.out and not args.report:
        print("wrote", args.out)  # run_benchmark saved it after every run
    _plot(plot_regret, data, args.plot)
    return 0


def _cost_benchmark(args: argparse.Namespace) -> int:
    import tempfile

    from scaleup_bo.benchmarks.budget import format_cost_tables, plot_cost, run_cost_benchmark
    from scaleup_bo.benchmarks.runner import ResultsFileError

    if args.report:
        data = _read_report(args.report, cost_aware=True)
        if data is None:
            return 2
    else:
        try:
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
        except ResultsFileError as exc:  # a results file of another protocol or version
            return _fail(str(exc))
    print(format_cost_tables(data))
    if args.out and not args.report:
        print("wrote", args.out)
    _plot(plot_cost, data, args.plot)
    return 0


def _read_report(path: str, *, cost_aware: bool) -> dict[str, Any] | None:
    """The results file to report, or ``None`` after saying on stderr why it cannot be."""
    import json

    from scaleup_bo.benchmarks.runner import load

    def fail(why: str) -> None:
        print(f"scaleup-bo benchmark: error: --report {path}: {why}", file=sys.stderr)

    try:
        data = load(path)
    except OSError as exc:
        return fail(f"cannot read it ({exc.strerror or exc})")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return fail(f"not a JSON results file ({exc})")
    is_cost = isinstance(data, dict) and "traces" in data and "budget" in data.get("config", {})
    is_main = isinstance(data, dict) and "results" in data and "n_large" in data.get("config", {})
    if cost_aware and not is_cost:
        return fail(
            "not a cost-aware benchmark file"
            + (" (it is the main benchmark's: leave out --cost-aware)" if is_main else "")
        )
    if not cost_aware and not is_main:
        return fail(
            "not a benchmark results file"
            + (" (it is the cost-aware benchmark's: add --cost-aware)" if is_cost else "")
        )
    return data


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
    demo.add_argument(
        "--small-steps", type=_count(0), help="model-guided small-scale runs (default 20; tiny: 1)"
    )
    demo.add_argument(
        "--large-steps", type=_count(0), help="model-guided large-scale runs (default 10; tiny: 1)"
    )
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument(
        "--budget",
        choices=["tiny", "default"],
        default="default",
        help="tiny: 1 small + 1 large model-guided run (a smoke test), unless the steps are given",
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
    bench.add_argument("--seeds", type=_count(1), default=20, help="seeds 0..N-1")
    bench.add_argument("--small-initial", type=_count(1), default=5)
    bench.add_argument("--small-steps", type=_count(0), default=20)
    bench.add_argument("--large", type=_count(1), default=11, help="large-scale evaluations")
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
    cost.add_argument("--cost-small", type=_cost, default=1.0, help="cost of a small-scale run")
    cost.add_argument("--cost-large", type=_cost, default=10.0, help="cost of a large-scale run")
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
