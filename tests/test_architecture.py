"""The library's shape: one-way imports between layers, and a size limit for files and functions.

Layers, in order; a module may import (at top level or inside a function) only from its own
layer or an earlier one:

0. ``errors``, ``config``, ``files``, ``progress`` (exceptions, the model configuration, small file
   utilities, the progress-bar style)
1. ``model`` (the network and its weight files), ``weights`` (fetching pretrained weights)
2. ``data``, ``losses``, ``metrics``
3. ``runtime`` (device, autocast dtype, channels-last, threads, allocator)
4. ``train``, ``evaluate``, ``inference``, ``export`` — which do not import each other, except
   that ``evaluate`` runs the model through ``inference`` (``predict_video``)
5. ``viz``
6. ``tutorial``, ``demo``
7. the command line (``cli``, every argument parser, and ``__main__``) and the package's lazy
   public API (``stavis_lib``)

Groups are matched by module-name prefix, so ``train`` may be a module or a package.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = "stavis_lib"
ROOT = Path(__file__).resolve().parents[1] / PACKAGE

LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "config", "files", "progress"),
    ("model", "weights"),
    ("data", "losses", "metrics"),
    ("runtime",),
    ("train", "evaluate", "inference", "export"),
    ("viz",),
    ("tutorial", "demo"),
    ("cli", "__main__", ""),  # "" is the package itself (stavis_lib/__init__.py)
)
#: Imports between groups of the same layer that are allowed (importer group, imported group).
SAME_LAYER_ALLOWED = {("evaluate", "inference")}
#: Groups of one layer that may import each other freely (they are one subsystem).
SAME_LAYER_FREE = {0, 1, 2, 6, 7}

MAX_FILE_LINES = 600
MAX_FUNCTION_LINES = 80
#: Files allowed above MAX_FILE_LINES (path relative to stavis_lib -> reason). An entry that
#: no longer exceeds the limit (or no longer exists) fails the test, so the list only shrinks.
LONG_FILES: dict[str, str] = {
    "data/clips.py": "training clips, test windows and the decoded-frame cache share one window "
                     "convention (target position, edge frames), kept side by side",
    "data/media.py": "one ffmpeg protocol (named files, timestamps, rotation) for reading frames, "
                     "reading sound and writing video",
    "data/synthetic.py": "scenes, sounds and simulated gaze of one generator that must stay "
                         "byte-reproducible from a seed",
    "metrics.py": "each metric twice (NumPy per frame and batched torch), side by side so the two "
                  "are read and tested against each other",
}
#: Functions allowed above MAX_FUNCTION_LINES ("path::name" -> reason), same rule as LONG_FILES.
LONG_FUNCTIONS: dict[str, str] = {}


def _modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package."""
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = (PACKAGE,) + path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _group(module: str) -> str | None:
    """The longest layer group that names ``module`` by prefix (None: not in the package)."""
    if module == PACKAGE:
        return ""
    if not module.startswith(PACKAGE + "."):
        return None
    rest = module[len(PACKAGE) + 1:]
    for group in sorted((g for layer in LAYERS for g in layer if g), key=len, reverse=True):
        if rest == group or rest.startswith(group + "."):
            return group
    raise AssertionError(f"module {module} is in no layer of tests/test_architecture.py: add its group to LAYERS")


def _layer(group: str) -> int:
    return next(i for i, layer in enumerate(LAYERS) if group in layer)


def imported_modules(module: str, path: Path, tree: ast.AST | None = None) -> list[tuple[int, str]]:
    """(line, imported module) of every import statement anywhere in the file, relative ones
    resolved; ``from P import name`` yields ``P.name`` when that is a module of the package."""
    tree = tree if tree is not None else ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    known = _modules()
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                child = f"{base}.{alias.name}"
                found.append((node.lineno, child if child in known else base))
    return found


def layering_violations(module: str, path: Path, tree: ast.AST | None = None) -> list[str]:
    """One line per import of ``module`` that breaks the layer order."""
    own = _group(module)
    problems = []
    for line, target in imported_modules(module, path, tree):
        other = _group(target)
        if other is None or other == own:
            continue
        mine, theirs = _layer(own), _layer(other)
        same_layer_ok = mine in SAME_LAYER_FREE or (own, other) in SAME_LAYER_ALLOWED
        if theirs > mine or (theirs == mine and not same_layer_ok):
            problems.append(f"{path.relative_to(ROOT.parent)}:{line}: {module} (layer {mine}) imports "
                            f"{target} (layer {theirs})")
    return problems


def test_every_import_goes_to_the_same_or_an_earlier_layer():
    problems = [p for module, path in _modules().items() for p in layering_violations(module, path)]
    assert not problems, "imports against the layer order:\n" + "\n".join(problems)


def test_the_layering_check_sees_every_kind_of_import(tmp_path):
    """A model module that imports ``train`` in each way Python allows is caught every time."""
    source = (
        "import stavis_lib.train\n"
        "from stavis_lib.train import train\n"
        "from stavis_lib import train as t\n"
        "from ..train import something\n"
        "def f():\n"
        "    from stavis_lib.inference import predict_video\n"
        "    from .. import demo\n"
    )
    path = ROOT / "model" / "example.py"  # never written: the tree is given
    problems = layering_violations(f"{PACKAGE}.model.example", path, ast.parse(source))
    assert len(problems) == 6, problems
    assert all("layer 1" in p for p in problems)
    # evaluate -> inference is the one allowed import inside layer 4; train -> evaluate is not
    inside = "from stavis_lib.inference import predict_video\nfrom stavis_lib.evaluate import evaluate_split\n"
    problems = layering_violations(f"{PACKAGE}.train.loop", ROOT / "train" / "loop.py", ast.parse(inside))
    assert len(problems) == 2 and all("(layer 4) imports" in p for p in problems), problems
    allowed = layering_violations(f"{PACKAGE}.evaluate.scoring", ROOT / "evaluate" / "scoring.py",
                                  ast.parse("from stavis_lib.inference import predict_video\n"))
    assert allowed == []


def test_groups_match_by_prefix_so_train_may_be_a_module_or_a_package():
    assert _group("stavis_lib.train") == "train" == _group("stavis_lib.train.loop")
    assert _group("stavis_lib.model.checkpoints") == "model"
    assert _group("stavis_lib") == "" and _group("torch") is None
    with pytest.raises(AssertionError, match="in no layer"):
        _group("stavis_lib.unplaced")


def _long_functions(path: Path) -> dict[str, int]:
    tree = ast.parse(path.read_text(), str(path))
    return {node.name: node.end_lineno - node.lineno + 1 for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES}


def test_files_and_functions_stay_small_except_the_listed_ones():
    long_files, long_functions = {}, {}
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        lines = len(path.read_text().splitlines())
        if lines > MAX_FILE_LINES:
            long_files[rel] = lines
        for name, length in _long_functions(path).items():
            long_functions[f"{rel}::{name}"] = length
    unlisted = {k: v for k, v in long_files.items() if k not in LONG_FILES}
    unlisted |= {k: v for k, v in long_functions.items() if k not in LONG_FUNCTIONS}
    stale = sorted(set(LONG_FILES) - set(long_files)) + sorted(set(LONG_FUNCTIONS) - set(long_functions))
    assert not unlisted, (f"over {MAX_FILE_LINES} lines per file / {MAX_FUNCTION_LINES} per function "
                          f"(split into named steps): {unlisted}")
    assert not stale, f"now within the limits (or gone): remove from the allow-lists: {stale}"
