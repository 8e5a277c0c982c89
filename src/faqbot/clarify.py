"""The clarifying turn: "Which medicine do you mean?" for a medicine question that names no drug.

A question that names no drug, in a conversation with no drug yet, is asked back: faqbot offers
the drugs whose pages best answer it and keeps the question pending. The next turn that only names
or picks a drug answers the pending question with that drug; any other turn drops it. The pending
question travels with the conversation: in the signed context token for API clients, and here, per
session_id, for clients that keep a session with the Answerer (the CLI and the evaluation).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from faqbot.lexical import STOPWORDS
from faqbot.lexicon import pick_words
from faqbot.pages import normalise_name
from faqbot.sessions import Sessions

if TYPE_CHECKING:
    from faqbot.analysis import DrugMatch
    from faqbot.retrieval import Answerer

CLARIFY_QUESTION = "Which medicine do you mean?"
MAX_CHOICES = 5
# a pick that says more than the drug's name is a new question; these words still only pick
PICK_WORDS = pick_words()
# a drug-less question is a medicine question, not chatter, when its closest passage is this similar (cosine)
# and the answerability model does not find it clearly off the pages' subjects (log-odds); chosen on the dev
# split, where every out-of-scope question falls below one of the two and every clarifying-turn question is above both
MIN_DENSE = 0.30
MIN_ASKS_COVERED = -1.0


@dataclass(frozen=True)
class Pick:
    """A turn that answered "which medicine?": the pending question, and the drug named or picked for it."""

    question: str
    doc_id: str
    matched: str
    how: str


class Clarifier:
    """Decides when to ask which medicine, offers the choices, and resumes the pending question."""

    def __init__(self, answerer: Answerer, pending: Sessions | None = None) -> None:
        self.answerer = answerer
        # session_id -> the question waiting for its drug (for session_id clients; the API carries it in its token)
        self.pending = pending or Sessions()

    def resume(self, question: str, session_id: str | None, pending: str | None, drug: str | None) -> Pick | None:
        """The pending question and its drug when this turn only names or picks one drug; None otherwise.

        Whatever this turn is, a question pending for session_id is used up: a new question drops it.
        """
        if session_id is not None:
            stored = self.pending.get(session_id)
            self.pending.pop(session_id)
            pending = pending or stored
        if not pending:
            return None
        index = self.answerer.index
        if drug is not None:
            return Pick(pending, drug, index.drugs[drug].title, "filter") if self._only_names(question, drug, []) else None
        matches = self.answerer.analyser.matcher.find(question)
        if len(matches) != 1 or matches[0].doc_id is None:
            return None
        match = matches[0]
        if not self._only_names(question, match.doc_id, match.matched.split()):  # type: ignore[arg-type]
            return None
        return Pick(pending, match.doc_id, match.matched, match.how)  # type: ignore[arg-type]

    def _only_names(self, question: str, doc_id: str, matched: list[str]) -> bool:
        """Whether question says nothing but the drug's name (and a few words that only pick: "I mean", "the")."""
        names = {w for name in self.answerer.index.drugs[doc_id].names for w in normalise_name(name).split()}
        words = normalise_name(question).split()
        rest = [w for w in words if w not in names and w not in matched and w not in STOPWORDS and w not in PICK_WORDS]
        return bool(words) and not rest

    def wanted(self, drug: DrugMatch | None, ranked: list[int], signals: dict[int, dict[str, float]], asks_covered: float) -> bool:
        """Ask which medicine: no drug named or carried, and a question about what the pages cover.

        Even a confident answer is held back: its page is a guess at the visitor's medicine, and the same
        question ("how long does the infusion take?") has a different answer on each page.
        """
        if drug is not None or not ranked:
            return False
        # the closest of the top few: a sentence-level match can rank a passage first that is further as a whole
        close = max(signals[c]["dense"] for c in ranked[:3])
        return close >= MIN_DENSE and asks_covered >= MIN_ASKS_COVERED

    def choices(self, ranked: list[int], signals: dict[int, dict[str, float]]) -> list[dict[str, Any]]:
        """Up to MAX_CHOICES drugs, best first: pages ranked by their best passage's fused score for the question."""
        index = self.answerer.index
        best: dict[str, float] = {}
        for c in ranked:
            doc_id = index.chunks[c].doc_id
            best[doc_id] = max(best.get(doc_id, float("-inf")), signals[c]["fused"])
        order = sorted(best, key=lambda d: (-best[d], d))[:MAX_CHOICES]
        out = []
        for doc_id in order:
            drug = index.drugs[doc_id]
            # brand names: the names after the title that are not the title's own spelling variants
            brands = [n for n in drug.names[1:] if re.search(r"[A-Z]", n) and normalise_name(n) != normalise_name(doc_id)]
            out.append({"doc_id": doc_id, "title": drug.title, "brands": brands[:2], "url": f"/pages/{doc_id}"})
        return out

    def ask_back(self, result: dict[str, Any], question: str, session_id: str | None, choices: list[dict[str, Any]]) -> None:
        """Turn a withheld answer into the clarifying turn: the choices instead of suggestions, the question kept pending."""
        result["clarify"] = {"question": CLARIFY_QUESTION, "choices": choices}
        result["answered"], result["answer"] = False, None
        result["message"] = (
            f"{CLARIFY_QUESTION} Your question names no medicine, and the answer depends on which one. "
            "Pick one below or type its name, and faqbot will answer your question for it."
        )
        result["alternatives"] = []
        result["_pending"] = question
        if session_id is not None:
            self.pending.set(session_id, question)

    def finish(
        self, result: dict[str, Any], question: str, session_id: str | None, pick: Pick | None,
        drug: DrugMatch | None, ranked: list[int], signals: dict[int, dict[str, float]], asks_covered: float, locked: bool,
    ) -> dict[str, Any]:  # fmt: skip
        """The hook at the end of Answerer.ask: ask back, or say which earlier question a pick answered.

        locked: the drug lock is on (the full pipeline): other modes are ranking baselines and never ask back.
        """
        result.setdefault("clarify", None)
        result.setdefault("_pending", None)
        result["clarified_question"] = pick.question if pick else None
        if pick is not None and result.get("drug"):
            result["drug"] = {**result["drug"], "matched": pick.matched, "how": pick.how}
        elif locked and self.wanted(drug, ranked, signals, asks_covered):
            self.ask_back(result, question, session_id, self.choices(ranked, signals))
        return result
