"""Request bodies as pydantic models: OpenAI's and Ollama's shapes, plus kollama's `lock` and `lang`.

Unknown fields are ignored (clients send many); known fields are type- and range-checked, so bad
input is a 400 with a message, never a crash deeper down.

Text that UTF-8 cannot encode: JSON may carry a lone UTF-16 surrogate (`"\\ud83d"`, half an emoji, which a
JavaScript client that cuts a string in the middle of a pair sends). Every string of every request body
has each lone surrogate replaced by U+FFFD (the replacement character) before anything else sees it,
as a UTF-8 decoder does with a broken byte sequence.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator

from kollama.engines.base import ABOVE_LOW, LIMITS
from kollama.korean.fidelity_options import BatchOptions
from kollama.korean.lock import LockMode
from kollama.korean.scripts import languages
from kollama.serve.options import MAX_N

LockName = LockMode  # the one list of lock modes (kollama.korean.lock)
LangCode = Literal[tuple(sorted(languages()))]  # type: ignore[valid-type]
# a request may ask for "auto": the answer language decided from its messages (kollama.korean.answer_language)
LangChoice = Literal[tuple(sorted(languages())) + ("auto",)]  # type: ignore[valid-type]
Lang = Field(default=None, description="answer language, ISO 639-1 (default ko), or auto: decided from the prompt")
Seed = Field(default=None, ge=-(2**31), le=2**32 - 1)
Stops = Annotated[list[str], Field(max_length=8, description="at most 8 stop strings")]
Text = Annotated[str, Field(max_length=20_000)]
Texts = Annotated[list[Text], Field(min_length=1, max_length=256)]


def limited(name: str, low: float | None = None, description: str | None = None) -> Any:
    """An optional request field bounded by GenerationParams' declared range for `name` (engines/base.py
    LIMITS), so the schema and the engine never disagree. `low`: a lower bound with a meaning of its own
    (0 tokens: score only; Ollama's -1/-2: up to the server's limit)."""
    floor, ceiling = LIMITS[name]
    if low is not None:
        bound = {"ge": low}
    else:
        bound = {"gt": floor} if name in ABOVE_LOW else {"ge": floor}
    return Field(default=None, le=ceiling, description=description, **bound)


_SURROGATE = re.compile("[\ud800-\udfff]")


def without_surrogates(value: Any) -> Any:
    """`value` with every lone UTF-16 surrogate in its strings (keys too) replaced by U+FFFD."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value) if _SURROGATE.search(value) else value
    if isinstance(value, dict):
        return {without_surrogates(k): without_surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [without_surrogates(v) for v in value]
    return value


class Loose(BaseModel):
    model_config = ConfigDict(extra="ignore")

    @model_validator(mode="before")
    @classmethod
    def _encodable(cls, data: Any) -> Any:
        return without_surrogates(data)


class ExtraBody(Loose):
    lock: LockName | None = None
    lang: LangChoice | None = None


class KollamaExtras(Loose):
    """kollama's fields: top level, or inside `extra_body` as some clients send them."""

    lock: LockName | None = Field(default=None, description="language lock: off, script, strict or gated")
    lang: LangChoice | None = Lang
    extra_body: ExtraBody | None = Field(default=None, description="may carry lock and lang")


class LogprobFields(Loose):
    """OpenAI chat's and Ollama's spelling: a switch and a count."""

    logprobs: bool | None = Field(default=None, description="log-probability of each generated token (local models)")
    top_logprobs: int | None = limited("top_logprobs", description="and the n likeliest tokens at each step")

    def wanted_logprobs(self) -> int | None:
        """None: no log-probabilities; n: the chosen token's and the n likeliest (top_logprobs implies logprobs)."""
        if self.logprobs is False:
            return None
        return self.top_logprobs if self.top_logprobs is not None else (0 if self.logprobs else None)


# --- OpenAI -------------------------------------------------------------------------------------
class ContentPart(Loose):
    type: Literal["text"] = Field(description="only text parts are supported")
    text: str


NO_IMAGES = "images are not supported: kollama serves text-only models (send the text, leave out the image)"


FunctionName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.\-]{1,64}$")]
JsonSchema = dict[str, Any]


class FunctionCall(Loose):
    name: FunctionName
    arguments: str = Field(default="{}", max_length=100_000, description="the arguments as a JSON string")


