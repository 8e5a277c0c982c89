"""The clarifying turn over /ask: "Which medicine do you mean?", the pick, and a new question instead.

Real model, real index of a few pages, real uvicorn on 127.0.0.1. Expected passages come from
reading the pages (data/lisinopril.md, "Special Cases" and "Dosage Adjustments" say what to do
with weak kidneys), not from faqbot's output.
"""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from faqbot import conversations as conversations_module
from faqbot.api import MAX_CONTEXT, create_app
from faqbot.conversations import Context, Conversations
from faqbot.embedding import CachedQueryEmbedder, model_id_for
from faqbot.index import build_index
from faqbot.retrieval import AnswererHolder
from faqbot.settings import Settings
from tests.conftest import DATA
from tests.support import serve

PAGES = ("lisinopril", "ibuprofen", "paracetamol", "warfarin", "natalizumab", "infliximab", "metformin")
KIDNEYS = "do i need a lower dose if my kidneys are weak"
KIDNEY_PASSAGES = {"lisinopril#special-cases-1", "lisinopril#dosage-adjustments"}


# ---- the token (fast) ------------------------------------------------------------------------


def test_the_token_carries_the_pending_question_and_still_reads_drug_only_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    conversations = Conversations(b"k" * 32, 1800)
    session = conversations.new_session_id()
    question = ("quelle dose si mes reins sont faibles ? " * 25)[:1000]  # the longest question, accents included
    token = conversations.issue(session, None, pending=question)
    assert len(token) <= MAX_CONTEXT, "the API must accept back the context it issues"
    assert conversations.verify(token).pending == question
    assert conversations.verify(conversations.issue(session, "warfarin")).pending is None
    # a token issued before the pending question existed (version c1) still continues its conversation
    monkeypatch.setattr(conversations_module, "TOKEN_VERSION", "c1")
    old = conversations.issue(session, "warfarin")
    monkeypatch.undo()
    assert old.startswith("c1.") and conversations.verify(old) == Context(session, "warfarin", None)


# ---- over HTTP, with the real model ------------------------------------------------------------


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, real_embedder, build_embedder) -> Settings:
    root = tmp_path_factory.mktemp("clarify")
    (root / "data").mkdir()
    for page in PAGES:
        shutil.copy(DATA / f"{page}.md", root / "data" / f"{page}.md")
    settings = Settings(data_dir=root / "data", index_dir=root / "index", db=root / "var" / "db.sqlite3", model="packaged")
    build_index(settings.data_dir, settings.index_dir, lambda: build_embedder, model_id_for("packaged"))
    return settings


def _server(settings: Settings, embedder) -> Any:
    return serve(create_app(settings, AnswererHolder(settings, embedder=CachedQueryEmbedder(embedder))))


@pytest.fixture(scope="module")
def url(settings: Settings, real_embedder) -> Iterator[str]:
    with _server(settings, real_embedder) as base:
        yield base


def ask(url: str, question: str, **extra: Any) -> dict[str, Any]:
    response = httpx.post(f"{url}/ask", json={"question": question, **extra}, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()


def pending_in(token: str) -> str | None:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))).get("q")


@pytest.mark.model
def test_a_question_naming_no_drug_is_asked_back_and_the_named_drug_answers_it(url: str) -> None:
    first = ask(url, KIDNEYS)
    assert first["answered"] is False and first["answer"] is None and first["drug"] is None
    assert first["message"].startswith("Which medicine do you mean?")
    clarify = first["clarify"]
    assert clarify["question"] == "Which medicine do you mean?"
    choices = clarify["choices"]
    assert 1 <= len(choices) <= 5 and len({c["doc_id"] for c in choices}) == len(choices)
    assert "lisinopril" in [c["doc_id"] for c in choices]
    lisinopril = next(c for c in choices if c["doc_id"] == "lisinopril")
    assert lisinopril == {"doc_id": "lisinopril", "title": "Lisinopril", "brands": ["Zestril", "Prinivil"], "url": "/pages/lisinopril"}
    assert first["alternatives"] == []  # the choices replace unrelated suggestions
    assert pending_in(first["context"]) == KIDNEYS

    typed = ask(url, "lisinopril", context=first["context"])  # typed, as a visitor would
    assert typed["answered"] is True, typed["message"]
    assert typed["clarified_question"] == KIDNEYS
    assert typed["drug"]["doc_id"] == "lisinopril" and typed["drug"]["how"] == "title"
    assert typed["answer"]["chunk_id"] in KIDNEY_PASSAGES
    assert typed["clarify"] is None and pending_in(typed["context"]) is None
    # the drug is now the conversation's: a follow-up stays on it
    follow = ask(url, "and in pregnancy?", context=typed["context"])
    assert follow["drug"]["doc_id"] == "lisinopril" and follow["drug"]["how"] == "context" and follow["clarify"] is None


