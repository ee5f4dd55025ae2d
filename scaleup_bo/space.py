"""SearchSpace: scikit-optimize dimensions <-> unit-cube tensors.

The adapter is the only place that knows about user units. Everything downstream
(model, acquisition, optimizer) sees float64 tensors in the unit cube:

* ``Real`` (uniform): min-max scaled to ``[0, 1]``.
* ``Real`` / ``Integer`` with ``prior="log-uniform"`` (any base): log, then min-max.
* ``Integer``: relaxed to ``[0, 1]`` (``low -> 0``, ``high -> 1``), rounded when decoded.
* ``Categorical``: one-hot, one column per category, any hashable values (strings too);
  journals and saved histories need values JSON can hold (strings, numbers, booleans,
  ``None``, tuples of these).

Decoded values are Python ``float`` / ``int`` / the category object itself, always
inside the bounds.
"""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from skopt.space import Categorical, Dimension, Integer, Real, Space
from torch import Tensor
from torch.quasirandom import SobolEngine

from scaleup_bo.exceptions import InvalidPointError, SearchSpaceError

#: Largest discrete space :meth:`SearchSpace.all_points` enumerates.
ENUMERATION_LIMIT = 100_000

__all__ = ["SearchSpace"]

_DTYPE = torch.float64
# Values that come back from float arithmetic may overshoot a bound by a few ulps.
_BOUND_TOLERANCE = 1e-9


@dataclass(frozen=True)
class _Block:
    """Where one dimension lives in the encoded vector."""

    start: int
    width: int


