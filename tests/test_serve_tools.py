"""Tool calls in the model's own chat-template format, with real templates.

Checked here, and how:
- which templates have a tool format kollama uses: llama.cpp's copies of the real Llama 3.1/3.2/3.3 and
  Qwen2.5 templates (from llama-cpp-python's source archive, tests/support/vocab_models.py);
- what those templates render: the tools, an earlier call and a tool's result, as each model was trained to
  see them (and the plain fallback for a template without tools, SmolLM2's);
- the parser on the formats those models write, including the exact text each template writes for a call;
- end to end, a real `kollama serve` with a random-weight model carrying Meta's Llama 3.2 template and the real
  Llama 3 vocabulary: the prompt it decoded is, token for token, the template's own rendering with the tools
  (compared by count with an independent rendering through jinja and llama.cpp's tokenizer), on the OpenAI
  and the Ollama routes, and a forced call comes back as `tool_calls`.
Not checked: that a real Llama or Qwen model chooses to call a tool under `auto` (random weights never do;
the parser is tested on the text such models write instead).
"""

from __future__ import annotations

import json

import httpx
import pytest
from support.vocab_models import FixtureUnavailable, chat_template, vocab_model

from kollama.engines.llamacpp.chat_format import render_chat, tool_format
from kollama.engines.tool_calls import parse_tool_calls
from kollama.serve.structured import Turn, conversation, plan

LLAMA_32 = "meta-llama-Llama-3.2-3B-Instruct"
QWEN_25 = "Qwen-Qwen2.5-7B-Instruct"
WEATHER = {"name": "get_weather", "description": "현재 날씨 (current weather of a city)",
           "parameters": {"type": "object", "properties": {"city": {"type": "string", "enum": ["서울", "부산"]}},
                          "required": ["city"], "additionalProperties": False}}
HISTORY = [Turn("user", "서울 날씨 알려줘"), Turn("assistant", "", [("call_1", "get_weather", {"city": "서울"})]),
           Turn("tool", "맑음, 23도", tool="get_weather", call_id="call_1")]


def template(name: str) -> str:
    try:
        return chat_template(name)
    except FixtureUnavailable as exc:  # the archive is fetched once; without a network the cache must hold it
        pytest.fail(str(exc))


def render(name: str, turns: list[Turn], tool_choice="auto") -> str:
    text = template(name)
    messages = conversation(turns, plan([WEATHER], tool_choice, None), tool_format(text))
    return render_chat({"tokenizer.chat_template": text}, messages, "<BOS>", "<EOS>",
                       tools=getattr(messages, "tools", None))[0]


# --- which templates have a tool format ----------------------------------------------------------------
@pytest.mark.parametrize("name, expected", [
    ("meta-llama-Llama-3.1-8B-Instruct", "json"), (LLAMA_32, "json"), ("meta-llama-Llama-3.3-70B-Instruct", "json"),
    (QWEN_25, "tagged"), ("NousResearch-Hermes-3-Llama-3.1-8B-tool_use", "tagged"),
    ("google-gemma-2-2b-it", None),  # no tools in the template
    ("Qwen3-Coder", None),  # <tool_call> with XML arguments: not a format kollama parses, so it describes tools itself
    ("CohereForAI-c4ai-command-r-plus-tool_use", None),  # {"tool_name": ...}
])
def test_the_tool_format_is_found_by_trying_the_real_template(name, expected):
    assert tool_format(template(name)) == expected


def test_a_template_without_tools_or_none_at_all_has_no_tool_format(smollm2):
    assert tool_format(None) is None and tool_format("{{ messages[0]['content'] }}") is None
    assert smollm2.tool_format is None  # SmolLM2's ChatML template ignores tools


# --- what the real templates render -------------------------------------------------------------------------
def test_llama_32_renders_the_tools_the_call_and_the_result_its_own_way():
    prompt = render(LLAMA_32, HISTORY)
    assert "Environment: ipython" in prompt
    assert 'Respond in the format {"name": function name, "parameters": dictionary' in prompt
    assert '"name": "get_weather"' in prompt and '"enum": [' in prompt  # the tool's schema, as JSON
    assert "You can call these functions" not in prompt  # kollama's own fallback description is not added
    # the earlier call as Llama writes calls, the result as an ipython turn, then the assistant's turn
    assert ('<|start_header_id|>assistant<|end_header_id|>\n\n{"name": "get_weather", "parameters": {"city": "서울"}}'
            '<|eot_id|><|start_header_id|>ipython<|end_header_id|>\n\n"맑음, 23도"<|eot_id|>') in prompt
    assert prompt.endswith("<|start_header_id|>assistant<|end_header_id|>\n\n")
    assert "returned]" not in prompt


