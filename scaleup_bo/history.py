"""Trial and History: every evaluation at both scales, in the order it happened.

A :class:`Trial` is a frozen record; a :class:`History` is an append-only list of
them with the queries the optimizers need (observations at one scale, the best
trial, the points already tried). Histories are saved as JSON with a schema
version; nothing is ever pickled (a run's journal is :mod:`scaleup_bo.journal`), and
:func:`read_table` reads plain (configuration, score) tables for warm starts.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from scaleup_bo.exceptions import DataError
from scaleup_bo.space import from_json_value, to_json_value

__all__ = ["SCALES", "History", "Scale", "Trial", "as_stored"]

Scale = Literal["small", "large"]
SCALES: tuple[str, str] = ("small", "large")
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Trial:
    """One evaluation of the objective.

    Attributes:
        number: Position in the history (0-based).
        params: The evaluated point, in user units and search-space order.
        value: The objective value (to minimize); ``None`` when the trial failed.
        scale: ``"small"`` or ``"large"``.
        status: ``"ok"`` or ``"failed"``.
        seconds: Wall time of the evaluation (0 for values told without timing).
        error: Why the trial failed (exception text, ``"NaN"``...), else ``None``.
        hyperparameters: For a point the engine proposed, the raw hyperparameters of
            the models it had fitted for the proposal (model name, then parameter name,
            then values); the next fits start from the latest ones, so a run resumed from
            its journal fits, and proposes, as the run it continues. ``None`` otherwise
            (told results, carried-over trials).
    """

    number: int
    params: tuple[Any, ...]
    value: float | None
    scale: str
    status: str = "ok"
    seconds: float = 0.0
    error: str | None = None
    hyperparameters: dict[str, dict[str, Any]] | None = field(default=None, repr=False, hash=False)

    @property
    def ok(self) -> bool:
        """Whether the trial produced a finite value the model can learn from."""
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict."""
        d = asdict(self)
        d["params"] = [to_json_value(v) for v in self.params]
        if self.hyperparameters is None:
            del d["hyperparameters"]  # records without any stay as they were
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Trial:
        """Inverse of :meth:`to_dict`.

        Raises:
            DataError: a field is missing or has the wrong type.
        """
        try:
            value = d.get("value")
            trial = cls(
                number=int(d["number"]),
                params=tuple(from_json_value(v) for v in d["params"]),
                value=None if value is None else float(value),
                scale=str(d["scale"]),
                status=str(d.get("status", "ok")),
                seconds=float(d.get("seconds", 0.0)),
                error=d.get("error"),
                hyperparameters=_hyperparameters(d.get("hyperparameters")),
            )
        except KeyError as exc:
            raise DataError(f"trial record {d!r} lacks the field {exc}.") from exc
        except (TypeError, ValueError, AttributeError) as exc:
            raise DataError(f"malformed trial record {d!r}: {exc}") from exc
        ok_value = trial.value is not None and math.isfinite(trial.value)
        if (
            trial.scale not in SCALES
            or trial.status not in ("ok", "failed")
            or (trial.status == "ok") != ok_value
        ):
            raise DataError(
                f"malformed trial record {d!r}: the scale must be 'small' or 'large', the "
                "status 'ok' (with a finite value) or 'failed' (without one)."
            )
        return trial


def _hyperparameters(value: Any) -> dict[str, dict[str, Any]] | None:
    """A record's ``hyperparameters`` checked: ``None``, or model name -> parameter
    name -> a number or nested lists of numbers."""
    if value is None:
        return None

    def numeric(v: Any) -> bool:
        if isinstance(v, list):
            return all(numeric(x) for x in v)
        return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

    if not isinstance(value, dict) or not all(
        isinstance(m, str)
        and isinstance(params, dict)
        and all(isinstance(n, str) and numeric(v) for n, v in params.items())
        for m, params in value.items()
    ):
        raise ValueError("hyperparameters must map model names to {parameter: numbers}")
    return value


