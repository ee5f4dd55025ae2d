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
    for scale in ("small", "large"):
        real = getattr(demo.CNNTask, scale)

        def spy(self, params, real=real):
            seen.append(torch.get_num_threads())
            return real(self, params)

        monkeypatch.setattr(demo.CNNTask, scale, spy)
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


@pytest.mark.parametrize("fail_all", [False, True])
def test_demo_reports_a_small_winner_that_fails_at_large_scale(
    tmp_path, capsys, monkeypatch, fail_all
):
    """A small-scale winner invalid at large scale (a kernel too large for the bigger
    network) is reported as failed there, not as another run's score; with every large
    run failed the demo still finishes."""
    from scaleup_bo import demo

    calls = []

    def large(self, p):
        calls.append(p)
        if fail_all or len(calls) == 1:
            raise RuntimeError("kernel too large for the large network")
        return 0.5 + 0.01 * p[2]

    monkeypatch.setattr(demo.CNNTask, "small", lambda self, p: 1.0 - 0.1 * p[2])
    monkeypatch.setattr(demo.CNNTask, "large", large)
    argv = ["demo", "--out", str(tmp_path), "--budget", "tiny", "--large-steps", "2", "--quiet"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "evaluations: 6 small, 3 large, " + ("3" if fail_all else "1") + " failed" in out
    assert "the small-scale best failed at large scale: RuntimeError: kernel too large" in out
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["small_best_at_large"]["score"] is None
    assert (summary["large_best"]["score"] is None) == fail_all
    assert str(tmp_path / "summary.json") in out


def test_cli_requires_a_command(capsys):
    with pytest.raises(SystemExit):
        main([])


def test_fashion_mnist_without_torchvision_explains(monkeypatch, tmp_path):
    import sys

    monkeypatch.setitem(sys.modules, "torchvision", None)  # as if not installed
    with pytest.raises(SystemExit, match="needs torchvision"):
        main(["demo", "--fashion-mnist", "--out", str(tmp_path), "--quiet"])


def test_benchmark_report_explains_a_file_it_cannot_report(tmp_path, capsys):
    cost = tmp_path / "cost.json"
    cost.write_text(json.dumps({"config": {"budget": 135.0}, "traces": {}}))
    main_file = tmp_path / "main.json"
    main_file.write_text(json.dumps({"config": {"n_large": 11}, "results": {}}))
    (tmp_path / "notes.json").write_text("not json")
    cases = [
        (["--report", str(cost)], "it is the cost-aware benchmark's: add --cost-aware"),
        (["--report", str(main_file), "--cost-aware"], "leave out --cost-aware"),
        (["--report", str(tmp_path / "missing.json")], "cannot read it"),
        (["--report", str(tmp_path / "notes.json")], "not a JSON results file"),
    ]
    for argv, why in cases:
        assert main(["benchmark", *argv]) == 2
        err = capsys.readouterr().err
        assert err.startswith("scaleup-bo benchmark: error: --report") and why in err


@pytest.mark.parametrize(
    ("argv", "why"),
    [
        (["benchmark", "--seeds", "0"], "--seeds: must be an integer >= 1, got '0'"),
        (["benchmark", "--seeds", "-1"], "--seeds: must be an integer >= 1"),
        (["benchmark", "--large", "0"], "--large: must be an integer >= 1"),
        (["benchmark", "--small-steps", "-1"], "--small-steps: must be an integer >= 0"),
        (["benchmark", "--small-initial", "0"], "--small-initial: must be an integer >= 1"),
        (["benchmark", "--cost-aware", "--cost-large", "-5"], "--cost-large: must be a positive"),
        (["benchmark", "--cost-small", "nan"], "--cost-small: must be a positive"),
        (["demo", "--small-steps", "-1"], "--small-steps: must be an integer >= 0"),
        (["demo", "--large-steps", "x"], "--large-steps: must be an integer >= 0"),
    ],
)
def test_bad_numbers_on_the_command_line_are_named(argv, why, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert why in capsys.readouterr().err


def test_benchmark_checks_its_output_paths_before_running(tmp_path, capsys):
    missing = tmp_path / "no" / "such" / "dir"
    for flag in ("--out", "--plot"):
        argv = ["benchmark", "--problems", "forrester", "--methods", "random", "--seeds", "1"]
        assert main([*argv, flag, str(missing / "x.json"), "--quiet"]) == 2
        err = capsys.readouterr().err
        assert f"{flag} {missing / 'x.json'}: its folder does not exist" in err


def test_benchmark_explains_a_results_file_of_another_protocol(tmp_path, capsys):
    out = tmp_path / "r.json"
    argv = ["benchmark", "--problems", "forrester", "--methods", "random", "--seeds", "1",
            "--small-initial", "2", "--small-steps", "0", "--large", "2", "--quiet"]  # fmt: skip
    assert main([*argv, "--out", str(out)]) == 0
    capsys.readouterr()
    assert main([*argv[:-2], "3", "--quiet", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("scaleup-bo benchmark: error:") and "n_large=2, not 3" in err
