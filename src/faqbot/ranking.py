"""Stages 2 and 3, retrieve and rank: candidate passages with their signals, mixed by one fuse.

`fuse` is the only place signals become a ranking score: `/ask`, fitting (evaluation/fitting.py)
and the external sets (evaluation/external.py, through the Answerer) all rank with it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from faqbot.analysis import DrugMatch, Question, topic_tokens
from faqbot.chunks import Chunk
from faqbot.embedding import Embedder
from faqbot.index import Index
from faqbot.lexical import tokenize
from faqbot.model import SIGNALS, Model
from faqbot.vocabulary import generic_name

MODES = ("lexical", "dense", "hybrid", "full")
PAIR_HINT = "interactions"  # two drugs: the question is about taking them together


def fuse(signals: np.ndarray, weights: np.ndarray, priors: np.ndarray | float = 0.0) -> np.ndarray:
    """Ranking scores of candidates: their SIGNALS columns weighted, plus each one's heading prior."""
    return signals @ weights + priors


def prior_key(chunk: Chunk) -> str:
    """The kind of passage a learned prior applies to: "faq", or the slug of its leaf heading."""
    return "faq" if chunk.kind == "faq" else chunk.anchor


@dataclass
class Ranking:
    """Candidates best first, with each one's signals (and "fused", "prior"), the model that ranked them (and
    decides), and the question's vector as that model's vector models read it (Ranker.reading)."""

    ranked: list[int]
    signals: dict[int, dict[str, float]]
    query_vector: np.ndarray | None
    model: Model


@dataclass
class Candidates:
    """What retrieval found: chunk rows and, per row of the index, the raw similarities."""

    rows: np.ndarray
    dense: np.ndarray  # best of the passage's and its FAQ question's vectors
    passage: np.ndarray  # the passage's own vector
    lexical: np.ndarray  # BM25, scaled so the best candidate has 1
    query_vector: np.ndarray | None


