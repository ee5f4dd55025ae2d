"""Shared fixtures."""

from __future__ import annotations

import matplotlib
import pytest

from scaleup_bo.benchmarks.problems import mixed_toy_space

matplotlib.use("Agg")


@pytest.fixture
def mixed_space():
    """4-D mixed space: log-uniform Real, Integer, string Categorical, uniform Real."""
    return mixed_toy_space()
