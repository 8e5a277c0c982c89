"""Settings errors at the command line, and the SQLite store across an app restart."""

from __future__ import annotations

from pathlib import Path

import pytest

from faqbot.cli import main
from faqbot.settings import Settings
from faqbot.store import Store


def test_comma_separated_cors_origins_are_a_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAQBOT_CORS_ORIGINS", "https://a.example, https://b.example")
    assert Settings().cors_origins == ["https://a.example", "https://b.example"]


def test_a_bad_setting_is_one_line_and_exit_code_2(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("FAQBOT_PORT", "eighty")
    assert main(["report"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("faqbot: bad setting: FAQBOT_PORT") and len(err.splitlines()) == 1


def test_store_reopens_after_close_and_keeps_everything(tmp_path: Path) -> None:
    store = Store(tmp_path / "var" / "db.sqlite3")
    store.log_query({"query_id": "q1", "session_id": "s", "answered": False, "took_ms": 1.0, "index_version": "v"}, "ozanimod?")
    store.add_feedback("q1", False, "no page")
    store.close()
    assert store.has_query("q1")  # an app started twice gets a working store back
    reopened = Store(tmp_path / "var" / "db.sqlite3")
    assert [(f["query_id"], f["helpful"], f["comment"]) for f in reopened.feedback()] == [("q1", 0, "no page")]
    assert reopened.gap_report()["unanswered"][0]["question"] == "ozanimod?"


def test_ask_refuses_an_empty_question_in_one_line(capsys) -> None:
    assert main(["ask", "   "]) == 2
    assert capsys.readouterr().err.strip() == "faqbot: the question must be 1-1000 characters; type a question about a medicine"
