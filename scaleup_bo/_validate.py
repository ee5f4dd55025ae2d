"""Checks of the arguments users pass at the public boundary (constructors, tell, ask).

Each check raises :class:`~scaleup_bo.exceptions.DataError` (a ``ValueError``) naming the
argument; code past the boundary trusts what these return.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from torch import Tensor

from scaleup_bo.exceptions import DataError
from scaleup_bo.history import SCALES
from scaleup_bo.space import SearchSpace


def check_scale(scale: str) -> None:
    if scale not in SCALES:
        raise DataError(f"scale must be one of {SCALES}, got {scale!r}.")


def check_callable(name: str, value: Any) -> None:
    if not callable(value):
        raise DataError(f"{name} must be callable, got {value!r}.")


def check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise DataError(f"{name} must be True or False, got {value!r}.")
    return value


def check_count(name: str, value: Any, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise DataError(f"{name} must be an integer, got {value!r}.")
    if value < minimum:
        raise DataError(f"{name} must be >= {minimum}, got {value!r}.")
    return int(value)


def check_seconds(seconds: Any) -> float:
    if (
        isinstance(seconds, bool)
        or not isinstance(seconds, numbers.Real)
        or not 0.0 <= float(seconds) < math.inf
    ):
        raise DataError(f"seconds must be a finite number >= 0, got {seconds!r}.")
    return float(seconds)


def check_catch(catch: Any) -> tuple[type[BaseException], ...]:
    types = catch if isinstance(catch, tuple) else (catch,)
    if not all(isinstance(t, type) and issubclass(t, BaseException) for t in types):
        raise DataError(f"catch must be an exception class or a tuple of them, got {catch!r}.")
    if any(issubclass(KeyboardInterrupt, t) for t in types):
        raise DataError("catch must not include KeyboardInterrupt (or BaseException).")
    return types


def check_seed(random_state: Any) -> int | None:
    if random_state is not None and (
        isinstance(random_state, bool) or not isinstance(random_state, numbers.Integral)
    ):
        raise DataError(f"random_state must be an int or None, got {random_state!r}.")
    return None if random_state is None else int(random_state)


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def as_finite_float(y: Any) -> tuple[float | None, str | None]:
    """``(value, None)`` for a finite real scalar, else ``(None, what y is)``."""
    if y is None:
        return None, "None (no value)"
    if isinstance(y, Tensor):
        y = y.detach().cpu().numpy()
    if isinstance(y, np.ndarray):
        if y.size != 1:
            return None, f"an array of shape {y.shape}, not a scalar"
        y = y.reshape(()).item()
    if isinstance(y, (bool, np.bool_)) or not isinstance(y, numbers.Real):
        return None, f"{y!r}, not a real number"
    value = float(y)
    if not math.isfinite(value):
        return None, f"{value}"
    return value, None


def check_points(space: SearchSpace, points: Any, name: str) -> list[list[Any]]:
    if isinstance(points, np.ndarray):
        points = points.tolist()
    if isinstance(points, (str, bytes)) or not isinstance(points, Sequence):
        raise DataError(f"{name} must be a list of points, got {type(points).__name__}.")
    out = []
    for i, point in enumerate(points):
        try:
            out.append(space.validate(point))
        except ValueError as exc:
            raise type(exc)(f"{name}[{i}]: {exc}") from exc
    return out


def check_table(
    space: SearchSpace, X: Any, Y: Any, x_name: str, y_name: str
) -> tuple[list[list[Any]], list[float]]:
    """Points ``X`` and their values ``Y`` (successful runs), validated."""
    if X is None or Y is None:
        raise DataError(f"{x_name} and {y_name} must both be given.")
    rows = check_points(space, X, x_name)
    if np.ndim(Y) == 0:
        raise DataError(f"{y_name} must be a sequence of values, got {Y!r}.")
    y = np.asarray(Y, dtype=object).reshape(-1) if not isinstance(Y, np.ndarray) else Y.reshape(-1)
    if len(rows) != len(y):
        raise DataError(f"{x_name} has {len(rows)} rows but {y_name} has {len(y)} values.")
    values = []
    for i, v in enumerate(y):
        value, _ = as_finite_float(v)
        if value is None:
            raise DataError(
                f"{y_name}[{i}] = {v!r} is not a finite number. Results given as a table are "
                "successful runs: leave a failed run's row out (or tell it with "
                "engine.tell, which records it as a failed trial)."
            )
        values.append(value)
    return rows, values


def is_table(source: Any) -> bool:
    """A DataFrame, a file path, or a list of dict records (not a list of points)."""
    if isinstance(source, (str, os.PathLike)):
        return True
    if hasattr(source, "to_dict") and hasattr(source, "columns"):
        return True
    return isinstance(source, list) and bool(source) and all(isinstance(r, dict) for r in source)


def space_difference(small: list[dict[str, Any]], large: list[dict[str, Any]]) -> str:
    """The first difference between two :meth:`SearchSpace.describe` lists, in words
    (the large stage runs on the small stage's space: the shared model needs one)."""

    def words(d: dict[str, Any]) -> str:
        return ", ".join(f"{k} {v}" for k, v in d.items() if k != "name")

    for i, (a, b) in enumerate(zip(small, large, strict=False)):
        if a == b:
            continue
        if a.get("name") == b.get("name"):
            what = f"dimension {i} ({a.get('name')!r}) is {words(a)} in small, {words(b)} here"
        else:
            what = (
                f"dimension {i} is {a.get('name')!r} ({words(a)}) in small, "
                f"{b.get('name')!r} ({words(b)}) here"
            )
        return f"{what}. The large stage needs the small stage's search space."
    return (
        f"small has {len(small)} dimensions, this search space {len(large)}. The large "
        "stage needs the small stage's search space."
    )
