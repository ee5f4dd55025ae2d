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
    "SpaceExhaustedError",
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


class SpaceExhaustedError(ScaleUpBOError, RuntimeError):
    """Every point of a (small, discrete) search space has been evaluated, or is
    pending, at the scale asked for: no fresh point is left to propose. The optimizers
    end their run early when they meet it (with a warning)."""


class TooManyFailuresError(ScaleUpBOError, RuntimeError):
    """Too many evaluations in a row failed.

    Attributes:
        history: Every trial recorded before the run stopped (failures included).
    """

    def __init__(self, message: str, history: object = None) -> None:
        super().__init__(message)
        self.history = history
