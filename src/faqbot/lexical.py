"""Lexical side of retrieval: one tokenizer for passages and questions, BM25 via bm25s."""

from __future__ import annotations

import re
from functools import lru_cache

import Stemmer

STOPWORDS = frozenset(
    """
    a about above after again against all am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has
    have having he her here hers herself him himself his how i if in into is it its itself just me
    more most my myself no nor not now of off on once only or other our ours ourselves out over own
    same she should so some such than that the their theirs them themselves then there these they
    this those through to too under until up very was we were what when where which while who whom
    why will with would you your yours yourself yourselves im ive id dont doesnt isnt cant please
    shouldnt wouldnt couldnt didnt wont arent wasnt werent havent hasnt
    tell know get got also may might must shall
    """.split()  # noqa: SIM905
)
# consumer words whose stems differ from the page's words
STEM_ALIASES = {
    "pregnant": "pregnanc",
    "dosag": "dose",
    "nurs": "breastfeed",
    "breast": "breastfeed",
    "lactat": "breastfeed",
    "drink": "alcohol",
    "booz": "alcohol",
    "kid": "child",
    "children": "child",
    "pediatr": "child",
    "paediatr": "child",
    "interact": "interact",
    "mix": "interact",
    "combin": "interact",
    "max": "maximum",
    "maximum": "maximum",
    "sideeffect": "side",
}
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
