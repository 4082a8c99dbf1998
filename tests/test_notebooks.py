"""The five tutorial notebooks: generated from tools/make_notebooks.py, committed without outputs,
and executed top to bottom with papermill in SMOKE mode (any cell error fails the test).

The notebooks run in order and share one working folder, as a user's session does (02 reuses
the data of 01, 03 the network of 02, ...); each notebook also creates what it needs when it is
absent (notebook 05 standalone is exercised by tests/test_browser.py).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
sys.path.insert(0, str(REPO / "tools"))

import make_notebooks  # noqa: E402

ORDER = list(make_notebooks.NOTEBOOKS)
KERNEL = "stavis-test-python"


def test_committed_notebooks_match_the_generator() -> None:
    stale = [n for n in ORDER if not (NOTEBOOKS / n).is_file()
             or (NOTEBOOKS / n).read_text(encoding="utf-8") != make_notebooks.render(n)]
    assert not stale, f"regenerate with `python tools/make_notebooks.py`: {stale}"


@pytest.mark.parametrize("name", ORDER)
def test_notebook_structure(name: str) -> None:
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), "commit notebooks with outputs cleared"
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# 0")
    assert "google.colab" in code[0].source  # the Colab / local set-up cell comes first
    params = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1 and "SMOKE = False" in params[0].source and "WORK_DIR = None" in params[0].source
    assert code.index(params[0]) == 1
    # the set-up cell never reinstalls torch on Colab (Colab has its own build)
    pip_lines = [line for line in code[0].source.splitlines() if "pip" in line]
    assert pip_lines and not any("torch" in line or "requirements" in line for line in pip_lines)


@pytest.fixture(scope="module")
def kernel_env(tmp_path_factory, monkeypatch_module):
    """A kernelspec that runs this interpreter, visible only to this test module."""
    root = tmp_path_factory.mktemp("jupyter")
    spec = root / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "stavis tests", "language": "python",
    }))
    monkeypatch_module.setenv("JUPYTER_PATH", str(root))
    monkeypatch_module.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    monkeypatch_module.setenv("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    return root


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


@pytest.fixture(scope="module")
def work_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("notebook_work")


@pytest.mark.notebook
@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("name", ORDER)
def test_notebook_runs_in_smoke_mode(name: str, kernel_env: Path, work_dir: Path, tmp_path: Path) -> None:
    import papermill
    out = tmp_path / name
    papermill.execute_notebook(
        str(NOTEBOOKS / name), str(out),
        parameters={"SMOKE": True, "WORK_DIR": str(work_dir / "work")},
        kernel_name=KERNEL, cwd=str(tmp_path), progress_bar=False, log_output=False,
        execution_timeout=240,
    )  # fmt: skip
    nb = nbformat.read(out, as_version=4)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    images = sum("image/png" in o.get("data", {}) for o in outputs)
    # static renders (GitHub, nbviewer) show text/plain where a widget was: never "HBox(...)"/"VBox(...)"
    plain = [str(o.get("data", {}).get("text/plain", "")) for o in outputs]
    assert not [t for t in plain if t.startswith(("HBox(", "VBox("))], "a widget without a text fallback"
    work = work_dir / "work"
    if name.startswith("01"):
        assert (work / "synthetic" / "fold_lists" / "Synthetic_list_test_1_fps.txt").is_file()
        assert images >= 3  # frames/maps, gaze/sound timeline, audio window
    elif name.startswith("02"):
        assert (work / "runs" / "visual" / "steps.csv").is_file()
        assert images >= 3  # curves, DSAM attention, predictions, NSS over time
    elif name.startswith("03"):
        assert (work / "runs" / "audiovisual" / "steps.csv").is_file()
        assert (work / "eval" / "audio_dependence" / "audio_dependence.csv").is_file()
    elif name.startswith("04"):
        assert len(list((work / "runs").glob("ablation_*"))) >= 6
        assert images >= 1
    elif name.startswith("05"):
        widgets = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                   if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
        assert widgets, "the browser widget was not displayed"
        assert images >= 1, "no still view of the browser for static renders"
        assert any("<video" in str(o.get("data", {}).get("text/html", "")) for o in outputs), "no inline overlay video"
