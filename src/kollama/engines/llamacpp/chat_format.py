"""Turn a chat into a prompt: the model's own GGUF chat template, or a documented plain format.

Shared by the llama.cpp engine, `tune` (training prompts must match inference prompts)
and anything that needs to count a chat's tokens.
"""

from __future__ import annotations

from typing import Any

from kollama.errors import KollamaError

Messages = list[dict[str, str]]

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
                add_generation_prompt: bool = True) -> tuple[str, list[str]]:
    """(prompt, stop strings) for `messages` under the template in the GGUF `metadata`."""
    template = metadata.get("tokenizer.chat_template")
    if not template:
        return render_plain(messages, add_generation_prompt), list(PLAIN_STOPS)
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    formatter = Jinja2ChatFormatter(template, eos_token=eos, bos_token=bos,
                                    add_generation_prompt=add_generation_prompt)
    try:
        result = formatter(messages=messages)
    except Exception as exc:  # templates raise their own errors (e.g. roles must alternate)
        raise KollamaError(f"the model's chat template rejected this chat ({exc})") from exc
    stops = result.stop if isinstance(result.stop, list) else [result.stop]
    return result.prompt, [s for s in stops if s]
