"""Request bodies as pydantic models: OpenAI's and Ollama's shapes, plus kollama's `lock` and `lang`.

Unknown fields are ignored (clients send many); known fields are type- and range-checked, so bad
input is a 400 with a message, never a crash deeper down.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from kollama.korean.language_lock import LockMode
from kollama.korean.scripts import languages

LockName = LockMode  # the one list of lock modes (kollama.korean.language_lock)
LangCode = Literal[tuple(sorted(languages()))]  # type: ignore[valid-type]
Lang = Field(default=None, description="answer language, ISO 639-1 (default ko)")
Seed = Field(default=None, ge=-(2**31), le=2**32 - 1)
StopList = Field(default=None, max_length=8)
Text = Annotated[str, Field(max_length=20_000)]
Texts = Annotated[list[Text], Field(min_length=1, max_length=256)]
NoFormat = Literal[""] | None


class Loose(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ExtraBody(Loose):
    lock: LockName | None = None
    lang: LangCode | None = None


class KollamaExtras(Loose):
    """kollama's fields: top level, or inside `extra_body` as some clients send them."""

    lock: LockName | None = Field(default=None, description="language lock: off, script, strict or gated")
    lang: LangCode | None = Lang
    extra_body: ExtraBody | None = Field(default=None, description="may carry lock and lang")


class LogprobFields(Loose):
    """OpenAI chat's and Ollama's spelling: a switch and a count."""

    logprobs: bool | None = Field(default=None, description="log-probability of each generated token (local models)")
    top_logprobs: int | None = Field(default=None, ge=0, le=20, description="and the n likeliest tokens at each step")

    def wanted_logprobs(self) -> int | None:
        """None: no log-probabilities; n: the chosen token's and the n likeliest (top_logprobs implies logprobs)."""
        if self.logprobs is False:
            return None
        return self.top_logprobs if self.top_logprobs is not None else (0 if self.logprobs else None)


# --- OpenAI -------------------------------------------------------------------------------------
class ContentPart(Loose):
    type: Literal["text"] = Field(description="only text parts are supported")
    text: str


class ChatMessage(Loose):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None
    name: str | None = Field(default=None, max_length=64)


class StreamOptions(Loose):
    include_usage: bool = False


class SamplingFields(KollamaExtras):
    model: str = Field(min_length=1, max_length=256)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    max_tokens: int | None = Field(default=None, ge=1)
    seed: int | None = Seed
    stop: str | list[str] | None = StopList
    n: int | None = Field(default=None, ge=1, le=1, description="only 1 is supported")
    stream: bool = False
    stream_options: StreamOptions | None = None
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    user: str | None = Field(default=None, max_length=256)


class ChatCompletionRequest(LogprobFields, SamplingFields):
    messages: list[ChatMessage] = Field(min_length=1, max_length=512)
    max_completion_tokens: int | None = Field(default=None, ge=1)


class CompletionRequest(SamplingFields):
    prompt: Annotated[str, Field(min_length=1)] | Annotated[list[Annotated[str, Field(min_length=1)]], Field(
        min_length=1, max_length=1)] = Field(
        description="one prompt (a list of one string is accepted)")
    echo: bool = False
    logprobs: int | None = Field(default=None, ge=0, le=5,
                                 description="log-probabilities of generated tokens and of the n likeliest (local models)")

    def wanted_logprobs(self) -> int | None:
        return self.logprobs
    suffix: str | None = Field(default=None, max_length=0, description="fill-in-the-middle is not supported")


class EmbeddingRequest(Loose):
    model: str = Field(min_length=1, max_length=256)
    input: Text | Texts = Field(description="text or up to 256 texts")
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: Literal[384] | None = None
    input_type: Literal["query", "passage"] = Field(default="query", description="e5 prefix: query (default) or passage")
    user: str | None = None


class FidelityRequest(Loose):
    text: str = Field(max_length=200_000)
    lang: LangCode = "ko"  # type: ignore[assignment]
    prompt: str | None = Field(default=None, max_length=200_000)


# --- Ollama -------------------------------------------------------------------------------------
class OllamaOptions(Loose):
    temperature: float | None = Field(default=None, ge=0, le=5)
    seed: int | None = Seed
    num_predict: int | None = Field(default=None, ge=-2, description="-1 or -2: up to the server's limit")
    num_ctx: int | None = Field(default=None, ge=64, le=131072)
    top_p: float | None = Field(default=None, gt=0, le=1)
    top_k: int | None = Field(default=None, ge=0, le=100000)
    repeat_penalty: float | None = Field(default=None, ge=0, le=10)
    stop: list[str] | None = StopList
    lock: LockName | None = None
    lang: LangCode | None = Lang


class OllamaMessage(Loose):
    role: Literal["system", "user", "assistant", "tool"]
    content: str = ""
    images: list[str] | None = Field(default=None, max_length=0, description="images are not supported")


KeepAlive = str | int | float | None


class OllamaGenerationRequest(LogprobFields):
    """What /api/chat and /api/generate share."""

    model: str = Field(min_length=1, max_length=256)
    stream: bool = True
    options: OllamaOptions | None = None
    format: NoFormat = Field(default=None, description="JSON mode is not supported")
    keep_alive: KeepAlive = None
    lock: LockName | None = None
    lang: LangCode | None = Lang


class OllamaChatRequest(OllamaGenerationRequest):
    messages: list[OllamaMessage] = Field(default_factory=list, max_length=512)


class OllamaGenerateRequest(OllamaGenerationRequest):
    prompt: str = ""
    system: str | None = None
    raw: bool = False
    images: list[str] | None = Field(default=None, max_length=0, description="images are not supported")


class OllamaShowRequest(Loose):
    model: str = Field(min_length=1, max_length=256, validation_alias=AliasChoices("model", "name"),
                       description="older clients send it as name")


class OllamaEmbedRequest(Loose):
    model: str = Field(min_length=1, max_length=256)
    input: Text | Texts
    truncate: bool = True
    keep_alive: KeepAlive = None


class OllamaEmbeddingsRequest(Loose):
    """The legacy /api/embeddings body."""

    model: str = Field(min_length=1, max_length=256)
    prompt: Text
