"""The journal: every finished trial on disk at once, so a killed run resumes without
losing or repeating an evaluation, under the settings it was started with."""

from __future__ import annotations

import functools
import json
import logging
import math
import pickle

import pytest
from skopt.space import Categorical, Integer, Real

import scaleup_bo.model as model_module
from scaleup_bo import (
    DataError,
    Engine,
    History,
    JournalFile,
    LargeScaleOptimizer,
    SearchSpace,
    SmallScaleOptimizer,
    Strategy,
)
from scaleup_bo.acquisition import acquisition_name
from scaleup_bo.benchmarks.problems import mixed_toy_large, mixed_toy_small, mixed_toy_space
from scaleup_bo.history import Trial
from scaleup_bo.journal import Journal


def _space():
    return SearchSpace(
        [Real(0.0, 1.0, name="a"), Integer(1, 5, name="b"), Categorical(["x", "y"], name="c")]
    )


def _journal_trials(path):
    return Journal(path, {}).trials


# ---------------------------------------------------------------------- the file
def test_journal_appends_and_reopens(tmp_path):
    path = tmp_path / "run.jsonl"
    header = {"search_space": _space().describe(), "random_state": 1}
    j = Journal(path, header)
    assert j.trials == []
    t0 = Trial(0, (0.5, 2, "x"), 1.0, "small", seconds=0.1)
    t1 = Trial(1, (0.1, 3, "y"), None, "large", status="failed", error="NaN")
    j.append(t0)
    j.append(t1)
    assert len(path.read_text().splitlines()) == 3
    again = Journal(path, header)
    assert again.trials == [t0, t1]


def test_journal_drops_a_truncated_last_line(tmp_path):
    path = tmp_path / "run.jsonl"
    header = {"search_space": _space().describe()}
    j = Journal(path, header)
    j.append(Trial(0, (0.5, 2, "x"), 1.0, "small"))
    with open(path, "a") as f:
        f.write('{"type": "trial", "number": 1, "params": [0.2, ')  # killed mid-write
    again = Journal(path, header)
    assert [t.number for t in again.trials] == [0]
    again.append(Trial(1, (0.3, 1, "y"), 2.0, "small"))
    assert [t.value for t in Journal(path, header).trials] == [1.0, 2.0]


def test_journal_with_only_a_partial_header_starts_afresh(tmp_path):
    path = tmp_path / "run.jsonl"
    path.write_text('{"type": "hea')
    j = Journal(path, {"search_space": _space().describe()})
    assert j.trials == [] and path.read_text().startswith('{"type": "header"')


def test_journal_refuses_a_corrupt_middle_line_and_another_search_space(tmp_path):
    path = tmp_path / "run.jsonl"
    header = {"search_space": _space().describe()}
    j = Journal(path, header)
    j.append(Trial(0, (0.5, 2, "x"), 1.0, "small"))
    with pytest.raises(DataError, match="another run: its search_space"):
        Journal(path, {"search_space": [{"name": "other"}]})
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], "garbage", lines[1]]) + "\n")
    with pytest.raises(DataError, match="corrupt at line 2"):
        Journal(path, header)


def test_journal_never_overwrites_a_file_that_is_not_one(tmp_path):
    path = tmp_path / "results.json"
    path.write_text(json.dumps([{"lr": 0.1, "score": 0.3}]))  # one line, no newline
    with pytest.raises(DataError, match="is not a scaleup_bo journal: not overwriting it"):
        Journal(path, {"search_space": _space().describe()})
    assert json.loads(path.read_text()) == [{"lr": 0.1, "score": 0.3}]


def test_reading_a_journal_never_executes_code(tmp_path):
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    evil_journal = tmp_path / "evil.jsonl"
    evil_journal.write_bytes(pickle.dumps(Exploit()) + b"\n")
    with pytest.raises(DataError):
        Journal(evil_journal, {})
    assert not marker.exists()


@pytest.mark.parametrize(
    ("line", "why"),
    [
        (b"\x00\xff\xfe garbage\n", "corrupt at line 3: it is not"),
        (b'{"type": "trial", "number": 1}\n', "line 3: trial record .* lacks the field"),
        (b'{"type": "note"}\n', "line 3 is not a trial"),
    ],
)
def test_a_corrupt_journal_line_is_named(tmp_path, line, why):
    path = tmp_path / "run.jsonl"
    engine = Engine([(0.0, 1.0)], random_state=0, journal=path)
    for x in (0.1, 0.2, 0.3):
        engine.tell([x], x, "small")
    lines = path.read_bytes().splitlines(keepends=True)
    lines[2] = line
    path.write_bytes(b"".join(lines))
    with pytest.raises(DataError, match=why):
        Engine([(0.0, 1.0)], random_state=0, journal=path)


