from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest

from scaleup_bo import LargeScaleOptimizer, SmallScaleOptimizer, plot_opt_process, plot_performance
from scaleup_bo.plots import performance_data


class _Result:
    Y_iters = np.array([5.0, 4.0, 6.0, 2.0, 3.0])


def test_performance_data_is_the_running_minimum():
    x, best = performance_data(_Result())
    np.testing.assert_array_equal(x, [1, 2, 3, 4, 5])
    np.testing.assert_array_equal(best, [5.0, 4.0, 4.0, 2.0, 2.0])


def test_plots_draw_on_the_given_axes_and_return_them():
    fig, (a, b) = plt.subplots(1, 2)
    try:
        assert plot_performance(_Result(), ax=a) is a
        np.testing.assert_array_equal(a.get_lines()[0].get_ydata(), [5.0, 4.0, 4.0, 2.0, 2.0])
        assert plot_opt_process(_Result(), ax=b) is b
        np.testing.assert_array_equal(b.get_lines()[0].get_ydata(), _Result.Y_iters)
    finally:
        plt.close(fig)


def test_plots_of_real_optimizers_without_show(monkeypatch):
    monkeypatch.setattr(
        plt, "show", lambda *a, **k: pytest.fail("the library must not call plt.show()")
    )
    small = SmallScaleOptimizer(
        lambda p: (p[0] - 0.2) ** 2, [(0.0, 1.0)], n_steps=1, random_state=0
    )
    large = LargeScaleOptimizer(
        lambda p: (p[0] - 0.3) ** 2, [(0.0, 1.0)], small=small, n_steps=1, random_state=0
    )
    _fig, ax = plt.subplots()
    try:
        ax = plot_performance(large, ax=ax)
        assert len(ax.get_lines()[0].get_ydata()) == 2
        plt.figure()
        assert plot_opt_process(small) is plt.gca()
    finally:
        plt.close("all")


# ---------------------------------------------------------------------- plots of both scales
def _history_with_pairs():
    from scaleup_bo import History, SearchSpace
    from scaleup_bo.benchmarks.problems import mixed_toy_space

    space = SearchSpace(mixed_toy_space())
    h = History(metadata={"search_space": space.describe()})
    pts = space.sample(6, seed=0)
    for i, p in enumerate(pts):
        h.add(p, float(i), "small")
    h.add(pts[0], None, "large", status="failed", error="boom")
    for i in [3, 1, 4, 2]:
        h.add(pts[i], 10.0 + i, "large")  # same order as small: rank correlation 1
    h.add(space.sample(7, seed=1)[6], 0.5, "large")  # large only: not a pair
    return h, pts


def test_convergence_data_counts_failures_but_never_improves_on_them():
    from scaleup_bo.plots import convergence_data

    h, _ = _history_with_pairs()
    data = convergence_data(h)
    np.testing.assert_array_equal(data["small"][1], [0, 0, 0, 0, 0, 0])
    x, best = data["large"]
    np.testing.assert_array_equal(x, [1, 2, 3, 4, 5, 6])
    assert np.isnan(best[0])
    np.testing.assert_array_equal(best[1:], [13.0, 11.0, 11.0, 11.0, 0.5])


def test_fidelity_comparison_pairs_configurations_and_ranks_them():
    from scaleup_bo.plots import fidelity_comparison_data, plot_fidelity_comparison

    h, pts = _history_with_pairs()
    data = fidelity_comparison_data(h)
    assert data.params == [tuple(pts[i]) for i in [3, 1, 4, 2]]
    np.testing.assert_array_equal(data.small, [3.0, 1.0, 4.0, 2.0])
    assert data.spearman == pytest.approx(1.0)
    h.add(pts[5], 9.0, "large")  # best at large, worst at small
    assert fidelity_comparison_data(h).spearman == pytest.approx(0.0, abs=1e-12)
    fig, ax = plt.subplots()
    try:
        plot_fidelity_comparison(h, ax=ax)
        assert "5 configs, Spearman 0.00" in ax.get_title()
    finally:
        plt.close(fig)


@pytest.fixture(scope="module")
def fitted_engine():
    from scaleup_bo import Engine
    from scaleup_bo.benchmarks.problems import mixed_toy_large, mixed_toy_small, mixed_toy_space

    engine = Engine(mixed_toy_space(), random_state=0)
    for p in engine.space.sample(10, seed=0):
        engine.tell(p, mixed_toy_small(p), "small")
    for p in engine.space.sample(4, seed=1):
        engine.tell(p, mixed_toy_large(p), "large")
    return engine


