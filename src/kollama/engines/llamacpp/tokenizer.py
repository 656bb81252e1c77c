"""A GGUF's own tokenizer, and the one BOS rule.

The BOS rule: a model whose GGUF says `tokenizer.ggml.add_bos_token` (default true) and has a BOS
token gets it first, once: never twice when a chat template already wrote it. Run, eval, score,
tokens and tune all tokenise through this class, so training, scoring and generation see the same ids.
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

from kollama.korean.lock import Vocabulary

_PIECE_BUFFER = 256


class Tokenizer:
    """Tokenizes with a loaded `llama_cpp.Llama` (whole model or vocab-only)."""

    def __init__(self, llm, owns: bool = False):
        import llama_cpp

        self._lib = llama_cpp
        self.llm = llm
        self._owns = owns
        self._vocab = llm._model.vocab
        self.metadata: dict[str, Any] = dict(llm.metadata)
        self.bos_id: int = llm.token_bos()
        self.eos_id: int = llm.token_eos()
        add = str(self.metadata.get("tokenizer.ggml.add_bos_token", "true")).lower() == "true"
        #: the model's prompts start with BOS (Gemma, Llama); SmolLM2's do not
        self.adds_bos: bool = add and self.bos_id >= 0

    @classmethod
    def vocab_only(cls, path: str | Path) -> Tokenizer:
        from kollama.engines.llamacpp.model import load_vocab_only

        return cls(load_vocab_only(str(path)), owns=True)

    def close(self) -> None:
        if self._owns and self.llm is not None:
            self.llm.close()
            self.llm = None

    # --- text <-> ids ----------------------------------------------------------------------------
    def tokenize(self, text: str, add_bos: bool = False, special: bool = True) -> list[int]:
        """Ids of `text`; `special`: control-token text such as `<|im_end|>` becomes that token."""
        if not text:
            return [self.bos_id] if add_bos and self.adds_bos else []
        return self.llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=special)

    def detokenize(self, tokens: Sequence[int], special: bool = False) -> str:
        """Text of `tokens`; `special`: control tokens as their text (`<|im_end|>`), else as nothing."""
        return self.llm.detokenize(list(tokens), special=special).decode("utf-8", errors="replace")

    def with_bos(self, tokens: list[int]) -> list[int]:
        """`tokens` with the model's BOS in front, when it takes one and it is not there yet."""
        if self.adds_bos and (not tokens or tokens[0] != self.bos_id):
            return [self.bos_id] + tokens
        return tokens

    def prompt(self, text: str) -> list[int]:
        """A prompt's ids under the BOS rule (a chat template may have written the BOS already)."""
        return self.with_bos(self.tokenize(text))

    @property
    def prefix_token(self) -> int:
        """The token an empty context stands for: BOS, or EOS for models without one."""
        return self.bos_id if self.bos_id >= 0 else self.eos_id

    # --- single tokens ------------------------------------------------------------------------------
    def piece(self, token: int) -> bytes:
        """The raw bytes a token adds to the text (special tokens render as empty)."""
        buf = ctypes.create_string_buffer(_PIECE_BUFFER)
        n = self._lib.llama_token_to_piece(self._vocab, token, buf, len(buf), 0, False)
        return buf.raw[:n] if n > 0 else b""

    def token_text(self, token: int) -> str:
        """A token's text as the vocabulary spells it (`<bos>`, `<|im_start|>`); '' for none."""
        return self.llm._model.token_get_text(token) if token >= 0 else ""

    def is_eog(self, token: int) -> bool:
        return bool(self._lib.llama_vocab_is_eog(self._vocab, token))

    def is_byte_token(self, token: int) -> bool:
        """A byte-fallback token (<0xEA>) or a byte-level BPE piece that is not whole characters."""
        if self._lib.llama_vocab_get_attr(self._vocab, token) & self._lib.LLAMA_TOKEN_ATTR_BYTE:
            return True
        try:
            self.piece(token).decode("utf-8")
        except UnicodeDecodeError:
            return True
        return False

    @property
    def n_vocab(self) -> int:
        return self.llm.n_vocab()

    @cached_property
    def vocabulary(self) -> Vocabulary:
        """Raw bytes of every token and the end-of-generation ids: what the language lock needs."""
        pieces = [self.piece(tid) for tid in range(self.n_vocab)]
        return Vocabulary(pieces, frozenset(tid for tid in range(self.n_vocab) if self.is_eog(tid)))

    # --- chats ------------------------------------------------------------------------------------
    def render(self, messages: list[dict[str, Any]], add_generation_prompt: bool = True,
               tools: list[dict[str, Any]] | None = None) -> tuple[str, list[str]]:
        """The chat as the model's own template renders it (with `tools`, for a template that shows them),
        and the template's stop strings."""
        from kollama.engines.llamacpp.chat_format import render_chat

        return render_chat(self.metadata, messages, self.token_text(self.bos_id), self.token_text(self.eos_id),
                           add_generation_prompt, tools)

    @cached_property
    def tool_format(self) -> str | None:
        """The tool-call format the model's chat template teaches ("tagged", "json"), or None."""
        from kollama.engines.llamacpp.chat_format import tool_format

        return tool_format(self.metadata.get("tokenizer.chat_template"))
