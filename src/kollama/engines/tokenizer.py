"""What a model's tokenizer offers, whichever backend reads it.

`Engine.tokenizer` (a loaded model's) and `kollama.engines.load_tokenizer` (a GGUF's, without its
weights) give one, so `eval`, `tokens`, `tune` and the server tokenise, render chats and apply the BOS
rule without knowing the backend: training, scoring and generation see the same ids.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from kollama.korean.lock import Vocabulary


class Tokenizer(Protocol):
    """A model's vocabulary, its BOS rule and its chat template."""

    metadata: dict[str, Any]
    bos_id: int
    eos_id: int
    #: the model's prompts start with BOS
    adds_bos: bool

    def tokenize(self, text: str, add_bos: bool = False, special: bool = True) -> list[int]:
        """Ids of `text`; `special`: control-token text becomes that token."""

    def detokenize(self, tokens: Sequence[int], special: bool = False) -> str:
        """Text of `tokens`; `special`: control tokens as their text, else as nothing."""

    def with_bos(self, tokens: list[int]) -> list[int]:
        """`tokens` with the model's BOS in front, when it takes one and it is not there yet."""

    def prompt(self, text: str) -> list[int]:
        """A prompt's ids under the BOS rule."""

    @property
    def prefix_token(self) -> int:
        """The token an empty context stands for: BOS, or EOS for models without one."""

    def piece(self, token: int) -> bytes:
        """The raw bytes a token adds to the text."""

    def token_text(self, token: int) -> str:
        """A token's text as the vocabulary spells it; '' for none."""

    def is_eog(self, token: int) -> bool:
        """True for a token that ends generation."""

    def is_byte_token(self, token: int) -> bool:
        """A byte-fallback token or a byte-level piece that is not whole characters."""

    @property
    def n_vocab(self) -> int:
        """How many tokens the vocabulary holds."""

    @property
    def vocabulary(self) -> Vocabulary:
        """Raw bytes of every token and the end-of-generation ids: what the language lock needs."""

    def render(self, messages: list[dict[str, Any]], add_generation_prompt: bool = True,
               tools: list[dict[str, Any]] | None = None) -> tuple[str, list[str]]:
        """The chat as the model's own template renders it, and the template's stop strings."""

    @property
    def tool_format(self) -> str | None:
        """The tool-call format the model's chat template teaches ("tagged", "json"), or None."""

    def close(self) -> None:
        """Free what the tokenizer loaded."""
