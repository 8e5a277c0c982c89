"""Stage 1, analyse: a question read once into what the later stages need.

Normalised text, stems, topic words, the drugs it names (with a page, without a page, unknown
names) and the drug the answer is to come from (named, picked, or the conversation's).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from rapidfuzz import fuzz, process

from faqbot.errors import FaqbotError
from faqbot.index import Index
from faqbot.lexical import STOPWORDS, tokenize
from faqbot.lexicon import drug_suffixes, known_drug_lines, topic_words
from faqbot.memo import Memo
from faqbot.pages import normalise_name
from faqbot.vocabulary import generic_name, quoted_name, vocabulary

WORD_RE = re.compile(r"[a-z]+")
WORDS_REMEMBERED = 50_000  # words whose reading (drug name or not, known or not) is kept; then forgotten at once


@dataclass(frozen=True)
class DrugMatch:
    """A drug named in a question."""

    doc_id: str | None  # None: a drug that no page covers
    matched: str
    how: str  # title, alias, fuzzy, context, filter, absent
    start: int = 0


@dataclass
class Question:
    """What the analyse stage hands on."""

    text: str  # whitespace-normalised, as asked
    tokens: list[str]  # stems without stop words (BM25's view)
    target: list[DrugMatch]  # the page(s) to answer from: none, one, or two
    absent: list[DrugMatch]  # drugs named that no page covers
    name_tokens: set[str]  # stems of the drug names involved (left out of BM25 and topic matching)
    topic_tokens: set[str]  # the question's topic words as headings spell them, names left out
    no_page: list[str] = field(default_factory=list)  # names nothing covers, and no drug to answer about instead
    notices: list[str] = field(default_factory=list)

    @property
    def primary(self) -> DrugMatch | None:
        return self.target[0] if self.target else None


def known_drug_names() -> set[str]:
    return {normalise_name(line) for line in known_drug_lines()}


@lru_cache(maxsize=1)
def wordpiece_vocab() -> frozenset[str]:
    """Whole words of the packaged model's vocabulary: a rough English dictionary that ships offline."""
    from faqbot.embedding import packaged_model_path

    try:
        path = packaged_model_path() / "vocab.txt"
        return frozenset(w for w in path.read_text().split() if w.isalpha() and not w.startswith("#"))
    except (OSError, FaqbotError):
        return frozenset()


@lru_cache(maxsize=1)
def wordpiece_stems() -> frozenset[str]:
    """The stems of those words: "pronounce" is English because "pronounced" is in the vocabulary."""
    from faqbot.lexical import _stemmer

    return frozenset(_stemmer().stemWords(list(wordpiece_vocab())))


def topic_tokens(text: str) -> set[str]:
    """The question's words with consumer phrasings mapped to the words headings use, stemmed."""
    mapping = topic_words()
    return set(tokenize(" ".join(mapping.get(w, w) for w in WORD_RE.findall(text.lower()))))


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
        self._suffixes = drug_suffixes()
        vocabulary()  # read now, while the index loads, not inside the first question
        self.absent = {n for n in known_drug_names() if n not in self.names}
        phrases = sorted((n for n in self.absent if " " in n), key=len, reverse=True)
        self._absent_regex = re.compile(r"\b(" + "|".join(re.escape(n) for n in phrases) + r")\b") if phrases else None
        self._words: Memo[str, tuple[str | None, str] | None] = Memo(WORDS_REMEMBERED)

    def _word(self, word: str) -> tuple[str | None, str] | None:
        """(doc_id, how) for one word that no exact name covers: a drug without a page, a misspelt name; else None.

        Remembered per word: the typo search runs once per word rather than once per question that uses it.
        """
        if word in self._words:
            return self._words[word]
        named: tuple[str | None, str] | None = None
        generic = generic_name(word)
        if word in self.absent:
            named = (None, "absent")
        elif generic is not None and word not in STOPWORDS:  # a name the drug vocabulary knows ("motrin", "aleve")
            page = self.names.get(normalise_name(generic))
            named = (page[0], "alias") if page is not None else (None, "absent")
        elif len(word) < 6 or word in STOPWORDS:
            named = None
        elif (best := process.extractOne(word, self._single, scorer=fuzz.ratio, score_cutoff=84)) is not None:
            named = (self.names[best[0]][0], "fuzzy")
        elif word.endswith(self._suffixes) or process.extractOne(word, self.absent, scorer=fuzz.ratio, score_cutoff=88):
            named = (None, "absent")
        return self._words.remember(word, named)

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
        if self._absent_regex:  # names of more than one word that no page covers ("folic acid")
            for m in self._absent_regex.finditer(text):
                if not any(a <= m.start() < b for a, b in covered):
                    found.append(DrugMatch(None, m.group(1), "absent", m.start()))
                    covered.append((m.start(), m.end()))
        for m in re.finditer(r"[a-z0-9]+", text):
            if any(a <= m.start() < b for a, b in covered):
                continue
            word = m.group(0)
            named = self._word(word)
            if named is not None:
                found.append(DrugMatch(named[0], word, named[1], m.start()))
        found.sort(key=lambda d: d.start)
        unique: list[DrugMatch] = []
        seen: set[str] = set()
        for match in found:
            key = match.doc_id or f"?{match.matched}"
            if key not in seen:
                seen.add(key)
                unique.append(match)
        return unique


