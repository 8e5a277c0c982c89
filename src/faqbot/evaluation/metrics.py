"""Running gold cases through the answerer, and the figures computed from what it did."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from faqbot.evaluation.gold import UNANSWERABLE_KINDS, Case
from faqbot.retrieval import Answerer

K = 10


@dataclass
class Outcome:
    """What the system did with one case in one mode."""

    case: Case
    ranked: list[str]
    answered: bool
    answer_doc: str | None
    score: float
    features: dict[str, float]
    took_ms: float
    signals: dict[str, dict[str, Any]] = field(default_factory=dict)  # every candidate's, when explained
    query_vector: np.ndarray | None = None  # when explained

    @property
    def right(self) -> bool:
        """Answered, and the passage shown is one that answers."""
        return self.answered and self.case.answerable and bool(self.ranked) and self.ranked[0] in self.case.relevant


@dataclass
class Metrics:
    values: dict[str, float] = field(default_factory=dict)
    count: int = 0


def run_case(answerer: Answerer, case: Case, mode: str, explain: bool = False) -> Outcome:
    """Ask a case the way a client would: earlier turns first, in one session."""
    session = f"eval-{case.id}-{mode}"
    for turn in case.turns:
        answerer.ask(turn, session_id=session, k=K, mode=mode)
    return outcome_of(case, answerer.ask(case.question, session_id=session, k=K, mode=mode, explain=explain))


@dataclass
class ClarifyOutcome:
    """A clarifying-turn case: whether faqbot asked which medicine, the answer after the drug was
    given, and the answer to the same question with the drug named in it."""

    case: Case
    asked_back: bool
    offered: list[str]
    picked: Outcome
    named: Outcome


def run_clarify_case(answerer: Answerer, case: Case) -> ClarifyOutcome:
    """The question without a drug, then the drug, in one session; and the named question on its own."""
    session = f"eval-{case.id}-clarify"
    first = answerer.ask(case.turns[0], session_id=session, k=K)
    picked = outcome_of(case, answerer.ask(case.question, session_id=session, k=K))
    named = outcome_of(case, answerer.ask(case.named or case.turns[0], session_id=f"{session}-named", k=K))
    offered = [c["doc_id"] for c in first["clarify"]["choices"]] if first.get("clarify") else []
    return ClarifyOutcome(case, bool(first.get("clarify")), offered, picked, named)


def outcome_of(case: Case, result: dict[str, Any]) -> Outcome:
    """What the answerer's response to a case's last question says, as an Outcome."""
    answer = result["answer"]
    alternatives = result.get("alternatives") or []
    return Outcome(
        case=case,
        ranked=list(result["_ranked"]),
        answered=bool(result["answered"]),
        answer_doc=answer["doc_id"] if answer else None,
        score=float(answer["score"]) if answer else float(alternatives[0]["score"]) if alternatives else 0.0,
        features=dict(result["_features"]),
        took_ms=float(result["took_ms"]),
        signals=result.get("_signals", {}),
        query_vector=result.get("_query_vector"),
    )


def ndcg(ranked: list[str], relevant: set[str], k: int = K) -> float:
    gains = sum(1.0 / math.log2(i + 2) for i, c in enumerate(ranked[:k]) if c in relevant)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(k, len(relevant))))
    return gains / ideal if ideal else 0.0


def reciprocal_rank(ranked: list[str], relevant: set[str], k: int = K) -> float:
    for i, c in enumerate(ranked[:k]):
        if c in relevant:
            return 1.0 / (i + 1)
    return 0.0


def allowed_docs(case: Case) -> set[str]:
    docs = {r.split("#", 1)[0] for r in case.relevant}
    if case.doc_id:
        docs.add(case.doc_id)
    return docs


def _mean(flags: list[bool] | list[float]) -> float:
    return float(np.mean(flags))


def summarise(outcomes: list[Outcome]) -> Metrics:
    """What a visitor gets, then the ranking figures, then latency.

    answered_right: answerable cases whose shown answer is a relevant passage. answered_precision:
    shown answers that are right. withheld_answerable: answerable cases withheld. withheld:<kind>:
    unanswerable cases of that kind withheld. wrong_drug: answers from a page the case is not about.
    Ranking figures (hit@1, hit@3, MRR@10, nDCG@10) count the ranking even when the answer is withheld.
    """
    answerable = [o for o in outcomes if o.case.answerable]
    unanswerable = [o for o in outcomes if not o.case.answerable]
    answered = [o for o in outcomes if o.answered]
    values: dict[str, float] = {}
    if answerable:
        values["answered_right"] = _mean([o.right for o in answerable])
        values["withheld_answerable"] = _mean([not o.answered for o in answerable])
    if answered:
        values["answered_precision"] = _mean([o.right for o in answered])
    if unanswerable:
        values["withheld_unanswerable"] = _mean([not o.answered for o in unanswerable])
        for kind in (*UNANSWERABLE_KINDS, "other"):
            of_kind = [o for o in unanswerable if o.case.kind == kind]
            if of_kind:
                values[f"withheld:{kind}"] = _mean([not o.answered for o in of_kind])
    with_drug = [o for o in outcomes if o.case.doc_id or o.case.relevant or "absent-drug" in o.case.tags]
    if with_drug:
        values["wrong_drug"] = _mean([o.answered and o.answer_doc not in allowed_docs(o.case) for o in with_drug])
    if answerable:
        values["hit@1"] = _mean([bool(o.ranked) and o.ranked[0] in o.case.relevant for o in answerable])
        values["hit@3"] = _mean([bool(set(o.ranked[:3]) & set(o.case.relevant)) for o in answerable])
        values["mrr@10"] = _mean([reciprocal_rank(o.ranked, set(o.case.relevant)) for o in answerable])
        values["ndcg@10"] = _mean([ndcg(o.ranked, set(o.case.relevant)) for o in answerable])
    latencies = [o.took_ms for o in outcomes]
    if latencies:
        values["p50_ms"] = float(np.percentile(latencies, 50))
        values["p95_ms"] = float(np.percentile(latencies, 95))
    return Metrics(values=values, count=len(outcomes))


def evaluate(answerer: Answerer, cases: list[Case], modes: tuple[str, ...]) -> dict[str, list[Outcome]]:
    return {mode: [run_case(answerer, case, mode) for case in cases] for mode in modes}