def test_slice_data_is_in_user_units(fitted_engine):
    from scaleup_bo.plots import slice_data

    lr = slice_data(fitted_engine, "lr", n_points=30)
    assert lr.log_scale and not lr.categorical
    assert lr.values[0] == pytest.approx(1e-4) and lr.values[-1] == pytest.approx(1e-1)
    ratios = np.diff(np.log(lr.values))
    assert np.allclose(ratios, ratios[0])  # log-spaced
    assert lr.reference == list(fitted_engine.best("large").params)
    assert np.all(lr.lower <= lr.mean) and np.all(lr.mean <= lr.upper)
    opt = slice_data(fitted_engine, "opt")
    assert opt.categorical and opt.values == ["adam", "sgd", "rms"]
    layers = slice_data(fitted_engine, 1)
    assert layers.values == list(range(1, 9)) and all(type(v) is int for v in layers.values)
    # At the reference point the model is close to what was observed there.
    best = fitted_engine.best("large")
    k = opt.values.index(best.params[2])
    assert opt.mean[k] == pytest.approx(best.value, abs=0.3 * abs(best.value) + 0.2)


def test_plots_explain_a_wrong_dimension_or_object(fitted_engine):
    from scaleup_bo.plots import plot_slice, plot_slices, slice_data

    with pytest.raises(ValueError, match=r"no dimension named 'learning_rate'; the names are"):
        plot_slice(fitted_engine, "learning_rate")
    with pytest.raises(ValueError, match="index 4 is out of range for 4 dimensions"):
        slice_data(fitted_engine, 4)
    assert slice_data(fitted_engine, -1).name == slice_data(fitted_engine, 3).name
    from scaleup_bo import Engine

    fresh = Engine([(0.0, 1.0)], random_state=0)  # no trial yet: the same error from both
    with pytest.raises(ValueError, match="no successful trial yet: nothing to slice"):
        plot_slice(fresh, 0)
    with pytest.raises(ValueError, match="no successful trial yet: nothing to slice"):
        plot_slices(fresh)
    history = fitted_engine.history
    with pytest.raises(TypeError, match="plot_slices needs an optimizer or an Engine"):
        plot_slices(history)
    with pytest.raises(TypeError, match="for a History use plot_convergence"):
        plot_performance(history)


def test_slice_shows_the_model_the_large_scale_proposals_use(monkeypatch):
    """With large_model="multitask" (and "auto" when it picks one) the large-scale slice is
    the MultiTaskGP's, which scales the small function, not the shared model's."""
    import math

    import torch
    from botorch.models import MultiTaskGP

    from scaleup_bo import Engine, Strategy
    from scaleup_bo.plots import plot_slice, slice_data

    def make(large_model):
        engine = Engine([(0.0, 1.0)], random_state=0, strategy=Strategy(large_model=large_model))
        xs = np.linspace(0, 1, 12)
        engine.tell_many([[x] for x in xs], [math.sin(6 * x) for x in xs], "small")
        for x in [0.2, 0.5, 0.9]:  # large = 3 x small + 2
            engine.tell([x], 3 * math.sin(6 * x) + 2, "large")
        return engine

    multitask, shared = make("multitask"), make("shared")
    model, kind = multitask.model_at("large")
    assert kind == "multitask" and isinstance(model, MultiTaskGP)
    assert multitask.model_at("small")[1] == "shared"
    assert shared.model_at("large")[1] == "shared"
    mt, sh = slice_data(multitask, 0), slice_data(shared, 0)
    assert (mt.model, sh.model) == ("multitask", "shared")
    X = torch.tensor([[v, 1.0] for v in mt.values], dtype=torch.float64)
    with torch.no_grad():
        expected = -model.posterior(X).mean.squeeze(-1).numpy()
    np.testing.assert_allclose(mt.mean, expected, rtol=1e-6, atol=1e-9)
    assert np.abs(mt.mean - sh.mean).max() > 0.05  # a different model, visibly
    small = slice_data(multitask, 0, scale="small")
    assert small.model == "shared"
    # Looking at the large scale between steps does not change the next large proposal:
    # every fit the slice makes has the seed ask("large") would use, and ask reuses them.
    import scaleup_bo.selection as selection

    looked, plain = make("auto"), make("auto")
    seeds = []
    real = selection.fit_model

    def recording(*args, **kwargs):
        seeds.append(kwargs["seed"])
        return real(*args, **kwargs)

    monkeypatch.setattr(selection, "fit_model", recording)
    slice_data(looked, 0)
    sliced = list(seeds)
    seeds.clear()
    point = looked.ask("large")
    assert sliced and seeds == []  # shared, MultiTaskGP, ...: every fit reused
    assert plain.ask("large") == point
    assert sorted(seeds) == sorted(sliced)  # the fits ask makes have the slice's seeds
    assert looked.large_model_choice == plain.large_model_choice
    ax = plot_slice(multitask, 0)
    try:
        assert ax.get_title() == "MultiTaskGP"
        assert ax.get_lines()[0].get_label() == "MultiTaskGP at large scale"
    finally:
        plt.close("all")


