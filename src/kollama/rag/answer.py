"""`rag ask`: retrieve, build a prompt that fits the model's context, answer in Korean, cite pages.

When nothing relevant is retrieved the answer says so instead of inventing one. `extractive` mode
skips generation and returns the best-matching sentences with their citations.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from kollama.korean.morphology import split_sentences
from kollama.rag.retrieve import Hit
from kollama.rag.sparse import kiwi_terms

DONT_KNOW = "제공된 문서에서 관련 내용을 찾지 못했습니다. 모릅니다."
SYSTEM_PROMPT = ("당신은 회사 문서를 바탕으로 한국어로 답하는 도우미입니다. 아래 문서 내용만 근거로 짧게 답하세요. "
                 "문서에 없는 내용이면 '모릅니다'라고 답하세요. 답 끝에 근거 문서를 [문서 제목 p.쪽] 형식으로 적으세요.")
# question words and light verbs: they say what is asked, not what it is about
QUESTION_TERMS = {"몇", "언제", "무엇", "무슨", "얼마", "어떻", "어떤", "누구", "어디", "왜", "하", "되", "있", "없", "알",
                  "주", "받", "나", "가능", "것", "수", "말", "뭐", "얼마나", "자주", "어느"}
MIN_COVERAGE = 0.3  # share of the question's topic terms that the best chunk must contain
CITATION = re.compile(r"\[([^\[\]]+?)\s*(p\.\s*\d+|§\s*\d+\s*¶\s*\d+)\]")


@dataclass
class Answer:
    question: str
    answer: str
    mode: str  # generative | extractive | none
    citations: list[dict] = field(default_factory=list)
    chunks: list[Hit] = field(default_factory=list)
    relevant: bool = True
    model: str | None = None
    response: dict | None = None

    def to_json(self) -> dict:
        return {"question": self.question, "answer": self.answer, "mode": self.mode, "relevant": self.relevant,
                "citations": self.citations, "chunks": [hit.to_json() for hit in self.chunks], "model": self.model,
                "response": self.response}


def topic_terms(text: str) -> set[str]:
    return {term for term in kiwi_terms(text) if term not in QUESTION_TERMS}


def coverage(question: str, hit: Hit) -> float:
    """How much of what the question is about appears in the chunk (with its title and heading)."""
    wanted = topic_terms(question)
    if not wanted:
        return 0.0
    found = set(kiwi_terms(f"{hit.title} {hit.heading} {hit.text}"))
    return term_weight(wanted & found) / term_weight(wanted)


def term_weight(terms: set[str]) -> float:
    """One-syllable morphemes are often mis-split fragments ('연차를' -> '연'+'차'): they count less."""
    return sum(1.0 if len(term) > 1 else 0.3 for term in terms)


def relevant_hits(question: str, hits: list[Hit]) -> list[Hit]:
    """The retrieved chunks, or none at all when even the best one does not cover the question."""
    if not hits or max(coverage(question, hit) for hit in hits[:3]) < MIN_COVERAGE:
        return []
    return hits


def citation_of(hit: Hit, line: int | None = None) -> dict:
    citation = hit.citation_at(line)
    paragraph = int(citation.rsplit("¶", 1)[1].rstrip("]")) if "¶" in citation else None
    return {"doc": hit.doc, "title": hit.title, "page": hit.page, "paragraph": paragraph, "toc": hit.toc,
            "chunk_id": hit.chunk_id, "citation": citation}


def without_toc_only(cited: list[Hit], retrieved: list[Hit]) -> list[Hit]:
    """A table-of-contents page is never the only citation when a content page was retrieved: it is
    replaced by the best content chunk, and dropped beside other content citations."""
    content = [hit for hit in cited if not hit.toc]
    if content:
        return content
    fallback = next((hit for hit in retrieved if not hit.toc), None)
    return [fallback] if fallback else cited


def _units(hit: Hit) -> list[tuple[str, int]]:
    """(sentence or table row, line number within the chunk)."""
    return [(unit.strip(), number) for number, line in enumerate(hit.text.split("\n"))
            for unit in ([line] if "|" in line else split_sentences(line)) if unit.strip()]


def extractive_answer(question: str, hits: list[Hit], sentences: int = 2) -> tuple[str, list[dict]]:
    """Lead with the best sentence (or table row) of the top-ranked chunk, then add the next best
    sentences of the top three chunks that share topic terms with the question."""
    scored = []
    for rank, hit in enumerate(hits[:3]):
        wanted = topic_terms(question) - set(kiwi_terms(hit.title))  # the title says which document, not what
        for position, (unit, line) in enumerate(_units(hit)):
            overlap = term_weight(wanted & set(kiwi_terms(f"{hit.heading} {unit}")))
            if overlap or (rank == 0 and position == 0):
                scored.append((overlap - 0.3 * rank, rank, unit, hit, line))
    lead = max((item for item in scored if item[1] == 0), key=lambda item: item[0])
    rest = sorted((item for item in scored if item is not lead and item[0] > 0 and not (item[3].toc and not lead[3].toc)),
                  key=lambda item: -item[0])
    chosen = [lead] + rest[:sentences - 1]
    text = " ".join(f"{unit} {hit.citation_at(line)}" for _, _, unit, hit, line in chosen)
    citations = list({c["citation"]: c for c in (citation_of(hit, line) for _, _, _, hit, line in chosen)}.values())
    return text, citations


def build_messages(question: str, hits: list[Hit], count_tokens, budget: int) -> tuple[list[dict], list[Hit]]:
    """Best chunks first, as many as fit in `budget` tokens together with the instructions and the question."""
    used, parts = [], []
    fixed = count_tokens(SYSTEM_PROMPT) + count_tokens(question) + 32
    for hit in hits:
        part = f"{hit.citation} {hit.heading}\n{hit.text}"
        cost = count_tokens(part) + 4
        if fixed + cost > budget:
            break
        fixed += cost
        parts.append(part)
        used.append(hit)
    context = "\n\n".join(parts)
    user = f"문서:\n{context}\n\n질문: {question}\n근거 문서를 [문서 제목 p.쪽] 형식으로 밝혀 답하세요."
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}], used


def support(answer_unit: str, hit: Hit) -> int:
    return len(set(kiwi_terms(answer_unit)) & set(kiwi_terms(f"{hit.heading} {hit.text}")))


def attach_citations(text: str, used: list[Hit]) -> tuple[str, list[dict]]:
    """Cite the pages the answer's sentences are supported by (shared terms), most supportive first.

    Citations the model wrote itself are dropped: small models copy the [제목 p.N] pattern from the
    prompt without regard to where the answer came from. With no support at all, the top chunk is cited.
    """
    clean = CITATION.sub("", text).strip()
    scores: dict[int, int] = {}
    for sentence in split_sentences(clean) if clean else []:
        ranked = sorted(((support(sentence, hit), -rank) for rank, hit in enumerate(used)), reverse=True)
        if ranked and ranked[0][0] >= 2:
            scores[-ranked[0][1]] = scores.get(-ranked[0][1], 0) + ranked[0][0]
    order = sorted(scores, key=lambda rank: (-scores[rank], rank)) or [0]
    pages, cited = set(), []
    for hit in without_toc_only([used[rank] for rank in order], used):
        if (hit.doc, hit.page, hit.paragraph) not in pages:
            pages.add((hit.doc, hit.page, hit.paragraph))
            cited.append(hit)
    return f"{clean} {' '.join(hit.citation for hit in cited)}".strip(), [citation_of(hit) for hit in cited]
