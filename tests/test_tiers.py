"""Test tiers are marked in the test files (`pytestmark = pytest.mark.slow` or `@pytest.mark.slow`), so renaming
a test cannot move it between tiers. A test that itself starts `kollama` as a process (`run_cli`, `subprocess`)
loads its model again for every call: it belongs to the slow tier, and this check says when one is unmarked."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
#: what in a test's own body starts a process
STARTS_A_PROCESS = ("run_cli(", "subprocess.")


def _says_slow(node: ast.expr) -> bool:
    return "mark.slow" in ast.unparse(node)


def _module_is_slow(tree: ast.Module) -> bool:
    return any(isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "pytestmark" for t in node.targets)
               and _says_slow(node.value) for node in tree.body)


def unmarked_process_tests(folder: Path = TESTS) -> list[str]:
    """`file::test` for each test that starts a process in its own body and is not marked slow."""
    unmarked = []
    for path in sorted(folder.glob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if _module_is_slow(tree):
            continue
        for node in tree.body:
            if (isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test_")
                    and not any(_says_slow(mark) for mark in node.decorator_list)
                    and any(call in ast.unparse(node) for call in STARTS_A_PROCESS)):
                unmarked.append(f"{path.name}::{node.name}")
    return unmarked


def test_every_test_that_starts_a_process_is_marked_slow():
    assert unmarked_process_tests() == []


def test_the_check_sees_an_unmarked_process_and_accepts_a_marked_one(tmp_path):
    cli, process = STARTS_A_PROCESS
    (tmp_path / "test_a.py").write_text(f"def test_x():\n    {cli}'run')\n\n"
                                        f"@pytest.mark.slow\ndef test_y():\n    {process}run(['true'])\n")
    (tmp_path / "test_b.py").write_text(f"import pytest\npytestmark = pytest.mark.slow\n\ndef test_z():\n    {cli}'x')\n")
    assert unmarked_process_tests(tmp_path) == ["test_a.py::test_x"]
