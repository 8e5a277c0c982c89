"""Question -> ranked, calibrated passages: drug lock, hybrid ranking, abstention, highlights."""

from __future__ import annotations

import json
import math
import re
import time
import uuid
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from importlib import resources
from pathlib import Path
from threading import Lock
from typing import Any

import numpy as np
from rapidfuzz import fuzz, process

from faqbot.chunks import Chunk
from faqbot.embedding import CachedQueryEmbedder, Embedder, load_embedder, model_id_for, packaged_model_path
from faqbot.errors import FaqbotError
from faqbot.index import Index, current_build, load_index
from faqbot.lexical import STOPWORDS, tokenize
from faqbot.mentions import Mentions
from faqbot.pages import normalise_name
from faqbot.sessions import Sessions
from faqbot.settings import Settings

MODES = ("lexical", "dense", "hybrid", "full")
FEATURES = ("fused", "margin", "dense", "lexical", "named", "fuzzy", "context", "topic", "asks_covered")
DRUG_SUFFIXES = (
    "mab", "nib", "pril", "sartan", "statin", "olol", "dipine", "prazole", "floxacin", "cillin",
    "mycin", "cycline", "ciclovir", "clovir", "azepam", "zolam", "oxetine", "triptan", "gliptin",
    "gliflozin", "parin", "xaban", "gatran", "lukast", "tidine", "setron", "profen", "fenac", "conazole",
    "dronate", "semide", "thiazide", "glutide", "tinib", "platin", "rubicin", "taxel", "imod", "zumab",
)  # fmt: skip
# consumer phrasings of a topic, mapped to words that appear in section headings
TOPIC_WORDS = {
    "dose": "dosage", "dosing": "dosage", "much": "dosage", "mg": "dosage", "max": "dosage", "maximum": "dosage",
    "often": "dosage", "pregnant": "pregnancy", "pregnancy": "pregnancy", "breastfeeding": "breastfeeding",
    "nursing": "breastfeeding", "breast": "breastfeeding", "side": "side", "effects": "effects",
    "interact": "interactions", "interaction": "interactions", "interactions": "interactions", "with": "interactions",
    "together": "interactions", "mix": "interactions", "combine": "interactions", "alcohol": "interactions",
    "kids": "children", "child": "children", "children": "children", "works": "works", "work": "works",
    "mechanism": "works", "avoid": "contraindications", "shouldn": "contraindications", "contraindications": "contraindications",
    "elderly": "special", "kidney": "special", "liver": "special", "renal": "special", "hepatic": "special",
    "brand": "names", "names": "names", "called": "names", "used": "usage", "treat": "usage", "for": "usage",
    "precautions": "precautions", "warning": "precautions", "warnings": "precautions", "monitor": "precautions",
    "forgot": "miss", "forget": "miss", "forgotten": "miss", "skipped": "miss", "missed": "miss",
}  # fmt: skip


def prior_key(chunk: Chunk) -> str:
    """The kind of passage a learned prior applies to: "faq", or the slug of its leaf heading."""
    return "faq" if chunk.kind == "faq" else chunk.anchor


@dataclass(frozen=True)
class DrugMatch:
    """A drug named in a question."""

    doc_id: str | None  # None: a drug that no page covers
    matched: str
    how: str  # title, alias, fuzzy, context, filter
    start: int = 0


