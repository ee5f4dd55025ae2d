"""The Strategy: defaults per role, validation, serialization, deprecated keywords, and
the journal that records it whole."""

from __future__ import annotations

import json
import logging
import warnings

import pytest

from scaleup_bo import (
    AcquisitionError,
    DataError,
    Engine,
    InformationPerCost,
    JournalFile,
    LargeScaleOptimizer,
    ScaleUpOptimizer,
    SmallScaleOptimizer,
    Strategy,
)
from scaleup_bo.strategy import ROLE_DEFAULTS

SPACE = [(0.0, 1.0)]


def bowl(p):
    return (p[0] - 0.3) ** 2


def custom_pm(model, context):  # importable by its qualified name
    from botorch.acquisition import PosteriorMean

    return PosteriorMean(model)


def test_every_optimizer_uses_the_same_defaults_but_for_the_cost_aware_role():
    small = SmallScaleOptimizer(bowl, SPACE, n_steps=0, random_state=0)
    large = LargeScaleOptimizer(bowl, SPACE, small=small, n_steps=0, random_state=0)
    scaleup = ScaleUpOptimizer(None, None, SPACE, budget=30, cost_small=1, cost_large=10)
    base = Strategy().resolved("large")
    assert Engine(SPACE).strategy == small.strategy == large.strategy == base
    assert scaleup.strategy == Strategy().resolved("scale_up")
    differing = {
        k for k, v in Strategy().resolved("scale_up").to_dict().items() if base.to_dict()[k] != v
    }
    assert differing == set(ROLE_DEFAULTS["scale_up"]) == set(ROLE_DEFAULTS["large"])


def test_a_setting_left_to_the_role_is_filled_and_a_given_one_kept():
    assert Strategy().resolved("large").large_model == "auto"
    assert Strategy().resolved("scale_up").large_model == "shared"
    given = Strategy(large_model="multitask", transfer_guard=False)
    assert given.resolved("scale_up").large_model == "multitask"
    assert given.resolved("scale_up").transfer_guard is False
    assert given.resolved("scale_up").exploit_large_alone is True


@pytest.mark.parametrize(
    "setting, value, words",
    [
        ("small_fidelity", 1.0, "small_fidelity"),
        ("small_fidelity", "0.5", "small_fidelity"),
        ("kernel", "rbf", "kernel"),
        ("large_model", "big", "large_model"),
        ("transfer_points", -1, "transfer_points"),
        ("transfer_guard", "yes", "transfer_guard"),
        ("exploit_noise_floor", 0.5, "exploit_noise_floor"),
        ("num_restarts", 0, "num_restarts"),
        ("surrogate", 3, "surrogate"),
        ("scale_chooser", "small", "scale_chooser"),
    ],
)
def test_a_bad_setting_is_refused_by_name(setting, value, words):
    with pytest.raises(DataError, match=words):
        Strategy(**{setting: value})


@pytest.mark.parametrize(
    ("setting", "values"),
    [
        ("warm_fits", [0, "yes", None]),
        ("impute_failures", ["yes"]),
        ("winsorize", ["yes"]),
        ("exploit_interpolate", [None, 1, "yes"]),
        ("exploit_large_alone", [1, "yes"]),  # None: the role's default
        ("exploit_noise_floor", [0, 0.0, -1e-7, 1.0, True, "1e-7"]),
    ],
)
def test_flags_and_the_noise_floor_are_checked(setting, values):
    for value in values:
        with pytest.raises(DataError, match=setting):
            Strategy(**{setting: value})


def test_an_unknown_final_acquisition_names_the_setting():
    with pytest.raises(AcquisitionError, match="final_acq_func"):
        Strategy(final_acq_func="nope")


def test_replace_refuses_an_unknown_setting():
    with pytest.raises(DataError, match="no setting 'guard'"):
        Strategy().replace(guard=True)


