"""Benchmark runner: every method on every problem and seed, the same small-scale data.

Protocol: a small stage of ``n_small_initial`` space-filling + ``n_small_steps``
model-guided evaluations (scaleup_bo's ``SmallScaleOptimizer``, shared by every method
of a seed), then ``n_large`` large-scale evaluations per method. Regret is the best
large-scale value observed after ``k`` evaluations minus the optimum.
"""

from __future__ import annotations

import json
import math
import os
import statistics
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from scaleup_bo.benchmarks.baselines import METHOD_VERSIONS, METHODS
from scaleup_bo.benchmarks.problems import PROBLEMS

__all__ = [
    "ResultsFileError",
    "format_tables",
    "load",
    "plot_regret",
    "regret_curve",
    "run_benchmark",
    "save",
]

KS = (1, 3, 5, 11)
#: The ``config`` keys that make two results files the same protocol.
PROTOCOL = ("n_small_initial", "n_small_steps", "n_large")
#: The small stage is part of the protocol, fixed apart from the library's defaults
#: (which the benchmark is used to choose): EI on the linear-truncated model.
SMALL_STAGE = {"acq_func": "EI", "kernel": "linear_truncated"}


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

    With ``checkpoint``, the results so far are written there after every method
    run, with each seed's small-stage data; a run given an existing checkpoint of the
    same protocol resumes it: it adds the missing (problem, method, seed) results and
    keeps (never recomputes) the stored ones.

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
    config = {
        "n_small_initial": n_small_initial, "n_small_steps": n_small_steps, "n_large": n_large,
    }  # fmt: skip
    assert tuple(config) == PROTOCOL
    data: dict[str, Any] = {"config": dict(config), "results": {}, "small": {}}
    if checkpoint is not None and Path(checkpoint).exists():
        data = load(checkpoint)
        for key, value in config.items():
            if data["config"].get(key) != value:
                raise ResultsFileError(
                    f"{checkpoint} holds a run with {key}={data['config'].get(key)}, "
                    f"not {value}: use another --out file"
                )
        data.setdefault("small", {})
        _check_versions(data, methods, checkpoint)
    cfg = data["config"]
    versions = {m: METHOD_VERSIONS[m] for m in methods if m in METHOD_VERSIONS}
    cfg["versions"] = {**cfg.get("versions", {}), **versions}
    cfg["problems"] = _union(cfg.get("problems", []), problems)
    cfg["methods"] = _union(cfg.get("methods", []), methods)
    cfg["seeds"] = _union(cfg.get("seeds", []), seeds)
    cfg["optima"] = {p: PROBLEMS[p].optimum for p in cfg["problems"]}
    bar = tqdm(total=len(problems) * len(seeds), desc="benchmark", disable=not progress)
    for name in problems:
        problem = PROBLEMS[name]
        runs = data["results"].setdefault(name, {})
        for method in cfg["methods"]:
            runs.setdefault(method, {})
        for seed in seeds:
            todo = [m for m in methods if str(seed) not in runs[m]]
            stored = data["small"].setdefault(name, {})
            if todo and str(seed) not in stored:
                small = SmallScaleOptimizer(
                    problem.small, problem.space(), n_steps=n_small_steps,
                    n_initial_points=n_small_initial, random_state=seed, **SMALL_STAGE,
                )  # fmt: skip
                stored[str(seed)] = {"X": small.X_iters.tolist(), "Y": small.Y_iters.tolist()}
            for method in todo:
                X, Y = stored[str(seed)]["X"], stored[str(seed)]["Y"]
                r = METHODS[method](problem, X, Y, n_large, seed)
                runs[method][str(seed)] = {"values": r.values, "overhead": r.overhead}
                if checkpoint is not None:
                    rows = [("results", name, method, str(seed)), ("small", name, str(seed))]
                    save(data, checkpoint, rows=rows, protocol=PROTOCOL)
            bar.update(1)
    bar.close()
    return data


