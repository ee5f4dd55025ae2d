"""The benchmark problems: formulas checked against their known optima."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from scaleup_bo import SearchSpace
from scaleup_bo.benchmarks.problems import PROBLEMS

KNOWN_MINIMISERS = {
    "forrester": [0.757249],
    "currin": [0.21667, 0.0],
    "branin": [-3.141592653589793, 12.275],
    "hartmann6": [0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573],
    "rosenbrock4": [1.0, 1.0, 1.0, 1.0],
    "mixed_toy": [10**-2.2, 4, "adam", 0.45],
    "mixed_shift": [1e-3, 6, "adam", 0.2],
    "unrelated": [(math.pi + 5) / 15, 2.275 / 15],
}


@pytest.mark.parametrize("name", sorted(KNOWN_MINIMISERS))
def test_optimum_is_reached_at_the_known_minimiser_and_nowhere_below(name):
    problem = PROBLEMS[name]
    assert problem.large(KNOWN_MINIMISERS[name]) == pytest.approx(problem.optimum, abs=2e-4)
    space = SearchSpace(problem.space())
    points = space.sample(512, seed=0)
    assert min(problem.large(p) for p in points) >= problem.optimum - 1e-6
    # The small scale is a different function.
    assert any(problem.small(p) != pytest.approx(problem.large(p)) for p in points[:8])


@pytest.mark.parametrize("name", ["forrester", "currin", "branin", "hartmann6", "unrelated"])
def test_optimum_is_exact_to_double_precision(name):
    # A run that lands on the minimiser must read regret 0, not a negative one: a local
    # search from the known minimiser neither gets below the optimum nor stays far above.
    from scipy.optimize import minimize

    problem = PROBLEMS[name]
    bounds = [(d.low, d.high) for d in problem.space()]
    found = minimize(
        lambda x: problem.large(list(x)), KNOWN_MINIMISERS[name], bounds=bounds,
        method="L-BFGS-B", options={"ftol": 1e-15, "gtol": 1e-12},
    )  # fmt: skip
    assert problem.optimum - 1e-9 <= found.fun <= problem.optimum + 1e-11


def test_forrester_small_optimum_is_in_the_wrong_basin():
    problem = PROBLEMS["forrester"]
    grid = [[i / 1000] for i in range(1001)]
    x_small = min(grid, key=problem.small)[0]
    assert problem.regret(problem.large([x_small])) > 5.0


def test_parallel_benchmark_smoke():
    import concurrent.futures as cf

    from scaleup_bo.benchmarks.parallel import run_large_stage

    with cf.ThreadPoolExecutor(max_workers=2) as pool:
        wall, regret, asks = run_large_stage(
            PROBLEMS["branin"], n_large=3, n_small=5, n_parallel=2, executor=pool, sleep=0.01
        )
    assert wall > 0 and regret >= -1e-9 and len(asks) == 2  # the first run is the small winner


def test_overhead_benchmark_smoke():
    from scaleup_bo.benchmarks.overhead import engine_step_times, skopt_step_times

    assert len(engine_step_times("EI", n_small=5, n_large=2)) == 2
    assert len(skopt_step_times(n_calls=7, n_initial_points=5)) == 2


def test_shifted_problem_small_scale_misleads_and_is_noisy_but_deterministic():
    problem = PROBLEMS["mixed_shift"]
    small_opt = [10**-2.3, 3, "sgd", 0.4]
    assert problem.regret(problem.large(small_opt)) > 1.0
    assert problem.small(small_opt) == problem.small(list(small_opt))
    near = [10**-2.3, 3, "sgd", 0.4000001]
    assert abs(problem.small(near) - problem.small(small_opt)) > 1e-4  # noise, not smooth


@pytest.mark.slow
def test_benchmark_smoke_one_seed(tmp_path, capsys):
    import json

    from scaleup_bo.cli import main

    out, png = tmp_path / "r.json", tmp_path / "r.png"
    argv = ["benchmark", "--problems", "forrester", "mixed_toy", "--seeds", "1", "--quiet"]
    argv += ["--small-initial", "3", "--small-steps", "1", "--large", "3"]
    argv += ["--out", str(out), "--plot", str(png)]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "forrester: regret after k large-scale evaluations" in text and "W/T/L" in text
    data = json.loads(out.read_text())
    runs = data["results"]["forrester"]
    assert set(runs) == {"scaleup_bo", "minimal_loop", "top_k", "small_best", "large_only",
                         "skopt_large", "random"}  # fmt: skip
    assert (
        len(runs["scaleup_bo"]["0"]["values"]) == 3 and len(runs["small_best"]["0"]["values"]) == 1
    )
    # skopt runs on to 4x the large budget: the moonshot comparison reads its 12th value.
    assert len(runs["skopt_large"]["0"]["values"]) == 12
    assert "moonshot" in text and "summary at k=3" in text
    # Every method starting from the small winner shares its first value.
    first = {
        m: runs[m]["0"]["values"][0] for m in ["scaleup_bo", "minimal_loop", "top_k", "small_best"]
    }
    assert len(set(first.values())) == 1
    assert png.stat().st_size > 1000
    # The tables can be printed again from the saved results, without re-running.
    assert main(["benchmark", "--report", str(out)]) == 0
    assert capsys.readouterr().out.strip() == text.split("\nwrote")[0].strip()


@pytest.mark.slow
def _tiny_benchmark_argv(out):
    """``scaleup-bo benchmark`` on Forrester, 3 + 1 small runs and 2 large ones, into ``out``
    (add ``--seeds`` and ``--methods``)."""
    base = ["benchmark", "--problems", "forrester", "--quiet", "--small-initial", "3"]
    return [*base, "--small-steps", "1", "--large", "2", "--out", str(out)]


def test_benchmark_resumes_from_its_results_file_without_rerunning(tmp_path, capsys):
    import json

    from scaleup_bo.cli import main

    out = tmp_path / "r.json"
    base = _tiny_benchmark_argv(out)
    assert main([*base, "--seeds", "1", "--methods", "top_k"]) == 0
    data = json.loads(out.read_text())
    assert len(data["small"]["forrester"]["0"]["X"]) == 4  # the shared small stage is kept
    # Mark a stored result: a resumed run must keep it, not recompute it.
    data["results"]["forrester"]["top_k"]["0"]["values"] = [123.0, 124.0]
    out.write_text(json.dumps(data))
    assert main([*base, "--seeds", "2", "--methods", "top_k", "random"]) == 0
    data = json.loads(out.read_text())
    runs = data["results"]["forrester"]
    assert runs["top_k"]["0"]["values"] == [123.0, 124.0]
    assert set(runs["top_k"]) == set(runs["random"]) == {"0", "1"}
    assert data["config"]["methods"] == ["top_k", "random"]
    capsys.readouterr()
    # Another protocol cannot be mixed into the same file.
    assert main([*base[:-2], "--large", "3", "--out", str(out), "--seeds", "1"]) == 2
    assert "n_large" in capsys.readouterr().err


def test_summary_tells_a_real_difference_from_the_seeds_noise():
    from scaleup_bo.benchmarks.runner import format_tables

    def data(ours, theirs):
        runs = {
            "scaleup_bo": {str(i): {"values": [v], "overhead": [0.0]} for i, v in enumerate(ours)},
            "top_k": {str(i): {"values": [v], "overhead": [0.0]} for i, v in enumerate(theirs)},
        }
        cfg = {"problems": ["p"], "methods": ["scaleup_bo", "top_k"], "n_large": 1,
               "optima": {"p": 0.0}}  # fmt: skip
        return {"config": cfg, "results": {"p": runs}}

    def verdict(text):
        row = text.split("summary at k=1")[1].splitlines()[2]
        return row.split()[5:7] if "noise" in row else row.split()[5:6]

    seeds = np.arange(1.0, 9.0)
    assert verdict(format_tables(data(seeds, seeds + 1))) == ["lowest"]
    assert verdict(format_tables(data(seeds + 1, seeds))) == ["worse"]  # 8 of 8 seeds
    mixed = seeds + np.array([1, -0.5] * 4)  # worse median, but not consistently
    assert verdict(format_tables(data(mixed, seeds))) == ["within", "noise"]
    mixed = seeds - np.array([1, -0.5] * 4)  # a lower median, as inconsistently
    assert verdict(format_tables(data(mixed, seeds))) == ["within", "noise"]
    # Better on 15 of 20 seeds (p = 0.017) though its median is the higher one: the test is
    # about the paired differences, and so is the verdict's direction.
    ours = [0.1013, 0.1472, 0.01304, 0.1464, 2.087, 0.4627, 1.405, 0.7165, 1.234, 2.38, 4.77,
            0.2556, 0.6734, 0.01425, 1.522, 2.572, 29.36, 0.3322, 0.1071, 1.399]  # fmt: skip
    theirs = [0.5671, 0.3601, 0.05106, 0.3028, 12.05, 0.1748, 1.251, 0.3061, 1.624, 2.798,
              39.14, 0.6196, 5.385, 0.07346, 1.741, 4.536, 31.17, 0.3226, 0.174,
              0.08363]  # fmt: skip
    assert np.median(ours) > np.median(theirs)
    assert verdict(format_tables(data(np.array(ours), np.array(theirs)))) == ["lowest"]


def test_regret_curve_keeps_the_best_and_pads_stopped_methods():
    from scaleup_bo.benchmarks.runner import regret_curve

    curve = regret_curve([3.0, float("nan"), 1.0], optimum=0.5, n=5)
    assert curve.tolist() == [2.5, 2.5, 0.5, 0.5, 0.5]


def test_scaling_benchmark_smoke():
    from scaleup_bo.benchmarks.scaling import step_times

    assert len(step_times(6, kernel="downsampling", steps=1)) == 1


def test_every_problem_is_checked_or_is_a_real_task():
    real = {name for name, p in PROBLEMS.items() if math.isnan(p.optimum)}
    assert real == {"digits_mlp"} and set(PROBLEMS) == set(KNOWN_MINIMISERS) | real


def test_digits_task_is_deterministic_and_its_scales_differ():
    problem = PROBLEMS["digits_mlp"]
    point = [1e-2, 32, "relu"]
    assert problem.large(point) == problem.large(list(point))
    assert 0 < problem.large(point) < problem.small(point)  # more data, more epochs: better
    with pytest.raises(ValueError):
        problem.large([1e-2, 32, "swish"])  # sklearn refuses an unknown activation


def test_cost_benchmark_smoke_one_seed(tmp_path, capsys):
    import json

    from scaleup_bo.cli import main

    out, png = tmp_path / "cost.json", tmp_path / "cost.png"
    argv = ["benchmark", "--cost-aware", "--problems", "forrester", "--seeds", "1", "--quiet"]
    argv += ["--small-initial", "3", "--small-steps", "1", "--large", "2", "--cost-large", "4"]
    argv += ["--out", str(out), "--plot", str(png)]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "regret at large scale vs cost (budget 12" in text and "W/T/L @70%" in text
    data = json.loads(out.read_text())
    traces = data["traces"]["forrester"]
    assert set(traces) == {"scaleup_cost", "two_stage", "large_only"}
    # Every method spends at most the budget: 4 small x 1 + 2 large x 4 = 12.
    assert traces["two_stage"]["0"]["cost"][-1] == 12.0
    assert traces["two_stage"]["0"]["scale"] == ["small"] * 4 + ["large"] * 2
    assert traces["large_only"]["0"]["cost"] == [4.0, 8.0, 12.0]
    assert 8.0 < traces["scaleup_cost"]["0"]["cost"][-1] <= 12.0
    # The cost-aware run keeps every trial's point and value, so its states can be rebuilt.
    run = traces["scaleup_cost"]["0"]
    assert len(run["params"]) == len(run["y"]) == len(run["scale"])
    large = [y for y, s in zip(run["y"], run["scale"], strict=True) if s == "large"]
    assert large == [v for v in run["value"] if not math.isnan(v)]
    forrester = PROBLEMS["forrester"]
    for p, y, s in zip(run["params"], run["y"], run["scale"], strict=True):
        assert y == (forrester.small(p) if s == "small" else forrester.large(p))
    # The two-stage run is the main benchmark's, stored next to the results.
    stages = json.loads((tmp_path / "cost.json.stages.json").read_text())
    assert stages["results"]["forrester"]["scaleup_bo"]["0"]["values"] == [
        v for v in traces["two_stage"]["0"]["value"] if not math.isnan(v)
    ]
    assert png.stat().st_size > 1000
    # Resuming recomputes nothing; the report prints the same tables.
    assert main(argv) == 0
    assert capsys.readouterr().out.split("\nwrote")[0] == text.split("\nwrote")[0]
    # The file records which defaults its scaleup_cost runs were made with, and runs of an
    # earlier default (a file without that record) are not extended with new ones.
    from scaleup_bo.benchmarks.baselines import METHOD_VERSIONS

    assert data["config"]["scaleup_cost"] == METHOD_VERSIONS["scaleup_cost"]
    del data["config"]["scaleup_cost"]
    out.write_text(json.dumps(data))
    assert main([*argv[:5], "2", *argv[6:]]) == 2
    assert "scaleup_cost runs made by an earlier default" in capsys.readouterr().err


def test_regret_at_cost_reads_the_best_large_value_within_the_cost():
    from scaleup_bo.benchmarks.budget import regret_at_cost

    trace = {"cost": [1.0, 5.0, 6.0, 10.0], "value": [math.nan, 3.0, math.nan, 1.0]}
    assert regret_at_cost(trace, 0.5, 0.9) == math.inf
    assert regret_at_cost(trace, 0.5, 5.0) == 2.5
    assert regret_at_cost(trace, 0.5, 9.99) == 2.5
    assert regret_at_cost(trace, 0.5, 10.0) == 0.5


def _reach_data(reach_costs, target_regrets, reached=0.0):
    """Cost-benchmark results where seed i of scaleup_cost first reaches regret ``reached``
    at ``reach_costs[i]`` (regret 9 before) and two_stage ends at ``target_regrets[i]``."""

    def trace(points):
        return {
            "scale": ["large"] * len(points),
            "cost": [c for c, _ in points],
            "value": [v for _, v in points],
            "overhead": [],
        }

    return {
        "config": {"budget": 100.0, "cost_small": 1.0, "cost_large": 10.0,
                   "optima": {"p": 0.0}},
        "traces": {"p": {
            "scaleup_cost": {str(i): trace([(5.0, 9.0), (c, reached)])
                             for i, c in enumerate(reach_costs)},
            "two_stage": {str(i): trace([(100.0, t)]) for i, t in enumerate(target_regrets)},
            "large_only": {str(i): trace([(100.0, 1.0)]) for i in range(len(reach_costs))},
        }},
    }  # fmt: skip


def test_reach_interval_bootstraps_the_cost_to_reach_over_seeds():
    from scaleup_bo.benchmarks.budget import format_cost_tables, reach_interval

    # Identical seeds: no uncertainty, the interval is the point.
    assert reach_interval(_reach_data([40.0] * 5, [0.5] * 5), "p") == (40.0, 40.0, 40.0)
    # Spread seeds: the point is the median seed's cost; the interval brackets it
    # and stays within the seeds' range.
    costs = [20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 95.0]
    point, lo, hi = reach_interval(_reach_data(costs, [0.5] * 9), "p", n_boot=500)
    assert point == 60.0
    assert 20.0 <= lo < point < hi <= 95.0
    # Half the seeds never reach the target: the upper end is "never".
    costs = [20.0, 30.0, 40.0, 1000.0, 1000.0, 1000.0]
    point, lo, hi = reach_interval(_reach_data(costs, [0.5] * 6), "p")
    assert lo <= 40.0 and math.isinf(hi)
    # A seed-resampled target too: two_stage's own spread widens the interval.
    wide = reach_interval(_reach_data([50.0] * 5, [0.0, 0.0, 0.5, 0.5, 0.5], 0.3), "p")
    assert wide[:2] == (50.0, 50.0) and math.isinf(wide[2])
    text = format_cost_tables(_reach_data([40.0] * 5, [0.5] * 5))
    assert "90% interval" in text and "40 (40%)" in text and "[40%, 40%]" in text


def test_benchmark_refuses_to_mix_runs_of_two_versions_of_a_method(tmp_path, capsys):
    import json

    from scaleup_bo.benchmarks.baselines import METHOD_VERSIONS
    from scaleup_bo.cli import main

    out = tmp_path / "r.json"
    base = _tiny_benchmark_argv(out)
    assert main([*base, "--seeds", "1", "--methods", "scaleup_bo"]) == 0
    data = json.loads(out.read_text())
    assert data["config"]["versions"] == {"scaleup_bo": METHOD_VERSIONS["scaleup_bo"]}
    # Runs stored by an earlier default (here: a file without versions) are not extended ...
    del data["config"]["versions"]
    out.write_text(json.dumps(data))
    assert main([*base, "--seeds", "2", "--methods", "scaleup_bo"]) == 2
    assert "scaleup_bo runs made by an earlier" in capsys.readouterr().err
    # ... while other methods can still be added, and without those rows it re-runs them.
    assert main([*base, "--seeds", "1", "--methods", "top_k"]) == 0
    data = json.loads(out.read_text())
    del data["results"]["forrester"]["scaleup_bo"]
    out.write_text(json.dumps(data))
    assert main([*base, "--seeds", "2", "--methods", "scaleup_bo"]) == 0
    data = json.loads(out.read_text())
    assert set(data["results"]["forrester"]["scaleup_bo"]) == {"0", "1"}
    capsys.readouterr()


def test_benchmark_scaleup_bo_method_is_what_large_scale_optimizer_runs():
    # The benchmark drives the engine itself (to time each proposal); it must stay the
    # library's LargeScaleOptimizer with its defaults, or the tables measure something else.
    from scaleup_bo import LargeScaleOptimizer
    from scaleup_bo.benchmarks.baselines import scaleup_bo

    problem = PROBLEMS["forrester"]
    X = SearchSpace(problem.space()).sample(6, seed=3)
    Y = [problem.small(p) for p in X]
    stage = scaleup_bo(problem, X, Y, n_large=4, seed=7)
    opt = LargeScaleOptimizer(
        problem.large, problem.space(), best_params=X[int(np.argmin(Y))], X_iters_small=X,
        Y_iters_small=Y, n_steps=3, random_state=7,
    )  # fmt: skip
    assert stage.values == list(opt.Y_iters)


def _save_rows(path: str, problem: str, n: int) -> None:
    from scaleup_bo.benchmarks.runner import save

    for seed in range(n):
        data = {
            "config": {"n_large": 3, "problems": [problem], "methods": ["random"], "seeds": [seed]},
            "results": {problem: {"random": {str(seed): {"values": [1.0], "overhead": []}}}},
            "small": {problem: {str(seed): {"X": [], "Y": []}}},
        }
        rows = [("results", problem, "random", str(seed)), ("small", problem, str(seed))]
        save(data, path, rows=rows, protocol=["n_large"])


def test_two_processes_sharing_a_results_file_keep_each_others_rows(tmp_path):
    # The README says a long run can be split over processes writing one --out file:
    # each save merges with what is on disk, under a lock, so no process's rows are lost.
    import multiprocessing

    from scaleup_bo.benchmarks.runner import load

    path = str(tmp_path / "split.json")
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_save_rows, args=(path, p, 15)) for p in ("forrester", "currin")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    data = load(path)
    for problem in ("forrester", "currin"):
        assert sorted(data["results"][problem]["random"], key=int) == [str(s) for s in range(15)]
        assert len(data["small"][problem]) == 15
    assert sorted(data["config"]["problems"]) == ["currin", "forrester"]
    assert data["config"]["seeds"] == list(range(15))


def test_tables_say_when_the_methods_ran_different_seeds():
    from scaleup_bo.benchmarks.runner import format_tables

    runs = {
        "scaleup_bo": {str(i): {"values": [float(i)], "overhead": [0.0]} for i in range(2)},
        "top_k": {str(i): {"values": [float(i) + 1], "overhead": [0.0]} for i in range(3)},
    }
    cfg = {
        "problems": ["p"],
        "methods": ["scaleup_bo", "top_k"],
        "n_large": 1,
        "optima": {"p": 0.0},
    }
    text = format_tables({"config": cfg, "results": {"p": runs}})
    assert "2-3 seeds (the methods ran different seeds" in text
    runs["top_k"] = {str(i): {"values": [1.0], "overhead": [0.0]} for i in (5, 6)}  # disjoint
    text = format_tables({"config": cfg, "results": {"p": runs}})
    assert "2 seeds (the methods ran different seeds" in text


def test_a_save_writes_its_own_rows_only_and_refuses_another_protocol(tmp_path):
    from scaleup_bo.benchmarks.runner import ResultsFileError, load, save

    path = tmp_path / "r.json"

    def data(n_large, seeds):
        cfg = {"n_large": n_large, "problems": ["p"], "methods": ["m"], "seeds": list(seeds)}
        rows = {str(s): {"values": [float(s)] * n_large, "overhead": []} for s in seeds}
        return {"config": cfg, "results": {"p": {"m": rows}}}

    def rows(*seeds):
        return [("results", "p", "m", str(s)) for s in seeds]

    save(data(3, [0]), path, rows=rows(0), protocol=["n_large"])
    a = data(3, [0])  # process A has read seed 0 ...
    on_disk = load(path)
    del on_disk["results"]["p"]["m"]["0"]  # ... the user removes it to re-run it ...
    path.write_text(json.dumps(on_disk))
    b = data(3, [0])
    b["results"]["p"]["m"]["0"]["values"] = [9.0, 9.0, 9.0]  # ... process B re-runs it ...
    save(b, path, rows=rows(0), protocol=["n_large"])
    a["results"]["p"]["m"]["1"] = {"values": [1.0] * 3, "overhead": []}
    save(a, path, rows=rows(1), protocol=["n_large"])  # ... and A saves its next row
    stored = load(path)["results"]["p"]["m"]
    assert stored["0"]["values"] == [9.0, 9.0, 9.0] and stored["1"]["values"] == [1.0] * 3
    with pytest.raises(ResultsFileError, match="n_large=3, not 11"):
        save(data(11, [2]), path, rows=rows(2), protocol=["n_large"])
    assert "2" not in load(path)["results"]["p"]["m"]
