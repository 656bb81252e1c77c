"""The one small interface every backend implements, and the logic they all share.

A backend implements `_stream(prompt_or_messages, params)` and says whether it can enforce
the lock while decoding. Everything else (the lock by retry, timing) lives here once, so no
engine repeats it. Engines return responses and write nothing: the CLI and the server decide
whether to log them (`kollama.logs`), so `--no-log` holds for every caller.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Generator, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

from kollama.engines.scoring import Scorer
from kollama.engines.tokenizer import Tokenizer
from kollama.korean.lock import LockMasks, LockMode
from kollama.models.reference import ModelRef

if TYPE_CHECKING:
    import numpy as np

Messages = list[dict[str, Any]]


class Chat(list):
    """A conversation plus the tools offered to the model (OpenAI's shape), for engines whose chat template
    renders tools in the model's own format (`Engine.tool_format`). Everywhere else it is just the messages."""

    def __init__(self, messages: Messages, tools: list[dict[str, Any]] | None = None):
        super().__init__(messages)
        self.tools = tools or None


#: the accepted range of each sampling setting, written once: GenerationParams checks it, and the server's
#: request schemas take their bounds from it (kollama.serve.schemas.limited)
LIMITS: dict[str, tuple[float, float]] = {
    "temperature": (0.0, 5.0), "top_p": (0.0, 1.0), "top_k": (0, 100_000), "repeat_penalty": (0.0, 10.0),
    "max_tokens": (1, 1_000_000), "top_logprobs": (0, 20),
}
#: settings whose lower limit is itself not allowed (top_p 0 would keep no token)
ABOVE_LOW = frozenset({"top_p"})


def within_limits(name: str, value: float) -> bool:
    """True when `value` is in the declared range of the sampling setting `name`."""
    low, high = LIMITS[name]
    return (low < value if name in ABOVE_LOW else low <= value) and value <= high


@dataclass
class GenerationParams:
    """How to sample one answer. Validates itself: a value out of range is a KollamaError (a 400 from
    the server, one line and exit 1 from the CLI), whoever built it."""

    temperature: float = 0.8
    top_p: float = 0.95
    top_k: int = 40
    repeat_penalty: float = 1.1  # Ollama's default; tiny models loop without it
    seed: int | None = None
    max_tokens: int = 512
    stop: list[str] = field(default_factory=list)
    lock: LockMode = LockMode.off
    lang: str = "ko"
    top_logprobs: int | None = None  # None: no log-probabilities; 0: the chosen token's; n: and the n likeliest
    # Extension point for structured outputs and tool calls: a GBNF grammar (llama.cpp's grammar
    # sampler, rule 'root') that every generated token must follow. llama.cpp engine only.
    grammar: str | None = None
    # where the lock applies: the whole answer, or only inside JSON string values ("json_values", for
    # grammar-constrained JSON whose keys and syntax must stay as the schema spells them)
    lock_scope: str | None = None

    def __post_init__(self) -> None:
        from kollama.errors import KollamaError
        from kollama.korean.lock import parse_lock
        from kollama.korean.scripts import language

        for name, (low, high) in LIMITS.items():
            value = getattr(self, name)
            if value is None:
                continue
            if not within_limits(name, value):
                raise KollamaError(f"--{name.replace('_', '-')} ({name}) must be between {low:g} and {high:g} (got {value})",
                                   hint=f"give a value from {low:g} to {high:g}")
        if not isinstance(self.lock, LockMode):
            self.lock = parse_lock(self.lock)
        language(self.lang)  # an unknown language fails here, with the list of known ones


def derive_seed(seed: int | None, index: int) -> int | None:
    """The seed of a request's `index`-th answer (n > 1, compare's trials): seed + index, so answer 0
    is the n=1 answer."""
    return None if seed is None else seed + index


@dataclass
class TokenLogprob:
    """A generated token's raw bytes and log-probability (after the lock's mask, before temperature),
    with the likeliest alternatives at that step."""

    token: bytes
    logprob: float
    top: list[tuple[bytes, float]] = field(default_factory=list)
    id: int | None = None  # the token id, where the backend knows it

    def to_json(self) -> dict[str, Any]:
        """The per-token object clients parse (OpenAI chat `logprobs.content`, Ollama, `kollama run --json`)."""
        def entry(token: bytes, logprob: float) -> dict[str, Any]:
            return {"token": token.decode("utf-8", errors="replace"), "logprob": round(logprob, 6),
                    "bytes": list(token)}

        return {**entry(self.token, self.logprob), "top_logprobs": [entry(t, lp) for t, lp in self.top]}


class TokenPiece(str):
    """A text piece that also carries the log-probabilities of the tokens it came from."""

    logprobs: list[TokenLogprob]

    def __new__(cls, text: str, logprobs: list[TokenLogprob]) -> TokenPiece:
        piece = super().__new__(cls, text)
        piece.logprobs = logprobs
        return piece


@dataclass
class Response:
    model: str
    text: str
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    ttft: float | None
    lock: str
    lock_enforcement: str  # "none" | "decoding" | "retry"
    retries: int = 0
    lock_violations: int = 0  # foreign spans left after retrying (retry enforcement only)
    finish_reason: str = "stop"
    prompt: str | Messages | None = None
    params: dict[str, Any] | None = None
    logprobs: list[TokenLogprob] | None = None  # when asked for (GenerationParams.top_logprobs)

    @property
    def tokens_per_second(self) -> float:
        gen_seconds = self.seconds - (self.ttft or 0.0)
        if self.completion_tokens <= 1 or gen_seconds <= 0:
            return self.completion_tokens / self.seconds if self.seconds > 0 else 0.0
        return (self.completion_tokens - 1) / gen_seconds

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "text": self.text,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "seconds": round(self.seconds, 4),
            "ttft": round(self.ttft, 4) if self.ttft is not None else None,
            "tokens_per_second": round(self.tokens_per_second, 2),
            "lock": self.lock,
            "lock_enforcement": self.lock_enforcement,
            "retries": self.retries,
            "lock_violations": self.lock_violations,
            "finish_reason": self.finish_reason,
            **({"logprobs": [t.to_json() for t in self.logprobs]} if self.logprobs is not None else {}),
        }