class Analyser:
    """Reads questions against one index."""

    def __init__(self, index: Index) -> None:
        self.index = index
        self.matcher = DrugMatcher(index)
        self._topics = topic_words()
        self._unknown_words: Memo[str, bool] = Memo(WORDS_REMEMBERED)
        # each page's drug names as stems: left out of BM25 and topic matching for a question about it
        self._name_tokens = {
            doc_id: frozenset(t for name in drug.names for t in tokenize(name)) for doc_id, drug in index.drugs.items()
        }

    def unknown_words(self, question: str) -> list[str]:
        """Words that look like names nothing here knows (a brand without a page, say).

        A word counts when the pages never use it and the model's English vocabulary has no
        entry for it.
        """
        return [word for word in WORD_RE.findall(question.lower()) if self._unknown(word)]

    def _unknown(self, word: str) -> bool:
        """Whether one word looks like a name nothing here knows; remembered per word."""
        unknown = self._unknown_words.get(word)
        if unknown is None:
            vocab = self.index.bm25.vocab_dict
            unknown = not (
                len(word) < 5 or word in STOPWORDS or word in self._topics or word in wordpiece_vocab()
                or any(stem in vocab or stem in wordpiece_stems() for stem in tokenize(word))
            )  # fmt: skip
            self._unknown_words.remember(word, unknown)
        return unknown

    def analyse(
        self, question: str, *, locked: bool = True, drug: str | None = None, conversation_drug: str | None = None
    ) -> Question:
        """Read one question. drug: a page picked by the caller; conversation_drug: the drug of earlier turns."""
        text = " ".join(question.split())
        drugs = self.index.drugs
        matches = self.matcher.find(text) if locked else []
        known = [m for m in matches if m.doc_id is not None]
        absent = [m for m in matches if m.doc_id is None]
        target: list[DrugMatch] = []
        no_page: list[str] = []
        if drug is not None:
            target = [DrugMatch(drug, drugs[drug].title, "filter")]
        elif known:
            target = known[:2]
            # a name nothing here knows beside a known drug ("humira and turmeric") is a second drug without a page
            # (6+ letters: short unknown words are more often abbreviations, "chemo", than brands)
            absent += [DrugMatch(None, word, "absent") for word in self.unknown_words(text) if len(word) >= 6 and not any(
                word in m.matched.split() for m in matches)]  # fmt: skip
        elif absent:
            no_page = [m.matched for m in absent]
        elif locked:
            if conversation_drug is not None and conversation_drug in drugs:
                target = [DrugMatch(conversation_drug, drugs[conversation_drug].title, "context")]
            else:
                no_page = self.unknown_words(text)
        notices = []
        if target and target[0].doc_id:
            if drugs[target[0].doc_id].is_banned:
                notices.append(
                    f"{drugs[target[0].doc_id].title} is banned or withdrawn from the market; "
                    "this information is kept for reference only."
                )
            notices += [f"No page here covers {quoted_name(m.matched)}; this answer is about {drugs[target[0].doc_id].title}." for m in absent]
        name_tokens = {t for m in known for t in tokenize(m.matched)}.union(*(self._name_tokens[m.doc_id] for m in target if m.doc_id))
        return Question(
            text=text, tokens=[t for t in tokenize(text) if t not in name_tokens], target=target, absent=absent,
            name_tokens=name_tokens, topic_tokens=topic_tokens(text) - name_tokens, no_page=no_page, notices=notices,
        )  # fmt: skip
