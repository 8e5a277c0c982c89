"""Lexical side of retrieval: one tokenizer for passages and questions, BM25 via bm25s."""

from __future__ import annotations

import re
from functools import lru_cache

import Stemmer

from faqbot.lexicon import stem_aliases, stopwords

STOPWORDS = stopwords()
# consumer words whose stems differ from the page's words
STEM_ALIASES = stem_aliases()
TOKEN_RE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


@lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("english")


def tokenize(text: str) -> list[str]:
    """Lower-case word stems without stop words; hyphenated words also give their parts."""
    words: list[str] = []
    for word in TOKEN_RE.findall(text.lower()):
        if "-" in word:
            words.extend(part for part in word.split("-") if part)
            word = word.replace("-", "")
        words.append(word)
    words = [w for w in words if w not in STOPWORDS]
    stems = _stemmer().stemWords(words)
    return [STEM_ALIASES.get(s, s) for s in stems]
