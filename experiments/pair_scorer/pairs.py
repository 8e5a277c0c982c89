"""The pair scorer at answer time: a small cross-encoder through ONNX Runtime (see training.py)."""

from __future__ import annotations

from typing import Any

from faqbot.chunks import Chunk

PASSAGE_CHARS = 1200  # the scorer reads at most 128 tokens; no need to tokenise the whole section


def pair_text(chunk: Chunk) -> str:
    """What the scorer reads of a passage: the drug, where on the page, then the text."""
    where = " > ".join(chunk.heading_path) if chunk.kind == "section" else (chunk.question or "")
    return f"{chunk.title}. {where}. {chunk.text[:PASSAGE_CHARS]}"


def medquad_text(item: dict[str, Any]) -> str:
    """A MedQuAD answer read the same way: its subject, then the text (its question left out)."""
    return f"{item['focus']}. {str(item['answer'])[:PASSAGE_CHARS]}"