def test_to_dict_is_json_and_round_trips_callables_by_name():
    strategy = Strategy(
        final_acq_func=custom_pm,
        scale_chooser=InformationPerCost(large_acq_func="EI"),
        winsorize=True,
    )
    data = json.loads(json.dumps(strategy.to_dict()))
    assert data["final_acq_func"] == f"{__name__}.custom_pm"
    assert data["scale_chooser"]["large_acq_func"] == "EI"
    assert Strategy.from_dict(data) == strategy
    assert Strategy().differences(data) == {
        "winsorize": (True, False),
        "final_acq_func": (f"{__name__}.custom_pm", "PM"),
        "scale_chooser": (data["scale_chooser"], None),
    }


def test_old_keywords_still_work_and_say_where_they_went():
    with pytest.warns(DeprecationWarning, match=r"strategy=Strategy\(large_model=\.\.\.\)"):
        engine = Engine(SPACE, large_model="shared", random_state=0)
    assert engine.strategy.large_model == "shared"
    with pytest.warns(DeprecationWarning, match="guard_ratio.*ignored"):
        Engine(SPACE, guard_ratio=0.5)
    with pytest.warns(DeprecationWarning, match=r"InformationPerCost\(large_acq_func"):
        opt = ScaleUpOptimizer(
            None, None, SPACE, budget=30, cost_small=1, cost_large=10, large_acq_func="EI"
        )
    assert opt.strategy.scale_chooser == InformationPerCost(large_acq_func="EI")
    with pytest.raises(TypeError, match="unexpected keyword argument 'n_step'"):
        SmallScaleOptimizer(bowl, SPACE, n_step=3)


def test_a_deprecated_keyword_overrides_the_given_strategy():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        engine = Engine(SPACE, strategy=Strategy(winsorize=True), kernel="downsampling")
    assert engine.strategy.winsorize is True and engine.strategy.kernel == "downsampling"


def _journaled(path, **kwargs):
    engine = Engine(SPACE, random_state=0, journal=path, **kwargs)
    engine.tell([0.2], 1.0, "small")
    return engine


def test_the_journal_header_records_the_whole_strategy(tmp_path):
    path = tmp_path / "run.jsonl"
    engine = _journaled(path, strategy=Strategy(winsorize=True), acq_func_kwargs={"xi": 0.1},
                        acq_func="EI")  # fmt: skip
    header = json.loads(path.read_text().splitlines()[0])
    assert header["strategy"] == engine.strategy.to_dict()
    assert header["acq_func"] == "EI" and header["acq_func_kwargs"] == {"xi": 0.1}
    assert header["n_initial_points"] == 1


def test_resuming_under_another_strategy_is_refused_naming_each_change(tmp_path):
    path = tmp_path / "run.jsonl"
    _journaled(path)
    with pytest.raises(DataError) as info:
        Engine(SPACE, random_state=0, journal=path, acq_func="UCB",
               strategy=Strategy(winsorize=True, transfer_points=2))  # fmt: skip
    message = str(info.value)
    for words in ("winsorize was False, now True", "transfer_points was 1, now 2", "acq_func"):
        assert words in message
    assert "accept_strategy_change=True" in message


def test_an_explicit_override_resumes_under_the_new_strategy(tmp_path, caplog):
    path = tmp_path / "run.jsonl"
    _journaled(path)
    spec = JournalFile(path, accept_strategy_change=True)
    with caplog.at_level(logging.WARNING, logger="scaleup_bo"):
        engine = Engine(SPACE, random_state=0, journal=spec, strategy=Strategy(winsorize=True))
    assert len(engine.history) == 1 and engine.strategy.winsorize is True
    assert "winsorize was False, now True" in caplog.text


def test_a_journal_with_the_settings_flat_in_its_header_still_resumes(tmp_path):
    path = tmp_path / "run.jsonl"
    _journaled(path)
    lines = path.read_text().splitlines()
    header = json.loads(lines[0])
    old = {k: v for k, v in header.items() if k != "strategy"}
    old.update(kernel="linear_truncated", small_fidelity=0.5, winsorize=False)
    path.write_text("\n".join([json.dumps(old), *lines[1:]]) + "\n")
    assert len(Engine(SPACE, random_state=0, journal=path).history) == 1
    with pytest.raises(DataError, match=r"small_fidelity was 0\.5, now 0\.25"):
        Engine(SPACE, random_state=0, journal=path, strategy=Strategy(small_fidelity=0.25))
