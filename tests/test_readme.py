"""Every Python block of the README runs, in order, as a new user would paste them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_the_readme_has_its_examples():
    text = "\n".join(_blocks())
    for needed in ("SmallScaleOptimizer(", "Engine(", "ScaleUpOptimizer(", "journal=",
                   "acq_func=optimistic", "surrogate=plain_gp", "scale_chooser=small_first",
                   "LocalCluster("):  # fmt: skip
        assert needed in text


@pytest.mark.slow
def test_every_readme_block_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "readme"}
    for i, block in enumerate(_blocks()):
        try:
            exec(compile(block, f"README block {i}", "exec"), namespace)
        except Exception as exc:  # name the block that failed
            raise AssertionError(f"README block {i} failed:\n{block}") from exc
    assert namespace["large"].best_score < float("inf")