@dataclass
class Model:
    """Fusion weights, calibration and threshold; fitted on the dev split by `faqbot eval --fit`."""

    weights: dict[str, float] = field(default_factory=lambda: {"dense": 1.0, "lexical": 0.3, "topic": 0.08, "faq": 0.0})
    coef: dict[str, float] = field(
        default_factory=lambda: {"fused": 6.0, "margin": 4.0, "dense": 2.0, "lexical": 0.0, "named": 2.0, "fuzzy": -0.5,
                                 "context": 0.5, "topic": 0.3}
    )  # fmt: skip
    # learned bonus per kind of passage (leaf heading, or "faq"), shared by all pages
    priors: dict[str, float] = field(default_factory=dict)
    intercept: float = -6.0
    threshold: float = 0.5
    # logistic weights over the query vector (last entry: bias): "does the question ask something pages cover?"
    aspect: list[float] = field(default_factory=list)
    fitted_on: str = "defaults"

    @classmethod
    def load(cls, path: Path | None = None) -> Model:
        try:
            text = path.read_text() if path else resources.files("faqbot").joinpath("model.json").read_text()
        except (FileNotFoundError, OSError):
            return cls()
        data = json.loads(text)
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.__dict__, indent=2, sort_keys=True) + "\n")

    def asks_covered(self, query_vector: np.ndarray | None) -> float:
        """Log-odds that a question asks about an aspect the pages cover (0 without a fitted model)."""
        if not self.aspect or query_vector is None or len(self.aspect) != len(query_vector) + 1:
            return 0.0
        return float(np.dot(self.aspect[:-1], query_vector) + self.aspect[-1])

    def probability(self, features: dict[str, float]) -> float:
        z = self.intercept + sum(self.coef.get(name, 0.0) * features.get(name, 0.0) for name in FEATURES)
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


class DrugMatcher:
    """Finds the drugs a question names: exact names first, then typo-tolerant matches."""

    def __init__(self, index: Index) -> None:
        self.names: dict[str, tuple[str, str]] = {}  # normalised name -> (doc_id, how)
        first_words: dict[str, set[str]] = {}
        for doc_id, drug in sorted(index.drugs.items()):
            for i, name in enumerate(drug.names):
                key = normalise_name(name)
                how = "title" if i == 0 or key == normalise_name(doc_id) else "alias"
                if key and key not in self.names:
                    self.names[key] = (doc_id, how)
                words = key.split()
                if len(words) > 1 and len(words[0]) >= 6 and words[0] not in STOPWORDS:
                    first_words.setdefault(words[0], set()).add(doc_id)
        for word, docs in first_words.items():
            if len(docs) == 1 and word not in self.names:
                self.names[word] = (next(iter(docs)), "alias")
        self._patterns = sorted(self.names, key=len, reverse=True)
        self._regex = re.compile(r"\b(" + "|".join(re.escape(n) for n in self._patterns) + r")\b") if self.names else None
        self._single = [n for n in self.names if " " not in n and len(n) >= 5]
        self.absent = {n for n in _known_drug_names() if n not in self.names}

    def find(self, question: str) -> list[DrugMatch]:
        """Drugs named in the question, in order of appearance, one match per drug."""
        text = normalise_name(question)
        found: list[DrugMatch] = []
        covered: list[tuple[int, int]] = []
        if self._regex:
            for m in self._regex.finditer(text):
                doc_id, how = self.names[m.group(1)]
                found.append(DrugMatch(doc_id, m.group(1), how, m.start()))
                covered.append((m.start(), m.end()))
        for m in re.finditer(r"[a-z0-9]+", text):
            if any(a <= m.start() < b for a, b in covered):
                continue
            word = m.group(0)
            if word in self.absent:
                found.append(DrugMatch(None, word, "absent", m.start()))
                continue
            if len(word) < 6 or word in STOPWORDS:
                continue
            best = process.extractOne(word, self._single, scorer=fuzz.ratio, score_cutoff=84)
            if best is not None:
                doc_id, _ = self.names[best[0]]
                found.append(DrugMatch(doc_id, word, "fuzzy", m.start()))
                continue
            if word.endswith(DRUG_SUFFIXES):
                found.append(DrugMatch(None, word, "absent", m.start()))
                continue
            near_absent = process.extractOne(word, self.absent, scorer=fuzz.ratio, score_cutoff=88)
            if near_absent is not None:
                found.append(DrugMatch(None, word, "absent", m.start()))
        found.sort(key=lambda d: d.start)
        unique: list[DrugMatch] = []
        seen: set[str] = set()
        for match in found:
            key = match.doc_id or f"?{match.matched}"
            if key not in seen:
                seen.add(key)
                unique.append(match)
        return unique


def _known_drug_names() -> set[str]:
    text = resources.files("faqbot").joinpath("known_drugs.txt").read_text()
    return {normalise_name(line) for line in text.splitlines() if line.strip() and not line.startswith("#")}


