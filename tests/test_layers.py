"""Layers run one way: ``analysis/`` reports on top of ``benchmark/``, nothing below the command line
imports ``analysis/``, no module imports a layer above its own (the map of docs/architecture.md), no
import cycles, and every module imports on its own.

The import graph is read with :mod:`ast` from the source of every module of both packages. Its edges are
*all* the imports a module makes: module-level, inside functions (deferred imports), under
``TYPE_CHECKING`` and ``importlib.import_module("...")`` with a literal name; a deferred import still ties
the two modules together, so it may no more close a cycle than a module-level one. ``from pkg import name``
counts as an import of ``pkg.name`` where that is a module, else of ``pkg``. The implicit import of a
module's parent packages is not an edge (Python initialises a package before its submodules, so a
submodule importing a sibling is no cycle with the package's ``__init__``).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("benchmark", "analysis")
# the command line is the top layer: it alone may call into the reporting layer
MAY_IMPORT_ANALYSIS = {"benchmark.cli"}
# docs/architecture.md, top to bottom; a module belongs to the layer of its longest listed prefix
LAYERS = {
    "command line": ("benchmark.cli", "benchmark.cli_options", "benchmark.interrupt", "benchmark.imagenet.cli",
                     "benchmark.darts.cli"),
    "reporting": ("analysis",),
    "orchestration": ("benchmark.harness", "benchmark.perf", "benchmark.perf_suite", "benchmark.cpu_estimate"),
    "methods and drivers": ("benchmark.methods", "benchmark.standalone", "benchmark.pairing", "benchmark.imagenet",
                            "benchmark.bsnas", "benchmark.darts"),
    "search": ("benchmark.criteria", "benchmark.shrinking", "benchmark.search", "benchmark.relaxation"),
    "estimation and training": ("benchmark.estimation", "benchmark.training", "benchmark.samplers",
                                "benchmark.resumable", "benchmark.checkpoint", "benchmark.fastpath",
                                "benchmark.divergence"),
    "foundations": ("benchmark.spaces", "benchmark.models", "benchmark.expanding", "benchmark.data",
                    "benchmark.groundtruth", "benchmark.metrics", "benchmark.presets", "benchmark.presets_base",
                    "benchmark.settings",
                    "benchmark.identity", "benchmark.vocabulary"),
    "utilities": ("benchmark", "benchmark.errors", "benchmark.io", "benchmark.paths", "benchmark.registry",
                  "benchmark.progress", "benchmark.locks", "benchmark.plain_pickle", "benchmark.inputs",
                  "benchmark.distributed"),
}


def _modules() -> dict[str, Path]:
    """Every module of the two packages by dotted name (a package by its ``__init__.py``)."""
    modules = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


MODULES = _modules()


def _known(name: str) -> str | None:
    """``name`` or its longest prefix that is one of our modules (``pkg.mod.Class`` -> ``pkg.mod``)."""
    parts = name.split(".")
    while parts:
        if ".".join(parts) in MODULES:
            return ".".join(parts)
        parts.pop()
    return None


def _imports(module: str) -> set[str]:
    """Our modules that ``module`` imports anywhere in its source (see the module docstring)."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str | None] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(_known(alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            for alias in node.names:
                target = f"{base}.{alias.name}"
                found.add(target if target in MODULES else _known(base))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr == "import_module" and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            found.add(_known(node.args[0].value))
    return {m for m in found if m is not None and m != module}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_import_graph_sees_module_and_deferred_imports():
    graph = {m: _imports(m) for m in MODULES}
    assert "benchmark.errors" in graph["benchmark.registry"]  # module level
    assert "benchmark.models.complexity" in graph["benchmark.spaces"]  # inside a function
    assert "analysis.results" in graph["benchmark.cli"]  # inside a command
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles():
    graph = {m: _imports(m) for m in MODULES}
    cycles = _cycles(graph)
    assert not cycles, "import cycles (module-level and deferred imports): " + "; ".join(
        " <-> ".join(c) + " [" + ", ".join(f"{a} -> {b}" for a in c for b in sorted(graph[a] & set(c))) + "]"
        for c in cycles)


def test_only_the_command_line_imports_the_reporting_layer():
    upward = {m: sorted(i for i in _imports(m) if i.split(".")[0] == "analysis")
              for m in MODULES if m.split(".")[0] == "benchmark" and m not in MAY_IMPORT_ANALYSIS}
    assert not {m: i for m, i in upward.items() if i}, "benchmark/ below the command line imports analysis/"


def _layer(module: str) -> int:
    """Position of ``module``'s layer in :data:`LAYERS` (0: the top)."""
    matches = [(len(prefix), rank) for rank, prefixes in enumerate(LAYERS.values()) for prefix in prefixes
               if module == prefix or module.startswith(prefix + ".")]
    return max(matches)[1]


def test_every_module_is_on_the_map_and_imports_only_its_layer_or_below():
    names = list(LAYERS)
    upward = [f"{m} ({names[_layer(m)]}) -> {i} ({names[_layer(i)]})"
              for m in sorted(MODULES) for i in sorted(_imports(m)) if _layer(i) < _layer(m)]
    assert not upward, "imports up the layers of docs/architecture.md: " + "; ".join(upward)


IMPORT_EACH_ALONE = """
import importlib, sys, traceback
failed = []
for name in sys.argv[1:]:
    for loaded in [m for m in sys.modules if m.split(".")[0] in ("benchmark", "analysis")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception:
        failed.append(name + ":\\n" + traceback.format_exc(limit=-3))
print("\\n".join(failed))
sys.exit(1 if failed else 0)
"""


def test_every_module_imports_on_its_own():
    """Each module first, with none of ours loaded before it (third-party ones stay cached: one interpreter
    for all, a few seconds): an import that only works after another module's is an error here."""
    proc = subprocess.run([sys.executable, "-c", IMPORT_EACH_ALONE, *sorted(MODULES)], cwd=REPO, check=False,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_code_passes_the_lint_rules_pyproject_pins():
    """ruff with ``[tool.ruff.lint]`` of pyproject.toml (errors, unused names, import order)."""
    proc = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "benchmark", "analysis", "tests"],
                          cwd=REPO, check=False, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
