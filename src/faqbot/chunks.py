"""Pages -> passages (chunks) with stable ids. Pure functions: no vectors, no I/O."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from faqbot.pages import Page

MAX_CHARS = 1000
SECTION_SEP = " › "
# a new block starts after a blank line or at a top-level list item
BLOCK_START_RE = re.compile(r"\n\s*\n(?=\S)|\n(?=(?:[*+-]|\d+[.)])\s)")
SENTENCE_END_RE = re.compile(r"(?<=[.!?])\s+(?=[A-Z(\"'*])")


@dataclass(frozen=True)
class Chunk:
    """One passage: an FAQ (question + answer) or the text under one heading (or part of it)."""

    chunk_id: str
    doc_id: str
    anchor: str
    kind: str  # "faq" or "section"
    title: str
    section: str
    heading_path: tuple[str, ...]
    question: str | None
    text: str
    source_path: str
    last_modified: str
    is_banned: bool
    part: int = 1  # a section split in parts: 1, 2, ... in page order; 1 for a whole section or an FAQ

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["heading_path"] = list(self.heading_path)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Chunk:
        return cls(**{**data, "heading_path": tuple(data["heading_path"])})


def split_text(text: str, max_chars: int = MAX_CHARS) -> list[str]:
    """Split at paragraph or top-level bullet boundaries into verbatim parts of about max_chars.

    Never splits mid-sentence: a single block longer than max_chars is cut at sentence ends.
    """
    if len(text) <= max_chars:
        return [text]
    starts = [0] + [m.end() for m in BLOCK_START_RE.finditer(text)] + [len(text)]
    blocks = [text[a:b] for a, b in zip(starts, starts[1:]) if text[a:b].strip()]
    pieces: list[str] = []
    for block in blocks:
        if len(block) <= max_chars:
            pieces.append(block)
            continue
        cuts = [0] + [m.end() for m in SENTENCE_END_RE.finditer(block)] + [len(block)]
        pieces.extend(block[a:b] for a, b in zip(cuts, cuts[1:]) if block[a:b].strip())
    parts: list[str] = []
    current = ""
    for piece in pieces:
        if current and len(current) + len(piece) > max_chars:
            parts.append(current)
            current = ""
        current += piece
    if current.strip():
        parts.append(current)
    return [p.strip() for p in parts if p.strip()]


def page_chunks(page: Page, max_chars: int = MAX_CHARS) -> list[Chunk]:
    """The passages of one page, sections in page order, then FAQs."""
    common: dict[str, Any] = {
        "doc_id": page.doc_id,
        "title": page.title,
        "source_path": page.source_path,
        "last_modified": page.last_modified,
        "is_banned": page.is_banned,
    }
    chunks: list[Chunk] = []
    for section in page.sections:
        parts = split_text(section.text, max_chars)
        for n, part in enumerate(parts, 1):
            anchor = section.anchor if len(parts) == 1 else f"{section.anchor}-{n}"
            chunks.append(
                Chunk(
                    chunk_id=f"{page.doc_id}#{anchor}",
                    anchor=section.anchor,
                    kind="section",
                    section=SECTION_SEP.join(section.path),
                    heading_path=section.path,
                    question=None,
                    text=part,
                    part=n,
                    **common,
                )
            )
    for faq in page.faqs:
        chunks.append(
            Chunk(
                chunk_id=f"{page.doc_id}#{faq.anchor}",
                anchor=faq.anchor,
                kind="faq",
                section="FAQs",
                heading_path=("FAQs",),
                question=faq.question,
                text=faq.answer,
                **common,
            )
        )
    return chunks


def passage_text(chunk: Chunk, names: tuple[str, ...]) -> str:
    """What gets embedded and lexically indexed: drug names and heading path in front of the text."""
    label = chunk.title
    others = [n for n in names[1:] if n.lower() != chunk.title.lower()]
    if others:
        label += f" ({', '.join(others[:4])})"
    head = chunk.question if chunk.question else chunk.section
    body = strip_markup(chunk.text)
    return f"{label}. {head}. {body}"


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


def sentence_texts(chunk: Chunk) -> list[tuple[str, str]]:
    """What gets embedded of each sentence (or list line) of a passage, in order: the sentence alone behind the
    drug's title, and the sentence with the next one behind the passage's label and heading (as passage_text).

    A question is usually answered by one sentence, which a whole section's vector blurs; these vectors give the
    ranking a sentence-level similarity (Ranker.sentence_signals). A passage without sentences gets its text.
    """
    body = [strip_markup(chunk.text[a:b]) for a, b in sentence_spans(chunk.text)] or [strip_markup(chunk.text)]
    head = chunk.question if chunk.question else chunk.section
    texts = []
    for i, sentence in enumerate(body):
        following = f" {body[i + 1]}" if i + 1 < len(body) else ""
        texts.append((f"{chunk.title}: {sentence}", f"{chunk.title}. {head}. {sentence}{following}"))
    return texts


def question_text(chunk: Chunk) -> str:
    """An FAQ's question on its own, so user questions can match it question-to-question."""
    return f"{chunk.title}: {chunk.question}"


def strip_markup(text: str) -> str:
    """Markdown bold and list markers removed; used for embedding and lexical text only."""
    text = re.sub(r"\*\*|__", "", text)
    text = re.sub(r"^\s*(?:[*+-]|\d+[.)])\s+", "", text, flags=re.MULTILINE)
    return " ".join(text.split())
