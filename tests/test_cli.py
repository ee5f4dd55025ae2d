from __future__ import annotations

import json

import pytest

from scaleup_bo.cli import main
from scaleup_bo.history import History


@pytest.mark.slow
def test_demo_runs_with_a_tiny_budget(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--budget", "tiny", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "evaluations: 6 small, 2 large" in out
    assert "large-scale best" in out and "small-scale best, run at large scale" in out
    assert (tmp_path / "demo.png").stat().st_size > 1000
    history = History.load(tmp_path / "history.json")
    assert len(history.at("small")) == 6 and len(history.at("large")) == 2
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["large_best"]["score"] <= summary["small_best_at_large"]["score"]


@pytest.mark.slow
def test_demo_trains_on_one_thread_and_restores_the_count(tmp_path, monkeypatch):
    """PyTorch's CPU results depend on the thread count: the demo trains on one thread,
    so it prints the same numbers whatever the machine's core count."""
    import torch

    from scaleup_bo import demo

    seen = []
    real = demo.CNNTask._loss

    def spy(self, params, large):
        seen.append(torch.get_num_threads())
        return real(self, params, large)

    monkeypatch.setattr(demo.CNNTask, "_loss", spy)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        demo.run_demo(tmp_path, small_steps=1, large_steps=1, progress=False)
        assert seen and set(seen) == {1}
        assert torch.get_num_threads() == 2  # restored
    finally:
        torch.set_num_threads(before)


def test_demo_restores_the_thread_count_when_it_fails(tmp_path, monkeypatch):
    import torch

    from scaleup_bo import demo

    def broken(seed=0):
        raise RuntimeError("no data")

    monkeypatch.setattr(demo, "load_digits_data", broken)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with pytest.raises(RuntimeError, match="no data"):
            demo.run_demo(tmp_path, progress=False)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_cli_requires_a_command(capsys):
    with pytest.raises(SystemExit):
        main([])


def test_fashion_mnist_without_torchvision_explains(monkeypatch, tmp_path):
    import sys

    monkeypatch.setitem(sys.modules, "torchvision", None)  # as if not installed
    with pytest.raises(SystemExit, match="needs torchvision"):
        main(["demo", "--fashion-mnist", "--out", str(tmp_path), "--quiet"])
