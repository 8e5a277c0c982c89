"""Stage 4, decide: answer with the top passage, or withhold and say why.

The calibrated probability that the top passage answers (a logistic model over the ranking
signals and the answerability signal, fitted on dev) against the fitted threshold; and the rules
for a second drug: only a passage that names it, or a class the pages put it in, answers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from faqbot.analysis import DrugMatch, Question
from faqbot.index import Index
from faqbot.lexical import tokenize
from faqbot.mentions import Mentions, own_classes
from faqbot.model import FEATURES
from faqbot.pages import slugify
from faqbot.ranking import Ranking
from faqbot.vocabulary import drug_groups, generic_name, quoted_name

SUGGESTIONS = "The suggestions below are the closest passages; they may not answer your question."
ASK_A_PHARMACIST = "Ask a pharmacist; the suggestions below are the closest passages and may not answer your question."


@dataclass
class Decision:
    """Whether to answer, with what confidence and from which order of passages, and the message if not."""

    answered: bool
    score: float
    ranked: list[int]
    features: dict[str, float] = field(default_factory=dict)
    message: str | None = None
    covers: dict[str, Any] | None = None  # when the drug's page doesn't say: what it does cover, linked


class Coverage:
    """How much of a question's wording a passage, and its whole page, use (rarer words count more).

    A question whose content words the page never uses ("imprint", "medicare", "pronounce") is
    usually one the page does not answer, however close its nearest passage is in topic.
    """

    def __init__(self, index: Index) -> None:
        self.tokens = [set(tokenize(f"{c.title} {' '.join(c.heading_path)} {c.question or ''} {c.text}")) for c in index.chunks]
        self.page_tokens: dict[str, set[str]] = {}
        df: dict[str, int] = {}
        for c, tokens in zip(index.chunks, self.tokens):
            self.page_tokens.setdefault(c.doc_id, set()).update(tokens)
            for t in tokens:
                df[t] = df.get(t, 0) + 1
        n = len(self.tokens)
        self._idf = {t: math.log((n + 1) / (d + 0.5)) for t, d in df.items()}
        self._unseen = math.log((n + 1) / 0.5)

    def __call__(self, question_tokens: set[str], c: int, doc_id: str) -> tuple[float, float]:
        """(share of the question's weight in passage c, share found nowhere on the page)."""
        if not question_tokens:
            return 1.0, 0.0
        weights = {t: self._idf.get(t, self._unseen) for t in sorted(question_tokens)}  # one order: the same sums in every process
        total = sum(weights.values())
        page = self.page_tokens.get(doc_id, set())
        found = sum(w for t, w in weights.items() if t in self.tokens[c])
        missing = sum(w for t, w in weights.items() if t not in page)
        return found / total, missing / total


def features(
    ranking: Ranking, ranked: list[int], drug: DrugMatch | None, asks_covered: float = 0.0, coverage: tuple[float, float] = (1.0, 0.0)
) -> dict[str, float]:
    """The signals the confidence is computed from, for the top passage of `ranked`."""
    if not ranked:
        return {name: 0.0 for name in FEATURES}
    top = ranking.signals[ranked[0]]
    second = ranking.signals[ranked[1]]["fused"] if len(ranked) > 1 else 0.0
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
        "coverage": coverage[0],
        "page_miss": coverage[1],
        "kind": top["kind"],
        "sentence": top["sentence"],
        "sentence_pair": top["sentence_pair"],
    }


