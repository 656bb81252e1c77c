"""Reference computations for the eval tests, written from the definitions and independent of
kollama.evaluate: harness prompt rules, and log-probabilities straight from llama.cpp logits."""

from __future__ import annotations

import math

import llama_cpp
import numpy as np

# lm-evaluation-harness tasks/kobest/*.yaml and utils.py, restated: (context, choices, gold)
HARNESS_KOBEST = {
    "kobest_boolq": lambda d: (f"{d['paragraph']} 질문: {d['question']} 답변: ", ["아니오", "예"], int(d["label"])),
    "kobest_copa": lambda d: (
        f"{d['premise']} {({'원인': ' 왜냐하면', '결과': ' 그래서'})[d['question'].strip()]}",
        [d["alternative_1"], d["alternative_2"]], int(d["label"])),
    "kobest_hellaswag": lambda d: (f"문장: {d['context']}", [d[f"ending_{i}"] for i in range(1, 5)], int(d["label"])),
    "kobest_sentineg": lambda d: (f"문장: {d['sentence']} 긍부정:", ["부정", "긍정"], int(d["label"])),
    "kobest_wic": lambda d: (
        f"문장1: {d['context_1']} 문장2: {d['context_2']} 두 문장에서 {d['word']}가 같은 뜻으로 쓰였나?",
        ["아니오", "예"], int(d["label"])),
}


# the official KoBEST files (realdata/kobest/<task>_test.jsonl: original TSV field names plus `hf_label`)
# -> the field names the harness's KoBEST tasks read (as Hugging Face's skt/kobest_v1 names them)
REAL_KOBEST_FIELDS = {
    "kobest_boolq": ("boolq", {"Text": "paragraph", "Question": "question"}),
    "kobest_copa": ("copa", {"sentence": "premise", "question": "question", "1": "alternative_1", "2": "alternative_2"}),
    "kobest_hellaswag": ("hellaswag", {"context": "context", **{f"choice{i}": f"ending_{i}" for i in range(1, 5)}}),
    "kobest_sentineg": ("sentineg", {"Text": "sentence"}),
    "kobest_wic": ("wic", {"Target": "word", "SENTENCE1": "context_1", "SENTENCE2": "context_2"}),
}


def real_kobest_items(folder, task: str, n: int, split: str = "test") -> list[tuple[str, list[str], int]]:
    """The first `n` items of a real KoBEST split as the harness renders them: (context, choices, gold)."""
    import json
    from pathlib import Path

    short, fields = REAL_KOBEST_FIELDS[task]
    lines = (Path(folder) / f"{short}_{split}.jsonl").read_text(encoding="utf-8").splitlines()[:n]
    docs = [{**{new: raw[old] for old, new in fields.items()}, "label": int(raw["hf_label"])}
            for raw in map(json.loads, lines)]
    return [HARNESS_KOBEST[task](d) for d in docs]


def harness_encode_pair(engine, context: str, continuation: str) -> tuple[list[int], list[int]]:
    """lm_eval.api.model.TemplateLM._encode_pair for a causal model whose tokenizer adds BOS."""
    n_spaces = len(context) - len(context.rstrip())
    if n_spaces > 0:
        continuation = context[-n_spaces:] + continuation
        context = context[:-n_spaces]
    add_bos = bool(engine.info.add_bos_token)
    whole = engine.llm.tokenize((context + continuation).encode(), add_bos=add_bos, special=True)
    ctx = engine.llm.tokenize(context.encode(), add_bos=add_bos, special=True)
    return ctx, whole[len(ctx):]


def _decode(engine, tokens: list[int], start: int, outputs: list[int]) -> list[np.ndarray]:
    ctx = engine.llm._ctx.ctx
    batch = llama_cpp.llama_batch_init(len(tokens), 0, 1)
    try:
        for i, tok in enumerate(tokens):
            batch.token[i] = tok
            batch.pos[i] = start + i
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = 0
            batch.logits[i] = 1 if i in outputs else 0
        batch.n_tokens = len(tokens)
        assert llama_cpp.llama_decode(ctx, batch) == 0
        n_vocab = engine.llm.n_vocab()
        return [np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(ctx, i), shape=(n_vocab,)).astype(np.float64)
                for i in outputs]
    finally:
        llama_cpp.llama_batch_free(batch)


def direct_logprob(engine, context: list[int], continuation: list[int], one_batch: bool = False) -> float:
    """Sum of log p(continuation | context) from raw llama.cpp logits. By default the context is one
    batch and the continuation another; `one_batch` evaluates context + continuation in a single batch,
    its last token included, as `Llama.eval` does for a sequence shorter than n_batch."""
    mem = llama_cpp.llama_get_memory(engine.llm._ctx.ctx)
    llama_cpp.llama_memory_clear(mem, True)
    try:
        if one_batch:
            seq = context + continuation
            rows = _decode(engine, seq, 0, list(range(len(context) - 1, len(seq) - 1)))
        else:
            rows = _decode(engine, context, 0, [len(context) - 1])
            if len(continuation) > 1:
                rows += _decode(engine, continuation[:-1], len(context), list(range(len(continuation) - 1)))
        total = 0.0
        for row, tok in zip(rows, continuation):
            peak = float(row.max())
            total += float(row[tok]) - (peak + math.log(float(np.exp(row - peak).sum())))
        return total
    finally:
        llama_cpp.llama_memory_clear(mem, True)
        engine.llm.reset()


class RawLlama:
    """llama-cpp-python as its users score text: `Llama(model_path, logits_all=True)`, `eval(tokens)`,
    log-softmax of the saved `scores` rows in float64. Nothing of kollama's scorer is involved."""

    def __init__(self, path: str, n_ctx: int = 4096):
        self.llm = llama_cpp.Llama(model_path=str(path), n_ctx=n_ctx, logits_all=True, verbose=False)

    def token_logprobs(self, tokens: list[int], first: int = 1) -> list[float]:
        """log p(tokens[k] | tokens[:k]) for k = first .. len(tokens) - 1 (the rows before are never normalised:
        on a 262k vocabulary that is most of the work)."""
        self.llm.reset()
        self.llm.eval(tokens)
        out = []
        for k in range(first, len(tokens)):
            row = self.llm.scores[k - 1].astype(np.float64)
            peak = row.max()
            out.append(float(row[tokens[k]]) - (peak + math.log(float(np.exp(row - peak).sum()))))
        return out

    def logprob(self, tokens: list[int], first: int) -> float:
        """Sum of log p(tokens[k] | tokens[:k]) for k >= first."""
        return sum(self.token_logprobs(tokens, first))

    def close(self) -> None:
        self.llm.close()