def test_qwen_25_renders_the_tools_the_call_and_the_result_its_own_way():
    prompt = render(QWEN_25, HISTORY)
    assert "<tools>\n" + json.dumps({"type": "function", "function": WEATHER}, ensure_ascii=False) + "\n</tools>" in prompt
    assert ('<|im_start|>assistant\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "서울"}}\n</tool_call>'
            "<|im_end|>\n<|im_start|>user\n<tool_response>\n맑음, 23도\n</tool_response><|im_end|>\n") in prompt
    assert prompt.endswith("<|im_start|>assistant\n")


def test_tool_choice_none_keeps_the_history_but_offers_no_tools():
    prompt = render(QWEN_25, HISTORY, tool_choice="none")
    assert "<tools>" not in prompt and "<tool_response>\n맑음, 23도" in prompt


def test_a_template_without_a_tool_format_gets_the_tools_described_and_results_as_user_turns():
    messages = conversation(HISTORY, plan([WEATHER], "auto", None), None)
    assert messages[0]["role"] == "system" and "You can call these functions" in messages[0]["content"]
    assert messages[2] == {"role": "assistant", "content": '{"name": "get_weather", "arguments": {"city": "서울"}}'}
    assert messages[3] == {"role": "user", "content": "[get_weather returned] 맑음, 23도"}
    assert not getattr(messages, "tools", None)


# --- the parser on the formats the models write ----------------------------------------------------------
NAMES = {"get_weather", "add"}


@pytest.mark.parametrize("text, expected", [
    ('{"name": "get_weather", "parameters": {"city": "서울"}}', [("get_weather", {"city": "서울"})]),  # Llama 3.x
    ('<|python_tag|>{"name": "get_weather", "parameters": {"city": "서울"}}', [("get_weather", {"city": "서울"})]),
    ('{"name": "get_weather", "parameters": {"city": "서울"}}; {"name": "add", "parameters": {"a": 1, "b": 2}}',
     [("get_weather", {"city": "서울"}), ("add", {"a": 1, "b": 2})]),  # Llama 3.2's several calls
    ('<tool_call>\n{"name": "get_weather", "arguments": {"city": "서울"}}\n</tool_call>\n<tool_call>\n'
     '{"name": "add", "arguments": {"a": 1, "b": 2}}\n</tool_call>', [("get_weather", {"city": "서울"}),
                                                                     ("add", {"a": 1, "b": 2})]),  # Qwen2.5
    ('알아볼게요.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "부산"}}\n</tool_call>',
     [("get_weather", {"city": "부산"})]),  # text before the call
    ('<tool_call>\n{"name": "get_weather", "arguments": {"city": "부산"}}', [("get_weather", {"city": "부산"})]),  # cut
    ('```json\n{"name": "get_weather", "arguments": "{\\"city\\": \\"서울\\"}"}\n```', [("get_weather", {"city": "서울"})]),
    ('{"name": "not_offered", "parameters": {}}', []),
    ("서울은 맑아요. {\"name\": \"get_weather\"}", []),  # prose with JSON in it is an answer, not a call
    ("맑음", []),
])
def test_the_parser_reads_the_formats_llama_and_qwen_write(text, expected):
    assert [(c["name"], c["arguments"]) for c in parse_tool_calls(text, NAMES)] == expected


@pytest.mark.parametrize("name", [LLAMA_32, QWEN_25])
def test_a_call_as_the_template_itself_writes_it_reads_back(name):
    """The assistant turn the template renders for an earlier call is the format the model learnt to answer in."""
    before = render(name, HISTORY[:1])
    after = render_chat({"tokenizer.chat_template": template(name)},
                        conversation(HISTORY[:2], plan([WEATHER], "auto", None), "x"), "<BOS>", "<EOS>",
                        add_generation_prompt=False, tools=[{"type": "function", "function": WEATHER}])[0]
    assert after.startswith(before)
    written = after[len(before):].replace("<|eot_id|>", "").replace("<|im_end|>", "")
    assert parse_tool_calls(written, NAMES) == [{"name": "get_weather", "arguments": {"city": "서울"}}]


# --- end to end: a real server, a model with Meta's Llama 3.2 template -----------------------------------------
@pytest.fixture(scope="module")
def llama_model():
    try:
        return vocab_model("llama-bpe", template=LLAMA_32)
    except FixtureUnavailable as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="module")