def test_slice_and_evaluation_plots_label_axes(fitted_engine):
    from scaleup_bo.plots import evaluations_data, plot_evaluations, plot_slices

    calls = []
    model_at = fitted_engine.model_at
    fitted_engine.model_at = lambda scale: calls.append(scale) or model_at(scale)
    try:
        axes = plot_slices(fitted_engine)  # one model choice for the four panels
    finally:
        del fitted_engine.model_at
    assert calls == ["large"]
    try:
        assert axes[0].get_xscale() == "log" and axes[3].get_xscale() == "linear"
        assert [t.get_text() for t in axes[2].get_xticklabels()] == ["adam", "sgd", "rms"]
    finally:
        plt.close("all")
    counts = evaluations_data(fitted_engine.history, "opt")
    assert len(counts["small"]) == 10 and len(counts["large"]) == 4
    axes = plot_evaluations(fitted_engine)
    try:
        assert axes[0].get_xscale() == "log"
        bars = axes[2].patches[:3]  # small-scale bars, one per category
        assert [b.get_height() for b in bars] == [
            counts["small"].count(c) for c in ["adam", "sgd", "rms"]
        ]
    finally:
        plt.close("all")


def test_cost_convergence_data_and_plot():
    from scaleup_bo import ScaleUpOptimizer, plot_cost_convergence
    from scaleup_bo.plots import cost_convergence_data

    opt = ScaleUpOptimizer(None, None, [(0.0, 1.0)], budget=20.0, cost_small=1.0, cost_large=5.0)
    for x, y, scale in [(0.1, 3.0, "small"), (0.2, 2.0, "large"), (0.3, 1.0, "small"),
                        (0.4, None, "large"), (0.5, 1.5, "large")]:  # fmt: skip
        opt.tell([x], y, scale)
    d = cost_convergence_data(opt)
    assert d["cost"].tolist() == [1.0, 6.0, 7.0, 12.0, 17.0]
    assert np.isnan(d["best_large"][0])
    assert d["best_large"][1:].tolist() == [2.0, 2.0, 2.0, 1.5]  # small values never count
    ax = plot_cost_convergence(opt)
    assert ax.get_xlabel() == "cumulative cost (cost units)"
    labels = ax.get_legend_handles_labels()[1]
    assert "small-scale run (2)" in labels and "large-scale run (3)" in labels
    plt.close("all")


def test_cost_plot_explains_a_wrong_optimizer():
    from scaleup_bo import plot_cost_convergence

    small = SmallScaleOptimizer(lambda p: p[0], [(0.0, 1.0)], n_steps=0, n_initial_points=2)
    with pytest.raises(TypeError, match="ScaleUpOptimizer"):
        plot_cost_convergence(small)
    with pytest.raises(TypeError, match="ScaleUpOptimizer"):
        plot_cost_convergence(small.history)


def test_panel_plots_keep_their_labels_inside_the_figure(fitted_engine, tmp_path):
    from scaleup_bo.plots import plot_evaluations, plot_slices

    for plot in (plot_slices, plot_evaluations):
        axes = plot(fitted_engine)
        fig = axes[0].figure
        try:
            fig.savefig(tmp_path / "panels.png")  # lays the figure out as a user saves it
            renderer = fig.canvas.get_renderer()
            box = fig.bbox
            for ax in axes:
                label = ax.xaxis.label.get_window_extent(renderer)
                assert box.y0 <= label.y0 and label.y1 <= box.y1, plot.__name__
        finally:
            plt.close("all")