@dataclass
class StreamStats:
    """What a backend reports when its stream ends."""

    prompt_tokens: int
    completion_tokens: int
    finish_reason: str = "stop"
    seconds: float | None = None  # when the backend timed the answer itself (batched decoding)
    ttft: float | None = None


class Generation:
    """An answer being produced: iterate for text pieces; `.response` is set once it is done.

    Closing it early (a client disconnects, Ctrl-C) stops the backend's generation.
    """

    def __init__(self, pieces: Generator[str, None, Response]):
        self._pieces = pieces
        self.response: Response | None = None

    def __iter__(self) -> Iterator[str]:
        self.response = yield from self._pieces

    def close(self) -> None:
        self._pieces.close()

    def result(self) -> Response:
        for _ in self:
            pass
        assert self.response is not None
        return self.response


class Engine(ABC):
    """A loaded model. Subclasses: llama.cpp in-process, OpenAI-compatible HTTP, Ollama HTTP."""

    #: several generations may run at once on one engine (from different threads)
    concurrent: bool = False
    #: the engine fills Response.logprobs when GenerationParams.top_logprobs is set
    supports_logprobs: bool = False
    #: the model runs in this process, so the engine scores text (`scorer`), replays an answer's logits
    #: (`replay_logits`) and builds the lock's masks (`lock_masks`) from its `tokenizer`
    supports_scoring: bool = False
    #: the model's own tokenizer, where the engine holds one
    tokenizer: Tokenizer | None = None

    def locks_while_decoding(self, mode: LockMode) -> bool:
        """True when the backend can ban tokens for this lock mode; otherwise the lock detects and retries."""
        return False

    def decode_stats(self) -> dict[str, int]:
        """What decoding cost so far, for reports (decode steps, prompt tokens reused, tokens ridden); empty
        for backends that do not say."""
        return {}

    @property
    def tool_format(self) -> str | None:
        """The tool-call format the model's chat template teaches ("tagged": `<tool_call>{...}</tool_call>`,
        "json": a bare `{"name", "parameters"}` object), or None: then tools are described in a system
        message and results fed back as user turns, and a `Chat`'s tools are ignored."""
        return None

    def __init__(self, ref: ModelRef):
        self.ref = ref

    @property
    def name(self) -> str:
        return self.ref.ref

    # --- what a backend implements -------------------------------------------------
    @abstractmethod
    def _stream(self, request: str | Messages, params: GenerationParams) -> Generator[str, None, StreamStats]:
        """Yield text pieces for a prompt (str) or a chat (list of messages); return the token counts."""

    def tokenize(self, text: str, add_bos: bool = False) -> list[int]:
        raise NotImplementedError(f"{type(self).__name__} cannot tokenize")

    def detokenize(self, tokens: list[int]) -> str:
        raise NotImplementedError(f"{type(self).__name__} cannot detokenize")

    def token_logprobs(self, text: str) -> list[tuple[str, float]]:
        """(token text, log-probability given everything before it) for each scored token of `text`."""
        from kollama.errors import KollamaError

        raise KollamaError(f"{self.name}: this backend gives no token log-probabilities",
                           hint="use a local GGUF model (the llama.cpp engine)")

    def scorer(self, n_threads: int | None = None) -> Scorer:
        """Log-likelihoods on this engine's model (`n_threads`: its decoding threads); close it when done."""
        raise self._no_scoring()

    def replay_logits(self, request: str | Messages, answer: list[int]) -> Iterator[np.ndarray]:
        """The model's logits before each token of `answer`, given the prompt (teacher forcing)."""
        raise self._no_scoring()

    def lock_masks(self, lang: str) -> LockMasks:
        """The language lock's token masks for this model's vocabulary."""
        raise self._no_scoring()

    def _no_scoring(self) -> Exception:
        from kollama.errors import KollamaError

        return KollamaError(f"{self.name}: this backend gives no log-likelihoods or logits",
                            hint="use a local GGUF model (the llama.cpp engine)")

    @property
    def context_length(self) -> int:
        return 4096

    def close(self) -> None:
        """Free the model; engines are also usable as context managers."""

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- shared by every backend ---------------------------------------------------------
    def chat(self, messages: Messages, params: GenerationParams | None = None) -> Generation:
        return Generation(self._decoded(messages, params or GenerationParams()))

    def complete(self, prompt: str, params: GenerationParams | None = None) -> Generation:
        return Generation(self._decoded(prompt, params or GenerationParams()))

    def generate_many(self, requests: Sequence[tuple[str | Messages, GenerationParams]]) -> list[Generation]:
        """Several answers; backends that batch decode them together (in order, deterministically),
        the others one after another as each Generation is read."""
        return [Generation(self._decoded(request, params)) for request, params in requests]

    def _decoded(self, request: str | Messages, params: GenerationParams,
                 stream: Generator[str, None, StreamStats] | None = None) -> Generator[str, None, Response]:
        """One answer under the lock (by decoding, or by retrying on backends that cannot ban tokens)."""
        if params.top_logprobs is not None and not self.supports_logprobs:
            from kollama.errors import KollamaError

            raise KollamaError(f"{self.name}: this backend gives no token log-probabilities",
                               hint="leave out logprobs, or use a local GGUF model")
        if params.lock != LockMode.off and not self.locks_while_decoding(params.lock):
            return (yield from self._retry_until_faithful(request, params))
        response = yield from self._timed(request, params, stream)
        response.lock_enforcement = "decoding" if params.lock != LockMode.off else "none"
        return response

    def _timed(self, request: str | Messages, params: GenerationParams,
               stream: Generator[str, None, StreamStats] | None = None) -> Generator[str, None, Response]:
        start = time.perf_counter()
        ttft = None
        parts: list[str] = []
        logprobs: list[TokenLogprob] | None = [] if params.top_logprobs is not None else None
        stream = stream if stream is not None else self._stream(request, params)
        try:
            while True:
                piece = next(stream)
                if ttft is None:
                    ttft = time.perf_counter() - start
                parts.append(piece)
                if logprobs is not None and isinstance(piece, TokenPiece):
                    logprobs.extend(piece.logprobs)
                yield piece
        except StopIteration as stop:
            stats: StreamStats = stop.value
        finally:
            stream.close()
        return Response(
            model=self.name,
            text="".join(parts),
            prompt_tokens=stats.prompt_tokens,
            completion_tokens=stats.completion_tokens,
            seconds=stats.seconds if stats.seconds is not None else time.perf_counter() - start,
            ttft=stats.ttft if stats.seconds is not None else ttft,
            lock=params.lock.value,
            lock_enforcement="none",
            finish_reason=stats.finish_reason,
            prompt=request,
            params={k: (v.value if isinstance(v, LockMode) else v) for k, v in asdict(params).items()},
            logprobs=logprobs,
        )

    def _retry_until_faithful(
        self, request: str | Messages, params: GenerationParams, attempts: int = 4
    ) -> Generator[str, None, Response]:
        """For backends without token bans: buffer the answer, check it, try again with another seed.

        The answer is only released once checked, so a caller never sees a rejected attempt.
        """
        from kollama.korean.fidelity import fidelity_report
        from kollama.korean.lock import request_texts

        prompt_text, system_text = request_texts(request)
        best: tuple[int, Response] | None = None
        total_seconds = 0.0
        for attempt in range(attempts):
            seed = None if params.seed is None else params.seed + attempt
            trial = replace(params, seed=seed)
            response = Generation(self._timed(request, trial)).result()
            response.lock_enforcement = "retry"
            total_seconds += response.seconds
            report = fidelity_report(response.text, params.lang, prompt=prompt_text, system=system_text or None)
            # script: foreign-script characters only; strict and gated: everything the fidelity v2 policy flags
            bad = [s for s in report.foreign if s.kind == "script" or params.lock != LockMode.script]
            if best is None or len(bad) < best[0]:
                best = (len(bad), response)
            if not bad:
                break
        assert best is not None
        response = best[1]
        response.retries = attempt
        response.lock_violations = best[0]
        response.seconds = total_seconds
        response.lock = params.lock.value
        response.lock_enforcement = "retry"
        if response.text:
            yield response.text
        return response