class SearchSpace:
    """A list of scikit-optimize dimensions and their unit-cube encoding.

    Args:
        dimensions: A list of ``skopt.space`` dimensions (``Real``, ``Integer``,
            ``Categorical``), skopt's shorthand (``(low, high)``,
            ``(low, high, "log-uniform")``, a list of categories), a
            ``skopt.space.Space`` or another ``SearchSpace``.

    Example:
        >>> from skopt.space import Real, Categorical
        >>> space = SearchSpace([Real(1e-4, 1e-1, prior="log-uniform", name="lr"),
        ...                      Categorical(["adam", "sgd"], name="opt")])
        >>> X = space.to_unit([[1e-3, "sgd"]])   # 1 x 3 tensor
        >>> space.from_unit(X)
        [[0.001..., 'sgd']]
    """

    def __init__(self, dimensions: Any) -> None:
        if isinstance(dimensions, SearchSpace):
            dims = list(dimensions.dimensions)
        else:
            dims = [_plain_categories(d) for d in _parse_dimensions(dimensions)]
        names = [d.name if d.name is not None else f"x{i}" for i, d in enumerate(dims)]
        seen: set[str] = set()
        for name in names:
            if name in seen:
                raise SearchSpaceError(
                    f"search_space has two dimensions named {name!r}; names must be unique."
                )
            seen.add(name)
        for name, dim in zip(names, dims, strict=True):
            if isinstance(dim, Categorical) and len(dim.categories) == 0:
                raise SearchSpaceError(f"search_space dimension {name!r} has no categories.")
            if isinstance(dim, Categorical) and len(set(map(_hashable_key, dim.categories))) != len(
                dim.categories
            ):
                raise SearchSpaceError(
                    f"search_space dimension {name!r} lists a category twice: {dim.categories!r}."
                )
        self._dims: tuple[Dimension, ...] = tuple(dims)
        self._names: tuple[str, ...] = tuple(names)
        blocks = []
        start = 0
        for dim in dims:
            width = len(dim.categories) if isinstance(dim, Categorical) else 1
            blocks.append(_Block(start, width))
            start += width
        self._blocks: tuple[_Block, ...] = tuple(blocks)
        self._n_columns = start

    # ------------------------------------------------------------------ description
    @property
    def dimensions(self) -> list[Dimension]:
        """The skopt dimensions, in order."""
        return list(self._dims)

    @property
    def names(self) -> list[str]:
        """Dimension names (``x0``, ``x1``, ... where skopt had none)."""
        return list(self._names)

    @property
    def n_dims(self) -> int:
        """Number of dimensions (hyperparameters)."""
        return len(self._dims)

    @property
    def n_columns(self) -> int:
        """Width ``d`` of the encoded vectors (one-hot categoricals count once per category)."""
        return self._n_columns

    def __len__(self) -> int:
        return len(self._dims)

    def __repr__(self) -> str:
        return f"SearchSpace({list(self._dims)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SearchSpace) and self.describe() == other.describe()

    def __hash__(self) -> int:
        return hash(repr(self.describe()))

    def describe(self) -> list[dict[str, Any]]:
        """A JSON-friendly description of every dimension (used to tag histories)."""
        out = []
        for name, dim in zip(self._names, self._dims, strict=True):
            if isinstance(dim, Categorical):
                out.append(
                    {
                        "name": name,
                        "type": "categorical",
                        "categories": [to_json_value(c) for c in dim.categories],
                    }
                )
            else:
                out.append(
                    {
                        "name": name,
                        "type": "integer" if isinstance(dim, Integer) else "real",
                        "low": to_json_value(dim.low),
                        "high": to_json_value(dim.high),
                        "prior": dim.prior,
                    }
                )
        return out

    @classmethod
    def from_description(cls, description: list[dict[str, Any]]) -> SearchSpace:
        """Rebuild a space from :meth:`describe` output (e.g. a saved history's metadata)."""
        dims: list[Dimension] = []
        for d in description:
            if d["type"] == "categorical":
                # JSON stores a tuple category as a list.
                categories = [from_json_value(c) for c in d["categories"]]
                dims.append(Categorical(categories, name=d["name"]))
            elif d["type"] == "integer":
                dims.append(Integer(d["low"], d["high"], prior=d["prior"], name=d["name"]))
            else:
                dims.append(Real(d["low"], d["high"], prior=d["prior"], name=d["name"]))
        return cls(dims)

    # ------------------------------------------------------------------ mixed-space info
    @property
    def categorical_blocks(self) -> list[tuple[int, int]]:
        """``(first_column, n_categories)`` of each one-hot block, in order."""
        return [
            (b.start, b.width)
            for b, d in zip(self._blocks, self._dims, strict=True)
            if isinstance(d, Categorical)
        ]

    @property
    def one_hot_columns(self) -> list[int]:
        """The encoded columns of every one-hot block (empty without categoricals)."""
        return [start + i for start, width in self.categorical_blocks for i in range(width)]

    def integer_columns(self, max_values: int = 20) -> dict[int, list[float]]:
        """Encoded column of each Integer dimension -> the encoded values of its integers.

        Args:
            max_values: Integer dimensions with more values are left out (they are
                optimized as relaxed continuous columns and rounded when decoded).
        """
        out: dict[int, list[float]] = {}
        for block, dim in zip(self._blocks, self._dims, strict=True):
            if isinstance(dim, Integer) and int(dim.high) - int(dim.low) < max_values:
                values = range(int(dim.low), int(dim.high) + 1)
                out[block.start] = sorted({self._encode_number(dim, v) for v in values})
        return out

    @property
    def n_category_combinations(self) -> int:
        """Number of distinct one-hot patterns (1 when there is no categorical dimension)."""
        return math.prod(width for _, width in self.categorical_blocks)

    @property
    def is_continuous(self) -> bool:
        """True when every dimension is a ``Real``."""
        return all(isinstance(d, Real) for d in self._dims)

    @property
    def n_points(self) -> int | None:
        """Number of distinct points of a space without ``Real`` dimensions (``None``
        with one)."""
        if any(isinstance(d, Real) for d in self._dims):
            return None
        return math.prod(
            len(d.categories) if isinstance(d, Categorical) else int(d.high) - int(d.low) + 1
            for d in self._dims
        )

    def all_points(self, limit: int = ENUMERATION_LIMIT) -> list[list[Any]] | None:
        """Every point of a space without ``Real`` dimensions, when there are at most
        ``limit`` of them (in canonical Python values, as :meth:`validate` returns them);
        else ``None``. What tells a small discrete space that is exhausted from one whose
        fresh points a random sample missed."""
        if self.n_points is None or self.n_points > limit:
            return None
        values = [
            list(d.categories) if isinstance(d, Categorical) else range(int(d.low), int(d.high) + 1)
            for d in self._dims
        ]
        return [self.validate(list(p)) for p in itertools.product(*values)]

    # ------------------------------------------------------------------ validation
    def validate(self, point: Any) -> list[Any]:
        """Check one point and return it with canonical Python values.

        Args:
            point: A sequence with one value per dimension, in search-space order.

        Returns:
            The point as a list of Python ``float`` / ``int`` / category objects.

        Raises:
            InvalidPointError: wrong length, or a value outside its dimension; the message
                names the dimension and the value.
        """
        if isinstance(point, (str, bytes)) or not isinstance(point, Iterable):
            raise InvalidPointError(
                f"a point must be a sequence of {self.n_dims} values, got {point!r}."
            )
        values = list(point.tolist() if isinstance(point, np.ndarray) else point)
        if len(values) != self.n_dims:
            raise InvalidPointError(
                f"a point must have {self.n_dims} values (one per dimension {list(self._names)}), "
                f"got {len(values)}: {values!r}."
            )
        return [
            self._validate_value(name, dim, v)
            for name, dim, v in zip(self._names, self._dims, values, strict=True)
        ]

    def contains(self, point: Any) -> bool:
        """Whether ``point`` is a valid point of this space."""
        try:
            self.validate(point)
        except InvalidPointError:
            return False
        return True

    @staticmethod
    def _validate_value(name: str, dim: Dimension, value: Any) -> Any:
        if isinstance(dim, Categorical):
            for category in dim.categories:
                if _same_category(category, value):
                    return category
            raise InvalidPointError(
                f"dimension {name!r}: {value!r} is not one of its categories "
                f"{list(dim.categories)!r}."
            )
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
            raise InvalidPointError(f"dimension {name!r}: expected a number, got {value!r}.")
        if isinstance(dim, Integer) and isinstance(value, numbers.Integral):
            if not int(dim.low) <= int(value) <= int(dim.high):  # exact, whatever the size
                raise InvalidPointError(
                    f"dimension {name!r}: value {value!r} is outside its bounds "
                    f"[{dim.low}, {dim.high}]."
                )
            return int(value)
        try:
            x = float(value)
        except OverflowError:
            x = math.inf
        if not math.isfinite(x):
            raise InvalidPointError(f"dimension {name!r}: value {value!r} is not finite.")
        low, high = float(dim.low), float(dim.high)
        tol = _BOUND_TOLERANCE * max(high - low, abs(low), abs(high))  # relative: eps=1e-8 too
        if not (low - tol <= x <= high + tol):
            raise InvalidPointError(
                f"dimension {name!r}: value {value!r} is outside its bounds "
                f"[{dim.low}, {dim.high}]."
            )
        if isinstance(dim, Integer):
            if not float(x).is_integer():
                raise InvalidPointError(f"dimension {name!r}: value {value!r} is not an integer.")
            return round(x)
        return min(max(x, low), high)

    # ------------------------------------------------------------------ encoding
    def to_unit(self, points: Sequence[Any]) -> Tensor:
        """Encode points (user units) into the unit cube.

        Args:
            points: ``n`` points, each a sequence of ``n_dims`` values.

        Returns:
            An ``n x d`` float64 tensor, ``d = n_columns``.
        """
        rows = [self._encode_point(self.validate(p)) for p in points]
        if not rows:
            return torch.zeros(0, self._n_columns, dtype=_DTYPE)
        return torch.tensor(rows, dtype=_DTYPE)

    def neighbours(self, point: Sequence[Any]) -> list[list[Any]]:
        """Points one step from ``point``: each integer +-1, each other category, each real
        moved by 1% of its (unit-cube) range either way; all within the space."""
        point = self.validate(point)
        out = []
        for i, dim in enumerate(self._dims):
            if isinstance(dim, Categorical):
                own = _category_index(dim, point[i])
                moves = [c for j, c in enumerate(dim.categories) if j != own]
            elif isinstance(dim, Integer):
                moves = [v for v in (point[i] - 1, point[i] + 1) if dim.low <= v <= dim.high]
            else:
                u = self._encode_number(dim, point[i])
                moves = [self._decode_number(dim, v) for v in (u - 0.01, u + 0.01) if 0 <= v <= 1]
            out += [[*point[:i], m, *point[i + 1 :]] for m in moves]
        return out

    def from_unit(self, X: Tensor | np.ndarray) -> list[list[Any]]:
        """Decode unit-cube rows into valid points in user units.

        Values are clipped to ``[0, 1]``, integers rounded, categoricals taken as the
        arg-max of their one-hot block.

        Args:
            X: An ``n x d`` tensor or array (a single ``d`` vector is accepted too).

        Returns:
            ``n`` points, each a list of Python values.
        """
        arr = X.detach().cpu().double().numpy() if isinstance(X, Tensor) else np.asarray(X, float)
        if arr.ndim == 1:
            arr = arr[None, :]
        if arr.ndim != 2 or arr.shape[1] != self._n_columns:
            raise InvalidPointError(
                f"encoded points must have {self._n_columns} columns, got shape {arr.shape}."
            )
        if not np.all(np.isfinite(arr)):
            raise InvalidPointError("encoded points contain NaN or inf.")
        arr = np.clip(arr, 0.0, 1.0)
        return [self._decode_row(row) for row in arr]

    def round_unit(self, X: Tensor) -> Tensor:
        """Snap encoded rows onto valid points (integers rounded, one-hot made exact).

        Args:
            X: ``n x d`` tensor.

        Returns:
            ``n x d`` tensor, each row the encoding of a valid point.
        """
        return self.to_unit(self.from_unit(X)).to(X)

    def _encode_point(self, values: list[Any]) -> list[float]:
        row: list[float] = []
        for dim, v in zip(self._dims, values, strict=True):
            if isinstance(dim, Categorical):
                onehot = [0.0] * len(dim.categories)
                onehot[_category_index(dim, v)] = 1.0
                row.extend(onehot)
            else:
                row.append(self._encode_number(dim, v))
        return row

    @staticmethod
    def _encode_number(dim: Dimension, value: float) -> float:
        low, high = float(dim.low), float(dim.high)
        if high == low:
            return 0.0
        if dim.prior == "log-uniform":
            u = (math.log(value) - math.log(low)) / (math.log(high) - math.log(low))
        else:
            u = (value - low) / (high - low)
        return min(max(u, 0.0), 1.0)

    def _decode_row(self, row: np.ndarray) -> list[Any]:
        out: list[Any] = []
        for block, dim in zip(self._blocks, self._dims, strict=True):
            if isinstance(dim, Categorical):
                segment = row[block.start : block.start + block.width]
                out.append(dim.categories[int(np.argmax(segment))])
                continue
            out.append(self._decode_number(dim, float(row[block.start])))
        return out

    @staticmethod
    def _decode_number(dim: Dimension, u: float) -> float | int:
        low, high = float(dim.low), float(dim.high)
        if u <= 0.0 or u >= 1.0:  # the bounds themselves, not a rounding next to them
            x = low if u <= 0.0 else high
        elif dim.prior == "log-uniform":
            x = math.exp(math.log(low) + u * (math.log(high) - math.log(low)))
        else:
            x = low + u * (high - low)
        x = min(max(x, low), high)
        if isinstance(dim, Integer):
            return int(min(max(round(x), int(dim.low)), int(dim.high)))
        return float(x)

    # ------------------------------------------------------------------ designs
    def sample(self, n: int, seed: int | None = None) -> list[list[Any]]:
        """A space-filling design: ``n`` scrambled-Sobol points drawn in the encoded space.

        Log-uniform dimensions are therefore sampled uniformly in log space; each
        integer gets an equal share of the unit interval, each category its share under
        the dimension's ``prior`` (equal without one).

        Args:
            n: Number of points.
            seed: Seed of the Sobol scrambling.

        Returns:
            ``n`` points in user units (may repeat in small discrete spaces).
        """
        if n <= 0:
            return []
        engine = SobolEngine(self.n_dims, scramble=True, seed=seed)
        U = engine.draw(n, dtype=_DTYPE).numpy()
        return [self._design_point(u) for u in U]

    def _design_point(self, u: np.ndarray) -> list[Any]:
        out: list[Any] = []
        for dim, ui in zip(self._dims, u, strict=True):
            if isinstance(dim, Categorical):
                # Each category's share of the unit interval: its prior (equal without one).
                weights = np.asarray(
                    dim.prior if dim.prior is not None else [1.0] * len(dim.categories), dtype=float
                )
                k = int(np.searchsorted(np.cumsum(weights) / weights.sum(), ui, side="right"))
                out.append(dim.categories[min(k, len(dim.categories) - 1)])
            elif isinstance(dim, Integer):
                # Widen by half a step on each side so the end integers get a full share.
                low, high = float(dim.low) - 0.5, float(dim.high) + 0.5
                if dim.prior == "log-uniform":
                    x = math.exp(math.log(low) + ui * (math.log(high) - math.log(low)))
                else:
                    x = low + ui * (high - low)
                out.append(int(min(max(round(x), int(dim.low)), int(dim.high))))
            else:
                out.append(self._decode_number(dim, float(ui)))
        return out


