"""Every default is written once: each CLI flag's default, and each server request field's default, equals the
default of the options model (or library function) it feeds, and is written as a name that model defines, never
as a literal of its own. A literal that differs, or one that repeats the model's, fails here."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import textwrap
from collections.abc import Callable, Iterator
from typing import Any, Optional

import pytest
import typer
import typer.main
from pydantic import Field
from typer.testing import CliRunner

from kollama.cli import app

Cmd = tuple[str, ...]

#: flags with no model field behind them, whose default is a literal of the CLI's own, and why
CLI_ONLY: dict[tuple[Cmd, str], str] = {
    (("lock", "check"), "model"): "the model whose tokens replay the answer; lock_check takes it as required",
    (("lock", "check"), "lock"): "the mode to replay under; lock_check takes it as required",
    (("rag", "eval"), "html"): "the command writes a report by default; the library writes one only when asked",
    (("tune", "data"), "n"): "instructions to keep; generate() takes it as required",
    (("tune", "pairs"), "rank_by"): "a mode switch: None builds pairs from reference answers",
}

#: a None flag meaning "not given: the model's own default applies" (the command passes it only when given)
GIVEN_ONLY: set[tuple[Cmd, str]] = {
    (("serve",), "reports"), (("serve",), "model"), (("tune", "report"), "task"),
    (("tune", "report"), "reference_model"),
}


def _sources(path: Cmd) -> list[tuple[Any, dict[str, str]]]:
    """(source, flag -> field renames) per command: the options model(s) or library functions it builds or calls."""
    from kollama import lock_check, logs
    from kollama.compare.options import CompareOptions
    from kollama.evaluate.options import EvalOptions
    from kollama.korean import fidelity
    from kollama.korean.batch import BatchOptions
    from kollama.rag import api
    from kollama.rag.options import RagAskOptions
    from kollama.run import RunOptions
    from kollama.serve.options import ServeOptions
    from kollama.tune import confusion, export, pairs, ranking, report, selfinstruct, smooth
    from kollama.tune.reward import reward_settings
    from kollama.tune.rl import RLOptions, rl_settings
    from kollama.tune.trainer import TrainSettings, preference_settings

    table: dict[Cmd, list[tuple[Any, dict[str, str]]]] = {
        ("run",): [(RunOptions, {})],
        ("models",): [],
        ("fidelity",): [(BatchOptions, {}), (fidelity.fidelity_report, {})],
        ("logs",): [(logs.recent, {})],
        ("serve",): [(ServeOptions, {"model": "models"})],
        ("compare",): [(CompareOptions, {"lock": "locks", "no_cache": "use_cache"})],
        ("eval",): [(EvalOptions, {"task": "tasks"})],
        ("score",): [],
        ("tokens",): [],
        ("lock", "check"): [(lock_check.lock_check, {})],
        ("rag", "add"): [(api.add, {})],
        ("rag", "remove"): [(api.remove, {})],
        ("rag", "list"): [(api.documents, {})],
        ("rag", "search"): [(api.search, {})],
        ("rag", "ask"): [(RagAskOptions, {})],
        ("rag", "doctor"): [],
        ("rag", "eval"): [(api.evaluate, {})],
        ("tune", "data"): [(selfinstruct.generate, {})],
        ("tune", "sft"): [(TrainSettings, {})],
        ("tune", "dpo"): [(preference_settings("dpo"), {})],
        ("tune", "orpo"): [(preference_settings("orpo"), {})],
        ("tune", "reward"): [(reward_settings(), {})],
        ("tune", "rl"): [(rl_settings(), {}), (RLOptions, {"reward": "rewards"})],
        ("tune", "pairs"): [(pairs.build_pairs, {}), (confusion.build_confusion_pairs, {}),
                            (ranking.build_ranked_pairs, {})],
        ("tune", "smooth"): [(smooth.smooth, {"strength": "strengths"}), (smooth.sweep_report, {})],
        ("tune", "export"): [(export.export_run, {})],
        ("tune", "report"): [(report.tune_report, {}), (report.bake_in_report, {"prompt_file": "prompt_files",
                                                                               "temperature": "temperatures"})],
    }
    return table[path]


#: flags whose text spells a model value another way: (flag -> the value it means)
CONVERT: dict[tuple[Cmd, str], Callable[[Any], Any]] = {
    (("tune", "smooth"), "strength"): lambda text: [float(part) for part in text.split(",")],
    (("tune", "report"), "temperature"): lambda text: tuple(float(part) for part in text.split(",")),
}


def _library_value(path: Cmd, field: str, value: Any) -> Any:
    """A library default that stands for a value spelled out elsewhere (smooth's None: its one strength)."""
    if path == ("tune", "smooth") and field == "strengths" and value is None:
        from kollama.tune.defaults import DEFAULT_STRENGTH

        return [DEFAULT_STRENGTH]
    return value


def _defaults(source: Any) -> dict[str, Any]:
    """Field or parameter name -> default, for a dataclass, a dataclass instance or a function."""
    if dataclasses.is_dataclass(source):
        if isinstance(source, type):
            found = {}
            for f in dataclasses.fields(source):
                if f.default is not dataclasses.MISSING:
                    found[f.name] = f.default
                elif f.default_factory is not dataclasses.MISSING:
                    found[f.name] = f.default_factory()
            return found
        return {f.name: getattr(source, f.name) for f in dataclasses.fields(source)}
    return {name: p.default for name, p in inspect.signature(source).parameters.items()
            if p.default is not inspect.Parameter.empty}


def _commands(command: Any, path: Cmd = ()) -> Iterator[tuple[Cmd, Any]]:
    if hasattr(command, "commands"):
        for name, sub in command.commands.items():
            yield from _commands(sub, path + (name,))
    else:
        yield path, command


def _nothing(value: Any) -> bool:
    return value is None or value is False


def mismatches(root: Any, sources: Callable[[Cmd], list[tuple[Any, dict[str, str]]]]) -> list[str]:
    """Every flag whose default differs from its model's, or has a literal default and no model."""
    problems = []
    for path, command in _commands(root):
        found = [(_defaults(source), renames) for source, renames in sources(path)]
        for param in command.params:
            if param.name == "help" or (path, param.name) in CLI_ONLY:
                continue
            negated = param.name.startswith("no_")
            compared = False
            for defaults, renames in found:
                field = renames.get(param.name, param.name[3:] if negated else param.name)
                if field not in defaults:
                    continue
                compared = True
                expected = _library_value(path, field, defaults[field])
                default = param.default
                if negated:
                    default = not default
                if (path, param.name) in CONVERT:
                    default = CONVERT[(path, param.name)](default)
                if default is None and (path, param.name) in GIVEN_ONLY:
                    continue
                if hasattr(expected, "value") and not hasattr(default, "value"):
                    expected = expected.value  # an enum field, a text flag
                if default != expected:
                    problems.append(f"{' '.join(path)} --{param.name}: {param.default!r} but the model says {expected!r}")
            if not compared and not _nothing(param.default) and (path, param.name) not in GIVEN_ONLY:
                problems.append(f"{' '.join(path)} --{param.name}: literal {param.default!r} with no model behind it")
    return problems


def literal_defaults(root: Any) -> list[str]:
    """Every flag whose default is written in the command's signature as a literal (a number, a text), so the
    value is written a second time beside its model's; None and False (not given, a switch left off) are not values."""
    problems = []
    for path, command in _commands(root):
        function = inspect.unwrap(command.callback)
        node = ast.parse(textwrap.dedent(inspect.getsource(function))).body[0]
        assert isinstance(node, ast.FunctionDef)
        positional = [*node.args.posonlyargs, *node.args.args]
        written = dict(zip([a.arg for a in positional][len(positional) - len(node.args.defaults):], node.args.defaults))
        written.update({a.arg: d for a, d in zip(node.args.kwonlyargs, node.args.kw_defaults) if d is not None})
        for name, expression in written.items():
            if (path, name) in CLI_ONLY:
                continue
            try:
                value = ast.literal_eval(expression)
            except ValueError:
                continue  # a name: the model's field or constant
            if not _nothing(value):
                problems.append(f"{' '.join(path)} --{name}: the literal {value!r}; read it from its model")
    return problems


def test_every_cli_default_is_its_models_default():
    assert mismatches(typer.main.get_command(app), _sources) == []


def test_every_cli_default_is_written_once():
    assert literal_defaults(typer.main.get_command(app)) == []


def test_every_command_says_where_its_defaults_come_from():
    """A new command must be added to the table above (a KeyError otherwise), so none escapes the check."""
    for path, _ in _commands(typer.main.get_command(app)):
        _sources(path)


def test_the_exceptions_name_real_flags():
    params = {(path, p.name) for path, command in _commands(typer.main.get_command(app)) for p in command.params}
    for key in [*CLI_ONLY, *GIVEN_ONLY, *CONVERT]:
        assert key in params, key


def test_a_literal_that_differs_is_caught():
    from kollama.rag.options import RagAskOptions

    wrong = typer.Typer()

    @wrong.command("ask")
    def ask(k: int = RagAskOptions.k + 1, model: str = RagAskOptions.model) -> None:
        """A command whose --k is written again, differently."""

    @wrong.command("other")
    def other(count: int = 7) -> None:
        """A literal with no model."""

    def sources(path: Cmd) -> list[tuple[Any, dict[str, str]]]:
        return [(RagAskOptions, {})] if path == ("ask",) else []

    found = mismatches(typer.main.get_command(wrong), sources)
    assert len(found) == 2 and "--k" in found[0] and "--count" in found[1]


def test_a_literal_equal_to_the_models_is_caught():
    from kollama.rag.options import RagAskOptions

    twice = typer.Typer()

    @twice.command("ask")
    def ask(k: int = 5, model: str = RagAskOptions.model, lock: Optional[str] = None, quiet: bool = False) -> None:
        """A command whose --k repeats RagAskOptions.k as a literal."""

    @twice.command("other")
    def other(count: int = RagAskOptions.k) -> None:
        """A default read from the model."""

    assert RagAskOptions.k == 5  # equal, so only the way it is written can tell
    found = literal_defaults(typer.main.get_command(twice))
    assert len(found) == 1 and "--k" in found[0]


@pytest.mark.parametrize("argv,shown", [(["serve", "--help"], "11435"), (["rag", "ask", "--help"], "gemma3"),
                                        (["tune", "sft", "--help"], "0.0003"), (["run", "--help"], "0.8")])
def test_help_still_shows_the_defaults(argv, shown):
    result = CliRunner().invoke(app, argv, terminal_width=200)
    assert result.exit_code == 0 and "default" in result.output and shown in result.output


def test_the_server_schemas_take_their_defaults_from_the_models():
    from kollama.engines.base import GenerationParams
    from kollama.korean.fidelity import fidelity_report
    from kollama.rag import api
    from kollama.rag.options import RagAskOptions
    from kollama.serve import rag_api, schemas

    def schema_defaults(model: Any) -> dict[str, Any]:
        return {name: f.default for name, f in model.model_fields.items() if not f.is_required()}

    pairs = [(rag_api.AskRequest, RagAskOptions), (rag_api.SearchRequest, api.search),
             (schemas.FidelityRequest, fidelity_report)]
    for schema, source in pairs:
        expected = _defaults(source)
        for name, default in schema_defaults(schema).items():
            if name == "model" and schema is rag_api.AskRequest:
                assert default is None  # the server's first model, else RagAskOptions.model
                continue
            value = getattr(default, "value", default)
            assert value == expected[name], (schema.__name__, name)
    # sampling fields a request leaves out take GenerationParams' defaults (serve/state.py): no literal here
    sampling = set(_defaults(GenerationParams))
    for schema in (schemas.ChatCompletionRequest, schemas.CompletionRequest, schemas.OllamaOptions,
                   schemas.OllamaGenerationRequest):
        for name, default in schema_defaults(schema).items():
            if name in sampling:
                assert default is None, (schema.__name__, name)


def literal_fields(schema: Any) -> list[str]:
    """Every field of a request schema whose default is written in the class as a literal (None aside)."""
    node = ast.parse(textwrap.dedent(inspect.getsource(schema))).body[0]
    assert isinstance(node, ast.ClassDef)
    problems = []
    for statement in node.body:
        if not isinstance(statement, ast.AnnAssign) or statement.value is None:
            continue
        written: ast.expr | None = statement.value
        if isinstance(written, ast.Call) and isinstance(written.func, ast.Name) and written.func.id == "Field":
            written = next((k.value for k in written.keywords if k.arg == "default"), None)
        if written is None:
            continue
        try:
            value = ast.literal_eval(written)
        except ValueError:
            continue
        if value is not None:
            problems.append(f"{schema.__name__}.{ast.unparse(statement.target)}: the literal {value!r}")
    return problems


def test_the_server_schemas_write_no_default_of_their_own():
    from kollama.serve import rag_api, schemas

    assert [p for schema in (rag_api.AskRequest, rag_api.SearchRequest, schemas.FidelityRequest)
            for p in literal_fields(schema)] == []

    class Twice(schemas.Loose):
        k: int = Field(default=5, ge=1)
        mode: str = "hybrid"
        seed: int | None = None

    found = literal_fields(Twice)
    assert len(found) == 2 and "k" in found[0] and "mode" in found[1]


def test_generation_settings_a_request_leaves_out_are_the_models():
    from types import SimpleNamespace

    from kollama.engines.base import GenerationParams
    from kollama.serve.options import ServeOptions
    from kollama.serve.state import generation_params

    state = SimpleNamespace(options=ServeOptions())
    params = generation_params(state, temperature=None, top_p=None, max_tokens=None, seed=None, stop=None, lock=None,
                               lang=None)
    defaults = GenerationParams()
    for name in ("temperature", "top_p", "top_k", "repeat_penalty", "seed", "lang", "top_logprobs"):
        assert getattr(params, name) == getattr(defaults, name), name
    assert params.max_tokens == ServeOptions.max_tokens and params.lock.value == ServeOptions.lock
