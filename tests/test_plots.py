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
