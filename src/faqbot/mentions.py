"""Which passages speak of a drug by name: its own names, or a drug class the pages put it in.

The pages know drug classes ("NSAIDs such as ibuprofen, naproxen and diclofenac"): every
"<class> (such as a, b or c)" in their text makes a, b and c members of that class. A question
about a second drug is answered only from a passage that names it or one of its classes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from faqbot.lexical import STOPWORDS
from faqbot.lexicon import class_heads, class_qualifiers, generic_heads
from faqbot.memo import Memo

# "<class> (such as <members>", members running to the end of the clause; found in two steps: the keyword and
# its members, then the class: up to 60 letters, digits, spaces, hyphens or apostrophes just before it
KEYWORD_RE = re.compile(r"(?:such as|e\.g\.,?|including)\s+([^.;:()]+)", re.IGNORECASE)
GAP_RE = re.compile(r"\s*\(?\s*$")
HEAD_RE = re.compile(r"[A-Za-z0-9'’ -]{2,60}$")
MEMBER_SPLIT_RE = re.compile(r",\s*|\s+(?:and|or|and/or)\s+")
# heads too general to be a class: "medicines such as warfarin" says nothing about warfarin's class
GENERIC_HEADS = generic_heads()
CLASS_QUALIFIERS = class_qualifiers()  # "strong CYP3A inhibitors such as": not part of the class's name
CLASS_WORDS = 2  # a class is named by at most its last two words ("ace inhibitors", "blood thinners")


def class_phrases(before: str) -> list[str]:
    """The class named just before "such as": its last one or two words, lower case.

    An acronym head ("NSAIDs", "DMARDs") also names the class alone, so that "Avoid NSAIDs such as"
    still gives "nsaids"; an ordinary head word ("inhibitors") never does.
    """
    original = re.findall(r"[A-Za-z0-9][A-Za-z0-9'-]*", before)
    phrase: list[str] = []
    for word in reversed([w.lower() for w in original]):
        if word in STOPWORDS or word in CLASS_QUALIFIERS or len(phrase) == CLASS_WORDS:
            break
        phrase.insert(0, word)
    if not phrase or (len(phrase) == 1 and phrase[0] in GENERIC_HEADS):
        return []
    phrases = [" ".join(phrase)]
    if len(phrase) > 1 and sum(ch.isupper() for ch in original[-1]) >= 2:
        phrases.append(phrase[-1])
    return phrases


def find_classes(texts: Iterable[str]) -> dict[str, set[str]]:
    """Member name (lower case) -> the class phrases the texts put it in.

    The keyword is found first and the class read from the characters before it: one regex with the
    class in front tried a lazy head at every position (0.9 s over our 732 passages, paid again at
    every index switch; now 0.03 s, same classes).
    """
    classes: dict[str, set[str]] = {}
    for text in texts:
        text = text.replace("*", "")
        end = position = 0  # end: where the last "class such as members" ended; they do not overlap
        while (m := KEYWORD_RE.search(text, position)) is not None:
            position = m.start() + 1
            if m.start() < end:
                continue
            gap = GAP_RE.search(text, end, m.start())  # spaces and an opening bracket between class and keyword
            stop = gap.start() if gap else m.start()
            head = HEAD_RE.search(text, max(end, stop - 60), stop)
            if head is None:
                continue
            end = m.end()
            phrases = class_phrases(head.group(0))
            if not phrases:
                continue
            for member in MEMBER_SPLIT_RE.split(m.group(1)):
                words: list[str] = []
                for word in re.findall(r"[a-z0-9'-]+", member.lower())[:3]:
                    if word in STOPWORDS:  # "abatacept is not recommended": the name ends before "is"
                        break
                    words.append(word)
                name = " ".join(words)
                if name:
                    classes.setdefault(name, set()).update(phrases)
    return classes


def _pattern(phrase: str) -> str:
    """A phrase as a regex: word-bounded, singular or plural."""
    stem = phrase[:-1] if phrase.endswith("s") and not phrase.endswith("ss") else phrase
    return r"\b" + re.escape(stem).replace(r"\ ", r"[\s-]+") + r"(?:s|es)?\b"


# names come from visitors' questions: what is remembered about them is bounded, then forgotten at once
PATTERNS_REMEMBERED = 2_000  # compiled patterns, one per set of names
ANSWERS_REMEMBERED = 20_000  # whether a passage names a set of names


class Mentions:
    """Tests whether a passage names a drug, or a class the pages put it in."""

    def __init__(self, texts: Iterable[str]) -> None:
        self.classes = find_classes(texts)
        self._cache: Memo[tuple[str, ...], re.Pattern[str]] = Memo(PATTERNS_REMEMBERED)
        # (names, text) -> whether text names them: a pair of drugs asked about again is not searched for again
        self._found: Memo[tuple[tuple[str, ...], str], bool] = Memo(ANSWERS_REMEMBERED)

    def terms(self, names: Iterable[str]) -> list[str]:
        """A drug's names and the classes any of them belongs to."""
        out = {n.lower() for n in names if n}
        for name in list(out):
            out |= self.classes.get(name, set())
        return sorted(out)

    def matcher(self, names: Iterable[str]) -> re.Pattern[str]:
        key = tuple(sorted({n.lower() for n in names if n}))
        pattern = self._cache.get(key)
        if pattern is None:
            pattern = self._cache.remember(key, re.compile("|".join(_pattern(t) for t in self.terms(key)) or r"(?!)", re.IGNORECASE))
        return pattern

    def mentioned(self, text: str, names: Iterable[str]) -> bool:
        names = tuple(names)
        found = self._found.get((names, text))
        if found is None:
            found = self._found.remember((names, text), self.matcher(names).search(text) is not None)
        return found