def test_tuple_categories_survive_the_journal_and_a_saved_history(tmp_path):
    """JSON stores a tuple category as a list: a resumed journal and a loaded history
    give back the category itself, and values JSON cannot hold are refused clearly."""
    space = [Real(1e-4, 0.1, prior="log-uniform", name="lr"),
             Categorical([(64,), (64, 64), (128, 64)], name="hidden")]  # fmt: skip

    def f(p):
        return abs(math.log10(p[0]) + 2) + len(p[1]) * 0.1

    kwargs = {"n_steps": 1, "n_initial_points": 3, "random_state": 0}
    first = SmallScaleOptimizer(f, space, journal=tmp_path / "j.jsonl", **kwargs)
    resumed = SmallScaleOptimizer(f, space, journal=tmp_path / "j.jsonl", **kwargs)
    assert [t.params for t in resumed.history] == [t.params for t in first.history]
    assert all(isinstance(t.params[1], tuple) for t in resumed.history)
    first.history.save(tmp_path / "h.json")
    large = LargeScaleOptimizer(f, space, small=History.load(tmp_path / "h.json"), n_steps=0)
    assert [t.params for t in large.history.at("small")] == [t.params for t in first.history]
    assert isinstance(large.best_params[1], tuple)
    odd = [Real(0.0, 1.0, name="x"), Categorical([math.sin, math.cos], name="act")]
    with pytest.raises(DataError, match="need values JSON can hold"):
        SmallScaleOptimizer(lambda p: p[1](p[0]), odd, journal=tmp_path / "odd.jsonl", **kwargs)
    plain = SmallScaleOptimizer(lambda p: p[1](p[0]), odd, **kwargs)  # fine without files
    with pytest.raises(DataError, match="need values JSON can hold"):
        plain.history.save(tmp_path / "odd.json")
    infinite = [Real(0.0, 1.0, name="x"), Categorical([1.0, math.inf], name="cap")]
    capped = SmallScaleOptimizer(lambda p: min(p[0], p[1]), infinite, **kwargs)
    with pytest.raises(DataError, match="need values JSON can hold"):
        capped.history.save(tmp_path / "inf.json")


# ---------------------------------------------------------------------- resuming a run
def test_keyboard_interrupt_stops_records_nothing_half_done_and_resumes(tmp_path):
    journal = tmp_path / "run.jsonl"
    calls = []

    def f(p):
        calls.append(p)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return (p[0] - 0.4) ** 2

    kwargs = {"n_steps": 3, "n_initial_points": 2, "random_state": 0, "journal": journal}
    with pytest.raises(KeyboardInterrupt) as info:
        SmallScaleOptimizer(f, [Real(0.0, 1.0)], **kwargs)
    assert len(info.value.history) == 2 and len(_journal_trials(journal)) == 2
    resumed = SmallScaleOptimizer(f, [Real(0.0, 1.0)], **kwargs)
    assert len(resumed.history) == 5 and len(calls) == 6  # the interrupted call is redone once
    fresh = SmallScaleOptimizer(
        lambda p: (p[0] - 0.4) ** 2, [Real(0.0, 1.0)], **{**kwargs, "journal": None}
    )
    assert resumed.X_iters.tolist() == fresh.X_iters.tolist()


def test_resume_from_journal_neither_loses_nor_repeats(tmp_path, mixed_space):
    journal = tmp_path / "small.jsonl"
    calls = []

    def f(p):
        calls.append(p)
        return mixed_toy_small(p)

    first = SmallScaleOptimizer(
        f, mixed_space, n_steps=1, n_initial_points=2, random_state=5, journal=journal
    )
    assert len(calls) == 3
    longer = SmallScaleOptimizer(
        f, mixed_space, n_steps=3, n_initial_points=2, random_state=5, journal=journal
    )
    assert len(calls) == 5 and len(longer.history) == 5
    assert longer.X_iters[:3].tolist() == first.X_iters.tolist()
    # random_state is taken from the journal when not given.
    again = SmallScaleOptimizer(f, mixed_space, n_steps=3, n_initial_points=2, journal=journal)
    assert len(calls) == 5 and again.engine.random_state == 5
    with pytest.raises(DataError, match="another run: its random_state"):
        SmallScaleOptimizer(f, mixed_space, n_steps=3, random_state=6, journal=journal)
    with pytest.raises(DataError, match="another run: its search_space"):
        SmallScaleOptimizer(f, [Real(0.0, 1.0)], n_steps=3, journal=journal)
    # Given points replace the space-filling design (n_initial_points 2 -> 1) ...
    other_plan = {"initial_points": [[0.01, 1, "sgd", 0.5]]}
    with pytest.raises(DataError, match="n_initial_points was 2, now 1"):
        SmallScaleOptimizer(f, mixed_space, **other_plan, journal=journal)
    # ... and, that change accepted, the recorded trials are not the planned ones.
    accepted = JournalFile(journal, accept_strategy_change=True)
    with pytest.raises(DataError, match="does not match this run"):
        SmallScaleOptimizer(f, mixed_space, **other_plan, journal=accepted)
    assert len(calls) == 5


