"""The notebooks: committed copies hold exactly the cells of notebooks/cells.py, and they execute headless."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def load_build() -> ModuleType:
    spec = importlib.util.spec_from_file_location("notebooks_build", NOTEBOOKS / "build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build = load_build()


def cells(nb: nbformat.NotebookNode) -> list[tuple[str, str]]:
    return [(cell.cell_type, cell.source) for cell in nb.cells]


@pytest.mark.parametrize("name", sorted(build.NOTEBOOKS))
def test_committed_notebook_is_current_and_saved_with_outputs(name: str) -> None:
    committed = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    assert cells(committed) == cells(build.assemble(name)), f"notebooks/{name}.ipynb is stale: run python notebooks/build.py"
    code = [cell for cell in committed.cells if cell.cell_type == "code"]
    assert all(cell.execution_count is not None for cell in code), "saved without running: run python notebooks/build.py"
    assert not [o for cell in code for o in cell.outputs if o.output_type == "error"]
    assert not [o for cell in code for o in cell.outputs if o.output_type == "stream" and o.name == "stderr"]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(build.NOTEBOOKS))
def test_notebook_executes_headless(name: str, tmp_path: Path) -> None:
    nb = build.execute(build.assemble(name), home=str(tmp_path))  # raises CellExecutionError on a failing cell
    figures = build.save_figures(nb, name, tmp_path / "figures")
    assert len(figures) >= 2, "every notebook shows at least two plots"
    html = [o for cell in nb.cells for o in cell.get("outputs", []) if "text/html" in o.get("data", {})]
    assert html, "tables render as HTML"
