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
