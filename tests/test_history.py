from __future__ import annotations

import json

import numpy as np
import pytest

from scaleup_bo import DataError, History


def test_add_best_and_arrays_per_scale():
    h = History()
    h.add([0.1, "a"], 3.0, "small")
    h.add([0.2, "b"], None, "small", status="failed", error="NaN")
    h.add([0.3, "a"], 1.0, "small")
    h.add([0.4, "b"], 2.0, "large")
    assert h.best("small").params == (0.3, "a")
    assert h.best("large").value == 2.0
    assert [t.number for t in h] == [0, 1, 2, 3]
    X = h.X("small")
    assert X.dtype == object and X.shape == (2, 2) and X[1, 1] == "a"
    np.testing.assert_array_equal(h.Y("small"), [3.0, 1.0])
    assert h.best("large") is not None and History().best("small") is None


def test_unknown_scale_is_refused():
    with pytest.raises(DataError, match="scale"):
        History().add([1.0], 1.0, "medium")


def test_json_round_trip_keeps_failures_and_types(tmp_path):
    h = History(metadata={"random_state": 3})
    h.add([np.float64(0.5), 2, "relu"], 1.5, "small", seconds=0.25)
    h.add([0.7, 3, "tanh"], None, "large", status="failed", error="ValueError: boom")
    path = tmp_path / "h.json"
    h.save(path)
    loaded = History.load(path)
    assert loaded.trials == h.trials
    assert loaded.metadata == {"random_state": 3}
    assert json.loads(path.read_text())["schema_version"] == 1


def test_load_refuses_foreign_json(tmp_path):
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"trials": []}))
    with pytest.raises(DataError, match="schema_version"):
        History.load(path)


def test_loading_a_history_never_executes_code(tmp_path):
    import pickle

    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    evil = tmp_path / "evil.json"
    evil.write_bytes(pickle.dumps(Exploit()))
    with pytest.raises(DataError):
        History.load(evil)
    # JSON that looks like an object description stays plain data.
    sneaky = tmp_path / "sneaky.json"
    payload = {"py/object": "os.system", "__reduce__": ["os.system", ["touch pwned"]]}
    sneaky.write_text(
        json.dumps(
            {
                "schema_version": 1,
                "metadata": payload,
                "trials": [{"number": 0, "params": [payload], "value": 1.0, "scale": "small"}],
            }
        )
    )
    h = History.load(sneaky)
    assert h.metadata == payload and h[0].params == (payload,)
    assert not marker.exists() and not (tmp_path / "pwned").exists()


def _space():
    from skopt.space import Categorical, Integer, Real

    from scaleup_bo import SearchSpace

    return SearchSpace(
        [Real(0.0, 1.0, name="a"), Integer(1, 5, name="b"), Categorical(["x", "y"], name="c")]
    )


# ---------------------------------------------------------------------- tables
def test_read_table_from_csv_json_records_and_dataframe(tmp_path):
    import pandas as pd

    from scaleup_bo.history import read_table

    space = _space()
    rows = [{"a": 0.5, "b": 2, "c": "x", "score": 1.5}, {"a": 0.25, "b": 5, "c": "y", "score": 0.5}]
    expected = ([[0.5, 2, "x"], [0.25, 5, "y"]], [1.5, 0.5])
    df = pd.DataFrame(rows)
    assert read_table(df, space) == expected
    assert read_table(rows, space) == expected
    df.to_csv(tmp_path / "t.csv", index=False)
    points, scores = read_table(tmp_path / "t.csv", space)
    assert (points, scores) == expected and type(points[0][1]) is int
    (tmp_path / "r.json").write_text(json.dumps(rows))
    assert read_table(str(tmp_path / "r.json"), space) == expected
    (tmp_path / "c.json").write_text(json.dumps(df.to_dict("list")))
    assert read_table(tmp_path / "c.json", space) == expected
    renamed = df.rename(columns={"score": "val_loss"})
    assert read_table(renamed, space) == expected  # the only other column
    assert read_table(renamed.assign(extra=1), space, score_column="val_loss") == expected


@pytest.mark.parametrize(
    ("rows", "kwargs", "fragment"),
    [
        ([{"a": 0.5, "b": 2, "score": 1.0}], {}, "lacks parameter column.*'c'"),
        ([{"a": 0.5, "b": 2, "c": "x", "s1": 1.0, "s2": 2.0}], {}, "score_column="),
        ([{"a": 0.5, "b": 2, "c": "x", "score": "n/a"}], {}, "row 0: score"),
        ([{"a": 0.5, "b": 9, "c": "x", "score": 1.0}], {}, "row 0: .*'b'.*outside"),
        ([{"a": 0.5, "b": 2, "c": "z", "score": 1.0}], {}, "row 0: .*'z'"),
        ([{"a": 0.5, "b": 2, "c": "x", "score": 1.0}], {"score_column": "loss"}, "'loss'"),
    ],
)
def test_read_table_errors_name_row_and_column(rows, kwargs, fragment):
    from scaleup_bo.history import read_table

    with pytest.raises(DataError, match=fragment):
        read_table(rows, _space(), **kwargs)


def test_to_dataframe_has_named_parameter_columns():
    h = History(metadata={"search_space": _space().describe()})
    h.add([0.5, 2, "x"], 1.0, "small")
    h.add([0.1, 3, "y"], None, "large", status="failed", error="boom")
    df = h.to_dataframe()
    assert list(df.columns) == [
        "number",
        "scale",
        "status",
        "value",
        "seconds",
        "error",
        "a",
        "b",
        "c",
    ]
    assert df.loc[1, "status"] == "failed" and df.loc[1, "c"] == "y"