@pytest.mark.model
def test_a_picked_choice_and_a_misspelt_brand_answer_the_pending_question(url: str) -> None:
    first = ask(url, KIDNEYS)
    picked = ask(url, "Lisinopril", drug="lisinopril", context=first["context"])  # the chat page's button
    assert picked["clarified_question"] == KIDNEYS and picked["drug"]["how"] == "filter"
    assert picked["answered"] and picked["answer"]["chunk_id"] in KIDNEY_PASSAGES
    brand = ask(url, "i mean zestrill", context=first["context"])
    assert brand["clarified_question"] == KIDNEYS and brand["drug"]["doc_id"] == "lisinopril"
    assert brand["drug"]["how"] == "fuzzy" and brand["answer"]["chunk_id"] in KIDNEY_PASSAGES


@pytest.mark.model
def test_a_new_question_instead_of_a_drug_drops_the_pending_one(url: str) -> None:
    first = ask(url, KIDNEYS)
    other = ask(url, "what is the maximum daily dose of paracetamol", context=first["context"])
    assert other["clarified_question"] is None and other["drug"]["doc_id"] == "paracetamol"
    assert other["answer"]["chunk_id"].startswith("paracetamol#")
    assert pending_in(other["context"]) is None
    later = ask(url, "lisinopril", context=other["context"])
    assert later["clarified_question"] is None  # the kidney question is gone: no stale answer to it
    # a drug named with a question of its own is that new question, not the pick
    again = ask(url, KIDNEYS)
    own = ask(url, "lisinopril side effects", context=again["context"])
    assert own["clarified_question"] is None and own["answer"] and own["answer"]["chunk_id"] not in KIDNEY_PASSAGES


@pytest.mark.model
@pytest.mark.parametrize("question", ["what is the capital of france", "who won the world cup in 2018", "write me a poem about cats"])
def test_chatter_is_not_asked_which_medicine(url: str, question: str) -> None:
    result = ask(url, question)
    assert result["answered"] is False and result["clarify"] is None


@pytest.mark.model
def test_a_named_or_carried_drug_is_never_asked_back(url: str) -> None:
    named = ask(url, "is ibuprofen bad for the kidneys")
    assert named["clarify"] is None and named["drug"]["doc_id"] == "ibuprofen"
    follow = ask(url, "and is it safe in pregnancy?", context=named["context"])
    assert follow["clarify"] is None and follow["drug"]["how"] == "context"


@pytest.mark.model
def test_the_pending_question_continues_on_another_server_with_the_key(settings: Settings, url: str, real_embedder) -> None:
    first = ask(url, KIDNEYS)
    with _server(settings, real_embedder) as other:  # another worker or replica, same key file
        picked = ask(other, "lisinopril", context=first["context"])
    assert picked["clarified_question"] == KIDNEYS and picked["answer"]["chunk_id"] in KIDNEY_PASSAGES
    # a pending question written into a token by hand is refused with the rest of the token
    version, payload, mac = first["context"].split(".")
    state = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    state["q"] = "what is the maximum daily dose of paracetamol"
    forged = base64.urlsafe_b64encode(json.dumps(state).encode()).rstrip(b"=").decode()
    result = ask(url, "lisinopril", context=f"{version}.{forged}.{mac}")
    assert result["clarified_question"] is None
    assert any("not issued by this server or was altered" in n for n in result["notices"])


@pytest.mark.model
def test_the_query_log_keeps_the_question_a_pick_answered(settings: Settings, url: str) -> None:
    import sqlite3

    first = ask(url, "how long does the infusion take")
    assert first["clarify"] and {"natalizumab", "infliximab"} <= {c["doc_id"] for c in first["clarify"]["choices"]}
    picked = ask(url, "tysabri", context=first["context"])
    assert picked["answered"] and picked["answer"]["doc_id"] == "natalizumab"
    with sqlite3.connect(Path(settings.db)) as db:
        row = db.execute("SELECT question FROM queries WHERE query_id = ?", (picked["query_id"],)).fetchone()
    assert row == ("how long does the infusion take",)


@pytest.mark.model
def test_the_editors_report_counts_a_clarifying_turn_apart_not_as_unanswered(url: str) -> None:
    question = "what colour is a lisinopril 10 mg tablet"  # names its drug: never asked back
    before = httpx.get(f"{url}/report.json", timeout=60).json()["totals"]
    first = ask(url, KIDNEYS)
    assert first["clarify"] is not None
    picked = ask(url, "lisinopril", context=first["context"])
    assert picked["clarified_question"] == KIDNEYS
    ask(url, question)
    report = httpx.get(f"{url}/report.json", timeout=60).json()
    totals = report["totals"]
    assert totals["asked_which_medicine"] == before["asked_which_medicine"] + 1
    assert totals["questions"] == before["questions"] + 2  # the picked question, answered, and the other one
    examples = [e.lower() for g in report["unanswered"] for e in g["examples"]]
    assert KIDNEYS.lower() not in examples, "a question faqbot asked back about and then answered is no gap"
