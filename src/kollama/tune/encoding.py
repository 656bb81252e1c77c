"""Chats to token ids and loss masks, exactly as kollama will prompt the tuned model later.

The prompt text comes from the model's chat template (`kollama.engines.Tokenizer.render`) with the base GGUF's own
metadata, and the tokens from llama.cpp's own tokenizer for that file (loaded vocabulary-only),
so training sees the same ids that inference feeds. Labels are -100 everywhere except the
assistant turns (and the template's end-of-turn after them), so the loss is on answers only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kollama.errors import KollamaError

IGNORE = -100
Messages = list[dict[str, str]]


@dataclass
class Encoded:
    input_ids: list[int]
    labels: list[int]

    @property
    def trained_tokens(self) -> int:
        return sum(1 for label in self.labels if label != IGNORE)


class ChatEncoder:
    """Renders and tokenises chats for one base GGUF."""

    def __init__(self, gguf_path: str | Path):
        from kollama.engines import load_tokenizer

        self.tokenizer = load_tokenizer(gguf_path)
        self.metadata = self.tokenizer.metadata
        self.bos_id = self.tokenizer.bos_id
        self.eos_id = self.tokenizer.eos_id
        self.eos_text = self.tokenizer.token_text(self.eos_id)
        self.has_template = bool(self.metadata.get("tokenizer.chat_template"))

    def render(self, messages: Messages, add_generation_prompt: bool) -> str:
        return self.tokenizer.render(messages, add_generation_prompt)[0]

    def render_with_stops(self, messages: Messages) -> tuple[str, list[str]]:
        return self.tokenizer.render(messages, True)

    def tokens(self, text: str) -> list[int]:
        return self.tokenizer.tokenize(text)

    def segments(self, messages: Messages) -> list[tuple[str, bool]]:
        """(text, trained?) pieces whose concatenation is the rendered chat."""
        pieces: list[tuple[str, bool]] = []
        done = ""
        for index, message in enumerate(messages):
            if message["role"] != "assistant":
                continue
            prefix = self.render(messages[:index], add_generation_prompt=True)
            full = self.render(messages[: index + 1], add_generation_prompt=False)
            if not prefix.startswith(done) or not full.startswith(prefix):
                raise KollamaError("the chat template does not render chats as growing prefixes",
                                   hint="this model's template cannot be trained turn by turn; use single-turn data")
            pieces.append((prefix[len(done):], False))
            answer = full[len(prefix):]
            if not self.has_template:  # the plain format has no end-of-turn marker: teach the model to stop
                answer += self.eos_text
            pieces.append((answer, True))
            done = full
        return pieces

    def encode(self, messages: Messages, max_len: int) -> Encoded:
        ids: list[int] = []
        labels: list[int] = []
        for text, trained in self.segments(messages):
            toks = self.tokens(text)
            ids += toks
            labels += toks if trained else [IGNORE] * len(toks)
        if self.tokenizer.with_bos(ids) is not ids:
            ids, labels = [self.bos_id] + ids, [IGNORE] + labels
        return Encoded(ids[:max_len], labels[:max_len])

    def encode_prompt(self, messages: Messages) -> list[int]:
        """The tokens the engine feeds for a chat awaiting its answer."""
        return self.tokenizer.prompt(self.render(messages, add_generation_prompt=True))

    def encode_answer(self, answer: str) -> list[int]:
        """An answer's tokens including the end-of-turn marker the template (or EOS) puts after it."""
        probe = [{"role": "user", "content": "x"}, {"role": "assistant", "content": answer}]
        return self.tokens(self.segments(probe)[-1][0])