def _parse_dimensions(dimensions: Any) -> list[Dimension]:
    if isinstance(dimensions, Space):
        dimensions = list(dimensions.dimensions)  # checked as a list is
    if isinstance(dimensions, (str, bytes, dict)) or not isinstance(dimensions, Iterable):
        raise SearchSpaceError(
            f"search_space must be a list of skopt dimensions, got {type(dimensions).__name__}."
        )
    items = list(dimensions)
    if not items:
        raise SearchSpaceError("search_space is empty: give at least one dimension.")
    dims = []
    for i, item in enumerate(items):
        if isinstance(item, (Real, Integer, Categorical)):
            dims.append(item)
            continue
        if isinstance(item, Dimension):
            raise SearchSpaceError(
                f"search_space[{i}]: unsupported dimension type {type(item).__name__}."
            )
        try:
            dims.append(Space([item]).dimensions[0])
        except (ValueError, TypeError) as exc:
            raise SearchSpaceError(
                f"search_space[{i}] = {item!r} is not a dimension: {exc}"
            ) from exc
    for i, dim in enumerate(dims):
        if isinstance(dim, (Real, Integer)):
            name = dim.name if dim.name is not None else f"x{i}"
            if not (math.isfinite(float(dim.low)) and math.isfinite(float(dim.high))):
                raise SearchSpaceError(f"dimension {name!r}: bounds must be finite.")
            if dim.low > dim.high:
                raise SearchSpaceError(
                    f"dimension {name!r}: lower bound {dim.low} is above upper bound {dim.high}."
                )
            if isinstance(dim, Integer) and not (
                float(dim.low).is_integer() and float(dim.high).is_integer()
            ):
                raise SearchSpaceError(
                    f"dimension {name!r}: Integer bounds must be integers, got "
                    f"[{dim.low}, {dim.high}]."
                )
            if dim.prior == "log-uniform" and dim.low <= 0:
                raise SearchSpaceError(
                    f"dimension {name!r}: a log-uniform prior needs a positive lower bound, "
                    f"got {dim.low}."
                )
    return dims


