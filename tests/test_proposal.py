"""One step's proposal: the space-filling design, the small winners re-run first at large
scale (from distinct basins), then the acquisition's point."""

from __future__ import annotations

from skopt.space import Real

from scaleup_bo import Engine, LargeScaleOptimizer, SmallScaleOptimizer, Strategy


def test_first_large_points_are_the_best_small_ones_from_distinct_basins():
    engine = Engine([(0.0, 1.0)], random_state=0, strategy=Strategy(transfer_points=3))
    xs = [0.1, 0.12, 0.14, 0.5, 0.52, 0.9]
    ys = [0.0, 0.1, 0.2, 0.5, 0.6, 0.3]  # basins near 0.1 (best), 0.9, 0.5
    engine.tell_many([[x] for x in xs], ys, "small")
    asked = [engine.ask("large") for _ in range(3)]  # pending points count as tried
    assert asked == [[0.1], [0.9], [0.5]]  # 0.12 and 0.14 lie within reach of 0.1
    for p in asked:
        engine.tell(p, 1.0, "large")
    assert engine.ask("large")[0] not in xs  # then the model takes over
    # transfer_points=1 (default): the winner only; 0: the model from the first ask.
    one = Engine([(0.0, 1.0)], random_state=0)
    one.tell_many([[x] for x in xs], ys, "small")
    assert one.ask("large") == [0.1] and one.ask("large")[0] not in xs
    none = Engine([(0.0, 1.0)], random_state=0, strategy=Strategy(transfer_points=0))
    none.tell_many([[x] for x in xs], ys, "small")
    assert none.ask("large")[0] not in xs
    # Small-scale asks are never affected.
    assert engine.ask("small")[0] not in xs


def test_large_optimizer_can_start_from_several_small_basins():
    xs = [[0.1], [0.12], [0.9], [0.5]]
    ys = [0.0, 0.1, 0.3, 0.5]
    large = LargeScaleOptimizer(
        lambda p: (p[0] - 0.8) ** 2, [(0.0, 1.0)], X_iters_small=xs, Y_iters_small=ys,
        n_steps=2, random_state=0, strategy=Strategy(transfer_points=2, transfer_guard=True),
    )  # fmt: skip
    assert large.X_iters.tolist()[:2] == [[0.1], [0.9]]
    assert large.strategy.transfer_guard is True


def test_model_fit_failure_falls_back_to_a_space_filling_point(monkeypatch, caplog):
    from botorch.exceptions.errors import ModelFittingError

    import scaleup_bo.model as model_module

    def failing_fit(mll, **kwargs):
        raise ModelFittingError("all attempts to fit the model have failed")

    monkeypatch.setattr(model_module, "fit_gpytorch_mll", failing_fit)
    opt = SmallScaleOptimizer(
        lambda p: (p[0] - 0.3) ** 2, [Real(0.0, 1.0)], n_steps=3, n_initial_points=1, random_state=0
    )
    assert len(opt.Y_iters) == 4 and len(set(opt.X_iters[:, 0])) == 4
    assert opt.model is None
    assert "falling back to a space-filling proposal" in caplog.text
