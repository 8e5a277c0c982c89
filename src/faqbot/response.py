"""Stage 5, respond: the public shape of an answer (see PRODUCT.md), with highlights and scores."""

from __future__ import annotations

import math
import time
import uuid
from typing import Any

from faqbot.analysis import DrugMatch
from faqbot.chunks import Chunk, sentence_spans
from faqbot.index import Index
from faqbot.lexical import tokenize

Sentence = tuple[int, int, frozenset[str]]  # start, end, the sentence's word stems


def sentences(text: str) -> list[Sentence]:
    """Each sentence or list line of text with its stems: what highlighting a passage needs of it."""
    return [(a, b, frozenset(tokenize(text[a:b]))) for a, b in sentence_spans(text)]


def highlight(text: str, query_tokens: set[str], max_spans: int = 2) -> list[list[int]]:
    """The sentence(s) of text that share the most words with the question, as [start, end] offsets."""
    return best_sentences(sentences(text), query_tokens, max_spans)


def best_sentences(spans: list[Sentence], query_tokens: set[str], max_spans: int = 2) -> list[list[int]]:
    """highlight() over sentences already split and stemmed (see Responder.sentences)."""
    if not spans:
        return []
    if len(spans) == 1 or not query_tokens:
        return [[spans[0][0], spans[0][1]]]
    scored = [(len(query_tokens & tokens), -i, a, b) for i, (a, b, tokens) in enumerate(spans)]
    best = max(s[0] for s in scored)
    if best == 0:
        return [[spans[0][0], spans[0][1]]]
    top = sorted((s for s in scored if s[0] == best), key=lambda s: -s[1])[:max_spans]
    return [[a, b] for _, _, a, b in sorted(top, key=lambda s: s[2])]


class Responder:
    """Builds /ask responses over one index."""

    def __init__(self, index: Index) -> None:
        self.index = index
        # chunk row -> its sentences with their stems, split once per passage shown rather than once per answer
        self._sentences: dict[int, list[Sentence]] = {}

    def sentences(self, c: int) -> list[Sentence]:
        found = self._sentences.get(c)
        if found is None:
            found = self._sentences[c] = sentences(self.index.chunks[c].text)
        return found

    def passage(self, c: int, score: float, query_tokens: set[str]) -> dict[str, Any]:
        chunk: Chunk = self.index.chunks[c]
        return {
            "chunk_id": chunk.chunk_id,
            "doc_id": chunk.doc_id,
            "title": chunk.title,
            "kind": chunk.kind,
            "section": chunk.section,
            "question": chunk.question,
            "text": chunk.text,
            "highlights": best_sentences(self.sentences(c), query_tokens),
            "score": round(score, 4),
            "url": f"/pages/{chunk.doc_id}#{chunk.anchor}",
            "source_path": chunk.source_path,
            "last_modified": chunk.last_modified,
            "is_banned": chunk.is_banned,
        }

    def respond(
        self,
        question: str,
        session_id: str,
        started: float,
        *,
        answered: bool,
        ranked: list[int],
        signals: dict[int, dict[str, float]],
        k: int,
        drug: DrugMatch | None,
        message: str | None,
        notices: list[str],
        score: float = 0.0,
        features: dict[str, float] | None = None,
        covers: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The response: keys starting with "_" are internal (the API drops them)."""
        query_tokens = set(tokenize(question))
        passages = []
        top_fused = signals[ranked[0]]["fused"] if ranked else 0.0
        for rank, c in enumerate(ranked[:k]):
            # alternatives get the top score discounted by how far their fused score trails it
            p = score if rank == 0 else score * math.exp(-4.0 * max(0.0, top_fused - signals[c]["fused"]))
            passages.append(self.passage(c, p, query_tokens))
        answer = passages[0] if answered and passages else None
        alternatives = passages[1:] if answered else passages[: max(0, k - 1)] if ranked else []
        drug_out = None
        if drug is not None and drug.doc_id is not None:
            drug_out = {
                "doc_id": drug.doc_id,
                "title": self.index.drugs[drug.doc_id].title,
                "matched": drug.matched,
                "how": drug.how,
            }
        return {
            "query_id": uuid.uuid4().hex,
            "session_id": session_id,
            "answered": answered,
            "answer": answer,
            "alternatives": alternatives,
            "drug": drug_out,
            "message": message,
            "covers": covers,
            "notices": notices,
            "index_version": self.index.version,
            "took_ms": round((time.perf_counter() - started) * 1000, 2),
            "_ranked": [self.index.chunks[c].chunk_id for c in ranked[:10]],
            "_features": features or {},
        }