class Decider:
    """Decides for one index, with the model that ranked (Ranking.model)."""

    def __init__(self, index: Index) -> None:
        self.index = index
        # each page's main sections in page order with their anchors, named when the page doesn't answer
        self.sections: dict[str, dict[str, str]] = {}
        for c in index.chunks:
            main = c.heading_path[0] if c.kind == "section" and c.heading_path else "FAQs"
            anchor = "faqs" if c.kind == "faq" else c.anchor if len(c.heading_path) == 1 else slugify(main)
            self.sections.setdefault(c.doc_id, {}).setdefault(main, anchor)
        # what a passage says, FAQ question included: searched for other drugs' names and classes
        self._mention_texts = [f"{c.question or ''} {c.text}" for c in index.chunks]
        self.mentions = Mentions(self._mention_texts)
        # the classes each page puts its own drug in ("Prednisone is a synthetic glucocorticoid (corticosteroid)")
        page_texts: dict[str, list[str]] = {}
        for c in index.chunks:
            if c.kind == "section":
                page_texts.setdefault(c.doc_id, []).append(c.text)
        self.own_classes = {d: own_classes(" ".join(page_texts.get(d, [])), self.index.drugs[d].names) for d in index.drugs}
        self.coverage = Coverage(index)

    def decide(self, question: Question, ranking: Ranking) -> Decision:
        ranked = ranking.ranked
        primary = question.primary
        model = ranking.model  # this one, or the one for pages the fit never saw (Model.for_pages)
        asks_covered = model.asks_covered(ranking.query_vector)
        words = set(question.tokens)

        def covered(c: int) -> tuple[float, float]:
            return self.coverage(words, c, self.index.chunks[c].doc_id)

        feats = features(ranking, ranked, primary, asks_covered, covered(ranked[0]) if ranked else (1.0, 0.0))
        score = model.probability(feats) if ranked else 0.0
        answered = bool(ranked) and score >= model.threshold
        message = None
        other = self._other_drug(question.target, question.absent)
        if other is not None and ranked:
            # a second drug: only a passage that names it (or a class the pages put it in) answers
            # passages naming the drug (or a class the pages list it in) come before those naming only its own class
            names = {d: terms[0] for d, terms in other.items()}
            classes = {d: terms[1] for d, terms in other.items()}
            named = [c for c in ranked if self._names_other(c, names)]
            by_name = set(named)
            speaking = named + [c for c in ranked if c not in by_name and self._names_other(c, classes)]
            if speaking:
                first = set(speaking)
                ranked = speaking + [c for c in ranked if c not in first]
                feats = features(ranking, ranked, primary, asks_covered, covered(ranked[0]))
                score = max(score, model.probability(feats))
                answered = True
            else:  # neither page names the other drug (or a drug without a page): never answered from a guess
                answered = False
                message = self._silent_on_other(question.target, question.absent)
        covers = None
        if not answered and message is None:
            message = self.page_does_not_say(primary)
            covers = self.covers(primary)
        return Decision(answered, score, ranked, feats, message, covers)

    def covers(self, primary: DrugMatch | None) -> dict[str, Any] | None:
        """The main sections of the drug's page, each with its link: what the page does cover."""
        if primary is None or not primary.doc_id:
            return None
        doc_id = primary.doc_id
        return {
            "doc_id": doc_id,
            "title": self.index.drugs[doc_id].title,
            "url": f"/pages/{doc_id}",
            "sections": [{"title": t, "url": f"/pages/{doc_id}#{a}"} for t, a in self.sections[doc_id].items()],
        }

    def page_does_not_say(self, primary: DrugMatch | None) -> str:
        if primary is not None and primary.doc_id:
            title = self.index.drugs[primary.doc_id].title
            return (
                f"The {title} page doesn't say this, as far as faqbot can tell. It covers: "
                f"{', '.join(self.sections[primary.doc_id])} (/pages/{primary.doc_id}). {SUGGESTIONS}"
            )
        return f"I could not find a passage that answers this closely enough. Naming the drug helps. {SUGGESTIONS}"

    def no_page(self, names: list[str]) -> str:
        quoted = ", ".join(quoted_name(n) for n in names)
        return (
            f"No page here covers {quoted}, so faqbot will not answer from another drug's page. "
            f"It answers only about the {len(self.index.drugs)} drugs listed at /drugs."
        )

    def _other_drug(
        self, target: list[DrugMatch], absent: list[DrugMatch]
    ) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]] | None:
        """For a question about two drugs: page -> what a passage must mention to speak of the other drug:
        (its names, the classes its own page puts it in)."""
        if len(target) == 2 and target[0].doc_id and target[1].doc_id:
            a, b = target[0].doc_id, target[1].doc_id
            return {a: (self.index.drugs[b].names, self._own_class_terms(b, a)),
                    b: (self.index.drugs[a].names, self._own_class_terms(a, b))}  # fmt: skip
        if len(target) == 1 and target[0].doc_id and absent:
            # the drug's generic name too ("aleve": naproxen, and the NSAIDs a page lists naproxen in), then the
            # vocabulary's groups for it ("cipro": fluoroquinolones)
            names = [name for m in absent for name in (m.matched, generic_name(m.matched)) if name]
            groups = [g for name in names for g in drug_groups(name)]
            return {target[0].doc_id: (tuple(dict.fromkeys(names)), tuple(dict.fromkeys(groups)))}
        return None

    def _own_class_terms(self, other: str, page: str) -> tuple[str, ...]:
        """The classes of drug `other` that a passage of `page` may name to speak of it; a class both drugs
        share counts only as "other <class>" (a page naming its own drug's class is not about the other drug)."""
        mine, theirs = self.own_classes[page], self.own_classes[other]
        phrases = [f"{word} {c}" for c in sorted(theirs & mine) for word in ("other", "another")]
        return (*sorted(theirs - mine), *phrases)

    def _names_other(self, c: int, other: dict[str, tuple[str, ...]]) -> bool:
        names = other.get(self.index.chunks[c].doc_id)
        return bool(names) and self.mentions.mentioned(self._mention_texts[c], names)  # type: ignore[arg-type]

    def _silent_on_other(self, target: list[DrugMatch], absent: list[DrugMatch]) -> str:
        titles = [self.index.drugs[m.doc_id].title for m in target if m.doc_id]
        if len(titles) == 2:
            return (
                f"Neither the {titles[0]} page nor the {titles[1]} page says anything about the other drug, so faqbot "
                f"will not guess whether they can be taken together. {ASK_A_PHARMACIST}"
            )
        missing = ", ".join(quoted_name(m.matched) for m in absent)
        return (
            f"The {titles[0]} page does not mention {missing} or a group of medicines it belongs to, so faqbot will not "
            f"guess. {ASK_A_PHARMACIST}"
        )
