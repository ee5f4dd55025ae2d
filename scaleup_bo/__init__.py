"""scaleup_bo: tune a cheap small-scale model, then the expensive large-scale one.

Small- and large-scale runs are two fidelities of one BoTorch
``SingleTaskMultiFidelityGP``; :class:`SmallScaleOptimizer`,
:class:`LargeScaleOptimizer` and :class:`ScaleUpOptimizer` are façades over the shared
ask/tell :class:`Engine`, and every expert setting is a :class:`Strategy`'s.
"""

from __future__ import annotations

import logging

from scaleup_bo.acquisition import ACQUISITIONS, AcquisitionContext, register_acquisition
from scaleup_bo.cost import Costs, InformationPerCost, ScaleChoiceContext
from scaleup_bo.engine import Engine
from scaleup_bo.exceptions import (
    AcquisitionError,
    DataError,
    InvalidPointError,
    ScaleUpBOError,
    SearchSpaceError,
    SpaceExhaustedError,
    TooManyFailuresError,
)
from scaleup_bo.history import History, Trial
from scaleup_bo.journal import JournalFile
from scaleup_bo.model import DEFAULT_SMALL_FIDELITY, LARGE_FIDELITY
from scaleup_bo.optimizers import LargeScaleOptimizer, SmallScaleOptimizer
from scaleup_bo.plots import (
    plot_convergence,
    plot_cost_convergence,
    plot_evaluations,
    plot_fidelity_comparison,
    plot_opt_process,
    plot_performance,
    plot_slice,
    plot_slices,
)
from scaleup_bo.scaleup import ScaleUpOptimizer
from scaleup_bo.space import SearchSpace
from scaleup_bo.strategy import Strategy

__version__ = "0.1.0"

__all__ = [
    "ACQUISITIONS",
    "DEFAULT_SMALL_FIDELITY",
    "LARGE_FIDELITY",
    "AcquisitionContext",
    "AcquisitionError",
    "Costs",
    "DataError",
    "Engine",
    "History",
    "InformationPerCost",
    "InvalidPointError",
    "JournalFile",
    "LargeScaleOptimizer",
    "ScaleChoiceContext",
    "ScaleUpBOError",
    "ScaleUpOptimizer",
    "SearchSpace",
    "SearchSpaceError",
    "SmallScaleOptimizer",
    "SpaceExhaustedError",
    "Strategy",
    "TooManyFailuresError",
    "Trial",
    "plot_convergence",
    "plot_cost_convergence",
    "plot_evaluations",
    "plot_fidelity_comparison",
    "plot_opt_process",
    "plot_performance",
    "plot_slice",
    "plot_slices",
    "register_acquisition",
]

logging.getLogger("scaleup_bo").addHandler(logging.NullHandler())
