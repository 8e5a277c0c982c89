"""The same Store behaviour on both backends: a real SQLite file and a real PostgreSQL server.

The PostgreSQL cases use the `postgres_server` fixture (tests/pg_server.py: initdb and pg_ctl in a
temporary folder, a Unix socket only); they skip when PostgreSQL is not installed, and fail
instead under FAQBOT_REQUIRE_POSTGRES=1 (CI).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from faqbot.errors import FaqbotError
from faqbot.settings import Settings
from faqbot.store import SQLITE_MIGRATIONS, Store, redacted


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> str | Path:
    if request.param == "sqlite":
        return tmp_path / "var" / "faqbot.sqlite3"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def store(target: str | Path) -> Iterator[Store]:
    opened = Store(target)
    yield opened
    opened.close()


def answer(query_id: str, answered: bool, session_id: str = "s1x", doc_id: str | None = None) -> dict:
    return {
        "query_id": query_id, "session_id": session_id, "answered": answered, "took_ms": 3.5, "index_version": "v1",
        "drug": {"doc_id": doc_id} if doc_id else None,
        "answer": {"chunk_id": f"{doc_id}#dosage", "score": 0.8} if answered else None,
    }  # fmt: skip


def test_log_feedback_report_and_purge_round_trip(store: Store, target: str | Path) -> None:
    store.log_query(answer("q1", False), "Does ozanimod cause headaches?")
    store.log_query(answer("q2", False), "does OZANIMOD cause headaches?")
    store.log_query(answer("q3", True, doc_id="warfarin"), "warfarin dose")
    assert store.has_query("q3") and not store.has_query("nope")
    first = store.add_feedback("q3", False, "wrong section — naïve ✓")
    again = store.add_feedback("q3", False, "still wrong")  # a later click replaces the earlier one
    assert first == again and len(store.feedback()) == 1
    report = store.gap_report()
    assert report["unanswered"][0]["question"] == "does ozanimod cause headaches?" and report["unanswered"][0]["count"] == 2
    assert report["unhelpful"] == [
        {"question": "warfarin dose", "chunk_id": "warfarin#dosage", "answered": 1, "count": 1, "comments": "still wrong"}
    ]
    store.close()
    reopened = Store(target)  # another process (or a restart) sees the same rows
    try:
        assert reopened.question_count() == 3 and reopened.feedback()[0]["comment"] == "still wrong"
        assert reopened.purge(30, now=time.time() + 31 * 86400) == 4  # three questions and one feedback
        assert reopened.question_count() == 0 and reopened.feedback() == []
    finally:
        reopened.close()


def test_sessions_keep_the_drug_until_they_expire(store: Store) -> None:
    now = time.time()
    store.log_query(answer("q1", True, session_id="s1a", doc_id="sertraline"), "zoloft side effects",
                    session_drug="sertraline", session_ttl_s=1800)  # fmt: skip
    store.set_session("s1b", "warfarin", ttl_s=60, now=now)
    assert store.get_session("s1a") == "sertraline" and store.get_session("s1b", now=now + 30) == "warfarin"
    assert store.get_session("s1b", now=now + 61) is None  # expired: forgotten
    assert store.get_session("s1c") is None
    store.set_session("s1a", "warfarin", ttl_s=1800)  # naming another drug switches
    assert store.get_session("s1a") == "warfarin"
    store.purge(30, now=now + 120)  # expired sessions go with the purge
    assert store.get_session("s1b", now=now) is None and store.get_session("s1a", now=now) == "warfarin"


def test_many_threads_write_at_once_and_nothing_is_lost(store: Store) -> None:
    def writer(n: int) -> None:
        for i in range(25):
            store.log_query(answer(f"t{n}-{i}", False, session_id=f"s{n}"), f"question {n} {i}",
                            session_drug="warfarin", session_ttl_s=60)  # fmt: skip
            store.add_feedback(f"t{n}-{i}", i % 2 == 0, None)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert store.question_count() == 200 and len(store.feedback()) == 200


def test_schema_is_versioned_and_an_old_sqlite_file_is_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with closing(sqlite3.connect(path)) as db:  # a file from before versioning: queries and feedback only
        db.executescript(SQLITE_MIGRATIONS[0][1].split("DELETE FROM feedback")[0])
        db.execute("INSERT INTO queries VALUES ('old', 1e9, 's', 'warfarin dose', 1, 'warfarin', 'w#d', 0.9, 3, 'v')")
        db.execute("INSERT INTO feedback (ts, query_id, helpful) VALUES (1e9, 'old', 1)")
        db.commit()
    store = Store(path)
    try:
        assert store.has_query("old") and len(store.feedback()) == 1
        assert store.report_rows(0)[0]["closest_chunk_id"] is None  # the column the report reads, added to old rows
        store.set_session("s1a", "warfarin", ttl_s=60)
        assert store.get_session("s1a") == "warfarin"
    finally:
        store.close()
    with closing(sqlite3.connect(path)) as db:
        assert [v for (v,) in db.execute("SELECT version FROM schema_version ORDER BY version")] == [1, 2, 3, 4]
        db.execute("INSERT INTO schema_version VALUES (99, 0)")
        db.commit()
    with pytest.raises(FaqbotError, match="schema version 99, newer than this faqbot knows"):
        Store(path)


def test_postgres_schema_is_versioned(postgres_url: str) -> None:
    import psycopg

    Store(postgres_url).close()
    Store(postgres_url).close()  # a second process finds it done
    with psycopg.connect(postgres_url) as conn:
        assert [v for (v,) in conn.execute("SELECT version FROM schema_version ORDER BY version")] == [1, 2, 3, 4]


def test_an_unreachable_postgres_is_one_line_without_the_password(tmp_path: Path) -> None:
    url = f"postgresql://editor:hunter2secret@/faqbot?host={tmp_path}&connect_timeout=1"  # no server listens there
    with pytest.raises(FaqbotError) as caught:
        Store(url)
    message = str(caught.value)
    assert "hunter2secret" not in message and "check FAQBOT_DB" in message and "\n" not in message
    assert redacted(url).startswith("postgresql://editor:***@/faqbot")


def test_faqbot_db_takes_a_postgres_url_and_refuses_other_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAQBOT_DB", "postgresql://faqbot@db.internal:5432/faqbot")
    assert Settings().db == "postgresql://faqbot@db.internal:5432/faqbot"  # not folded into a path
    monkeypatch.setenv("FAQBOT_DB", "var/other.sqlite3")
    assert Settings().db == Path("var/other.sqlite3") and Settings().secret_file == Path("var/secret")
    monkeypatch.setenv("FAQBOT_DB", "mysql://x@y/z")
    with pytest.raises(ValueError, match="give a SQLite file path or a postgresql:// URL"):
        Settings()


def test_with_postgres_down_answers_still_come_and_feedback_is_a_503_that_says_send_it_again(
    postgres_server: Any, tmp_path: Path
) -> None:
    import httpx

    from tests.pg_server import PostgresServer
    from tests.test_reliability import FEW, build, copy_corpus, live_server, settings_at

    own = PostgresServer()  # a server of this test's own, to stop under the app
    try:
        # the key is given: with a database URL, a generated one would go to ./var/secret, outside tmp_path
        settings = settings_at(tmp_path).model_copy(update={"db": own.new_database(), "secret": "k" * 32})
        copy_corpus(settings.data_dir, only=FEW)
        build(settings)
        with live_server(settings) as served:
            asked = httpx.post(f"{served.url}/ask", json={"question": "warfarin dose"}).json()
            own.stop()
            answer = httpx.post(f"{served.url}/ask", json={"question": "and for children?", "session_id": asked["session_id"]})
            assert answer.status_code == 200  # the answer matters more than its log line
            assert any("could not be looked up" in notice for notice in answer.json()["notices"])
            feedback = httpx.post(f"{served.url}/feedback", json={"query_id": asked["query_id"], "helpful": True})
            assert feedback.status_code == 503 and feedback.json()["detail"].endswith("send it again")
    finally:
        own.stop()