def server(llama_model, tmp_path_factory):
    from serve_server import Server

    log = tmp_path_factory.mktemp("serve") / "tools.log"
    with Server("--model", f"llama={llama_model}", "--max-tokens", "80", "--no-log", "--no-rag", "--lock", "off",
                log=log) as s:
        yield s


def _reference_tokens(model, messages: list[dict], tools: list[dict] | None) -> int:
    """The prompt's length rendered by jinja straight from the GGUF's template and tokenised by llama.cpp."""
    from llama_cpp import Llama
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    llm = Llama(str(model), vocab_only=True, verbose=False)
    try:
        formatter = Jinja2ChatFormatter(llm.metadata["tokenizer.chat_template"], eos_token="<|end_of_text|>",
                                        bos_token="<|begin_of_text|>")
        prompt = formatter(messages=messages, tools=tools).prompt
        return len(llm.tokenize(prompt.encode(), add_bos=False, special=True))
    finally:
        llm.close()


OPENAI_HISTORY = [
    {"role": "user", "content": "서울 날씨 알려줘"},
    {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "서울"}'}}]},
    {"role": "tool", "tool_call_id": "call_1", "content": "맑음, 23도"},
]
NATIVE_HISTORY = [
    {"role": "user", "content": "서울 날씨 알려줘"},
    {"role": "assistant", "content": "", "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "서울"}}}]},
    {"role": "tool", "content": "맑음, 23도"},
]
TOOLS = [{"type": "function", "function": WEATHER}]


@pytest.mark.slow
def test_serve_decodes_the_prompt_the_llama_template_renders_with_the_tools(server, llama_model):
    body = {"model": "llama", "messages": OPENAI_HISTORY, "tools": TOOLS, "max_tokens": 3, "temperature": 0}
    answer = httpx.post(server.url + "/v1/chat/completions", json=body, timeout=120)
    assert answer.status_code == 200, answer.text
    with_tools = _reference_tokens(llama_model, NATIVE_HISTORY, TOOLS)
    without = _reference_tokens(llama_model, NATIVE_HISTORY, None)
    assert answer.json()["usage"]["prompt_tokens"] == with_tools > without + 50
    choice = answer.json()["choices"][0]
    assert choice["message"]["content"] is not None or choice["message"]["tool_calls"]

    ollama = httpx.post(server.url + "/api/chat", timeout=120, json={
        "model": "llama", "stream": False, "tools": TOOLS, "options": {"num_predict": 3, "temperature": 0},
        "messages": [NATIVE_HISTORY[0],
                     {"role": "assistant", "content": "",
                      "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "서울"}}}]},
                     {"role": "tool", "tool_name": "get_weather", "content": "맑음, 23도"}]})
    assert ollama.status_code == 200, ollama.text
    assert ollama.json()["prompt_eval_count"] == with_tools


@pytest.mark.slow
def test_a_forced_call_on_the_llama_template_comes_back_as_tool_calls(server):
    answer = httpx.post(server.url + "/v1/chat/completions", timeout=120, json={
        "model": "llama", "messages": OPENAI_HISTORY[:1], "tools": TOOLS, "tool_choice": "required",
        "max_tokens": 80, "temperature": 0})
    assert answer.status_code == 200, answer.text
    choice = answer.json()["choices"][0]
    assert choice["finish_reason"] == "tool_calls", choice
    call = choice["message"]["tool_calls"][0]["function"]
    assert call["name"] == "get_weather" and json.loads(call["arguments"])["city"] in ("서울", "부산")


@pytest.mark.slow
def test_no_log_holds_for_every_chat_route(server, kollama_home):
    """The server runs with --no-log: a one-answer chat (which goes through the n-answers path) is logged nowhere."""
    import sqlite3

    marker = "로그에 남으면 안 되는 질문"
    for path, body in (("/v1/chat/completions", {"max_tokens": 2}), ("/v1/completions", {"max_tokens": 2}),
                       ("/api/chat", {"stream": False, "options": {"num_predict": 2}})):
        text = {"prompt": marker} if path == "/v1/completions" else {"messages": [{"role": "user", "content": marker}]}
        answer = httpx.post(server.url + path, json={"model": "llama", **text, **body}, timeout=120)
        assert answer.status_code == 200, answer.text
    db = kollama_home / "logs.db"
    if db.exists():
        with sqlite3.connect(db) as conn:
            assert conn.execute("SELECT count(*) FROM responses WHERE prompt LIKE ?", (f"%{marker}%",)).fetchone()[0] == 0
