"""faqbot's word lists, kept as data files beside this module (one entry a line, `#` comments).

Each list has a test per entry in tests/test_lexicon.py saying what the entry is for.
"""

from __future__ import annotations

from functools import cache
from importlib import resources


def _lines(name: str) -> list[str]:
    text = resources.files("faqbot.lexicon").joinpath(name).read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def _pairs(name: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for line in _lines(name):
        key, _, value = line.partition("\t")
        if not value or key in pairs:
            raise ValueError(f"{name}: '{line}' must be one 'word<TAB>word' line per word")
        pairs[key.strip()] = value.strip()
    return pairs


@cache
def stopwords() -> frozenset[str]:
    """Words no question or passage is matched on."""
    return frozenset(_lines("stopwords.txt"))


@cache
def stem_aliases() -> dict[str, str]:
    """A consumer word's stem -> the stem the pages use ("pregnant" -> "pregnanc")."""
    return _pairs("stem_aliases.tsv")


@cache
def topic_words() -> dict[str, str]:
    """A visitor's word -> the word headings use for that topic ("dose" -> "dosage")."""
    return _pairs("topic_words.tsv")


@cache
def drug_suffixes() -> tuple[str, ...]:
    """Endings of generic drug names ("mab", "statin")."""
    return tuple(_lines("drug_suffixes.txt"))


@cache
def known_drug_lines() -> tuple[str, ...]:
    """Medicine names (generic and brand) a question may name, whether or not a page covers them."""
    return tuple(_lines("known_drugs.txt"))


@cache
def pick_words() -> frozenset[str]:
    """Words that may stand beside a drug's name in the reply to "which medicine?" and still only pick it."""
    return frozenset(_lines("pick_words.txt"))


@cache
def generic_heads() -> frozenset[str]:
    """Words too general to name a drug class ("medicines such as warfarin")."""
    return frozenset(_lines("generic_heads.txt"))


@cache
def edge_words() -> frozenset[str]:
    """Words a removed drug name leaves stranded at a question's ends ("and potassium"), dropped in the report."""
    return frozenset(_lines("edge_words.txt"))


@cache
def class_heads() -> frozenset[str]:
    """Head nouns that name a drug class only with the word before them ("channel blocker", not "blocker")."""
    return frozenset(_lines("class_heads.txt"))


@cache
def class_qualifiers() -> frozenset[str]:
    """Words before a class name that are not part of it ("strong CYP3A inhibitors such as ...")."""
    return frozenset(_lines("class_qualifiers.txt"))