class ToolCall(Loose):
    id: str | None = Field(default=None, max_length=128)
    type: Literal["function"] = "function"
    function: FunctionCall


class FunctionDef(Loose):
    name: FunctionName
    description: str | None = Field(default=None, max_length=4000)
    parameters: JsonSchema | None = Field(default=None, description="a JSON schema for the arguments")
    strict: bool | None = None


class ToolDef(Loose):
    type: Literal["function"] = "function"
    function: FunctionDef


class NamedFunction(Loose):
    name: FunctionName


class NamedToolChoice(Loose):
    type: Literal["function"] = "function"
    function: NamedFunction


class JsonSchemaFormat(Loose):
    name: str = Field(default="response", max_length=64)
    json_schema: JsonSchema | None = Field(default=None, alias="schema", description="the JSON schema")
    strict: bool | None = None

    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class ResponseFormat(Loose):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaFormat | None = None
    object_schema: JsonSchema | None = Field(default=None, alias="schema",
                                             description="with json_object: a schema (llama-cpp-python's spelling)")

    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class ChatMessage(Loose):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None
    name: str | None = Field(default=None, max_length=64)
    tool_calls: list[ToolCall] | None = Field(default=None, max_length=64)
    tool_call_id: str | None = Field(default=None, max_length=128)

    @field_validator("content", mode="before")
    @classmethod
    def _text_only(cls, value: Any) -> Any:
        if isinstance(value, list):
            for part in value:
                kind = part.get("type") if isinstance(part, dict) else None
                if kind in ("image_url", "input_image", "image"):
                    raise ValueError(NO_IMAGES)
                if kind is not None and kind != "text":
                    raise ValueError(f"content parts of type '{kind}' are not supported: send text parts")
        return value


class StreamOptions(Loose):
    include_usage: bool = False


class SamplingFields(KollamaExtras):
    model: str = Field(min_length=1, max_length=256)
    temperature: float | None = limited("temperature")
    top_p: float | None = limited("top_p")
    max_tokens: int | None = limited("max_tokens")
    seed: int | None = Seed
    stop: str | Stops | None = None
    n: int | None = Field(default=None, ge=1, le=MAX_N, description="answers to this prompt (up to the server's --max-n)")
    best_of: int | None = Field(default=None, ge=1, le=MAX_N,
                                description="decode this many answers together (up to --max-n) and return the n "
                                            "with the highest mean token log-probability (local models)")
    stream: bool = False
    stream_options: StreamOptions | None = None
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    user: str | None = Field(default=None, max_length=256)


class ChatCompletionRequest(LogprobFields, SamplingFields):
    messages: list[ChatMessage] = Field(min_length=1, max_length=512)
    max_completion_tokens: int | None = limited("max_tokens")
    response_format: ResponseFormat | None = Field(default=None, description="json_object or json_schema: the "
                                                   "answer is grammar-constrained to JSON (and to the schema)")
    tools: list[ToolDef] | None = Field(default=None, max_length=64)
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None = None
    parallel_tool_calls: bool | None = None


TokenIds = Annotated[list[Annotated[int, Field(ge=0, le=2**31 - 1)]], Field(min_length=1, max_length=32_768)]
PromptText = Annotated[str, Field(min_length=1)]
MAX_PROMPTS = 64


class CompletionRequest(SamplingFields):
    prompt: PromptText | Annotated[list[PromptText], Field(min_length=1, max_length=MAX_PROMPTS)] | TokenIds | \
        Annotated[list[TokenIds], Field(min_length=1, max_length=MAX_PROMPTS)] = Field(
        description=f"a prompt, a list of up to {MAX_PROMPTS} prompts, token ids, or a list of token-id lists")
    max_tokens: int | None = limited("max_tokens", low=0, description="0: no generation (score the prompt with echo)")
    echo: bool = Field(default=False, description="return the prompt before the completion, and with logprobs the "
                                                  "prompt tokens' log-probabilities (the first is null)")
    logprobs: int | None = Field(default=None, ge=0, le=5,
                                 description="log-probabilities of the tokens and of the n likeliest (local models)")
    suffix: str | None = Field(default=None, max_length=0, description="fill-in-the-middle is not supported")

    def wanted_logprobs(self) -> int | None:
        return self.logprobs