def _plain_categories(dim: Dimension) -> Dimension:
    """Categories as Python objects (skopt keeps numpy scalars from numpy arrays)."""
    if not isinstance(dim, Categorical) or not any(
        isinstance(c, np.generic) for c in dim.categories
    ):
        return dim
    plain = [c.item() if isinstance(c, np.generic) else c for c in dim.categories]
    return Categorical(plain, name=dim.name, prior=dim.prior)


def _hashable_key(value: Any) -> Any:
    try:
        hash(value)
    except TypeError:
        return repr(value)
    return (type(value).__name__ if isinstance(value, bool) else "", value)


def _same_category(category: Any, value: Any) -> bool:
    if isinstance(category, bool) != isinstance(value, (bool, np.bool_)):
        return False
    if isinstance(category, tuple) and isinstance(value, list):
        # JSON (a journal, a saved history) stores a tuple category as a list.
        return len(category) == len(value) and all(map(_same_category, category, value))
    try:
        return bool(category == value)
    except (TypeError, ValueError):
        return False


def _category_index(dim: Categorical, value: Any) -> int:
    for i, category in enumerate(dim.categories):
        if _same_category(category, value):
            return i
    raise InvalidPointError(f"{value!r} is not one of {list(dim.categories)!r}.")


def from_json_value(value: Any) -> Any:
    """A parameter value or category as read from JSON: a list is a tuple category JSON
    stored as a list (no dimension takes list values), so it becomes a tuple again."""
    if isinstance(value, list):
        return tuple(from_json_value(v) for v in value)
    return value


def to_json_value(value: Any) -> Any:
    """A parameter value, category or bound as JSON stores it (the inverse of
    :func:`from_json_value`): numpy scalars as Python ones, tuples as lists."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (tuple, list)):
        return [to_json_value(v) for v in value]
    return value
