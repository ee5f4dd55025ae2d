"""Shared fixtures."""

from __future__ import annotations

import os

# One thread per process (this one, notebook kernels, Dask workers): the tests' models are
# small, and on the 2-core CI machine two threads made a test 1.6x slower in wall time
# (the README quick-start test: 46 s against 29 s, measured), besides competing with the
# worker processes the parallel tests start.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import matplotlib
import pytest
import torch

from scaleup_bo.benchmarks.problems import mixed_toy_space

matplotlib.use("Agg")
torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


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