@lru_cache(maxsize=1)
def _wordpiece_vocab() -> frozenset[str]:
    """Whole words of the packaged model's vocabulary: a rough English dictionary that ships offline."""
    try:
        path = packaged_model_path() / "vocab.txt"
        return frozenset(w for w in path.read_text().split() if w.isalpha() and not w.startswith("#"))
    except (OSError, FaqbotError):
        return frozenset()


LIST_MARKER_RE = re.compile(r"\s*(?:(?:[*+-]|\d+[.)])\s+)?")
SENTENCE_RE = re.compile(r"[^\n.!?]+(?:[.!?]+(?=\s|$)|$)", re.MULTILINE)


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence or list line in text, trimmed of list markers."""
    spans = []
    for m in SENTENCE_RE.finditer(text):
        start, end = m.start(), m.end()
        marker = LIST_MARKER_RE.match(text, start, end)
        if marker:
            start = marker.end()
        while end > start and text[end - 1].isspace():
            end -= 1
        if end - start >= 3 and re.search(r"[A-Za-z0-9]", text[start:end]):
            spans.append((start, end))
    return spans


def highlight(text: str, query_tokens: set[str], max_spans: int = 2) -> list[list[int]]:
    """The sentence(s) of text that share the most words with the question, as [start, end] offsets."""
    spans = sentence_spans(text)
    if not spans:
        return []
    if len(spans) == 1 or not query_tokens:
        return [list(spans[0])]
    scored = []
    for i, (a, b) in enumerate(spans):
        overlap = len(query_tokens & set(tokenize(text[a:b])))
        scored.append((overlap, -i, a, b))
    best = max(s[0] for s in scored)
    if best == 0:
        return [list(spans[0])]
    top = sorted((s for s in scored if s[0] == best), key=lambda s: -s[1])[:max_spans]
    return [[a, b] for _, _, a, b in sorted(top, key=lambda s: s[2])]


class Answerer:
    """Answers questions from one loaded index; keeps follow-up context per session."""

    def __init__(
        self, index: Index, embedder: Embedder, model: Model | None = None, sessions: Sessions | None = None, drug_lock: bool = True
    ) -> None:
        self.index = index
        # off for corpora whose page titles are not drug names (external evaluation sets)
        self.drug_lock = drug_lock
        self.embedder = embedder
        self.model = model or Model.load()
        self.sessions = sessions or Sessions()
        self.matcher = DrugMatcher(index)
        # each page's main sections in page order, named when the page doesn't answer
        self._sections: dict[str, list[str]] = {}
        for c in index.chunks:
            main = c.heading_path[0] if c.kind == "section" and c.heading_path else "FAQs"
            if main not in self._sections.setdefault(c.doc_id, []):
                self._sections[c.doc_id].append(main)
        # what a passage says, FAQ question included: searched for other drugs' names and classes
        self._mention_texts = [f"{c.question or ''} {c.text}" for c in index.chunks]
        self.mentions = Mentions(self._mention_texts)
        # what a passage is about: its heading path, or for an FAQ its question (less the drug's names)
        self._heading_tokens = [self._topic_of(c) for c in index.chunks]
        self._prior_key = [prior_key(c) for c in index.chunks]
        # 1 for the second and later parts of a split section: the first part usually opens the topic
        self._later_part = [float(c.chunk_id != f"{c.doc_id}#{c.anchor}" and not c.chunk_id.endswith("-1")) for c in index.chunks]

    @cached_property
    def drug_list(self) -> list[dict[str, Any]]:
        return [
            {"doc_id": d.doc_id, "title": d.title, "names": list(d.names), "is_banned": d.is_banned, "url": f"/pages/{d.doc_id}"}
            for d in sorted(self.index.drugs.values(), key=lambda d: d.title.lower())
        ]

    def _topic_of(self, chunk: Chunk) -> set[str]:
        if chunk.kind == "section":
            return set(tokenize(" ".join(chunk.heading_path)))
        names = {t for name in self.index.drugs[chunk.doc_id].names for t in tokenize(name)}
        return set(tokenize(chunk.question or "")) - names

    # ---- ranking -------------------------------------------------------------------------

    def _topic_tokens(self, question: str) -> set[str]:
        words = re.findall(r"[a-z]+", question.lower())
        mapped = [TOPIC_WORDS.get(w, w) for w in words]
        return set(tokenize(" ".join(mapped)))

    def rank(
        self, question: str, doc_ids: list[str] | None, mode: str = "full", name_tokens: set[str] | None = None
    ) -> tuple[list[int], dict[int, dict[str, float]], np.ndarray | None]:
        """Chunk indices best first, each candidate's signals, and the query vector. doc_ids restricts to those pages.

        With one page, the dense query gets the drug's title in front, as its passages have it:
        a follow-up ("and in pregnancy?") or a misspelt name then reads like the passages do.
        """
        index = self.index
        candidates = (
            np.concatenate([index.chunk_rows[d] for d in doc_ids if d in index.chunk_rows])
            if doc_ids is not None
            else np.arange(len(index.chunks))
        )
        if len(candidates) == 0:
            return [], {}, None
        signals: dict[int, dict[str, float]] = {}
        dense = np.full(len(index.chunks), -1.0, dtype=np.float32)
        passage = np.full(len(index.chunks), -1.0, dtype=np.float32)
        qv: np.ndarray | None = None
        if mode != "lexical":
            dense_query = question
            if mode == "full" and doc_ids is not None and len(doc_ids) == 1:
                title = index.drugs[doc_ids[0]].title
                if title.lower() not in question.lower():
                    dense_query = f"{title}: {question}"
            qv = self.embedder.encode([dense_query])[0]
            if doc_ids is not None:
                rows = np.flatnonzero(np.isin(index.vector_chunk, candidates))
                scores = index.vectors[rows] @ qv
                np.maximum.at(dense, index.vector_chunk[rows], scores)
                # rows below len(chunks) are the passages themselves; the rest are FAQ questions
                own = rows < len(index.chunks)
                passage[rows[own]] = scores[own]
            else:
                k = min(len(index.vectors), 200)
                scores, rows = index.faiss_index.search(qv[None, :].astype(np.float32), k)
                valid = rows[0] >= 0
                np.maximum.at(dense, index.vector_chunk[rows[0][valid]], scores[0][valid])
                candidates = np.unique(index.vector_chunk[rows[0][valid]])
                # a candidate found through its FAQ question still needs its passage's similarity
                passage[candidates] = index.vectors[candidates] @ qv
        lexical = np.zeros(len(index.chunks), dtype=np.float32)
        q_tokens = [t for t in tokenize(question) if t not in (name_tokens or set())]
        if mode != "dense" and q_tokens:
            raw = index.bm25.get_scores(q_tokens)
            top = float(raw[candidates].max()) if len(candidates) else 0.0
            if top > 0:
                lexical = (raw / top).astype(np.float32)
            if mode == "lexical" and doc_ids is None:
                candidates = np.flatnonzero(raw > 0) if top > 0 else candidates[:0]
        topic_tokens = self._topic_tokens(question) - (name_tokens or set()) if mode == "full" else set()
        w = self.model.weights
        fused_all: list[tuple[float, str, int]] = []
        for c in candidates.tolist():
            topic = 1.0 if topic_tokens & self._heading_tokens[c] else 0.0
            prior = self.model.priors.get(self._prior_key[c], 0.0) if mode == "full" else 0.0
            d, lx, ps = float(dense[c]), float(lexical[c]), float(passage[c])
            if mode == "lexical":
                fused = lx
            elif mode == "dense":
                fused = d
            else:
                fused = w["dense"] * d + w["lexical"] * lx
                if mode == "full":
                    fused += (
                        w["topic"] * topic
                        + w.get("faq", 0.0) * (index.chunks[c].kind == "faq")
                        + w.get("passage", 0.0) * ps
                        + w.get("later_part", 0.0) * self._later_part[c]
                        + prior
                    )
            signals[c] = {
                "fused": fused, "dense": d, "lexical": lx, "topic": topic, "prior": prior, "passage": ps,
                "later_part": self._later_part[c],
            }  # fmt: skip
            fused_all.append((-fused, index.chunks[c].chunk_id, c))
        fused_all.sort()
        return [c for _, _, c in fused_all], signals, qv

    # ---- answering -----------------------------------------------------------------------

    def ask(
        self,
        question: str,
        session_id: str | None = None,
        k: int = 3,
        drug: str | None = None,
        mode: str = "full",
        explain: bool = False,
        context_drug: str | None = None,
    ) -> dict[str, Any]:
        """The /ask response for one question (see PRODUCT.md for its shape).

        context_drug: the conversation's drug from a verified context token (the API's follow-ups);
        without a session_id nothing is remembered here.

        Keys starting with "_" are internal (the API drops them): the top ten chunk ids and the
        confidence features; with explain, also every candidate's ranking signals (for fitting).
        """
        started = time.perf_counter()
        question = " ".join(question.split())
        remember = session_id is not None
        session_id = session_id or uuid.uuid4().hex
        locked = mode == "full" and self.drug_lock
        matches = self.matcher.find(question) if locked else []
        known = [m for m in matches if m.doc_id is not None]
        absent = [m for m in matches if m.doc_id is None]
        notices: list[str] = []
        target: list[DrugMatch] = []
        if drug is not None:
            info = self.index.drugs[drug]
            target = [DrugMatch(drug, info.title, "filter")]
        elif known:
            target = known[:2]
            # a name nothing here knows beside a known drug ("humira and turmeric") is a second drug without a page
            # (6+ letters: short unknown words are more often abbreviations, "chemo", than brands)
            absent += [DrugMatch(None, word, "absent") for word in self.unknown_words(question) if len(word) >= 6 and not any(
                word in m.matched.split() for m in matches)]  # fmt: skip
        elif absent:
            return self._no_page(question, session_id, started, k, [m.matched for m in absent])
        elif locked:
            previous = context_drug or (self.sessions.get(session_id) if remember else None)
            if previous is not None and previous in self.index.drugs:
                target = [DrugMatch(previous, self.index.drugs[previous].title, "context")]
            else:
                strange = self.unknown_words(question)
                if strange:
                    return self._no_page(question, session_id, started, k, strange)
        for m in absent:
            notices.append(f"No page here covers '{m.matched}'; this answer is about {self.index.drugs[target[0].doc_id].title}.")  # type: ignore[index]
        name_tokens = {t for m in known for t in tokenize(m.matched)} | {
            t for m in target if m.doc_id for name in self.index.drugs[m.doc_id].names for t in tokenize(name)
        }
        if len(target) == 2:
            ranked, signals, query_vector = self._rank_pair(question, target, name_tokens)
        else:
            ranked, signals, query_vector = self.rank(question, [target[0].doc_id] if target else None, mode, name_tokens)  # type: ignore[list-item]
        asks_covered = self.model.asks_covered(query_vector)
        primary = target[0] if target else None
        if primary and primary.doc_id:
            if remember:
                self.sessions.set(session_id, primary.doc_id)
            if self.index.drugs[primary.doc_id].is_banned:
                notices.insert(
                    0,
                    f"{self.index.drugs[primary.doc_id].title} is banned or withdrawn from the market; "
                    "this information is kept for reference only.",
                )
        features = self.features(ranked, signals, primary, asks_covered)
        score = self.model.probability(features) if ranked else 0.0
        answered = bool(ranked) and score >= self.model.threshold
        message = None
        other = self._other_drug(target, absent)
        if other is not None and ranked:
            # a second drug: only a passage that names it (or a class the pages put it in) answers
            speaking = [c for c in ranked if self._names_other(c, other)]
            if speaking:
                first = set(speaking)
                ranked = speaking + [c for c in ranked if c not in first]
                features = self.features(ranked, signals, primary, asks_covered)
                score = max(score, self.model.probability(features))
                answered = True
            elif absent:  # a drug without a page that the page never names: never answered from a guess
                answered = False
                message = self._silent_on_other(target, absent)
        if not answered and message is None:
            if primary and primary.doc_id:
                drug_info = self.index.drugs[primary.doc_id]
                message = (
                    f"The {drug_info.title} page doesn't say this, as far as faqbot can tell. It covers: "
                    f"{', '.join(self._sections[primary.doc_id])} (/pages/{primary.doc_id}). "
                    "The suggestions below are the closest passages; they may not answer your question."
                )
            else:
                message = (
                    "I could not find a passage that answers this closely enough. Naming the drug helps. "
                    "The suggestions below are the closest passages; they may not answer your question."
                )
        result = self._response(
            question, session_id, started, answered=answered, ranked=ranked, signals=signals, k=k, drug=primary,
            message=message, notices=notices, score=score, features=features,
        )  # fmt: skip
        if explain:
            result["_signals"] = {
                self.index.chunks[c].chunk_id: {**signals[c], "key": self._prior_key[c], "faq": float(self.index.chunks[c].kind == "faq")}
                for c in ranked
            }  # fmt: skip
            result["_query_vector"] = query_vector
        return result

    def _other_drug(self, target: list[DrugMatch], absent: list[DrugMatch]) -> dict[str, tuple[str, ...]] | None:
        """For a question about two drugs: page -> the names of the other drug a passage must mention."""
        if len(target) == 2 and target[0].doc_id and target[1].doc_id:
            a, b = target[0].doc_id, target[1].doc_id
            return {a: self.index.drugs[b].names, b: self.index.drugs[a].names}
        if len(target) == 1 and target[0].doc_id and absent:
            return {target[0].doc_id: tuple(m.matched for m in absent)}
        return None

    def _names_other(self, c: int, other: dict[str, tuple[str, ...]]) -> bool:
        names = other.get(self.index.chunks[c].doc_id)
        return bool(names) and self.mentions.mentioned(self._mention_texts[c], names)  # type: ignore[arg-type]

    def _silent_on_other(self, target: list[DrugMatch], absent: list[DrugMatch]) -> str:
        titles = [self.index.drugs[m.doc_id].title for m in target if m.doc_id]
        if len(titles) == 2:
            return (
                f"Neither the {titles[0]} page nor the {titles[1]} page says anything about the other drug, so faqbot "
                "will not guess whether they can be taken together. Ask a pharmacist; the suggestions below are the "
                "closest passages and may not answer your question."
            )
        missing = ", ".join(f"'{m.matched}'" for m in absent)
        return (
            f"The {titles[0]} page does not mention {missing} or a group of medicines it belongs to, so faqbot will not "
            "guess. Ask a pharmacist; the suggestions below are the closest passages and may not answer your question."
        )

    def _no_page(self, question: str, session_id: str, started: float, k: int, names: list[str]) -> dict[str, Any]:
        """The answer to a question about something no page covers: withheld, with no other drug's passages."""
        quoted = ", ".join(f"'{n}'" for n in names)
        return self._response(
            question, session_id, started, answered=False, ranked=[], signals={}, k=k, drug=None,
            message=f"No page here covers {quoted}, so faqbot will not answer from another drug's page. "
            f"It answers only about the {len(self.index.drugs)} drugs listed at /drugs.",
            notices=[],
        )  # fmt: skip

    def unknown_words(self, question: str) -> list[str]:
        """Words that look like names nothing here knows (a brand without a page, say).

        A word counts when the pages never use it and the model's English vocabulary has no
        entry for it; only asked when a question names no known drug and has no session drug.
        """
        vocab = self.index.bm25.vocab_dict
        found = []
        for word in re.findall(r"[a-z]+", question.lower()):
            if len(word) < 5 or word in STOPWORDS or word in TOPIC_WORDS or word in _wordpiece_vocab():
                continue
            if any(stem in vocab for stem in tokenize(word)):
                continue
            found.append(word)
        return found

    def _rank_pair(
        self, question: str, target: list[DrugMatch], name_tokens: set[str]
    ) -> tuple[list[int], dict[int, dict[str, float]], np.ndarray | None]:
        """Two drugs: each page's best passage for the question, interactions favoured, interleaved."""
        lists: list[list[int]] = []
        signals: dict[int, dict[str, float]] = {}
        vectors: list[np.ndarray | None] = []
        for match in target:
            ranked, sig, vector = self.rank(question + " interactions", [match.doc_id], "full", name_tokens)  # type: ignore[list-item]
            vectors.append(vector)
            lists.append(ranked)
            signals.update(sig)
        merged: list[int] = []
        for pair in zip(*lists):
            merged.extend(pair)
        longest = max(lists, key=len)
        merged.extend(longest[len(merged) // 2 :])
        return merged, signals, vectors[0]  # the first drug's query vector speaks for the question

    def features(
        self, ranked: list[int], signals: dict[int, dict[str, float]], drug: DrugMatch | None, asks_covered: float = 0.0
    ) -> dict[str, float]:
        """The signals the confidence is computed from, for the top passage."""
        if not ranked:
            return {name: 0.0 for name in FEATURES}
        top = signals[ranked[0]]
        second = signals[ranked[1]]["fused"] if len(ranked) > 1 else 0.0
        return {
            "fused": top["fused"],
            "margin": top["fused"] - second,
            "dense": top["dense"],
            "lexical": top["lexical"],
            "named": 1.0 if drug is not None and drug.how in ("title", "alias", "fuzzy", "filter") else 0.0,
            "fuzzy": 1.0 if drug is not None and drug.how == "fuzzy" else 0.0,
            "context": 1.0 if drug is not None and drug.how == "context" else 0.0,
            "topic": top["topic"],
            "asks_covered": asks_covered,
        }

    def _passage(self, c: int, score: float, query_tokens: set[str]) -> dict[str, Any]:
        chunk: Chunk = self.index.chunks[c]
        return {
            "chunk_id": chunk.chunk_id,
            "doc_id": chunk.doc_id,
            "title": chunk.title,
            "kind": chunk.kind,
            "section": chunk.section,
            "question": chunk.question,
            "text": chunk.text,
            "highlights": highlight(chunk.text, query_tokens),
            "score": round(score, 4),
            "url": f"/pages/{chunk.doc_id}#{chunk.anchor}",
            "source_path": chunk.source_path,
            "last_modified": chunk.last_modified,
            "is_banned": chunk.is_banned,
        }

    def _response(
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
    ) -> dict[str, Any]:
        query_tokens = set(tokenize(question))
        passages = []
        top_fused = signals[ranked[0]]["fused"] if ranked else 0.0
        for rank, c in enumerate(ranked[:k]):
            # alternatives get the top score discounted by how far their fused score trails it
            p = score if rank == 0 else score * math.exp(-4.0 * max(0.0, top_fused - signals[c]["fused"]))
            passages.append(self._passage(c, p, query_tokens))
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
            "notices": notices,
            "index_version": self.index.version,
            "took_ms": round((time.perf_counter() - started) * 1000, 2),
            "_ranked": [self.index.chunks[c].chunk_id for c in ranked[:10]],
            "_features": features or {},
        }


class AnswererHolder:
    """Serves the current index and switches to a newer build without a restart."""

    def __init__(self, settings: Settings, embedder: Embedder | None = None, model: Model | None = None) -> None:
        self.settings = settings
        self.sessions = Sessions(settings.max_sessions, settings.session_ttl_s)
        self._embedder = embedder
        self._model = model
        self._answerer: Answerer | None = None
        self._current: str | None = None
        self._checked = 0.0
        self._lock = Lock()
        self.last_error: str | None = None

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = CachedQueryEmbedder(load_embedder(self.settings.model, self.settings.index_dir / "models"))
        return self._embedder

    def get(self) -> Answerer:
        """The answerer for the newest good build; raises FaqbotError when there is none."""
        now = time.monotonic()
        if self._answerer is not None and now - self._checked < 0.5:  # a published build is served within a second
            return self._answerer
        with self._lock:
            self._checked = now
            build = current_build(self.settings.index_dir)
            name = build.name if build else None
            if self._answerer is not None and name == self._current:
                return self._answerer
            try:
                index = load_index(self.settings.index_dir, model_id_for(self.settings.model))
            except FaqbotError as exc:
                self.last_error = str(exc)
                if self._answerer is not None:
                    return self._answerer  # keep serving the last good index
                raise
            self._answerer = Answerer(index, self.embedder, self._model, self.sessions)
            self._current = name
            self.last_error = None
            return self._answerer


def open_answerer(settings: Settings) -> Answerer:
    """An answerer over the configured index, for one-off use (CLI, evaluation)."""
    return AnswererHolder(settings).get()
