"""Execute the course's notebooks top to bottom.

    python notebooks/run.py            run every notebook, fail on the first error
    python notebooks/run.py --save     run them and save the outputs in place
    python notebooks/run.py 02         only the notebooks whose name contains "02"

The test suite runs every notebook the same way (tests/notebooks); --save is
for authors, so that the committed notebooks show the outputs a reader gets.
"""

from __future__ import annotations

import argparse
import pathlib
import sys

import nbformat
from nbclient import NotebookClient

HERE = pathlib.Path(__file__).resolve().parent
CELL_TIMEOUT_SECONDS = 120


def notebooks(pattern: str = "") -> list[pathlib.Path]:
    return sorted(p for p in HERE.glob("*.ipynb") if pattern in p.name)


def execute(path: pathlib.Path) -> nbformat.NotebookNode:
    """Run one notebook in a fresh kernel, its folder as working directory."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT_SECONDS,
        kernel_name="python3",
        record_timing=False,  # no timestamps in the saved cells: diffs show only real changes
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    _coalesce_streams(notebook)
    return notebook


def _coalesce_streams(notebook: nbformat.NotebookNode) -> None:
    """Join each cell's consecutive stdout (or stderr) outputs into one.

    How a cell's printing is cut into output messages depends on timing; joined,
    the saved notebook is the same from one run to the next.
    """
    for cell in notebook.cells:
        merged = []
        for output in cell.get("outputs", []):
            previous = merged[-1] if merged else None
            if (output.output_type == "stream" and previous is not None
                    and previous.output_type == "stream" and previous.name == output.name):
                previous.text += output.text
            else:
                merged.append(output)
        if "outputs" in cell:
            cell.outputs = merged


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pattern", nargs="?", default="")
    parser.add_argument("--save", action="store_true", help="write the outputs back")
    args = parser.parse_args(argv)
    for path in notebooks(args.pattern):
        print(f"running {path.name} ...", flush=True)
        notebook = execute(path)
        if args.save:
            nbformat.write(notebook, path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
