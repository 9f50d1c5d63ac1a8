"""Every notebook of the course runs top to bottom without an error.

The notebooks assert what they claim (our bytes equal protobuf's, ...), so a
notebook that stops telling the truth fails here.
"""

import pathlib
import sys

import pytest

NOTEBOOKS = pathlib.Path(__file__).resolve().parents[2] / "notebooks"
sys.path.insert(0, str(NOTEBOOKS))

import run  # noqa: E402  (notebooks/run.py)

PATHS = run.notebooks()


def test_there_are_notebooks():
    assert len(PATHS) >= 11


@pytest.mark.timeout(300)
@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_notebook_runs(path):
    notebook = run.execute(path)
    errors = [output for cell in notebook.cells if cell.cell_type == "code"
              for output in cell.get("outputs", []) if output.output_type == "error"]
    assert not errors
