"""The import graph of the whole project: no cycle, and the opt-in fast paths import the teaching
code, never the reverse.

Every ``import`` counts, also those inside functions (a lazy import is still a dependency), but
not those under ``if TYPE_CHECKING:`` (type hints only, never run). Run
this file as a script to print the graph (``python tests/test_import_graph.py``: one line per
module, the project modules it imports).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("shared", "stage1_scalar", "stage2_perinstance", "stage3_batched", "stage4_analysis")
#: The fast paths, and the modules besides them allowed to import them (command lines, the
#: benchmarks): the plain code a student reads never does.
FAST = {"stage2_perinstance.fast", "stage3_batched.fast"}
MAY_IMPORT_FAST = ("stage2_perinstance.__main__", "stage3_batched.__main__",
                   "stage4_analysis.speed.")


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def _targets(node, pkg: str) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if node.level:
        base = pkg.rsplit(".", node.level - 1)[0] if node.level > 1 else pkg
        mod = f"{base}.{node.module}" if node.module else base
    else:
        mod = node.module or ""
    return [mod] + [f"{mod}.{a.name}" for a in node.names]


def _runtime_nodes(tree):
    """Every node of ``tree`` except what sits under ``if TYPE_CHECKING:`` (never run)."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and getattr(child.test, "id", None) == "TYPE_CHECKING":
                todo.extend(child.orelse)
                continue
            todo.append(child)


def import_graph() -> dict[str, set[str]]:
    """``{module: {project modules it imports anywhere in its source}}``."""
    files = {_module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}
    graph = {}
    for name, path in files.items():
        pkg = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found = set()
        for node in _runtime_nodes(ast.parse(path.read_text())):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                found |= {t for t in _targets(node, pkg) if t in files and t != name}
        graph[name] = found
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first == last), or None. A package's
    ``__init__`` importing its own submodules is not a cycle unless a submodule imports it back
    (the usual re-export)."""
    state: dict[str, int] = {}

    def visit(m, path):
        state[m] = 1
        for i in sorted(graph[m]):
            if state.get(i) == 1:
                return path[path.index(i):] + [m, i] if i in path else [m, i]
            if state.get(i) is None:
                found = visit(i, path + [m])
                if found:
                    return found
        state[m] = 2
        return None

    for m in sorted(graph):
        if state.get(m) is None:
            cycle = visit(m, [])
            if cycle:
                return cycle
    return None


def _without_package_reexports(graph):
    """Drop the edges from a submodule to its own package's ``__init__`` (``from . import X``
    style re-exports resolve to the submodule, not to a cycle)."""
    return {m: {i for i in deps if not m.startswith(i + ".")} for m, deps in graph.items()}


def test_no_import_cycle():
    cycle = find_cycle(_without_package_reexports(import_graph()))
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_teaching_code_never_imports_a_fast_path():
    graph = import_graph()
    bad = [f"{m} imports {f}" for m, deps in graph.items() for f in deps & FAST
           if not m.startswith(MAY_IMPORT_FAST)]
    assert bad == []


def test_the_fast_paths_import_the_teaching_code():
    graph = import_graph()
    assert "stage3_batched.trainer" in graph["stage3_batched.fast"]
    assert "stage2_perinstance.network" in graph["stage2_perinstance.fast"]


if __name__ == "__main__":
    g = import_graph()
    for m in sorted(g):
        print(f"{m}: {', '.join(sorted(g[m])) or '-'}")
    cycle = find_cycle(_without_package_reexports(g))
    print("cycle: " + (" -> ".join(cycle) if cycle else "none"))
    sys.exit(1 if cycle else 0)