# "<drug> is a/an <class>", "... classified as a/an <class>", "... and a/an <class>": where a page names its drug's classes
OWN_CLASS_RE = re.compile(r"\b(?:is|as|and) (?:a|an) ([^.,;:]+)", re.IGNORECASE)
# where the class phrase ends: "an antidepressant of the SSRI class", "an ... agent with ...", "... that blocks ..."
CLASS_END_RE = re.compile(
    r"\s+(?:of|that|with|which|in|for|and|known|to|made|used|directed|against|from|by|at)\b.*$", re.IGNORECASE
)
# class head nouns that name a class only with the word before them: "calcium channel blocker", not "blocker"
MODIFIED_HEADS = class_heads()
BRACKETED_RE = re.compile(r"\(([^()]{2,40})\)")


def own_classes(text: str, names: Iterable[str]) -> set[str]:
    """The classes a page puts its own drug in, from its sentences that classify the drug.

    Only sentences that speak of a class ("Pharmacological Classification: ...", "It is classified as
    ..."): "Omeprazole is a prodrug" or "Interferon beta-1a is a glycoprotein made in ..." describe the
    drug without putting it in a group a passage about another drug would name.

    "Prednisone is a synthetic glucocorticoid (corticosteroid)" gives "glucocorticoid" and
    "corticosteroid"; "an antidepressant of the selective serotonin reuptake inhibitor (SSRI) class"
    gives "antidepressant" and "ssri". Each class is its last word (when that word is not a general
    head like "agent") and its last two words, plus any term in brackets; lower case.
    """
    lowered = [n.lower() for n in names if n]
    subject = re.compile(r"^(?:[^:]{0,40}:\s*)?(?:" + "|".join(re.escape(n) for n in lowered) + r"|it)\b", re.IGNORECASE)
    classes: set[str] = set()
    previous = False  # "It is classified as ..." speaks of the drug when the sentence before did
    for sentence in re.split(r"(?<=\.)\s+|\s*\n\s*", text.replace("*", "")):  # sentences, and lines (list items end without a stop)
        first = subject.match(sentence)
        about = first is not None and (first.group(0).lower().split()[-1] != "it" or previous)
        previous = (
            about
            and bool(re.search(r"\bclass", sentence, re.IGNORECASE))  # a sentence that classifies the drug
            and bool(re.search(r"\b(?:is (?:a|an)|classified as)\b", sentence, re.IGNORECASE))
        )
        if not previous:
            continue
        for m in OWN_CLASS_RE.finditer(sentence):
            segment = m.group(1)
            for term in BRACKETED_RE.findall(segment):
                term = re.sub(r"^(?:a|an)\s+", "", term.strip(), flags=re.IGNORECASE).lower()
                if len(term.split()) <= 3 and not re.search(r"[/0-9]", term):
                    classes.add(term)
            phrase = CLASS_END_RE.sub("", BRACKETED_RE.sub(" ", segment))
            words = [w.lower() for w in re.findall(r"[A-Za-z][A-Za-z'-]*", phrase)]
            if not words:
                continue
            if words[-1] in GENERIC_HEADS or words[-1].endswith("ly"):
                continue  # "a treatment for ...", "a commonly ..."
            if words[-1] not in MODIFIED_HEADS:
                classes.add(words[-1])
            elif len(words) > 1:
                classes.add(" ".join(words[-2:]))
    return classes - set(lowered)
