"""Trial and History: every evaluation at both scales, in the order it happened.

A :class:`Trial` is a frozen record; a :class:`History` is an append-only list of
them with the queries the optimizers need (observations at one scale, the best
trial, the points already tried). Histories are saved as JSON with a schema
version; nothing is ever pickled.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from scaleup_bo.exceptions import DataError

__all__ = ["SCALES", "History", "Scale", "Trial"]

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
    """

    number: int
    params: tuple[Any, ...]
    value: float | None
    scale: str
    status: str = "ok"
    seconds: float = 0.0
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the trial produced a finite value the model can learn from."""
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict."""
        d = asdict(self)
        d["params"] = [_jsonable(v) for v in self.params]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Trial:
        """Inverse of :meth:`to_dict`."""
        value = d.get("value")
        return cls(
            number=int(d["number"]),
            params=tuple(d["params"]),
            value=None if value is None else float(value),
            scale=str(d["scale"]),
            status=str(d.get("status", "ok")),
            seconds=float(d.get("seconds", 0.0)),
            error=d.get("error"),
        )


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
        )
        self.trials.append(trial)
        return trial

    def at(self, scale: str, *, ok_only: bool = False) -> list[Trial]:
        """Trials at one scale, in order (only successful ones with ``ok_only``)."""
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
        trials = [Trial.from_dict(t) for t in d.get("trials", [])]
        return cls(trials=trials, metadata=dict(d.get("metadata", {})))

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the history to ``path`` as JSON (atomically: write then rename)."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=1, allow_nan=False))
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> History:
        """Read a history written by :meth:`save` (plain JSON: never executes code)."""
        return cls.from_dict(json.loads(Path(path).read_text()))


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value