def test_malformed_trial_records_are_data_errors():
    from scaleup_bo.history import Trial

    with pytest.raises(DataError, match="lacks the field 'number'"):
        Trial.from_dict({"params": [1], "scale": "small"})
    with pytest.raises(DataError, match="malformed"):
        Trial.from_dict({"number": "x", "params": [1], "scale": "small"})


def test_to_dataframe_keeps_its_columns_when_a_parameter_shares_a_name():
    from skopt.space import Real

    from scaleup_bo import SearchSpace

    space = SearchSpace([Real(0.0, 1.0, name="value"), Real(0.0, 1.0, name="seconds")])
    h = History(metadata={"search_space": space.describe()})
    h.add([0.25, 0.75], 60.5, "small", seconds=4.5)
    row = h.to_dataframe().loc[0]
    assert (row["value"], row["seconds"]) == (60.5, 4.5)
    assert (row["param_value"], row["param_seconds"]) == (0.25, 0.75)


@pytest.mark.parametrize(
    "document, fragment",
    [
        ({"metadata": [1, 2]}, "'metadata' a dict"),
        ({"trials": 5}, "'trials' must be a list"),
        ({"trials": [{"number": 0, "params": [1], "scale": "medium"}]}, "scale must be"),
        ({"trials": [{"number": 0, "params": [1], "scale": "small", "status": "weird"}]}, "status"),
        ({"trials": [{"number": 0, "params": [1], "scale": "small", "value": None}]}, "status"),
    ],
)
def test_load_explains_a_damaged_history(tmp_path, document, fragment):
    path = tmp_path / "h.json"
    path.write_text(json.dumps({"schema_version": 1, **document}))
    with pytest.raises(DataError, match=fragment):
        History.load(path)


def test_tuple_categories_come_back_as_tuples_from_a_saved_history(tmp_path):
    from skopt.space import Categorical, Real

    from scaleup_bo import SearchSpace

    space = SearchSpace([Real(0.0, 1.0, name="lr"), Categorical([(64,), (64, 64)], name="h")])
    h = History(metadata={"search_space": space.describe()})
    h.add([0.1, (64, 64)], 0.5, "small")
    h.save(tmp_path / "h.json")
    loaded = History.load(tmp_path / "h.json")
    assert loaded.best("small").params == (0.1, (64, 64))


def test_hyperparameters_of_a_trial_round_trip_and_are_omitted_when_absent(tmp_path):
    from scaleup_bo.history import Trial
    from scaleup_bo.journal import Journal

    fits = {"shared": {"likelihood.noise_covar.raw_noise": [0.0012], "mean.raw_constant": 0.5}}
    h = History()
    h.add([0.5, 2, "x"], 1.0, "small", hyperparameters=fits)
    h.add([0.1, 3, "y"], 2.0, "small")
    assert "hyperparameters" not in h.trials[1].to_dict()  # old records stay as they were
    path = tmp_path / "h.json"
    h.save(path)
    assert History.load(path).trials == h.trials
    assert History.load(path).trials[0].hyperparameters == fits
    journal = Journal(tmp_path / "run.jsonl", {"search_space": _space().describe()})
    journal.append(h.trials[0])
    assert Journal(tmp_path / "run.jsonl", {}).trials[0].hyperparameters == fits
    with pytest.raises(DataError, match="hyperparameters"):
        Trial.from_dict({"number": 0, "params": [1], "scale": "small", "value": 1.0,
                         "hyperparameters": {"shared": {"raw_noise": ["a"]}}})  # fmt: skip
    with pytest.raises(DataError, match="hyperparameters"):
        Trial.from_dict({"number": 0, "params": [1], "scale": "small", "value": 1.0,
                         "hyperparameters": [1.0]})  # fmt: skip
    with pytest.raises(DataError, match="hyperparameters"):
        Trial.from_dict({"number": 0, "params": [1], "scale": "small", "value": 1.0,
                         "hyperparameters": {"shared": {"raw_noise": [float("nan")]}}})  # fmt: skip


def test_at_refuses_an_unknown_scale():
    history = History()
    history.add([0.5], 1.0, "small")
    assert len(history.at("small")) == 1
    with pytest.raises(DataError, match="'Small'"):
        history.at("Small")
    with pytest.raises(DataError, match="'medium'"):
        history.best("medium")


def test_a_table_without_a_score_column_says_so():
    from scaleup_bo.history import read_table
    from scaleup_bo.space import SearchSpace

    space = SearchSpace([(0.0, 1.0)])
    name = space.names[0]
    with pytest.raises(DataError, match="no score column"):
        read_table([{name: 0.5}], space)
    with pytest.raises(DataError, match=r"row 1.*failed"):
        read_table([{name: 0.5, "value": 1.0}, {name: 0.6, "value": float("nan")}], space)


def test_a_table_of_both_scales_read_as_one_scale_is_refused():
    pd = pytest.importorskip("pandas")
    from scaleup_bo import LargeScaleOptimizer, SmallScaleOptimizer

    f = lambda p: (p[0] - 0.4) ** 2  # noqa: E731
    small = SmallScaleOptimizer(f, [(0.0, 1.0)], n_steps=0, n_initial_points=3, random_state=0)
    large = LargeScaleOptimizer(f, [(0.0, 1.0)], small=small, n_steps=0, random_state=0)
    table = large.history.to_dataframe()  # 3 small-scale rows, then 1 large-scale row
    assert isinstance(table, pd.DataFrame)
    with pytest.raises(DataError, match="table row 3 is a large-scale run"):
        LargeScaleOptimizer(f, [(0.0, 1.0)], small=table, n_steps=0)
    again = LargeScaleOptimizer(f, [(0.0, 1.0)], small=table[table.scale == "small"], n_steps=0)
    assert len(again.history.at("small")) == 3
