"""Question -> answer, in five named stages: analyse, retrieve and rank, decide, respond.

    analysis.py   the question read once: text, stems, topic words, drugs named, the drug to answer about
    ranking.py    candidates (dense, BM25, FAQ-question vectors, drug lock) mixed by one fuse
    decision.py   answer or withhold (calibrated confidence, second-drug rules) and why
    response.py   the public shape, highlights and scores
"""

from __future__ import annotations

import time
import uuid
from functools import cached_property
from threading import Lock
from typing import Any

from faqbot.analysis import Analyser, DrugMatch
from faqbot.clarify import Clarifier
from faqbot.decision import Decider
from faqbot.embedding import BatchingEmbedder, CachedQueryEmbedder, Embedder, load_embedder, model_id_for
from faqbot.errors import FaqbotError
from faqbot.index import Index, current_build, load_index
from faqbot.model import Model
from faqbot.ranking import Ranker
from faqbot.response import Responder
from faqbot.sessions import Sessions
from faqbot.settings import Settings

__all__ = ["Answerer", "AnswererHolder", "open_answerer"]


class Answerer:
    """Answers questions from one loaded index; keeps follow-up context per session."""

    def __init__(
        self, index: Index, embedder: Embedder, model: Model | None = None, sessions: Sessions | None = None, drug_lock: bool = True
    ) -> None:
        self.index = index
        # off for corpora whose page titles are not drug names (external evaluation sets)
        self.drug_lock = drug_lock
        self.embedder = embedder
        self.model = model or Model.load()  # the shipped one; AnswererHolder passes the configured one
        self.sessions = sessions or Sessions()
        self.analyser = Analyser(index)
        self.ranker = Ranker(index, embedder, self.model)
        self.decider = Decider(index)
        self.responder = Responder(index)
        self.clarifier = Clarifier(self)  # "which medicine do you mean?" and the question it keeps pending

    @cached_property
    def drug_list(self) -> list[dict[str, Any]]:
        return [
            {"doc_id": d.doc_id, "title": d.title, "names": list(d.names), "is_banned": d.is_banned, "url": f"/pages/{d.doc_id}"}
            for d in sorted(self.index.drugs.values(), key=lambda d: d.title.lower())
        ]

    def ask(
        self,
        question: str,
        session_id: str | None = None,
        k: int = 3,
        drug: str | None = None,
        mode: str = "full",
        explain: bool = False,
        context_drug: str | None = None,
        pending: str | None = None,
    ) -> dict[str, Any]:
        """The /ask response for one question (see PRODUCT.md for its shape).

        context_drug: the conversation's drug from a verified context token (the API's follow-ups);
        without a session_id nothing is remembered here. pending: the question a clarifying turn left
        waiting for its drug (from the token); see faqbot.clarify.

        Keys starting with "_" are internal (the API drops them): the top ten chunk ids and the
        confidence features; with explain, also every candidate's ranking signals (for fitting).
        """
        started = time.perf_counter()
        remember = session_id is not None
        session_id = session_id or uuid.uuid4().hex
        locked = mode == "full" and self.drug_lock
        pick = self.clarifier.resume(question, session_id if remember else None, pending, drug) if locked else None
        if pick is not None:  # this turn named the drug a clarifying turn asked for: answer the question it kept,
            # read with the name as the visitor gave it, as if the first question had named it
            question, drug = f"{pick.question} ({pick.matched})", pick.doc_id
        conversation_drug = context_drug or (self.sessions.get(session_id) if remember else None)
        q = self.analyser.analyse(question, locked=locked, drug=drug, conversation_drug=conversation_drug)
        if q.no_page:  # about something no page covers: withheld, with no other drug's passages
            return self.responder.respond(
                q.text, session_id, started, answered=False, ranked=[], signals={}, k=k, drug=None,
                message=self.decider.no_page(q.no_page), notices=[],
            )  # fmt: skip
        ranking = self.ranker.rank_question(q, mode)
        decision = self.decider.decide(q, ranking)
        primary: DrugMatch | None = q.primary
        if remember and primary is not None and primary.doc_id:
            self.sessions.set(session_id, primary.doc_id)
        result = self.responder.respond(
            q.text, session_id, started, answered=decision.answered, ranked=decision.ranked, signals=ranking.signals,
            k=k, drug=primary, message=decision.message, notices=q.notices, score=decision.score, features=decision.features,
            covers=decision.covers,
        )  # fmt: skip
        self.clarifier.finish(
            result, q.text, session_id if remember else None, pick, primary, decision.ranked, ranking.signals,
            decision.features.get("asks_covered", 0.0), locked,
        )  # fmt: skip
        if explain:
            result["_signals"] = {
                self.index.chunks[c].chunk_id: {**ranking.signals[c], "key": self.ranker.prior_keys[c]} for c in decision.ranked
            }
            result["_query_vector"] = ranking.query_vector
        return result


class AnswererHolder:
    """Serves the current index and switches to a newer build without a restart."""

    def __init__(self, settings: Settings, embedder: Embedder | None = None, model: Model | None = None) -> None:
        self.settings = settings
        self.sessions = Sessions(settings.max_sessions, settings.session_ttl_s)
        self._embedder = embedder
        self._model = model
        self._answerer: Answerer | None = None
        self._current: str | None = None
        self._checked = 0.0
        self._lock = Lock()
        self.last_error: str | None = None

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = CachedQueryEmbedder(BatchingEmbedder(load_embedder(self.settings.model, self.settings.index_dir / "models")))
        return self._embedder

    def ready(self) -> Answerer | None:
        """The answerer get() returns without looking at the index folder (checked under half a second ago), else None."""
        answerer = self._answerer
        if answerer is not None and time.monotonic() - self._checked < 0.5:  # a published build is served within a second
            return answerer
        return None

    def get(self) -> Answerer:
        """The answerer for the newest good build; raises FaqbotError when there is none."""
        ready = self.ready()
        if ready is not None:
            return ready
        now = time.monotonic()
        with self._lock:
            self._checked = now
            build = current_build(self.settings.index_dir)
            name = build.name if build else None
            if self._answerer is not None and name == self._current:
                return self._answerer
            try:
                index = load_index(self.settings.index_dir, model_id_for(self.settings.model))
            except FaqbotError as exc:
                self.last_error = str(exc)
                if self._answerer is not None:
                    return self._answerer  # keep serving the last good index
                raise
            if self._model is None:
                self._model = Model.load(self.settings.models_dir)
            self._answerer = Answerer(index, self.embedder, self._model, self.sessions)
            self._current = name
            self.last_error = None
            return self._answerer


def open_answerer(settings: Settings) -> Answerer:
    """An answerer over the configured index, for one-off use (CLI, evaluation)."""
    return AnswererHolder(settings).get()
