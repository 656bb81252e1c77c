"""The command blocks of README.md and docs/ that are marked to run, run as written, so they cannot rot.

A block is marked by an HTML comment on the line before its fence (```bash, or a bare ```; invisible on GitHub):

    <!-- doc-test -->            every command must succeed (bash -e -o pipefail)
    <!-- doc-test exit=2 -->     the block's one command must end with exit code 2 (a failed check)

Marked blocks need no network: built-in models, local files, a server on localhost. They run in an empty
folder (with `src`, `docs` and `tests` linked in, so repository paths work) and this module's $KOLLAMA_HOME.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MARKER = re.compile(r"^<!-- doc-test(?: exit=(\d+))? -->$")
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@dataclass
class Block:
    page: str
    line: int
    code: str
    exit: int | None  # None: every command must succeed

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"


def marked_blocks(path: Path) -> list[Block]:
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks = []
    for i, line in enumerate(lines):
        match = MARKER.match(line.strip())
        if not match:
            continue
        if i + 1 >= len(lines) or lines[i + 1].strip() not in ("```", "```bash", "```sh", "```console"):
            raise AssertionError(f"{path.name}:{i + 1}: a doc-test marker must sit right above a ``` or ```bash fence")
        end = next(j for j in range(i + 2, len(lines)) if lines[j].strip() == "```")
        blocks.append(Block(path.relative_to(ROOT).as_posix(), i + 3, "\n".join(lines[i + 2:end]),
                            int(match.group(1)) if match.group(1) else None))
    return blocks


BLOCKS = [block for page in PAGES for block in marked_blocks(page)]


def test_every_command_page_has_a_block_that_runs() -> None:
    pages = {block.page for block in BLOCKS}
    for page in ["README.md", "docs/run.md", "docs/compare.md", "docs/fidelity-check.md", "docs/eval.md",
                 "docs/rag.md", "docs/tune.md", "docs/serve.md"]:
        assert page in pages, f"{page} has no <!-- doc-test --> block"


def test_marked_blocks_need_no_network() -> None:
    for block in BLOCKS:
        assert "hf:" not in block.code and not re.search(r"https?://(?!(localhost|127\.0\.0\.1))", block.code), block.id
        if block.exit is not None:
            commands = [line for line in block.code.splitlines() if line.strip() and not line.startswith((" ", "#"))]
            assert len(commands) == 1, f"{block.id}: a block with an expected exit code holds one command"


@pytest.mark.slow
@pytest.mark.parametrize("block", BLOCKS, ids=[block.id for block in BLOCKS])
def test_the_block_runs_as_written(block: Block, tmp_path: Path) -> None:
    for name in ("src", "docs", "tests"):
        (tmp_path / name).symlink_to(ROOT / name, target_is_directory=True)
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    options = ["-e", "-o", "pipefail"] if block.exit is None else []
    result = subprocess.run(["bash", *options, "-c", block.code], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=600)
    expected = 0 if block.exit is None else block.exit
    assert result.returncode == expected, (f"{block.id} exited {result.returncode}, not {expected}\n"
                                           f"--- stdout\n{result.stdout[-2000:]}\n--- stderr\n{result.stderr[-2000:]}")
    assert "Traceback" not in result.stderr, f"{block.id}\n{result.stderr[-2000:]}"


def test_the_benchmarks_page_is_rendered_from_the_results() -> None:
    """docs/benchmarks.md is what `make bench-report` renders from benchmarks/results/, never edited by hand."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import report
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    page = report.render(report.load_results())
    assert (ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8") == page, "run `make bench-report`"
    for name, _, _ in report.CATALOGUE:
        assert f"| {name} |" in page
