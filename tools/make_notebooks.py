"""Write the five tutorial notebooks (notebooks/01…05) from the cell sources in tools/nbsrc/
(``common.py`` for the shared cells, one module per notebook).

The notebooks are generated, so that they are reproducible and reviewable as plain Python:
edit the cells there, then run

    .venv/bin/python tools/make_notebooks.py            # writes notebooks/*.ipynb (outputs cleared)
    .venv/bin/python tools/make_notebooks.py --check    # exits 1 if a notebook differs from its sources

Every notebook has the same first three code cells: the Colab/local set-up, the papermill
``parameters`` cell (``SMOKE`` etc.; CI passes ``SMOKE=True``) and the ``Tutorial`` state that
picks the device and the sizes. Work is done by ``stavis_lib`` (``stavis_lib.tutorial.Tutorial``
and the modules it calls; figures from ``stavis_lib.viz``); the notebooks hold narrative,
parameters and plots.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))

from nbsrc import nb01_data, nb02_visual, nb03_audiovisual, nb04_ablations, nb05_overlays  # noqa: E402
from nbsrc.common import GITHUB_BRANCH, GITHUB_REPO, KERNELSPEC, REPO, md  # noqa: E402

OUT = REPO / "notebooks"


NOTEBOOKS = {
    "01_data_preparation.ipynb": nb01_data.CELLS,
    "02_visual_only_training.ipynb": nb02_visual.CELLS,
    "03_audiovisual_training.ipynb": nb03_audiovisual.CELLS,
    "04_ablations.ipynb": nb04_ablations.CELLS,
    "05_interactive_overlays.ipynb": nb05_overlays.CELLS,
}


def colab_link(name: str) -> str:
    url = f"https://colab.research.google.com/github/{GITHUB_REPO}/blob/{GITHUB_BRANCH}/notebooks/{name}"
    return f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({url})"


def build(cells: list[nbformat.NotebookNode], name: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    title, rest = cells[0].source.split("\n", 1)
    cells = [md(f"{title}\n\n{colab_link(name)}\n{rest}"), *cells[1:]]
    nb.cells = cells
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["language_info"] = {"name": "python"}
    nb.metadata["accelerator"] = "GPU"  # Colab: open with a GPU runtime
    for i, cell in enumerate(nb.cells):  # stable ids: regenerated notebooks diff cleanly
        cell["id"] = f"c{i:02d}"
    nbformat.validate(nb)
    return nb


def render(name: str) -> str:
    return nbformat.writes(build(NOTEBOOKS[name], name)) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--check", action="store_true", help="only compare; exit 1 when a notebook is out of date")
    p.add_argument("--out", type=Path, default=OUT)
    a = p.parse_args(argv)
    stale = []
    a.out.mkdir(parents=True, exist_ok=True)
    for name in NOTEBOOKS:
        text = render(name)
        path = a.out / name
        if a.check:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")
    if stale:
        print("out of date (run tools/make_notebooks.py):", ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
