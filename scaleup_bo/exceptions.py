"""One exception tree for the library.

Errors about bad input subclass :class:`ValueError`, as in the seed package, so
``except ValueError`` written against the seed keeps working.
"""

from __future__ import annotations

__all__ = [
    "AcquisitionError",
    "DataError",
    "InvalidPointError",
    "ScaleUpBOError",
    "SearchSpaceError",
    "TooManyFailuresError",
]


class ScaleUpBOError(Exception):
    """Base class of every error raised by scaleup_bo."""


class SearchSpaceError(ScaleUpBOError, ValueError):
    """The search space itself is malformed (empty, inverted bounds, duplicate names)."""


class InvalidPointError(ScaleUpBOError, ValueError):
    """A point is not in the search space (wrong length, out of bounds, unknown category)."""


class DataError(ScaleUpBOError, ValueError):
    """Observations given to an optimizer are malformed (mismatched lengths, NaN, wrong width)."""


class AcquisitionError(ScaleUpBOError, ValueError):
    """An acquisition function name or builder is unknown or unusable."""


class TooManyFailuresError(ScaleUpBOError, RuntimeError):
    """Too many evaluations in a row failed.

    Attributes:
        history: Every trial recorded before the run stopped (failures included).
    """

    def __init__(self, message: str, history: object = None) -> None:
        super().__init__(message)
        self.history = history
