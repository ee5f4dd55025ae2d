"""The run loop: sequential and parallel evaluation on real executors (threads, processes
and a Dask LocalCluster), stopping, and what a run waits for."""

from __future__ import annotations

import concurrent.futures as cf
import os
import sys
import threading
import time

import cloudpickle
import pytest
from skopt.space import Categorical, Real

from scaleup_bo import DataError, Engine, LargeScaleOptimizer, SmallScaleOptimizer
from scaleup_bo.benchmarks.problems import mixed_toy_large, mixed_toy_small, mixed_toy_space

# Dask workers are separate processes: send this module's functions by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

SPACE = [Real(-2.0, 2.0, name="x"), Categorical(["a", "b"], name="c")]


def quadratic(p):
    return (p[0] - 0.5) ** 2 + (0.0 if p[1] == "a" else 0.3)


def fails_right_of_one(p):
    if p[0] > 1.0:
        raise ValueError("diverged")
    return quadratic(p)


def test_dask_cluster_runs_both_stages_without_duplicates(dask_client):
    small = SmallScaleOptimizer(
        mixed_toy_small,
        mixed_toy_space(),
        n_steps=4,
        n_initial_points=2,
        random_state=0,
        n_parallel=2,
        executor=dask_client,
    )
    large = LargeScaleOptimizer(
        mixed_toy_large,
        mixed_toy_space(),
        small=small,
        n_steps=4,
        random_state=0,
        n_parallel=2,
        executor=dask_client,
    )
    assert len(small.Y_iters) == 6 and len(large.Y_iters) == 5
    for scale in ["small", "large"]:
        params = [t.params for t in large.history.at(scale)]
        assert len(set(params)) == len(params)
    for t in large.history:
        f = mixed_toy_small if t.scale == "small" else mixed_toy_large
        assert t.value == pytest.approx(f(list(t.params)))
    assert list(large.X_iters[0]) == small.best_params


def test_dask_failures_are_recorded_and_the_run_completes(dask_client, tmp_path):
    journal = tmp_path / "run.jsonl"
    opt = SmallScaleOptimizer(
        fails_right_of_one,
        SPACE,
        n_steps=6,
        n_initial_points=4,
        random_state=1,
        n_parallel=2,
        executor=dask_client,
        journal=journal,
    )
    failed = [t for t in opt.history if not t.ok]
    assert len(opt.history) == 10
    assert failed and all(t.params[0] > 1.0 and "diverged" in t.error for t in failed)
    assert all(t.params[0] <= 1.0 for t in opt.history if t.ok)
    # Every finished evaluation reached the journal.
    assert len(journal.read_text().splitlines()) == 1 + 10


def kill_worker_once(marker, p):
    if not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(1)  # the worker process dies mid-evaluation
    return quadratic(p)


def test_a_dying_dask_worker_loses_no_other_result(dask_client, tmp_path):
    import functools

    objective = functools.partial(kill_worker_once, str(tmp_path / "died"))
    engine = Engine(SPACE, random_state=0)
    trials = engine.run(objective, "large", n_asks=6, n_parallel=2, executor=dask_client)
    assert (tmp_path / "died").exists()
    assert len(trials) == len(engine.history) == 6
    # Dask reschedules the lost task; if it gives up, that one trial is a failure, no more.
    assert sum(not t.ok for t in trials) <= 1
    assert len({t.params for t in trials}) == 6


def test_thread_pool_keeps_n_evaluations_in_flight():
    running, peak, lock = [0], [0], threading.Lock()

    def slow(p):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.3)
        with lock:
            running[0] -= 1
        return quadratic(p)

    with cf.ThreadPoolExecutor(max_workers=3) as pool:
        opt = SmallScaleOptimizer(
            slow, SPACE, n_steps=3, n_initial_points=3, random_state=0, n_parallel=3, executor=pool
        )
    assert len(opt.Y_iters) == 6 and peak[0] == 3


def test_process_pool_and_default_threads():
    with cf.ProcessPoolExecutor(max_workers=2) as pool:
        opt = SmallScaleOptimizer(
            quadratic,
            SPACE,
            n_steps=2,
            n_initial_points=2,
            random_state=0,
            n_parallel=2,
            executor=pool,
        )
    assert len(opt.Y_iters) == 4
    threads = SmallScaleOptimizer(quadratic, SPACE, n_steps=2, n_initial_points=2, n_parallel=2)
    assert len(threads.Y_iters) == 4


