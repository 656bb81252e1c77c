"""The layers of docs/architecture.md, checked on the source: no import cycles, no import that runs
up the layers, llama-cpp-python touched in one package only. Reads the code with `ast`, so lazy
imports inside functions count too (they are how cycles hid before)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "kollama"

CORE = ("korean", "models", "engines")
CAPABILITIES = ("compare", "evaluate", "rag", "tune")
EDGES = ("cli", "serve")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every kollama module (or package) that `path` imports, at the top or inside a function."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    here = _module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found: set[str] = set()
    typing_only = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
                   for stmt in node.body for n in ast.walk(stmt)}  # imports for type hints never run
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # `from pkg import module`
    return {name for name in found if name == "kollama" or name.startswith("kollama.")}


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: {m for m in _imports(path) if m in modules and m != name} for name, path in modules.items()}


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_the_checker_sees_imports(graph):
    """Guards the test itself: a checker that found nothing would pass everything."""
    assert "kollama.engines.base" in graph["kollama.engines.llamacpp.engine"]
    assert any(m.startswith("kollama.compare") for m in graph["kollama.compare.cli"])
    assert len(graph) > 80


def test_core_imports_nothing_above_it(graph):
    upward = [(m, dep) for m, deps in graph.items() if _layer(m) in CORE
              for dep in deps if _layer(dep) in CAPABILITIES + EDGES]
    assert not upward, "korean/models/engines must not import capability packages or edges: " + repr(upward)


def test_capabilities_import_neither_each_other_nor_the_edges(graph):
    allowed = {("tune", "compare"), ("tune", "evaluate")}  # `kollama tune report` runs compare and eval
    wrong = [(m, dep) for m, deps in graph.items() if _layer(m) in CAPABILITIES
             for dep in deps
             if (_layer(dep) in EDGES) or (_layer(dep) in CAPABILITIES and _layer(dep) != _layer(m)
                                           and (_layer(m), _layer(dep)) not in allowed)]
    assert not wrong, repr(wrong)


def test_nothing_imports_the_main_cli(graph):
    wrong = [m for m, deps in graph.items() if "kollama.cli" in deps and m != "kollama.__main__"]
    assert not wrong, "sub-CLIs register themselves; they import nothing from kollama.cli: " + repr(wrong)


def test_no_import_cycles(graph):
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
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
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    # a package's __init__ re-exporting its modules is not a cycle of meaning
    cycles = [c for c in cycles if not _only_package_reexports(c, graph)]
    assert not cycles, repr(cycles)


def _only_package_reexports(component: list[str], graph: dict[str, set[str]]) -> bool:
    members = set(component)
    for module in component:
        for dep in graph[module] & members:
            if not (dep == module.rpartition(".")[0] or module == dep.rpartition(".")[0]
                    or module.startswith(dep + ".")):
                return False
    return True


def test_llama_cpp_python_is_touched_in_one_package():
    outside = []
    for path in PACKAGE.rglob("*.py"):
        module = _module_name(path)
        if module.startswith("kollama.engines.llamacpp"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n == "llama_cpp" or n.startswith("llama_cpp.") for n in names):
                outside.append(module)
            if isinstance(node, ast.Attribute) and node.attr in ("_model", "_ctx") and module.startswith("kollama.engines"):
                outside.append(module)
    assert not outside, "llama-cpp-python belongs in kollama.engines.llamacpp: " + repr(sorted(set(outside)))
