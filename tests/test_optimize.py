"""Maximizing an acquisition over the search space: continuous, mixed (enumerated one-hot
patterns or the alternating optimizer on an ordinal encoding), and the fresh point that
replaces an optimum already tried."""

from __future__ import annotations

import logging
import warnings

import pytest
import torch
from botorch.acquisition import OneShotAcquisitionFunction, qUpperConfidenceBound
from skopt.space import Categorical, Integer, Real

import scaleup_bo.optimize as optimize
from scaleup_bo import Engine, SearchSpace
from scaleup_bo.optimize import propose


class _TinyModel:
    num_outputs = 1


class _CapturedError(Exception):
    """Raised by a spy once it has what the optimizer was given."""


class _OneShot(OneShotAcquisitionFunction):
    """A one-shot acquisition (as the knowledge gradient is) that is never evaluated."""

    def __init__(self):
        super().__init__(model=_TinyModel())

    def forward(self, X):
        raise NotImplementedError

    def get_augmented_q_batch_size(self, q):
        return q

    def extract_candidates(self, X_full):
        return X_full


def test_many_category_combinations_use_the_alternating_optimizer():
    space = [Categorical(list("abcd"), name=f"c{i}") for i in range(3)] + [
        Real(0.0, 1.0),
        Integer(0, 4),
    ]
    engine = Engine(space, random_state=0)

    def f(p):
        return sum(ord(c) - ord("a") for c in p[:3]) + (p[3] - 0.5) ** 2 + abs(p[4] - 2)

    for p in engine.space.sample(10, seed=0):
        engine.tell(p, f(p), "large")
    assert engine.space.n_category_combinations == 64
    point = engine.ask("large")
    assert engine.space.contains(point)


def test_the_alternating_optimizer_sees_each_categorical_as_one_ordinal_column(monkeypatch):
    space = SearchSpace(
        [Real(0, 1), Categorical(list("abc")), Integer(0, 3), Categorical([True, False]),
         Real(1, 2)]
    )  # fmt: skip
    points = space.sample(8, seed=0)
    U = space.to_unit(points)
    X = torch.cat([U, torch.ones(len(points), 1, dtype=U.dtype)], -1)
    seen = {}

    def capture(acq_function, bounds, **kwargs):
        seen.update(acqf=acq_function, bounds=bounds, **kwargs)
        raise _CapturedError

    monkeypatch.setattr(optimize, "optimize_acqf_mixed_alternating", capture)
    acqf = qUpperConfidenceBound(_TinyModel(), beta=1.0)
    with pytest.raises(_CapturedError):  # 6 one-hot patterns, more than 4: not enumerated
        propose(acqf, space, 1.0, X_baseline=X, max_combinations=4)
    wrapper = seen["acqf"]
    # The good points it starts near, and every input, go back to one-hot exactly.
    assert torch.equal(wrapper.expand(wrapper.X_baseline), X)
    assert seen["cat_dims"] == {1: [0.0, 1.0, 2.0], 3: [0.0, 1.0]}
    assert list(seen["discrete_dims"]) == [2]
    assert seen["fixed_features"] == {5: 1.0}  # the fidelity, after 5 ordinal columns
    assert seen["bounds"][1, [1, 3]].tolist() == [2.0, 1.0]  # the category indices


def test_random_category_patterns_reach_every_category(monkeypatch):
    space = SearchSpace([Categorical(list("abcde")), Categorical(list("vwxyz"))])
    seen = {}

    def capture(acq_function, bounds, **kwargs):
        seen.update(kwargs)
        raise _CapturedError

    monkeypatch.setattr(optimize, "optimize_acqf_mixed", capture)
    with pytest.raises(_CapturedError):  # a one-shot acquisition: 16 of the 25 patterns
        propose(_OneShot(), space, 1.0, seed=0, max_combinations=16)
    patterns = [{k: v for k, v in p.items() if k != 10} for p in seen["fixed_features_list"]]
    assert all(p[10] == 1.0 for p in seen["fixed_features_list"])  # the fidelity column
    assert len(patterns) == 16 and len({tuple(sorted(p.items())) for p in patterns}) == 16
    first_block = {next(j for j in range(5) if p[j] == 1.0) for p in patterns}
    assert first_block == {0, 1, 2, 3, 4}


def test_optimizer_warnings_go_to_the_debug_log(monkeypatch, caplog):
    real = optimize.optimize_acqf

    def noisy(*args, **kwargs):
        warnings.warn("Optimization failed in `gen_candidates_scipy`", RuntimeWarning, stacklevel=1)
        return real(*args, **kwargs)

    monkeypatch.setattr(optimize, "optimize_acqf", noisy)
    engine = Engine([Real(0.0, 1.0)], random_state=0)
    engine.tell_many([[0.1], [0.5], [0.9]], [1.0, 0.2, 0.7], "large")
    with warnings.catch_warnings(), caplog.at_level(logging.DEBUG, logger="scaleup_bo"):
        warnings.simplefilter("error")
        engine.ask("large")
    assert "gen_candidates_scipy" in caplog.text


def test_an_evaluated_optimum_is_replaced_by_a_fresh_neighbour():
    # A discrete space too large for the space-filling fallback set to cover (2 x 10^5
    # points): PM's optimum was evaluated, so the proposal must be the best fresh point,
    # which sits next to it, not a far space-filling candidate.
    space = [Integer(1, 10) for _ in range(5)] + [Categorical(["x", "y"])]
    engine = Engine(space, random_state=0)

    def f(p):
        return sum((v - 4) ** 2 for v in p[:5]) + (0.0 if p[5] == "x" else 3.0)

    for p in [[4, 4, 4, 4, 4, "x"], *engine.space.sample(24, seed=3)]:
        engine.tell(p, f(p), "large")
    point = engine.ask("large", acq_func="PM")
    optimum = [4, 4, 4, 4, 4, "x"]
    moved = [(a, b) for a, b in zip(point, optimum, strict=True) if a != b]
    assert len(moved) == 1, point  # one dimension changed ...
    a, b = moved[0]
    assert isinstance(a, str) or abs(a - b) == 1, point  # ... by one step