@dataclass
class History:
    """Append-only record of every trial, at both scales.

    Args:
        trials: Initial trials (normally empty).
        metadata: Free JSON-friendly information saved with the history (the search
            space description, the random state...).

    Example:
        >>> h = History()
        >>> h.add([0.5, 3], 1.25, scale="small")
        Trial(number=0, params=(0.5, 3), value=1.25, scale='small', ...)
        >>> h.best("small").value
        1.25
    """

    trials: list[Trial] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.trials)

    def __iter__(self) -> Iterator[Trial]:
        return iter(self.trials)

    def __getitem__(self, i: int) -> Trial:
        return self.trials[i]

    def add(
        self,
        params: Sequence[Any],
        value: float | None,
        scale: str,
        *,
        status: str = "ok",
        seconds: float = 0.0,
        error: str | None = None,
        hyperparameters: dict[str, dict[str, Any]] | None = None,
    ) -> Trial:
        """Append a trial and return it."""
        if scale not in SCALES:
            raise DataError(f"scale must be one of {SCALES}, got {scale!r}.")
        trial = Trial(
            number=len(self.trials),
            params=tuple(params),
            value=None if value is None else float(value),
            scale=scale,
            status=status,
            seconds=float(seconds),
            error=error,
            hyperparameters=hyperparameters,
        )
        self.trials.append(trial)
        return trial

    def at(self, scale: str, *, ok_only: bool = False) -> list[Trial]:
        """Trials at one scale, in order (only successful ones with ``ok_only``)."""
        if scale not in SCALES:
            raise DataError(f"scale must be one of {SCALES}, got {scale!r}.")
        return [t for t in self.trials if t.scale == scale and (t.ok or not ok_only)]

    def best(self, scale: str) -> Trial | None:
        """The successful trial with the lowest value at ``scale`` (first one on ties)."""
        ok = self.at(scale, ok_only=True)
        return min(ok, key=lambda t: t.value) if ok else None  # type: ignore[arg-type, return-value]

    def X(self, scale: str) -> np.ndarray:
        """Parameters of the successful trials at ``scale``: object array, one row each."""
        rows = [list(t.params) for t in self.at(scale, ok_only=True)]
        out = np.empty((len(rows), len(rows[0]) if rows else 0), dtype=object)
        for i, row in enumerate(rows):
            out[i, :] = row
        return out

    def Y(self, scale: str) -> np.ndarray:
        """Values of the successful trials at ``scale``: float array."""
        return np.array([t.value for t in self.at(scale, ok_only=True)], dtype=float)

    # ------------------------------------------------------------------ persistence
    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict with a schema version."""
        return {
            "schema_version": SCHEMA_VERSION,
            "metadata": self.metadata,
            "trials": [t.to_dict() for t in self.trials],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> History:
        """Inverse of :meth:`to_dict`; refuses unknown schema versions."""
        if not isinstance(d, dict) or d.get("schema_version") != SCHEMA_VERSION:
            version = d.get("schema_version") if isinstance(d, dict) else None
            raise DataError(
                f"not a scaleup_bo history (schema_version {version!r}, expected {SCHEMA_VERSION})."
            )
        trials, metadata = d.get("trials", []), d.get("metadata", {})
        if not isinstance(trials, list) or not isinstance(metadata, dict):
            raise DataError(
                "not a scaleup_bo history: 'trials' must be a list and 'metadata' a dict, "
                f"got {type(trials).__name__} and {type(metadata).__name__}."
            )
        return cls(trials=[Trial.from_dict(t) for t in trials], metadata=dict(metadata))

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the history to ``path`` as JSON (atomically: write then rename)."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(_dumps(self.to_dict(), indent=1))
        os.replace(tmp, path)

    @staticmethod
    def is_saved(path: str | os.PathLike[str]) -> bool:
        """Whether ``path`` is a ``.json`` file written by :meth:`save`."""
        path = Path(path)
        if path.suffix.lower() != ".json" or not path.is_file():
            return False
        try:
            data = json.loads(path.read_text())
        except (UnicodeDecodeError, json.JSONDecodeError):
            return False
        return isinstance(data, dict) and "schema_version" in data

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> History:
        """Read a history written by :meth:`save` (plain JSON: never executes code)."""
        try:
            data = json.loads(Path(path).read_text())
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DataError(f"{path} is not a JSON history file: {exc}") from exc
        return cls.from_dict(data)

    def to_dataframe(self) -> Any:
        """Every trial as a pandas DataFrame (one column per parameter; pandas needed).

        Returns:
            A DataFrame with columns ``number, scale, status, value, seconds, error``
            followed by the parameters, named as in the search space (a parameter
            named like one of those six columns gets the prefix ``param_``).
        """
        try:
            import pandas as pd
        except ImportError as exc:  # pragma: no cover - pandas is in the dev extras
            raise ImportError("to_dataframe() needs pandas: pip install pandas") from exc
        fields = ("number", "scale", "status", "value", "seconds", "error")
        names = [
            f"param_{d['name']}" if d["name"] in fields else d["name"]
            for d in self.metadata.get("search_space", [])
        ]
        rows = []
        for t in self.trials:
            row = {k: getattr(t, k) for k in fields}
            keys = names if len(names) == len(t.params) else [f"x{i}" for i in range(len(t.params))]
            row.update(zip(keys, t.params, strict=True))
            rows.append(row)
        return pd.DataFrame(rows)


def read_table(
    source: Any, space: Any, *, score_column: str | None = None, scale: str | None = None
) -> tuple[list[list[Any]], list[float]]:
    """Read a plain table of (parameters, score) rows for a warm start.

    Args:
        source: A pandas DataFrame, a list of dict records, or the path of a ``.csv``
            file (header row) or ``.json`` file (a list of records, or a dict of
            columns). One column per dimension, named as in the search space, plus a
            score column.
        space: The :class:`~scaleup_bo.space.SearchSpace` (names and types).
        score_column: Name of the score column; by default the one called ``score``,
            ``value``, ``y``, ``objective`` or ``loss``, or the only other column.
        scale: The scale the rows are read as: a row whose ``scale`` column (as in
            :meth:`History.to_dataframe`) names another one is refused.

    Returns:
        ``(points, scores)`` with points validated against the space (CSV strings
        are converted to the dimension's type).

    Raises:
        DataError: missing columns, an unparsable value or a non-finite score; the
            message names the row and the column.
    """
    records = _records(source)
    names = space.names
    if not records:
        raise DataError("the table has no rows.")
    columns = list(records[0])
    missing = [n for n in names if n not in columns]
    if missing:
        raise DataError(f"the table lacks parameter column(s) {missing}; it has {columns}.")
    score_column = _score_column(columns, names, score_column)
    points, scores = [], []
    for i, record in enumerate(records):
        try:
            cells = zip(names, space.dimensions, strict=True)
            point = [_from_cell(d, record[n]) for n, d in cells]
            points.append(space.validate(point))
        except (ValueError, TypeError, KeyError) as exc:
            raise DataError(f"table row {i}: {exc}") from exc
        if scale is not None and "scale" not in names and record.get("scale", scale) != scale:
            raise DataError(
                f"table row {i} is a {record['scale']}-scale run (its 'scale' column), but the "
                f"table is read as {scale}-scale results: keep only those rows, or pass the "
                "History itself."
            )
        value = record.get(score_column)
        try:
            score = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            score = math.nan
        if not math.isfinite(score):
            raise DataError(
                f"table row {i}: score {score_column!r} = {value!r} is not a finite number. "
                "A table holds successful runs: leave a failed run's row out (a History, "
                "failed trials included, can be passed as it is)."
            )
        scores.append(score)
    return points, scores


_SCORE_NAMES = ("score", "value", "y", "objective", "loss")


def _score_column(columns: list[str], names: list[str], given: str | None) -> str:
    if given is not None:
        if given not in columns:
            raise DataError(f"score_column {given!r} is not a column of the table {columns}.")
        return given
    for name in _SCORE_NAMES:
        if name in columns and name not in names:
            return name
    others = [c for c in columns if c not in names]
    if len(others) == 1:
        return others[0]
    if not others:
        raise DataError(
            f"the table has no score column, only the parameter columns {columns}: add one "
            f"(named {' or '.join(_SCORE_NAMES)}) or pass score_column=."
        )
    raise DataError(f"cannot tell which column holds the score among {others}: pass score_column=.")


def _records(source: Any) -> list[dict[str, Any]]:
    if hasattr(source, "to_dict") and hasattr(source, "columns"):  # a pandas DataFrame
        return [{str(k): v for k, v in r.items()} for r in source.to_dict("records")]
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if path.suffix.lower() == ".csv":
            with open(path, newline="", encoding="utf-8") as f:
                return list(csv.DictReader(f))
        if path.suffix.lower() == ".json":
            data = json.loads(path.read_text())
            if isinstance(data, dict) and "schema_version" not in data:
                keys = list(data)
                return [
                    dict(zip(keys, row, strict=True)) for row in zip(*data.values(), strict=True)
                ]
            if isinstance(data, list) and all(isinstance(r, dict) for r in data):
                return data
            if isinstance(data, dict):
                raise DataError(
                    f"{path} is a saved History, not a table: read it with History.load()."
                )
            raise DataError(f"{path}: expected a list of records or a dict of columns.")
        raise DataError(f"cannot read a table from {path}: use a .csv or .json file.")
    if isinstance(source, list) and all(isinstance(r, dict) for r in source):
        return source
    raise DataError(
        f"cannot read a table from a {type(source).__name__}: give a DataFrame, a list of "
        "dict records, or a .csv/.json path."
    )


def _from_cell(dim: Any, value: Any) -> Any:
    """Convert a table cell (a string when read from CSV) to the dimension's type."""
    from skopt.space import Categorical, Integer

    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(dim, Categorical):
        for category in dim.categories:
            if category == value or (isinstance(value, str) and str(category) == value):
                return category
        return value
    if isinstance(value, str):
        number = float(value.strip())
        return int(number) if isinstance(dim, Integer) and number.is_integer() else number
    return value


def as_stored(value: Any) -> Any:
    """``value`` as a JSON file gives it back (tuples as lists, ...): how a recorded setting
    is compared with the current one."""
    return json.loads(json.dumps(value))


def _dumps(record: Any, indent: int | None = None) -> str:
    """JSON text of ``record``; a clear error for values JSON cannot hold (a category
    that is a function or a class, say)."""
    try:
        return json.dumps(record, allow_nan=False, indent=indent)
    except (TypeError, ValueError) as exc:  # ValueError: a NaN or infinite category
        raise DataError(
            f"cannot write the history as JSON ({exc}): journals and saved histories need "
            "values JSON can hold: strings, finite numbers, booleans, None and, as "
            "categories, tuples of these; use names as the categories and map them inside "
            "the objective, and keep NaN and infinities out of metadata."
        ) from exc
