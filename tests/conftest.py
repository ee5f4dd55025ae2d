"""Shared fixtures."""

from __future__ import annotations

import matplotlib
import pytest

from tests.objectives import make_mixed_space

matplotlib.use("Agg")


@pytest.fixture
def mixed_space():
    """4-D mixed space: log-uniform Real, Integer, string Categorical, uniform Real."""
    return make_mixed_space()