class Ranker:
    """Retrieval and ranking over one index."""

    def __init__(self, index: Index, embedder: Embedder, model: Model) -> None:
        self.index = index
        self.embedder = embedder
        self.model = model
        # what a passage is about: its heading path, or for an FAQ its question (less the drug's names)
        self.heading_tokens = [self._topic_of(c) for c in index.chunks]
        self.prior_keys = [prior_key(c) for c in index.chunks]
        self.is_faq = np.array([float(c.kind == "faq") for c in index.chunks])
        # 1 for the second and later parts of a split section: the first part usually opens the topic
        self.later_part = np.array([float(c.part > 1) for c in index.chunks])
        # per page, its rows of the vector table (passages, then FAQ questions), for a drug-locked search
        rows_of: dict[str, list[int]] = {}
        for row, c in enumerate(index.vector_chunk.tolist()):
            rows_of.setdefault(index.chunks[c].doc_id, []).append(row)
        self.vector_rows = {d: np.array(rows, dtype=np.int64) for d, rows in rows_of.items()}
        # per page, the direction of the mean of its passages' vectors: what its questions share as being about it
        self.page_axes = {d: _unit(index.vectors[rows]) for d, rows in index.chunk_rows.items() if len(rows)}

    def _topic_of(self, chunk: Chunk) -> set[str]:
        if chunk.kind == "section":
            return set(tokenize(" ".join(chunk.heading_path)))
        names = {t for name in self.index.drugs[chunk.doc_id].names for t in tokenize(name)}
        return set(tokenize(chunk.question or "")) - names

    def retrieve(self, text: str, tokens: list[str], doc_ids: list[str] | None, mode: str) -> Candidates:
        """Dense (passage and FAQ-question vectors), BM25, and the drug lock's page restriction.

        With one page, the dense query gets the drug's title in front, as its passages have it:
        a follow-up ("and in pregnancy?") or a misspelt name then reads like the passages do.
        """
        index = self.index
        n = len(index.chunks)
        rows = (
            np.concatenate([index.chunk_rows[d] for d in doc_ids if d in index.chunk_rows])
            if doc_ids is not None
            else np.arange(n)
        )
        dense = np.full(n, -1.0, dtype=np.float32)
        passage = np.full(n, -1.0, dtype=np.float32)
        lexical = np.zeros(n, dtype=np.float32)
        qv: np.ndarray | None = None
        if len(rows) == 0:
            return Candidates(rows, dense, passage, lexical, None)
        if mode != "lexical":
            dense_query = text
            if mode == "full" and doc_ids is not None and len(doc_ids) == 1:
                title = index.drugs[doc_ids[0]].title
                if title.lower() not in text.lower():
                    dense_query = f"{title}: {text}"
            qv = self.embedder.encode([dense_query])[0]
            if doc_ids is not None:
                vec_rows = np.concatenate([self.vector_rows[d] for d in doc_ids if d in self.vector_rows])
                scores = index.vectors[vec_rows] @ qv
                np.maximum.at(dense, index.vector_chunk[vec_rows], scores)
                # vector rows below len(chunks) are the passages themselves; the rest are FAQ questions
                own = vec_rows < n
                passage[vec_rows[own]] = scores[own]
            else:
                k = min(len(index.vectors), 200)
                scores, found = index.faiss_index.search(qv[None, :].astype(np.float32), k)
                valid = found[0] >= 0
                np.maximum.at(dense, index.vector_chunk[found[0][valid]], scores[0][valid])
                rows = np.unique(index.vector_chunk[found[0][valid]])
                # a candidate found through its FAQ question still needs its passage's similarity
                passage[rows] = index.vectors[rows] @ qv
        if mode != "dense" and tokens:
            raw = index.bm25.get_scores(tokens)
            top = float(raw[rows].max()) if len(rows) else 0.0
            if top > 0:
                lexical = (raw / top).astype(np.float32)
            if mode == "lexical" and doc_ids is None:
                rows = np.flatnonzero(raw > 0) if top > 0 else rows[:0]
        return Candidates(rows, dense, passage, lexical, qv)

    def rank(
        self, text: str, tokens: list[str], topic_tokens: set[str], doc_ids: list[str] | None, mode: str = "full"
    ) -> Ranking:
        """Chunk rows best first (ties to the smaller chunk id), each with its signals. doc_ids restricts to those pages."""
        found = self.retrieve(text, tokens, doc_ids, mode)
        rows = found.rows
        full = mode == "full"
        model = self.model.for_pages(doc_ids) if full else self.model
        reading = self.reading(model, found.query_vector, doc_ids)
        if len(rows) == 0:
            return Ranking([], {}, None, model)
        topic = np.array([float(full and bool(topic_tokens & self.heading_tokens[c])) for c in rows.tolist()])
        kind = self.kind_signal(rows, reading, model) if full else np.zeros(len(rows))
        sentence, sentence_pair = self.sentence_signals(rows, found.query_vector if full else None)
        # columns in SIGNALS order
        matrix = np.column_stack([
            found.dense[rows].astype(np.float64), found.lexical[rows].astype(np.float64), topic,
            self.is_faq[rows], found.passage[rows].astype(np.float64), self.later_part[rows], kind, sentence, sentence_pair,
        ])  # fmt: skip
        priors = np.array([model.priors.get(self.prior_keys[c], 0.0) if full else 0.0 for c in rows.tolist()])
        fused = fuse(matrix, model.weight_vector(mode), priors)
        signals: dict[int, dict[str, float]] = {}
        for i, c in enumerate(rows.tolist()):
            signals[c] = {name: float(matrix[i, j]) for j, name in enumerate(SIGNALS)}
            signals[c]["fused"] = float(fused[i])
            signals[c]["prior"] = float(priors[i])
        order = sorted(range(len(rows)), key=lambda i: (-fused[i], self.index.chunks[rows[i]].chunk_id))
        return Ranking([int(rows[i]) for i in order], signals, reading, model)

    def reading(self, model: Model, query_vector: np.ndarray | None, doc_ids: list[str] | None) -> np.ndarray | None:
        """The question's vector as model's vector models (kind, aspect) read it: for a page_axis model and one page,
        without its part along the page's axis, so that they see the kind of question rather than the page."""
        if query_vector is None or not model.page_axis or doc_ids is None or len(doc_ids) != 1:
            return query_vector
        axis = self.page_axes.get(doc_ids[0])
        return query_vector if axis is None else query_vector - float(query_vector @ axis) * axis

    def kind_signal(self, rows: np.ndarray, query_vector: np.ndarray | None, model: Model) -> np.ndarray:
        """Per candidate: log P(its kind of passage | the question), from the fitted kind model (0 without one).

        A kind the model does not know counts as unlikely as its least likely known kind.
        """
        log_probs = model.kind_log_probs(query_vector)
        if log_probs is None:
            return np.zeros(len(rows))
        column = {kind: i for i, kind in enumerate(model.kinds)}
        padded = np.append(log_probs, log_probs.min()).astype(np.float64)
        return padded[[column.get(self.prior_keys[c], -1) for c in rows.tolist()]]

    def sentence_signals(self, rows: np.ndarray, query_vector: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Per candidate: the best cosine between the question and one of its sentences, alone and with the next one
        under the passage's heading (chunks.sentence_texts); zeros without a query vector.

        A question is usually answered by one sentence, which the whole passage's vector blurs. Dev, ranking hit@1,
        5-fold CV over three fold assignments (experiments/sentence/): 0.849 -> 0.878 (L2 0.1) and 0.882 (L2 1.0).
        """
        if query_vector is None:
            return np.zeros(len(rows)), np.zeros(len(rows))
        starts = self.index.sentence_starts
        first, counts = starts[rows], starts[rows + 1] - starts[rows]
        offsets = np.cumsum(counts) - counts
        members = np.repeat(first - offsets, counts) + np.arange(int(counts.sum()))  # each candidate's sentence rows
        scores = self.index.sentence_vectors[:, members] @ query_vector  # both forms in one gather
        best = np.maximum.reduceat(scores, offsets, axis=1).astype(np.float64)
        return best[0], best[1]

    def rank_question(self, question: Question, mode: str = "full") -> Ranking:
        """The ranking for an analysed question: one page, two interleaved, or all pages."""
        if len(question.target) == 2:
            return self.rank_pair(question, question.target)
        doc_ids = [question.target[0].doc_id] if question.target and question.target[0].doc_id else None
        return self.rank(self.dense_text(question), question.tokens, question.topic_tokens, doc_ids, mode)

    def dense_text(self, question: Question) -> str:
        """The question as the dense model reads it: drug names as the pages write them. The drug's name as the
        visitor wrote it (a brand, a typo) becomes the page's title, the name its passages and FAQ questions use
        ("what is aubagio used for" is closer to "Teriflunomide: Usage" than to the passage listing brand names);
        a second drug without a page becomes its generic name ("aubagio and crestor": rosuvastatin, as the
        interactions passage names it). Dev, ranking hit@1, 5-fold CV over three fold assignments: 0.813 -> 0.841
        with the title, 0.841 -> 0.849 with the generic name too."""
        names: dict[str, str] = {}
        match = question.target[0] if len(question.target) == 1 else None
        if match is not None and match.doc_id is not None and match.how in ("alias", "fuzzy"):
            names[match.matched] = self.index.drugs[match.doc_id].title
        elif match is not None and match.doc_id is not None and match.how == "filter":
            # the drug picked or chosen apart from the words ("which medicine?" answered "gilenya"): its names in them too
            drug = self.index.drugs[match.doc_id]
            names.update({n: drug.title for n in drug.names[1:] if n.lower() != drug.title.lower()})
        for other in question.absent:
            generic = generic_name(other.matched)
            if generic and generic != other.matched.lower():
                names[other.matched] = generic
        text = question.text
        for name, written in names.items():  # backslashes escaped: the name goes in as written
            text = re.sub(rf"\b{re.escape(name)}\b", written.replace("\\", "\\\\"), text, flags=re.IGNORECASE)
        return text

    def rank_pair(self, question: Question, target: list[DrugMatch]) -> Ranking:
        """Two drugs: each page's best passage for the question, interactions favoured, interleaved."""
        text = f"{question.text} {PAIR_HINT}"
        tokens = question.tokens + tokenize(PAIR_HINT)
        topics = (question.topic_tokens | topic_tokens(PAIR_HINT)) - question.name_tokens
        lists: list[list[int]] = []
        signals: dict[int, dict[str, float]] = {}
        rankings = [self.rank(text, tokens, topics, [match.doc_id] if match.doc_id else None) for match in target]
        for ranking in rankings:
            lists.append(ranking.ranked)
            signals.update(ranking.signals)
        merged: list[int] = []
        for pair in zip(*lists):
            merged.extend(pair)
        longest = max(lists, key=len)
        merged.extend(longest[len(merged) // 2 :])
        # the first drug's ranking, whose best passage leads, speaks for the question
        return Ranking(merged, signals, rankings[0].query_vector, rankings[0].model)


def _unit(vectors: np.ndarray) -> np.ndarray:
    mean = vectors.mean(axis=0)
    return mean / (float(np.linalg.norm(mean)) or 1.0)