def _check_versions(data: dict[str, Any], methods: list[str], checkpoint: str | Path) -> None:
    """Refuse to add runs of a method to a file whose stored runs of it were made by
    another version of it (see ``METHOD_VERSIONS``)."""
    stored = data["config"].get("versions", {})
    for method in methods:
        if method not in METHOD_VERSIONS or stored.get(method) == METHOD_VERSIONS[method]:
            continue
        if any(runs.get(method) for runs in data["results"].values()):
            made_by = repr(stored[method]) if method in stored else "an earlier version"
            raise ResultsFileError(
                f"{checkpoint} holds {method} runs made by {made_by}, not "
                f"{METHOD_VERSIONS[method]!r}: use another --out file, or remove its "
                f"{method} rows to re-run them"
            )


def _union(old: Iterable[Any], new: Iterable[Any]) -> list[Any]:
    out = list(old)
    return out + [x for x in new if x not in out]


def regret_curve(values: Sequence[float], optimum: float, n: int) -> np.ndarray:
    """Best-so-far regret after 1..n evaluations (a method that stopped keeps its best)."""
    v = np.array([x if x is not None and math.isfinite(x) else np.inf for x in values], float)
    best = np.minimum.accumulate(v) if len(v) else np.array([np.inf])
    best = np.concatenate([best, np.full(max(0, n - len(best)), best[-1])])[:n]
    return best - (0.0 if math.isnan(optimum) else optimum)


def _curves(
    data: dict[str, Any], problem: str, method: str, n: int | None = None,
    seeds: Iterable[str] | None = None,
) -> np.ndarray:  # fmt: skip
    """Regret curves (seeds x n) of one method, for ``seeds`` (default: all it ran)."""
    n = data["config"]["n_large"] if n is None else n
    opt = data["config"]["optima"][problem]
    runs = data["results"][problem].get(method, {})
    seeds = list(runs) if seeds is None else [s for s in seeds if s in runs]
    return np.array([regret_curve(runs[s]["values"], opt, n) for s in seeds]).reshape(-1, n)


