"""Answering through the real model and a real HTTP server on loopback (seed page only)."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest

from faqbot.api import create_app
from faqbot.embedding import model_id_for
from faqbot.index import build_index
from faqbot.settings import Settings
from tests.conftest import SEED, LiveServer

pytestmark = pytest.mark.model

PREGNANCY = {
    "alemtuzumab#pregnancy-and-breastfeeding",
    "alemtuzumab#faq-can-alemtuzumab-be-used-during-pregnancy-or-breastfeeding",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory, real_embedder, build_embedder):
    root = tmp_path_factory.mktemp("answering")
    (root / "data").mkdir()
    shutil.copy(SEED, root / "data" / SEED.name)
    settings = Settings(data_dir=root / "data", index_dir=root / "index", db=root / "var" / "db.sqlite3")
    build_index(settings.data_dir, settings.index_dir, lambda: build_embedder, model_id_for("packaged"))
    with LiveServer(create_app(settings)) as live:
        live.settings = settings
        yield live


def ask(server, question: str, **extra) -> dict:
    response = httpx.post(f"{server.url}/ask", json={"question": question, **extra}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def test_brand_name_pregnancy_question_finds_the_pregnancy_passage(server) -> None:
    """On this one-page site the pregnancy passage comes first, with its citation and highlight.

    Whether it is shown as the answer or as the first suggestion depends on the calibration, fitted on the
    25-page site, whose wording-coverage signal cannot tell a common word ("take") from a rare one on one
    page; on the shipped pages it is the answer (tests/test_browser.py asks the same question there).
    """
    result = ask(server, "can I take lemtrada while pregnant")
    answer = result["answer"] if result["answered"] else result["alternatives"][0]
    assert answer["chunk_id"] in PREGNANCY
    assert result["drug"] == {"doc_id": "alemtuzumab", "title": "Alemtuzumab", "matched": "lemtrada", "how": "alias"}
    assert answer["url"].startswith("/pages/alemtuzumab#") and answer["last_modified"] == "2025-09-22T17:21:52.138Z"
    assert 0.0 <= answer["score"] <= 1.0
    start, end = answer["highlights"][0]
    assert "pregnan" in answer["text"][start:end].lower()


@pytest.mark.parametrize(
    ("question", "expected", "how"),
    [
        ("campath dose for leukemia", {"alemtuzumab#adults", "alemtuzumab#faq-what-is-the-recommended-dosage-for-alemtuzumab"}, "alias"),
        ("lemtrda side effects", {"alemtuzumab#common-side-effects", "alemtuzumab#rare-but-serious-side-effects",
                                  "alemtuzumab#faq-what-are-the-most-serious-side-effects-of-alemtuzumab"}, "fuzzy"),
        ("is alemtuzamab ok for kids", {"alemtuzumab#children"}, "fuzzy"),
        ("which blood tests do I need while on alemtuzumab",
         {"alemtuzumab#faq-what-monitoring-is-required-for-patients-receiving-alemtuzumab", "alemtuzumab#precautions",
          "alemtuzumab#drug-profile-summary"}, "title"),
        ("can I get a live vaccine after lemtrada",
         {"alemtuzumab#faq-can-patients-receive-vaccinations-while-on-alemtuzumab", "alemtuzumab#precautions",
          "alemtuzumab#drug-interactions"}, "alias"),
    ],
)  # fmt: skip
def test_brand_names_misspellings_and_paraphrases(server, question: str, expected: set[str], how: str) -> None:
    result = ask(server, question)
    assert result["drug"]["doc_id"] == "alemtuzumab" and result["drug"]["how"] == how
    assert result["answered"] is True, result["message"]
    assert result["answer"]["chunk_id"] in expected


def test_follow_up_keeps_the_drug_of_the_conversation(server) -> None:
    first = ask(server, "what is lemtrada used for")
    assert first["drug"]["doc_id"] == "alemtuzumab"
    second = ask(server, "and in pregnancy?", context=first["context"], session_id=first["session_id"])
    assert second["drug"]["how"] == "context" and second["drug"]["doc_id"] == "alemtuzumab"
    assert second["answered"] and second["answer"]["chunk_id"] in PREGNANCY
    # without the conversation's context the same words name no drug
    alone = ask(server, "and in pregnancy?")
    assert alone["drug"] is None


@pytest.mark.parametrize(
    "question",
    ["is ozanimod safe in pregnancy", "cladribine dose", "can I take ocrevus while breastfeeding", "side effects of tecfidera",
     "mavenclad and alcohol"],
)  # fmt: skip
def test_drugs_without_a_page_abstain(server, question: str) -> None:
    result = ask(server, question)
    assert result["answered"] is False and result["answer"] is None
    assert all(alt["doc_id"] != "alemtuzumab" for alt in result["alternatives"])
    assert "no page" in result["message"].lower()


@pytest.mark.parametrize("question", ["what is the capital of france", "asdkjh qwpoeiru zxmcnv", "best pizza in town"])
def test_out_of_scope_questions_abstain(server, question: str) -> None:
    result = ask(server, question)
    assert result["answered"] is False and result["answer"] is None and result["message"]


def test_response_has_the_documented_shape(server) -> None:
    result = ask(server, "lemtrada dose", k=4)
    assert set(result) == {"query_id", "session_id", "context", "answered", "answer", "alternatives", "drug", "message", "covers", "notices",
                           "clarify", "clarified_question", "index_version", "took_ms"}  # fmt: skip
    assert len(result["alternatives"]) == 3
    assert set(result["answer"]) == {"chunk_id", "doc_id", "title", "kind", "section", "question", "text", "highlights",
                                     "score", "url", "source_path", "last_modified", "is_banned"}  # fmt: skip
    scores = [result["answer"]["score"]] + [a["score"] for a in result["alternatives"]]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"question": ""}, "question is empty"),
        ({"question": "   "}, "question is empty"),
        ({"question": "x" * 1001}, "at most 1000"),
        ({"question": "dose", "k": 0}, "k:"),
        ({"question": "dose", "k": 11}, "k:"),
        ({"question": "dose", "session_id": "bad id!"}, "session_id must be"),
        ({"question": "dose", "drug": "nosuchdrug"}, "unknown doc_id 'nosuchdrug'"),
        ({"question": "dose", "colour": "red"}, "colour: is not a known field"),
        ({"question": 42}, "question:"),
        ({}, "question: is required"),
    ],
)
def test_bad_requests_get_a_422_that_says_what_to_change(server, body: dict, detail: str) -> None:
    response = httpx.post(f"{server.url}/ask", json=body, timeout=30)
    assert response.status_code == 422
    assert detail in response.json()["detail"]


def test_oversized_body_gets_413(server) -> None:
    response = httpx.post(f"{server.url}/ask", content=b'{"question": "' + b"a" * 100_000 + b'"}', timeout=30,
                          headers={"content-type": "application/json"})  # fmt: skip
    assert response.status_code == 413 and "larger than" in response.json()["detail"]


def test_drug_filter_and_drugs_and_health(server) -> None:
    result = ask(server, "dose", drug="alemtuzumab")
    assert result["drug"]["how"] == "filter" and result["answer"]["doc_id"] == "alemtuzumab"
    drugs = httpx.get(f"{server.url}/drugs").json()
    assert drugs[0]["doc_id"] == "alemtuzumab" and "Lemtrada" in drugs[0]["names"]
    health = httpx.get(f"{server.url}/healthz").json()
    assert health["status"] == "ok" and health["chunks"] == 29 and health["model"] == "sentence-transformers/all-MiniLM-L6-v2"


def test_feedback_is_stored_and_unknown_queries_refused(server) -> None:
    result = ask(server, "lemtrada infusion reactions")
    ok = httpx.post(f"{server.url}/feedback", json={"query_id": result["query_id"], "helpful": False, "comment": "too short"})
    assert ok.status_code == 200
    missing = httpx.post(f"{server.url}/feedback", json={"query_id": "nope", "helpful": True})
    assert missing.status_code == 404 and "send the query_id that /ask returned" in missing.json()["detail"]
    import sqlite3

    rows = sqlite3.connect(server.settings.db).execute("SELECT query_id, helpful, comment FROM feedback").fetchall()
    assert (result["query_id"], 0, "too short") in rows


def test_missing_index_gives_503_with_the_command(tmp_path: Path, real_embedder) -> None:
    from faqbot.retrieval import AnswererHolder

    settings = Settings(data_dir=tmp_path / "data", index_dir=tmp_path / "noindex", db=tmp_path / "db.sqlite3")
    with LiveServer(create_app(settings, AnswererHolder(settings, embedder=real_embedder))) as live:
        response = httpx.post(f"{live.url}/ask", json={"question": "lemtrada dose"})
        assert response.status_code == 503 and "faqbot build" in response.json()["detail"]
