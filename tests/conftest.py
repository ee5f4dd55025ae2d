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


@pytest.fixture(scope="module")
def dask_client():
    """A real Dask LocalCluster with 2 process workers (starts in under a second)."""
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client