class EmbeddingRequest(Loose):
    model: str = Field(min_length=1, max_length=256)
    input: Text | Texts = Field(description="text or up to 256 texts")
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: Literal[384] | None = None
    input_type: Literal["query", "passage"] = Field(default="query", description="e5 prefix: query (default) or passage")
    user: str | None = None


class FidelityRequest(Loose):
    text: str = Field(max_length=200_000)
    lang: LangChoice = BatchOptions.lang  # type: ignore[assignment]
    prompt: str | None = Field(default=None, max_length=200_000)


# --- Ollama -------------------------------------------------------------------------------------
class OllamaOptions(Loose):
    temperature: float | None = limited("temperature")
    seed: int | None = Seed
    num_predict: int | None = limited("max_tokens", low=-2, description="-1 or -2: up to the server's limit")
    num_ctx: int | None = Field(default=None, ge=64, le=131072)
    top_p: float | None = limited("top_p")
    top_k: int | None = limited("top_k")
    repeat_penalty: float | None = limited("repeat_penalty")
    stop: Stops | None = None
    lock: LockName | None = None
    lang: LangChoice | None = Lang


def _no_images(value: list[str] | None) -> list[str] | None:
    if value:
        raise ValueError(NO_IMAGES)
    return value


class OllamaFunctionCall(Loose):
    name: FunctionName
    arguments: dict[str, Any] = Field(default_factory=dict)


class OllamaToolCall(Loose):
    function: OllamaFunctionCall


class OllamaMessage(Loose):
    role: Literal["system", "user", "assistant", "tool"]
    content: str = ""
    tool_calls: list[OllamaToolCall] | None = Field(default=None, max_length=64)
    tool_name: str | None = Field(default=None, max_length=64)
    images: list[str] | None = Field(default=None, json_schema_extra={"maxItems": 0},
                                     description="images are not supported (a 400 says so)")

    check_images = field_validator("images")(_no_images)


_DURATION_PART = r"\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h)"
DURATION = rf"^-?(?:{_DURATION_PART})+$|^-?\d+(?:\.\d+)?$"
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def keep_alive_seconds(value: str | float | None) -> float | None:
    """Ollama's keep_alive as seconds: a number of seconds or a Go duration ('5m', '1h30m', '0');
    negative means forever (inf). None when the request did not say."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        sign = -1.0 if text.startswith("-") else 1.0
        body = text.lstrip("-")
        if not re.fullmatch(DURATION, text):
            raise ValueError(f"'{value}' is not a duration: use seconds or a duration like '5m' or '1h30m' "
                             "(0 unloads the model now, a negative value keeps it)")
        if re.fullmatch(r"\d+(?:\.\d+)?", body):
            seconds = float(body)
        else:
            seconds = sum(float(n) * _UNITS[u] for n, u in re.findall(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", body))
        seconds *= sign
    else:
        seconds = float(value)
    return math.inf if seconds < 0 else seconds


# the pattern is in the schema (for clients and fuzzers); the validator gives the message
KeepAlive = Annotated[str | int | float | None, Field(json_schema_extra={"pattern": DURATION}),
                      AfterValidator(keep_alive_seconds)]


class OllamaGenerationRequest(LogprobFields):
    """What /api/chat and /api/generate share."""

    model: str = Field(min_length=1, max_length=256)
    stream: bool = True
    options: OllamaOptions | None = None
    format: Literal["", "json"] | JsonSchema | None = Field(
        default=None, description='"json" or a JSON schema: the answer is grammar-constrained to it')
    tools: list[ToolDef] | None = Field(default=None, max_length=64)
    keep_alive: KeepAlive = Field(default=None, description="how long the model stays loaded after this request: "
                                  "seconds or a duration like '5m'; 0 unloads it now; negative keeps it")
    think: bool | Literal["low", "medium", "high"] | None = Field(
        default=None, description="accepted; kollama's models do not think aloud, so no `thinking` is returned")
    lock: LockName | None = None
    lang: LangChoice | None = Lang


class OllamaChatRequest(OllamaGenerationRequest):
    messages: list[OllamaMessage] = Field(default_factory=list, max_length=512)


class OllamaGenerateRequest(OllamaGenerationRequest):
    prompt: str = ""
    system: str | None = None
    raw: bool = False
    images: list[str] | None = Field(default=None, json_schema_extra={"maxItems": 0},
                                     description="images are not supported (a 400 says so)")

    check_images = field_validator("images")(_no_images)


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
