"""One step's training data: failed runs imputed, the bad tail winsorized, the tried and
pending points per scale."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skopt.space import Real

from scaleup_bo import Engine, History, SmallScaleOptimizer, Strategy
from scaleup_bo.data import IMPUTE_MIN_OK, Encoder, winsorize_targets
from scaleup_bo.space import SearchSpace


# ---------------------------------------------------------------------- StepData
def test_a_step_encodes_each_scale_s_tried_and_pending_points():
    history = History()
    history.add([0.2], 1.0, "small")
    history.add([0.4], None, "small", status="failed", error="diverged")
    history.add([0.6], 2.0, "large")
    encoder = Encoder(SearchSpace([(0.0, 1.0)]), 0.25)
    data = encoder.step(history, [([0.8], "large"), ([0.1], "small")])
    assert data.X.tolist() == [[0.2, 0.25], [0.6, 1.0]]  # too few successes to impute
    assert data.Y.reshape(-1).tolist() == [-1.0, -2.0] and data.n_ok == 2
    assert data.large.tolist() == [False, True] and not data.imputed.any()
    assert data.tried["small"].reshape(-1).tolist() == pytest.approx([0.2, 0.4, 0.1])
    assert data.tried["large"].reshape(-1).tolist() == pytest.approx([0.6, 0.8])
    pending = torch.tensor([[0.8, 1.0], [0.1, 0.25]], dtype=torch.float64)
    assert torch.allclose(data.pending, pending) and data.pending_scales == ("large", "small")
    assert torch.allclose(data.pending_at("small"), pending[1:])
    assert data.at_fidelity(data.tried["large"], "small")[:, -1].tolist() == [0.25, 0.25]
    assert Encoder(encoder.space, 0.25).step(History(), []).pending_at("large") is None


# ---------------------------------------------------------------------- failed runs
def test_failures_are_kept_and_modelled_at_the_worst_value():
    calls = []

    def flaky(p):
        calls.append(p)
        if len(calls) % 3 == 0:
            raise RuntimeError("CUDA out of memory")
        if len(calls) % 4 == 0:
            return float("nan")
        return (p[0] - 0.3) ** 2

    opt = SmallScaleOptimizer(
        flaky, [Real(0.0, 1.0)], n_steps=8, n_initial_points=2, random_state=0
    )
    failed = [t for t in opt.history if not t.ok]
    assert len(opt.history) == 10 and len(failed) >= 3
    assert any("CUDA out of memory" in t.error for t in failed)
    assert any("nan" in t.error for t in failed)
    train_X, train_Y = opt.engine.training_data()
    assert len(opt.Y_iters) == 10 - len(failed) and np.isfinite(opt.Y_iters).all()
    # The model sees every trial, a failed one at the worst value observed (impute_failures).
    assert train_X.shape[0] == 10
    values = sorted((-train_Y).reshape(-1).tolist())
    assert values[-len(failed) :] == [max(opt.Y_iters)] * len(failed)
    # A failed point is never proposed again.
    points = [t.params for t in opt.history]
    assert len(set(points)) == len(points)


def test_failed_runs_teach_the_model_to_leave_the_region_where_runs_fail():
    """Runs fail beyond x = 0.6 while the objective keeps falling towards 0.8: shown to
    the model at the worst value seen, the failures steer the proposals back to the
    feasible side; left out, the model keeps proposing next to them."""

    def f(p):
        if p[0] > 0.6:
            raise RuntimeError("diverged")
        return (p[0] - 0.8) ** 2

    failures = {}
    for impute in (True, False):
        runs = [
            SmallScaleOptimizer(
                f,
                [Real(0.0, 1.0)],
                n_initial_points=4,
                n_steps=8,
                random_state=seed,
                max_consecutive_failures=None,
                strategy=Strategy(impute_failures=impute),
            )
            for seed in (0, 1)
        ]
        failures[impute] = [sum(not t.ok for t in r.history.trials[4:]) for r in runs]
        assert all(r.history.metadata["strategy"]["impute_failures"] is impute for r in runs)
    assert max(failures[True]) <= 3 and min(failures[False]) >= 5, failures


def test_imputed_failures_enter_the_training_data_at_the_worst_value_of_their_scale():
    engines = [Engine([Real(0.0, 1.0)], strategy=Strategy(impute_failures=flag))
               for flag in (True, False)]  # fmt: skip
    engine, without = engines
    for e in engines:
        for x, y in [(0.1, 2.0), (0.2, 5.0), (0.25, 3.0)]:
            e.tell([x], y, "small")
        e.tell([0.3], None, "small")  # failed: the worst small value, 5.0
        e.tell([0.4], None, "large")  # failed, with no large value yet to impute from
    train_X, train_Y = engine.training_data()
    assert train_X[:, 0].tolist() == pytest.approx([0.1, 0.2, 0.25, 0.3])
    assert (-train_Y).reshape(-1).tolist() == [2.0, 5.0, 3.0, 5.0]
    # One or two large values are no yardstick (the worst of one is the best): not yet.
    assert IMPUTE_MIN_OK == 3
    for e in engines:
        e.tell([0.5], 1.0, "large")
        e.tell([0.6], 1.5, "large")
    assert engine.training_data()[0].shape[0] == 6
    for e in engines:
        e.tell([0.7], 1.2, "large")
    train_X, train_Y = engine.training_data()
    assert train_X[:, 0].tolist() == pytest.approx([0.1, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7])
    assert train_X[:, 1].tolist() == [0.5] * 4 + [1.0] * 4
    assert (-train_Y).reshape(-1).tolist() == [2.0, 5.0, 3.0, 5.0, 1.5, 1.0, 1.5, 1.2]
    assert without.training_data()[0].shape[0] == 6  # impute_failures=False: successes only


def test_imputed_failures_are_winsorized_and_do_not_decide_the_guard():
    """With ``winsorize`` a failure is imputed at the clipped worst value, not at a
    diverged run's; and the transfer guard neither counts nor scores imputed rows."""
    engine = Engine([Real(0.0, 1.0)], strategy=Strategy(winsorize=True))
    for i in range(10):
        engine.tell([i / 20], 1.0 + i / 10, "small")
    engine.tell([0.99], 1e6, "small")  # diverged
    for x in (0.6, 0.7, 0.8, 0.9):
        engine.tell([x], None, "small")
    values = (-engine.training_data()[1]).reshape(-1).tolist()
    assert max(values) < 10 and values.count(max(values)) == 5  # clipped run + 4 imputed
    guarded = Engine([Real(0.0, 1.0)], strategy=Strategy(transfer_guard=True))
    for i in range(8):
        guarded.tell([i / 8], (i / 8 - 0.3) ** 2, "small")
    for x in (0.3, 0.35, 0.25):
        guarded.tell([x], (x - 0.3) ** 2, "large")
    guarded.tell([0.9], None, "large")
    guarded.tell([0.95], None, "large")
    assert guarded.training_data()[0].shape[0] == 13  # the failures are in the model ...
    guarded.model_at("large")
    assert guarded.transfer == {}  # ... but 3 observed large values do not start the guard