def wtl(a: np.ndarray, b: np.ndarray) -> str:
    """Wins/ties/losses of ``a`` against ``b`` (paired; ties within 1e-6 + 0.1%; two
    ``inf`` tie, a finite value beats ``inf``)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    tol = np.where(np.isfinite(b), 1e-6 + 1e-3 * np.abs(b), 0.0)
    wins, losses = int(np.sum(a < b - tol)), int(np.sum(a > b + tol))
    return f"{wins}/{len(a) - wins - losses}/{losses}"


def _cell(col: np.ndarray) -> str:
    q1, med, q3 = np.percentile(col, [25, 50, 75])
    return f" {med:.4g} [{q1:.3g}, {q3:.3g}]"


def format_tables(data: dict[str, Any], reference: str = "scaleup_bo") -> str:
    """Median [quartiles] regret after k large evaluations, win/tie/loss against
    ``reference`` at the last k (paired by seed), and median overhead per step, one
    table per problem; then the moonshot table: ``reference`` after ``n_large``
    against ``skopt_large`` after ``4 n_large`` large-scale evaluations."""
    cfg = data["config"]
    n = cfg["n_large"]
    ks = [k for k in KS if k <= n]
    lines = []
    for problem in cfg["problems"]:
        runs = data["results"].get(problem, {})
        methods = [m for m in cfg["methods"] if runs.get(m)]
        if not methods:  # a stopped run: this problem was not reached
            continue
        counts = sorted({len(runs[m]) for m in methods})
        same = len({frozenset(runs[m]) for m in methods}) == 1
        n_seeds = f"{counts[0]}" if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
        seeds = f"{n_seeds} seeds" + (
            "" if same else " (the methods ran different seeds; W/T/L pairs the common ones)"
        )
        what = "regret" if not math.isnan(cfg["optima"][problem]) else "best value"
        lines.append(
            f"\n{problem}: {what} after k large-scale evaluations, median [q1, q3], {seeds}"
        )
        head = f"{'method':<14}" + "".join(f"{'k=' + str(k):>30}" for k in ks)
        lines.append(head + f"{'W/T/L vs ' + reference:>20}{'s/step':>8}")
        for method in methods:
            c = _curves(data, problem, method)
            cells = [_cell(c[:, k - 1]) for k in ks]
            record = ""
            if runs.get(reference) and method != reference:
                common = [s for s in runs[method] if s in runs[reference]]
                a = _curves(data, problem, method, seeds=common)[:, n - 1]
                record = wtl(a, _curves(data, problem, reference, seeds=common)[:, n - 1])
            overhead = [s for r in runs[method].values() for s in r["overhead"]]
            oh = f"{statistics.median(overhead):.2f}" if overhead else "-"
            lines.append(
                f"{method:<14}" + "".join(f"{x:>30}" for x in cells) + f"{record:>20}{oh:>8}"
            )
    lines += _summary(data, reference)
    lines += _moonshot(data, reference)
    return "\n".join(lines)


def _summary(data: dict[str, Any], reference: str) -> list[str]:
    """Per problem at the last k: the reference's median, the best other method's, and
    a two-sided Wilcoxon signed-rank p-value over the paired seeds (small p: the
    difference is more than the seeds' noise)."""
    from scipy.stats import wilcoxon

    cfg = data["config"]
    n = cfg["n_large"]
    rows = []
    for problem in cfg["problems"]:
        runs = data["results"].get(problem, {})
        if not runs.get(reference):
            continue
        ref = np.median(_curves(data, problem, reference)[:, n - 1])
        others = {
            m: np.median(_curves(data, problem, m)[:, n - 1])
            for m in cfg["methods"]
            if m != reference and runs.get(m)
        }
        if not others:
            continue
        best = min(others, key=others.get)  # type: ignore[arg-type]
        common = [s for s in runs[reference] if s in runs[best]]
        a = _curves(data, problem, reference, seeds=common)[:, n - 1]
        b = _curves(data, problem, best, seeds=common)[:, n - 1]
        diff = a - b
        if len(a) < 2:
            p = math.nan
        else:
            p = float(wilcoxon(a, b).pvalue) if np.any(np.abs(diff) > 1e-12) else 1.0
        # The test decides in both directions (a lower median over seeds that split is no
        # more "lowest" than a higher one is "worse"), and the direction is that of the
        # paired differences, which the test is about.
        direction = "lowest" if np.nanmedian(diff) <= 0 else "worse"
        verdict = direction if p < 0.05 else "within noise"
        top = top_k_verdict = ""
        if runs.get("top_k"):
            t = _curves(data, problem, "top_k", seeds=common)[:, n - 1]
            top = wtl(a, t)
            top_k_verdict = "yes" if np.median(a) < np.median(t) else "no"
        rows.append(
            f"{problem:<14}{ref:>12.4g}{best:>14}{others[best]:>12.4g}{p:>10.3f}"
            f"{verdict:>14}{top:>12}{top_k_verdict:>8}"
        )
    if not rows:
        return []
    return [
        f"\nsummary at k={n}: {reference} against the best other method (median; Wilcoxon "
        "signed-rank p over paired seeds) and against top_k",
        f"{'problem':<14}{reference:>12}{'best other':>14}{'its median':>12}{'p':>10}"
        f"{'verdict':>14}{'W/T/L top_k':>12}{'beats':>8}",
        *rows,
    ]


def _moonshot(data: dict[str, Any], reference: str) -> list[str]:
    cfg = data["config"]
    n = cfg["n_large"]
    rows = []
    for problem in cfg["problems"]:
        runs = data["results"].get(problem, {})
        long = {s: r for s, r in runs.get("skopt_large", {}).items() if len(r["values"]) >= 4 * n}
        common = [s for s in runs.get(reference, {}) if s in long]
        if not common:
            continue
        a = _curves(data, problem, reference, seeds=common)[:, n - 1]
        b = _curves(data, problem, "skopt_large", n=4 * n, seeds=common)[:, -1]
        verdict = "yes" if np.median(a) <= np.median(b) else "no"
        rows.append(f"{problem:<14}{_cell(a):>30}{_cell(b):>30}{wtl(a, b):>10}{verdict:>9}")
    if not rows:
        return []
    head = f"{'problem':<14}{reference + ' k=' + str(n):>30}{'skopt_large k=' + str(4 * n):>30}"
    return [
        f"\nmoonshot: {reference} after {n} large-scale runs against skopt.gp_minimize after "
        f"{4 * n}, median [q1, q3]",
        head + f"{'W/T/L':>10}{'matched':>9}",
        *rows,
    ]


def plot_regret(data: dict[str, Any], path: str | Path | None = None) -> Any:
    """Median regret versus k (quartile band) per problem; saved to ``path`` if given."""
    import matplotlib.pyplot as plt

    problems = [p for p in data["config"]["problems"] if any(data["results"].get(p, {}).values())]
    cols = min(3, len(problems))
    rows = math.ceil(len(problems) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.6 * rows), squeeze=False)
    k = np.arange(1, data["config"]["n_large"] + 1)
    for ax, problem in zip(axes.flat, problems, strict=False):
        methods = [m for m in data["config"]["methods"] if data["results"][problem].get(m)]
        for method in methods:
            c = _curves(data, problem, method)
            q1, med, q3 = np.percentile(c, [25, 50, 75], axis=0)
            (line,) = ax.plot(k, med, marker=".", label=method)
            ax.fill_between(k, q1, q3, alpha=0.12, color=line.get_color())
        ax.set_title(problem)
        ax.set_xlabel("large-scale evaluations")
        ax.set_ylabel("regret" if not math.isnan(data["config"]["optima"][problem]) else "best")
        if np.all(np.array([_curves(data, problem, m).min() for m in methods]) > 0):
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


