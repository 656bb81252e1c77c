"""A third-party package adds a backend by being installed: a real distribution (`*.dist-info` with METADATA
and entry_points.txt, beside its module) on `sys.path` declares an `echo` engine under `kollama.engines`, and
`echo:NAME` resolves to it, `load_engine` builds it and `kollama run` answers with it, kollama naming it nowhere."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kollama.engines import Engine, GenerationParams, load_engine
from kollama.engines.registry import BACKENDS, loader_for
from kollama.errors import KollamaError, ModelNotFound
from kollama.models.reference import BUILTIN_KINDS, ModelRef, plugin_kinds, resolve

PLUGIN = "kollama_echo_engine"
PIECES = ["안녕", "하세요", "."]

MODULE = f'''
"""An engine that answers every request with the same tokens."""
from kollama.engines.base import Engine, StreamStats


class EchoEngine(Engine):
    def __init__(self, ref, **options):
        super().__init__(ref)
        self.options = options

    def _stream(self, request, params):
        for piece in {PIECES!r}:
            yield piece
        return StreamStats(prompt_tokens=1, completion_tokens={len(PIECES)})
'''

ENTRY_POINTS = f"""
[kollama.engines]
echo = {PLUGIN}:EchoEngine
gguf = {PLUGIN}:EchoEngine
broken = {PLUGIN}_missing:Engine
"""


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The plugin distribution, installed into a directory on sys.path (as pip would lay it out)."""
    site = tmp_path / "site-packages"
    site.mkdir()
    (site / f"{PLUGIN}.py").write_text(textwrap.dedent(MODULE), encoding="utf-8")
    dist = site / f"{PLUGIN}-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {PLUGIN.replace('_', '-')}\nVersion: 0.1\n",
                                   encoding="utf-8")
    (dist / "entry_points.txt").write_text(ENTRY_POINTS, encoding="utf-8")
    monkeypatch.syspath_prepend(str(site))
    return site


def test_a_plugin_kind_resolves_and_loads_its_engine(installed):
    ref = resolve("echo:tiny-model")
    assert ref == ModelRef(ref="echo:tiny-model", kind="echo", name="tiny-model")
    engine = load_engine("echo:tiny-model", n_ctx=2048)
    assert isinstance(engine, Engine) and type(engine).__name__ == "EchoEngine"
    assert engine.options == {"n_ctx": 2048, "parallel": None, "exact": None}
    with engine:
        response = engine.chat([{"role": "user", "content": "인사해 주세요"}], GenerationParams(lock="off")).result()
    assert response.text == "".join(PIECES) and response.completion_tokens == len(PIECES)
    assert response.model == "echo:tiny-model"


def test_kollama_run_answers_with_a_plugin_engine(installed):
    from kollama.cli import app

    done = CliRunner().invoke(app, ["run", "echo:tiny-model", "인사해 주세요", "--lock", "off", "--json", "--no-log"])
    assert done.exit_code == 0, done.output
    answer = json.loads(done.output)
    assert answer["model"] == "echo:tiny-model" and answer["text"] == "".join(PIECES)


def test_a_plugin_engine_that_cannot_score_says_so(installed):
    engine = load_engine("echo:tiny-model")
    assert not engine.supports_scoring and engine.tokenizer is None
    with pytest.raises(KollamaError, match="no log-likelihoods"):
        engine.scorer()


def test_built_in_kinds_cannot_be_taken_over(installed):
    assert set(BACKENDS) == BUILTIN_KINDS
    assert loader_for("gguf") is BACKENDS["gguf"]
    assert "gguf" not in plugin_kinds() and "echo" in plugin_kinds()


def test_an_unknown_kind_is_a_clear_error(installed):
    with pytest.raises(KollamaError, match="no engine serves model kind 'nope'") as raised:
        load_engine(ModelRef(ref="nope:x", kind="nope"))
    assert "echo" in raised.value.hint and "gguf" in raised.value.hint
    with pytest.raises(ModelNotFound, match="unknown model 'nope:x'"):
        resolve("nope:x")


def test_a_plugin_that_fails_to_import_names_itself(installed):
    with pytest.raises(KollamaError, match="kollama.engines plugin 'broken'.*failed to load"):
        load_engine(ModelRef(ref="broken:x", kind="broken"))
