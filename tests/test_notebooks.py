"""Every notebook runs top to bottom with SMOKE_TEST=1 (tiny budgets), as a user would."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))


def test_all_five_notebooks_exist():
    assert [p.stem for p in NOTEBOOKS] == [
        "01_quickstart",
        "02_comparing_fidelities",
        "03_swapping_acquisition_functions",
        "04_parallel_with_dask",
        "05_cost_aware_scale_up",
    ]


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes(path, tmp_path, monkeypatch):
    monkeypatch.setenv("SMOKE_TEST", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    notebook = nbformat.read(path, as_version=4)
    assert all(not c.get("outputs") for c in notebook.cells if c.cell_type == "code"), (
        "commit notebooks without outputs"
    )
    client = NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": tmp_path}}
    )
    client.execute()
    errors = [
        o
        for c in notebook.cells
        if c.cell_type == "code"
        for o in c.outputs
        if o.output_type == "error"
    ]
    assert not errors
    # What a notebook saves on purpose, and nothing else: a journal left in the working
    # directory would resume the finished runs the next time the notebook runs.
    written = {"01_quickstart": ["quickstart_history.json"]}.get(path.stem, [])
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix in (".json", ".jsonl")) == written
    assert all((tmp_path / name).stat().st_size > 0 for name in written)
