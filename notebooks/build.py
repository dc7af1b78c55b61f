"""Build the notebooks from the cells in ``notebooks/cells.py``: assemble, execute headless, save with outputs.

    python notebooks/build.py                      # rebuild both notebooks in place (about a minute on CPU)
    python notebooks/build.py --figures /tmp/figs  # also save every plot as PNG, to look at them

The notebooks are outputs of this script: edit ``cells.py``, never the ``.ipynb`` files. Execution uses a
fresh temporary ``SQLML_HOME``, so trained heads and caches of the person building never leak into the
saved outputs, and the trained head versions shown are always ``@1``. A test checks that the committed
notebooks hold exactly these cells and that they execute.
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from cells import NOTEBOOKS  # noqa: E402  (cells.py sits beside this script)

#: Seconds one cell may run: the slowest cell (model load plus 36 articles) takes a few seconds on CPU.
CELL_TIMEOUT = 120
QUIET = "import warnings; warnings.filterwarnings('ignore', message='IProgress not found')"


def assemble(name: str) -> nbformat.NotebookNode:
    """The notebook ``name`` from its cells, without outputs."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    for kind, source in NOTEBOOKS[name]:
        cell = nbformat.v4.new_markdown_cell(source) if kind == "md" else nbformat.v4.new_code_cell(source)
        nb.cells.append(cell)
    # Stable cell ids keep rebuilds free of spurious diffs.
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"{name}-{i:02d}"
    return nb


def execute(nb: nbformat.NotebookNode, home: str | None = None) -> nbformat.NotebookNode:
    """Run every cell in a fresh kernel whose working directory is ``notebooks/``; raise on a failing cell.

    ``home``: the kernel's ``SQLML_HOME`` (default: a new empty temporary folder).
    """
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "SQLML_HOME": home or tmp}
        client = NotebookClient(
            nb, timeout=CELL_TIMEOUT, kernel_name="python3", resources={"metadata": {"path": str(HERE)}},
            record_timing=False,  # no timestamps in the saved notebooks: a rebuild diffs only where outputs changed
            # tqdm.auto (imported by transformers) warns "IProgress not found" in a kernel without ipywidgets:
            # noise about the build machine, not about sqlml, so it stays out of the saved outputs.
            extra_arguments=[f"--IPKernelApp.exec_lines={QUIET}"],
        )
        client.execute(env=env)  # the kernel's environment: this process's, with its own SQLML_HOME
    return nb


def save_figures(nb: nbformat.NotebookNode, name: str, folder: Path) -> list[Path]:
    """Write every ``image/png`` output of ``nb`` to ``folder/<name>-<cell>-<k>.png``."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for i, cell in enumerate(nb.cells):
        for k, output in enumerate(cell.get("outputs", [])):
            data = output.get("data", {})
            if "image/png" in data:
                path = folder / f"{name}-{i:02d}-{k}.png"
                path.write_bytes(base64.b64decode(data["image/png"]))
                written.append(path)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=sorted(NOTEBOOKS), help="notebooks to build (default: all)")
    parser.add_argument("--figures", type=Path, default=None, help="also save every plot as PNG in this folder")
    args = parser.parse_args(argv)
    for name in args.names:
        start = time.perf_counter()
        nb = execute(assemble(name))
        nbformat.write(nb, HERE / f"{name}.ipynb")
        print(f"{name}.ipynb: executed in {time.perf_counter() - start:.1f} s")
        if args.figures:
            for path in save_figures(nb, name, args.figures):
                print(f"  {path}")


if __name__ == "__main__":
    main()