class ResultsFileError(ValueError):
    """A results file that cannot take this run's rows: another protocol, or runs of
    another version of a method (the command line reports it in one line)."""


def save(
    data: dict[str, Any],
    path: str | Path,
    *,
    rows: Iterable[tuple[str, ...]] | None = None,
    protocol: Iterable[str] = (),
) -> None:
    """Write the results as JSON, atomically (write, then rename), under an exclusive
    lock on ``<path>.lock``.

    With ``rows`` (key paths into ``data``, such as ``("results", problem, method,
    seed)``), only those rows are written into what the file holds by then, so processes
    that share one results file (a long run split over processes) keep each other's
    rows, and a row someone removed from the file is not brought back by a process that
    read it earlier. The file's ``config`` must then agree with ``data``'s on every key of
    ``protocol`` (:class:`ResultsFileError` otherwise: another process started a run of
    another protocol in the same file); its problem/method/seed lists are united and its
    ``optima``/``versions`` extended. Without ``rows``, ``data`` replaces the file."""
    path = Path(path)
    with _locked(path.with_name(path.name + ".lock")):
        out = data
        if rows is not None and path.exists():
            out = load(path)
            config = out.setdefault("config", {})
            for key in protocol:
                if config.get(key) != data["config"].get(key):
                    raise ResultsFileError(
                        f"{path} now holds a run with {key}={config.get(key)!r}, not "
                        f"{data['config'].get(key)!r} (another process wrote it): use another "
                        "--out file"
                    )
            for key, value in data["config"].items():
                if key in _GROWING and isinstance(config.get(key), list):
                    config[key] = _union(config[key], value)
                elif isinstance(value, dict) and isinstance(config.get(key), dict):
                    config[key] = {**config[key], **value}
                elif key not in config:
                    config[key] = value
            for row in rows:
                *parents, leaf = row
                source, target = data, out
                for k in parents:
                    source, target = source[k], target.setdefault(k, {})
                target[leaf] = source[leaf]
        out.setdefault("config", {})["made_by"] = provenance()
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(out, indent=1, default=float))
        tmp.replace(path)


def provenance() -> dict[str, str]:
    """What wrote a results file: the command line, the library's version (with the git
    commit of a checkout) and the date (UTC)."""
    import datetime
    import subprocess
    import sys

    from scaleup_bo import __version__

    version = f"scaleup_bo {__version__}"
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=Path(__file__).parent,
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()  # fmt: skip
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=Path(__file__).parent,
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()  # fmt: skip
        version += f" (commit {commit}{', modified' if dirty else ''})"
    except (OSError, subprocess.SubprocessError):
        pass
    command = " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv else ""
    today = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
    return {"command": command, "version": version, "date": today}


#: The ``config`` lists that grow as runs are added (kept in order of first appearance).
_GROWING = ("problems", "methods", "seeds")


@contextmanager
def _locked(lock: Path) -> Iterator[None]:
    """An exclusive ``flock`` on ``lock`` (none where ``fcntl`` is missing: Windows)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on the Linux machines we run on
        yield
        return
    with open(lock, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