def test_resuming_under_other_settings_names_only_those_that_changed(tmp_path, caplog):
    """The settings are recorded in the journal's header: resuming under the same ones is
    silent; under others it is refused (or, accepted, warned about), naming each setting
    that changed and only those; a header that does not record a setting does not hold
    it against the run."""
    journal = tmp_path / "run.jsonl"
    first = Engine([Real(0.0, 1.0)], random_state=0, journal=journal)
    first.tell([0.3], 1.0, "small")
    recorded = json.loads(journal.read_text().splitlines()[0])["strategy"]
    assert recorded["kernel"] == "linear_truncated" and recorded["exploit_noise_floor"] == 1e-7
    assert recorded["impute_failures"] is True
    with caplog.at_level(logging.WARNING, logger="scaleup_bo"):
        same = Engine([Real(0.0, 1.0)], random_state=0, journal=journal)
    assert len(same.history) == 1 and caplog.text == ""
    other = Strategy(kernel="downsampling", exploit_noise_floor=None)
    with pytest.raises(DataError) as info:
        Engine([Real(0.0, 1.0)], random_state=0, journal=journal, strategy=other)
    message = str(info.value)
    assert "kernel was 'linear_truncated', now 'downsampling'" in message
    assert "exploit_noise_floor was 1e-07, now None" in message
    assert "large_model" not in message  # unchanged settings are not listed
    accept = JournalFile(journal, accept_strategy_change=True)
    with caplog.at_level(logging.WARNING, logger="scaleup_bo"):
        changed = Engine([Real(0.0, 1.0)], random_state=0, journal=accept, strategy=other)
    assert len(changed.history) == 1 and changed.strategy.kernel == "downsampling"
    assert "kernel" in caplog.text and "exploit_noise_floor" in caplog.text
    assert "large_model" not in caplog.text
    # A header written before the settings were recorded resumes silently.
    lines = journal.read_text().splitlines()
    unrecorded = ("strategy", "acq_func", "acq_func_kwargs", "n_initial_points")
    old = {k: v for k, v in json.loads(lines[0]).items() if k not in unrecorded}
    journal.write_text("\n".join([json.dumps(old), *lines[1:]]) + "\n")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="scaleup_bo"):
        Engine([Real(0.0, 1.0)], random_state=0, journal=journal, strategy=other)
    assert caplog.text == ""


def _my_builder(model, context):
    from botorch.acquisition import PosteriorMean

    return PosteriorMean(model)


def test_journal_settings_are_stable_across_processes_and_follow_a_run_without_trials(
    tmp_path, caplog
):
    # A callable is named by module and qualname (no memory address to differ by process).
    name = f"{__name__}._my_builder"
    assert acquisition_name(_my_builder) == name
    assert acquisition_name(functools.partial(functools.partial(_my_builder))) == name
    journal = tmp_path / "run.jsonl"
    Engine([Real(0.0, 1.0)], random_state=0, journal=journal, acq_func=_my_builder)
    assert json.loads(journal.read_text().splitlines()[0])["acq_func"] == name
    # Stopped before a result: the next run's settings replace the recorded ones ...
    downsampling = Strategy(kernel="downsampling")
    with caplog.at_level(logging.WARNING, logger="scaleup_bo"):
        engine = Engine([Real(0.0, 1.0)], journal=journal, strategy=downsampling)
        engine.tell([0.3], 1.0, "small")
        # ... so resuming that run with its own settings is silent.
        again = Engine([Real(0.0, 1.0)], journal=journal, strategy=downsampling)
    assert len(again.history) == 1 and again.random_state == 0
    assert caplog.text == ""
    header = json.loads(journal.read_text().splitlines()[0])
    assert header["strategy"]["kernel"] == "downsampling"
    assert header["acq_func"] == {"small": "EI", "large": "qNEI"}