# ---------------------------------------------------------------------- winsorize
def test_winsorize_fits_the_model_on_clipped_values_and_keeps_the_observed_ones():
    xs = [[float(x)] for x in np.linspace(0.0, 1.0, 12)]
    ys = [(x[0] - 0.3) ** 2 for x in xs]
    ys[-1] = ys[-2] = 1e3  # two diverged runs
    for flag in (False, True):
        engine = Engine([Real(0.0, 1.0)], random_state=0, strategy=Strategy(winsorize=flag))
        engine.tell_many(xs, ys, "small")
        _, train_Y = engine.training_data()
        model = engine.fit()
        fitted = model.outcome_transform.untransform(model.train_targets.unsqueeze(-1))[0]
        assert torch.allclose(fitted, train_Y)  # the model is fitted on what training_data says
        assert [t.value for t in engine.history] == ys  # the history keeps what was observed
        assert engine.history.metadata["strategy"]["winsorize"] is flag
        worst = float(-train_Y.min())
        assert (worst < 1.0) if flag else (worst == 1e3)
        assert float(train_Y.max()) == -min(ys)  # the best is never touched


def test_winsorize_keeps_the_large_scale_when_it_sits_above_the_small_one():
    engine = Engine([Real(0.0, 1.0)], random_state=0, strategy=Strategy(winsorize=True))
    xs = np.linspace(0.0, 1.0, 20)
    engine.tell_many([[float(x)] for x in xs], [float(x) for x in xs], "small")
    engine.tell_many([[0.1], [0.5], [0.9]], [7.0, 6.0, 5.0], "large")
    _, train_Y = engine.training_data()
    assert train_Y[-3:].reshape(-1).tolist() == [-7.0, -6.0, -5.0]
    assert engine.recommend(evaluated_only=True) == [0.9]


def _one_scale(y, fidelity=0.5):
    y = torch.as_tensor(y, dtype=torch.float64).reshape(-1, 1)
    return torch.cat([torch.rand(len(y), 1, dtype=y.dtype), torch.full_like(y, fidelity)], -1), -y


def test_winsorize_clips_the_bad_tail_only():
    # Two diverged runs (y = 50, 60) among good ones; the model sees -y.
    y = torch.tensor([0.5, 1.0, 1.0, 2.0, 3.0, 4.0, 4.0, 4.0, 50.0, 60.0], dtype=torch.float64)
    q1, q3 = torch.quantile(y, 0.25), torch.quantile(y, 0.75)
    cut = float(q3 + 1.5 * (q3 - q1))
    X, Y = _one_scale(y)
    out = winsorize_targets(X, Y)
    assert out.shape == (10, 1)
    assert torch.equal(out[:8], Y[:8])  # values under the cutoff unchanged
    assert torch.allclose(out[8:], torch.full((2, 1), -cut, dtype=torch.float64))
    assert int(out.argmax()) == int(Y.argmax())  # the best stays the best


def test_winsorize_never_flattens_a_scale_that_sits_above_the_other():
    # 20 small-scale values in [0, 1] with one diverged run, and three large-scale ones
    # at 5-7: all three lie above the cutoff of all values, none above their own scale's.
    small = torch.linspace(0.0, 1.0, 20, dtype=torch.float64)
    small[-1] = 40.0
    Xs, Ys = _one_scale(small)
    Xl, Yl = _one_scale([7.0, 6.0, 5.0, 5.5], fidelity=1.0)
    out = winsorize_targets(torch.cat([Xs, Xl]), torch.cat([Ys, Yl]))
    assert torch.equal(out[20:], Yl)  # the large scale keeps its values and its order
    assert torch.equal(out[:19], Ys[:19])
    assert float(-out[19]) < 2.0  # the small scale's diverged run is clipped


def test_winsorize_leaves_small_or_untailed_data_alone():
    X, few = _one_scale([0.0, 1.0, 100.0])
    assert torch.equal(winsorize_targets(X, few), few)
    X, flat = _one_scale(torch.arange(12.0))
    assert torch.equal(winsorize_targets(X, flat), flat)
    X, floor = _one_scale([0.0] * 10 + [2.0, 50.0])  # IQR 0: no tail to measure
    assert torch.equal(winsorize_targets(X, floor), floor)
    X, empty = _one_scale(torch.zeros(0))
    assert winsorize_targets(X, empty).shape == (0, 1)
