"""Turn a chat into a prompt: the model's own GGUF chat template, or a documented plain format.

Shared by the llama.cpp engine, `tune` (training prompts must match inference prompts)
and anything that needs to count a chat's tokens.

Tools: a template that renders `tools` itself (Llama 3.1/3.2, Qwen2.5, Hermes) is given them, and
the assistant's earlier calls (`tool_calls`, arguments as objects) and the tools' results (`role:
tool`) as its own messages, so the model sees the format it was trained on. `tool_format` says
which call format such a template teaches, or None when it has none kollama can read back.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from kollama.engines.tool_calls import parse_tool_calls
from kollama.errors import KollamaError

Messages = list[dict[str, Any]]

# Models without a chat template (base models such as Gemma 3 270M) get this format.
PLAIN_ROLES = {"system": "", "user": "### 질문:\n", "assistant": "### 답변:\n"}
PLAIN_STOPS = ["\n### 질문:", "\n### 답변:"]


def render_plain(messages: Messages, add_generation_prompt: bool = True) -> str:
    """`system` text first, then `### 질문:` / `### 답변:` blocks separated by blank lines."""
    blocks = []
    for message in messages:
        role = message.get("role", "user")
        if role not in PLAIN_ROLES:
            raise KollamaError(f"unknown chat role '{role}'", hint="use system, user or assistant")
        blocks.append(PLAIN_ROLES[role] + message.get("content", "").strip())
    if add_generation_prompt:
        blocks.append(PLAIN_ROLES["assistant"].rstrip("\n") + "\n")
    return "\n\n".join(blocks)


def render_chat(metadata: dict[str, Any], messages: Messages, bos: str, eos: str,
                add_generation_prompt: bool = True, tools: list[dict[str, Any]] | None = None) -> tuple[str, list[str]]:
    """(prompt, stop strings) for `messages` under the template in the GGUF `metadata`.

    `tools` (OpenAI's shape: `{"type": "function", "function": {...}}`) are handed to the template;
    only pass them when `tool_format` found that it renders them."""
    template = metadata.get("tokenizer.chat_template")
    if not template:
        return render_plain(messages, add_generation_prompt), list(PLAIN_STOPS)
    try:
        result = _formatter(template, bos, eos, add_generation_prompt)(messages=messages, tools=tools or None)
    except Exception as exc:  # templates raise their own errors (e.g. roles must alternate)
        raise KollamaError(f"the model's chat template rejected this chat ({exc})") from exc
    stops = result.stop if isinstance(result.stop, list) else [result.stop]
    return result.prompt, [s for s in stops if s]


@lru_cache(maxsize=32)
def _formatter(template: str, bos: str, eos: str, add_generation_prompt: bool):
    """A compiled template (compiling a long template costs more than rendering it)."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    return Jinja2ChatFormatter(template, eos_token=eos, bos_token=bos, add_generation_prompt=add_generation_prompt)


_PROBE_TOOL = "kollama_probe_tool"
_PROBE_ARGUMENTS = {"city": "서울"}
_SPECIAL = re.compile(r"<\|[A-Za-z0-9_]+\|>")


@lru_cache(maxsize=32)
def tool_format(template: str | None) -> str | None:
    """The tool-call format a chat template teaches: "tagged" (Qwen2.5, Hermes: `<tool_call>{...}</tool_call>`),
    "json" (Llama 3.1/3.2: a bare `{"name": ..., "parameters": {...}}`), or None.

    Decided by trying the template, not by its name: it must show the model a probe tool, and an earlier
    call of that tool, as the template writes it into the chat, must read back (`parse_tool_calls`) as the
    same call. A template that ignores tools, or writes calls in another format (XML arguments, Command-R's
    `tool_name`, Mistral's `[TOOL_CALLS]`), gets None: kollama then describes the tools itself."""
    if not template or "tools" not in template:
        return None
    tools = [{"type": "function", "function": {"name": _PROBE_TOOL, "description": "a probe",
                                               "parameters": {"type": "object", "properties": {}}}}]
    question = [{"role": "user", "content": "hi"}]
    call = {"role": "assistant", "content": "", "tool_calls": [
        {"id": "call_0", "type": "function", "function": {"name": _PROBE_TOOL, "arguments": _PROBE_ARGUMENTS}}]}
    try:
        shown = _formatter(template, "", "", True)(messages=question, tools=tools).prompt
        written = _formatter(template, "", "", False)(messages=question + [call], tools=tools).prompt
    except Exception:  # a template that cannot render tools or calls has no tool format kollama can use
        return None
    if _PROBE_TOOL not in shown or not written.startswith(shown):
        return None
    answer = _SPECIAL.sub("", written[len(shown):]).strip()
    if parse_tool_calls(answer, {_PROBE_TOOL}) != [{"name": _PROBE_TOOL, "arguments": _PROBE_ARGUMENTS}]:
        return None
    return "tagged" if "<tool_call>" in answer else "json"
