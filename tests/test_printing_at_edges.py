"""Side effects stay at the edges (docs/architecture.md): only the command-line modules, the server's start-up
and `kollama.console` render with rich or draw progress bars; the core returns data and reports progress
through `kollama.progress.Progress`. Read with `ast`, so imports inside functions count too."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "kollama"


def _is_edge(path: Path) -> bool:
    relative = path.relative_to(PACKAGE).as_posix()
    return path.name == "cli.py" or relative in ("console.py", "serve/server.py")


def _imports(path: Path, module: str) -> bool:
    """Does `path` import `module` or one of its submodules (`from module import x` included)?"""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
            [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
        if any(name == module or name.startswith(module + ".") for name in names):
            return True
    return False


def _below_the_edges(module: str) -> tuple[list[str], list[str]]:
    """(modules importing `module`, those of them below the edges)"""
    users = sorted(p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py") if _imports(p, module))
    return users, [p for p in users if not _is_edge(PACKAGE / p)]


def test_only_the_edges_import_rich() -> None:
    users, below = _below_the_edges("rich")
    assert "console.py" in users, "the checker found no rich import at all"
    assert not below, f"rich imported below the edges (return data, print in a cli.py): {below}"


def test_only_the_edges_draw_progress_bars() -> None:
    users, below = _below_the_edges("kollama.console")
    assert "cli.py" in users, "the checker found no import of kollama.console at all"
    assert not below, f"kollama.console imported below the edges (take a kollama.progress.Progress): {below}"


def test_a_progress_bar_is_the_core_s_progress_callback() -> None:
    """What the CLIs pass as `progress`: the bar starts a new line of work when the count starts again."""
    from kollama.console import ProgressBar
    from kollama.progress import Progress, Steps

    with ProgressBar(enabled=False) as bar:
        report: Progress = bar.report
        steps = Steps(report, 3, "first")
        steps.step(2)
        steps.step()
        report(0, 2, "second")
        report(1, 2, "second · item")
        assert [(t.description, t.completed, t.total) for t in bar.tasks] == [("first", 3, 3),
                                                                              ("second · item", 1, 2)]


def test_a_bar_with_an_info_column_shows_the_note_there() -> None:
    """Training and self-instruct: the label stays, the note (a loss) fills the info column, one bar throughout."""
    from kollama.console import ProgressBar

    with ProgressBar("sft", info=True, enabled=False) as bar:
        bar.report(2, 10, "")  # a resumed run starts at its checkpoint's step
        bar.report(3, 10, "loss 2.100")
        bar.report(4, 10, "loss 1.900")
        assert [(t.description, t.completed, t.fields["info"]) for t in bar.tasks] == [("sft", 4, "loss 1.900")]


def test_progress_bars_open_one_bar_per_piece_of_work(monkeypatch) -> None:
    """Each piece keeps its own bar and clock: on a pipe, each ends with its own last line."""
    import io

    from rich.console import Console

    from kollama import console as kconsole
    from kollama.console import ProgressBars

    monkeypatch.setattr(kconsole, "PLAIN_SECONDS", 0.0)
    buffer = io.StringIO()
    with ProgressBars(console=Console(file=buffer, force_terminal=False, width=200)) as progress:
        progress(0, 2, "smollm2 t=0.7")
        progress(2, 2, "smollm2 t=0.7")
        progress(0, 1, "naturalness (gemma3)")
        progress(1, 1, "naturalness (gemma3)")
    lines = buffer.getvalue().splitlines()
    finished = [line.rsplit(" ", 2)[0] for line in lines if "(100%)" in line]
    assert finished == ["smollm2 t=0.7: 2/2 (100%)", "naturalness (gemma3): 1/1 (100%)"]
