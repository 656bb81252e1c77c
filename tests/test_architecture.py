"""The layers of docs/architecture.md, checked on the source: no import cycles, no import that runs
up the layers, backends and llama-cpp-python imported inside `engines/` only, `rich` at the edges only,
no module over 500 lines. Reads the code with `ast`, so imports inside functions and imports for type
hints count too: a cycle hides in either."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "kollama"

CORE = ("korean", "models", "engines")
CAPABILITIES = ("compare", "evaluate", "rag", "tune")
EDGES = ("cli", "serve")


def _module_name(path: Path, root: Path = SRC) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, typing: bool = False, root: Path = SRC) -> set[str]:
    """Every module (or package) that `path` imports, at the top or inside a function; with `typing`, also those
    imported for type hints only (under `if TYPE_CHECKING:`)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    here = _module_name(path, root)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found: set[str] = set()
    typing_only = set() if typing else {
        id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for stmt in node.body for n in ast.walk(stmt)}
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
    return found


def _kollama_imports(path: Path, typing: bool = False) -> set[str]:
    return {name for name in _imports(path, typing) if name == "kollama" or name.startswith("kollama.")}


def _graph(typing: bool) -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: {m for m in _kollama_imports(path, typing) if m in modules and m != name}
            for name, path in modules.items()}


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    """The imports that run: the layers are about what a module needs to work."""
    return _graph(typing=False)


@pytest.fixture(scope="module")
def every_import() -> dict[str, set[str]]:
    """Runtime imports and imports for type hints: a cycle through either ties two modules together."""
    return _graph(typing=True)


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


def test_no_import_cycles(every_import):
    graph = every_import
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


#: the modules that render for people (rich tables, progress bars): the command lines, the server, the console
def _is_edge(module: str) -> bool:
    return (module in ("kollama.cli", "kollama.console", "kollama.__main__") or module.endswith(".cli")
            or module == "kollama.serve" or module.startswith("kollama.serve."))


def test_rich_is_imported_at_the_edges_only():
    below = sorted(_module_name(path) for path in PACKAGE.rglob("*.py")
                   if not _is_edge(_module_name(path))
                   and any(name == "rich" or name.startswith("rich.") for name in _imports(path, typing=True)))
    assert not below, "the core returns data; printing belongs to the CLI modules, serve/ and console.py: " + repr(below)


BACKENDS = ("kollama.engines.llamacpp", "kollama.engines.openai_http", "kollama.engines.ollama_http", "llama_cpp")


def test_backends_are_imported_inside_engines_only():
    outside = sorted({(_module_name(path), name) for path in PACKAGE.rglob("*.py")
                      if not _module_name(path).startswith("kollama.engines")
                      for name in _imports(path, typing=True)
                      if any(name == backend or name.startswith(backend + ".") for backend in BACKENDS)})
    assert not outside, "callers reach a backend through the Engine interface and the registry: " + repr(outside)


MAX_LINES = 500


def test_no_module_is_over_500_lines():
    long = sorted((str(path.relative_to(SRC)), lines) for path in PACKAGE.rglob("*.py")
                  if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES)
    assert not long, f"split modules over {MAX_LINES} lines by what they do: " + repr(long)


def test_the_checks_see_typing_imports_rich_and_backends(tmp_path):
    """Guards the new checks: each finds what it looks for in a module written to have it."""
    module = tmp_path / "kollama" / "m.py"
    module.parent.mkdir()
    module.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from kollama.engines import base\n"
                      "def f():\n    from rich.table import Table\n    import kollama.engines.llamacpp.model\n")
    found = _imports(module, typing=True, root=tmp_path)
    assert {"kollama.engines.base", "rich.table", "kollama.engines.llamacpp.model"} <= found
    assert "kollama.engines.base" not in _imports(module, root=tmp_path)