def test_large_optimizer_resumes_with_its_small_history_in_the_journal(tmp_path, mixed_space):
    small = SmallScaleOptimizer(
        mixed_toy_small, mixed_space, n_steps=2, n_initial_points=3, random_state=0
    )
    journal = tmp_path / "large.jsonl"
    calls = []

    def f(p):
        calls.append(p)
        return mixed_toy_large(p)

    LargeScaleOptimizer(f, mixed_space, small=small, n_steps=1, random_state=0, journal=journal)
    resumed = LargeScaleOptimizer(
        f, mixed_space, small=small, n_steps=2, random_state=0, journal=journal
    )
    assert len(calls) == 3 and len(resumed.Y_iters) == 3
    assert len(resumed.history.at("small")) == len(small.history)


def test_resuming_a_longer_journal_than_planned_says_so(tmp_path, caplog):
    journal = tmp_path / "large.jsonl"
    kwargs = {"X_iters_small": [[0.1], [0.5], [0.9]], "Y_iters_small": [0.3, 0.1, 0.4]}
    f = lambda p: (p[0] - 0.4) ** 2  # noqa: E731
    LargeScaleOptimizer(f, [Real(0.0, 1.0)], **kwargs, n_steps=2, random_state=0, journal=journal)
    with caplog.at_level(logging.WARNING, logger="scaleup_bo"):
        again = LargeScaleOptimizer(
            f, [Real(0.0, 1.0)], **kwargs, n_steps=0, random_state=0, journal=journal
        )
    assert len(again.X_iters) == 3 and "holds 6 trials, more than the 4" in caplog.text


def _engine_with_data(journal=None, n_small=6):
    engine = Engine(
        mixed_toy_space(), random_state=3, strategy=Strategy(transfer_points=0), journal=journal
    )
    for p in engine.space.sample(n_small, seed=3):
        engine.tell(p, mixed_toy_small(p), "small")
    return engine


def test_a_run_resumed_from_its_journal_proposes_what_the_run_would_have(tmp_path, monkeypatch):
    journal = tmp_path / "run.jsonl"
    engine = _engine_with_data(journal)
    for _ in range(3):
        point = engine.ask("large")
        engine.tell(point, mixed_toy_large(point), "large")
    resumed = Engine(
        mixed_toy_space(), random_state=3, strategy=Strategy(transfer_points=0), journal=journal
    )
    assert [t.hyperparameters for t in resumed.history] == [
        t.hyperparameters for t in engine.history
    ]
    assert resumed.ask("large") == engine.ask("large")
    # The same history without the recorded hyperparameters fits from BoTorch's start.
    cold = _engine_with_data()
    for t in engine.history.at("large"):
        cold.tell(t.params, t.value, "large")
    options = []
    real = model_module.fit_gpytorch_mll

    def spy(mll, **kwargs):
        options.append(kwargs.get("optimizer_kwargs", {}).get("options"))
        return real(mll, **kwargs)

    monkeypatch.setattr(model_module, "fit_gpytorch_mll", spy)
    cold.ask("large")
    assert options and all(o == {} for o in options)  # no warm start, no iteration cap


@pytest.mark.slow
def test_sigkill_at_a_random_evaluation_then_resume(tmp_path):
    import os
    import random
    import signal
    import subprocess
    import sys
    import time

    from tests import journal_run

    total = journal_run.N_INITIAL + journal_run.N_STEPS
    kill_after = random.randint(1, total - 1)
    script = os.path.join(os.path.dirname(__file__), "journal_run.py")
    env = {**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(__file__))}
    journal, calls = tmp_path / "run.jsonl", tmp_path / "calls.log"
    proc = subprocess.Popen([sys.executable, script, str(journal), str(calls)], env=env)
    deadline = time.time() + 120
    while time.time() < deadline:
        n = len(journal.read_text().splitlines()) - 1 if journal.exists() else 0
        if n >= kill_after or proc.poll() is not None:
            break
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = len(_journal_trials(journal))
    assert killed_at < total, f"the run finished before the kill (kill_after={kill_after})"
    subprocess.run([sys.executable, script, str(journal), str(calls)], env=env, check=True)
    resumed = _journal_trials(journal)
    reference_journal = tmp_path / "ref.jsonl"
    subprocess.run(
        [sys.executable, script, str(reference_journal), str(tmp_path / "ref_calls.log")],
        env=env,
        check=True,
    )
    reference = _journal_trials(reference_journal)
    assert len(resumed) == total, f"kill_after={kill_after}"
    assert [(t.params, t.value) for t in resumed] == [(t.params, t.value) for t in reference]
    n_calls = len(calls.read_text().splitlines())
    # Finished evaluations are never repeated; at most the one in flight is redone.
    assert total <= n_calls <= total + 1, (kill_after, killed_at, n_calls)
