"""The package's shape: no import circles between its modules (imports inside
functions included) and no module over the size docs/ARCHITECTURE.md allows."""

from __future__ import annotations

import ast
import os

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "playbook")
MAX_LINES = 450


def _modules() -> dict[str, str]:
    """{dotted module name: path} of every module of the package."""
    out = {}
    for folder, _, files in os.walk(ROOT):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                rel = os.path.relpath(path, os.path.dirname(ROOT))[:-3].replace(os.sep, ".")
                out[rel.removesuffix(".__init__")] = path
    return out


def _imports(path: str, module: str, known: set[str]) -> set[str]:
    """The package's modules that `module` imports, anywhere in its file."""
    package = module if path.endswith("__init__.py") else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(open(path).read())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
    return {name for name in found if name in known and name != module}


def import_graph() -> dict[str, set[str]]:
    """{module: the package's modules it imports}."""
    modules = _modules()
    graph = {}
    for module, path in modules.items():
        # a package's __init__ re-exporting its own modules is not a circle
        graph[module] = {t for t in _imports(path, module, set(modules))
                         if not (path.endswith("__init__.py") and t.startswith(module + "."))}
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (scipy's)."""
    names = sorted(graph)
    index = {n: i for i, n in enumerate(names)}
    rows = [index[a] for a in names for _ in graph[a]]
    cols = [index[b] for a in names for b in sorted(graph[a])]
    matrix = csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(names),) * 2)
    _, labels = connected_components(matrix, directed=True, connection="strong")
    groups = [[n for n, label in zip(names, labels) if label == k] for k in set(labels)]
    return sorted(g for g in groups if len(g) > 1)


def test_no_import_circles():
    assert circles(import_graph()) == [], "modules that import each other"


def test_circles_are_found():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert "playbook.study.runner" in import_graph()["playbook.cli"]


def test_no_module_over_the_size_limit():
    long = {m: n for m, p in _modules().items()
            if (n := sum(1 for _ in open(p))) > MAX_LINES}
    assert long == {}, f"modules over {MAX_LINES} lines: {long}"