def test_unpicklable_objective_is_refused_before_anything_runs(tmp_path):
    lock = threading.Lock()
    calls = []

    def holds_a_lock(p):
        calls.append(p)
        with lock:
            return quadratic(p)

    journal = tmp_path / "run.jsonl"
    with (
        cf.ProcessPoolExecutor(max_workers=1) as pool,
        pytest.raises(DataError, match="cannot be sent"),
    ):
        SmallScaleOptimizer(
            holds_a_lock, SPACE, n_steps=1, executor=pool, n_parallel=2, journal=journal
        )
    assert calls == [] and len(journal.read_text().splitlines()) == 1  # header only


def test_bad_executor_and_n_parallel_are_refused():
    with pytest.raises(DataError, match="executor"):
        SmallScaleOptimizer(quadratic, SPACE, executor="dask")
    with pytest.raises(DataError, match="n_parallel"):
        SmallScaleOptimizer(quadratic, SPACE, n_parallel=0)


def test_interrupt_with_the_run_s_own_threads_does_not_wait_for_running_evaluations():
    """Ctrl-C with ``n_parallel > 1`` and no executor reaches the caller while another
    evaluation is still running (it is abandoned, unrecorded), instead of after it."""
    second_started, release, finished = threading.Event(), threading.Event(), threading.Event()
    calls, lock = [], threading.Lock()

    def f(p):
        with lock:
            calls.append(p)
            first = len(calls) == 1
        if first:
            assert second_started.wait(30)
            raise KeyboardInterrupt
        second_started.set()
        release.wait(30)
        finished.set()
        return quadratic(p)

    try:
        with pytest.raises(KeyboardInterrupt) as info:
            SmallScaleOptimizer(f, SPACE, n_steps=1, n_initial_points=2, n_parallel=2)
        assert not finished.is_set()  # the other evaluation was not waited for
        assert len(info.value.history) == 0
    finally:
        release.set()


def test_a_failed_parallel_run_is_charged_its_own_time_not_its_wait():
    """With measured costs a failure costs what the objective took on its worker, like a
    success: not the time it waited in the executor's queue."""

    def small(p):
        if p[0] < 0.5:
            time.sleep(0.5)
            return quadratic(p)
        raise RuntimeError("diverged")

    with cf.ThreadPoolExecutor(max_workers=1) as pool:  # the second run queues behind
        engine = Engine(SPACE)
        engine.run(small, "small", [[0.1, "a"], [0.9, "a"]], n_parallel=2, executor=pool)
    ok, failed = engine.history.trials
    assert ok.ok and ok.seconds >= 0.5 and not failed.ok
    assert failed.seconds < 0.25


def test_an_uncaught_error_waits_for_the_running_evaluations_of_the_run_s_own_threads():
    """Only Ctrl-C abandons running evaluations: after another error nothing of the run is
    still running when the caller gets it (and, say, resumes from the journal)."""
    started, finished = threading.Event(), threading.Event()

    def f(p):
        if p[0] < 0.5:
            assert started.wait(30)
            raise ValueError("bad configuration")  # not in catch: the run stops
        started.set()
        time.sleep(0.3)
        finished.set()
        return 1.0

    engine = Engine([Real(0.0, 1.0)], catch=(RuntimeError,))
    with pytest.raises(ValueError, match="bad configuration"):
        engine.run(f, "small", [[0.9], [0.1]], n_parallel=2)
    assert finished.is_set()


def test_an_exhausted_discrete_space_ends_a_parallel_run():
    values = {"a": 1.0, "b": 0.5, "c": 2.0, "d": 3.0}
    large = LargeScaleOptimizer(
        lambda p: values[p[0]], [Categorical(list(values))],
        X_iters_small=[["a"], ["b"]], Y_iters_small=[1.0, 0.5], n_steps=6, n_parallel=2,
        random_state=0,
    )  # fmt: skip
    assert sorted(p[0] for p in large.X_iters) == ["a", "b", "c", "d"]


def _square(params):
    return (params[0] - 0.3) ** 2


def test_a_dask_cluster_without_workers_is_reported_while_the_run_waits(monkeypatch, caplog):
    import logging

    distributed = pytest.importorskip("distributed")
    from scaleup_bo import runner

    monkeypatch.setattr(runner, "WAIT_REPORT_SECONDS", 0.2)
    with (
        distributed.LocalCluster(n_workers=0, processes=False, dashboard_address=None) as cluster,
        distributed.Client(cluster) as client,
    ):
        timer = threading.Timer(2.0, cluster.scale, args=(1,))  # a worker joins later
        timer.start()
        engine = Engine([Real(0.0, 1.0)], random_state=0)
        with caplog.at_level(logging.INFO, logger="scaleup_bo"):
            trials = engine.run(_square, "small", [[0.5]], n_parallel=1, executor=client)
        timer.join()
    assert [t.value for t in trials] == [pytest.approx(0.04)]
    assert "waiting for 1 evaluation(s) in flight" in caplog.text
    assert "the Dask cluster has no workers" in caplog.text
