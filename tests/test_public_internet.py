"""Safe on a public address (issue 16): conversations nobody can hijack, a private query log,
connection limits, honest errors. Every check goes through a real uvicorn on 127.0.0.1 (the
configuration `faqbot serve` runs) and, for the connection limits, raw sockets.

The index is built with the fast hashing embedder: these tests are about the server, not ranking.
"""

from __future__ import annotations

import base64
import json
import socket
import sqlite3
import stat
import threading
import time
from collections.abc import Iterator
from contextlib import closing, suppress
from pathlib import Path
from typing import Any

import httpx
import pytest

from faqbot.api import MAX_CONTEXT, create_app
from faqbot.conversations import Conversations, load_secret
from faqbot.embedding import HashingEmbedder
from faqbot.retrieval import AnswererHolder
from faqbot.settings import Settings
from faqbot.store import Store
from tests.support import serve
from tests.test_reliability import faqbot_here, few_pages_built, settings_at

TOKEN = "editors-token-0123456789abcdef"


def app_for(settings: Settings) -> Any:
    return create_app(settings, AnswererHolder(settings, embedder=HashingEmbedder(256)))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("public")
    few_pages_built(root)
    return root


@pytest.fixture(scope="module")
def url(corpus: Path) -> Iterator[str]:
    with serve(app_for(settings_at(corpus, report_token=TOKEN))) as base:
        yield base


def ask(url: str, body: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(f"{url}/ask", json=body, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


# ---- conversations -------------------------------------------------------------------------------


def test_follow_up_continues_through_the_context_token(url: str) -> None:
    first = ask(url, {"question": "warfarin dose"})
    assert first["drug"]["doc_id"] == "warfarin" and first["context"] and first["session_id"].startswith("s1")
    follow = ask(url, {"question": "and while breastfeeding?", "context": first["context"]})
    assert follow["drug"] == {"doc_id": "warfarin", "title": "Warfarin", "matched": "Warfarin", "how": "context"}
    assert follow["session_id"] == first["session_id"] and follow["notices"] == []
    # a question that names no drug with a page keeps the conversation's drug for the next turn
    elsewhere = ask(url, {"question": "what is the capital of france", "context": follow["context"]})
    again = ask(url, {"question": "and for children?", "context": elsewhere["context"]})
    assert again["drug"]["doc_id"] == "warfarin"


@pytest.mark.parametrize("guess", ["1", "follow-1", "s1" + "A" * 36])
def test_a_guessed_session_id_starts_a_new_conversation_and_never_another_visitors_drug(url: str, guess: str) -> None:
    ask(url, {"question": "warfarin dose", "session_id": guess})  # the first visitor picks the id
    other = ask(url, {"question": "and in pregnancy?", "session_id": guess})  # a second visitor picks it too
    assert other["drug"] is None
    assert other["session_id"] != guess
    assert any("not issued by this server" in notice for notice in other["notices"])


def test_a_session_id_sent_back_alone_continues_its_own_conversation_only(url: str) -> None:
    # the server issued each id (random and signed: not guessable, see above); each keeps its own drug
    one = ask(url, {"question": "what is sertraline used for"})
    two = ask(url, {"question": "warfarin dose"})
    one_next = ask(url, {"question": "and the dose?", "session_id": one["session_id"]})
    two_next = ask(url, {"question": "and in pregnancy?", "session_id": two["session_id"]})
    assert one_next["drug"]["doc_id"] == "sertraline" and one_next["drug"]["how"] == "context"
    assert two_next["drug"]["doc_id"] == "warfarin" and two_next["drug"]["how"] == "context"
    assert one_next["notices"] == [] and two_next["notices"] == []
    # a context that was sent but not trusted wins over the session_id: answered on its own, as its notice says
    rejected = ask(url, {"question": "and the dose?", "session_id": one["session_id"], "context": "c1.forged.mac"})
    assert rejected["drug"] is None and any("answered on its own" in n for n in rejected["notices"])


def tampered(token: str) -> str:
    version, payload, mac = token.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data["d"] = "sertraline"
    forged = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    return f"{version}.{forged}.{mac}"


def test_forged_tampered_foreign_and_expired_contexts_are_ignored_with_a_notice(url: str, corpus: Path) -> None:
    first = ask(url, {"question": "warfarin dose"})
    settings = settings_at(corpus)
    ours = Conversations(load_secret(None, settings.secret_file), settings.session_ttl_s)
    foreign = Conversations(b"another server's key", 1800)
    cases = {
        "tampered": (tampered(first["context"]), "not issued by this server or was altered"),
        "garbage": ("x" * 2000, "not issued by this server or was altered"),
        "unicode": ("c1.é.ü", "not issued by this server or was altered"),
        "foreign": (foreign.issue(foreign.new_session_id(), "sertraline"), "not issued by this server or was altered"),
        "expired": (ours.issue(ours.new_session_id(), "sertraline", now=time.time() - 3600), "expired after 30 minutes"),
    }
    for name, (token, notice) in cases.items():
        result = ask(url, {"question": "and the dose?", "context": token})
        assert result["drug"] is None, name  # never the drug the token claims
        assert any(notice in n for n in result["notices"]), (name, result["notices"])
    too_long = httpx.post(f"{url}/ask", json={"question": "dose", "context": "x" * (MAX_CONTEXT + 1)})
    assert too_long.status_code == 422 and "context:" in too_long.json()["detail"]


def test_the_key_is_kept_private_and_survives_a_restart(corpus: Path) -> None:
    settings = settings_at(corpus)
    with serve(app_for(settings)) as first_url:
        first = ask(first_url, {"question": "warfarin dose"})
    assert stat.S_IMODE(settings.secret_file.stat().st_mode) == 0o600
    with serve(app_for(settings)) as again_url:  # a restart (or another worker) continues the conversation
        follow = ask(again_url, {"question": "and in pregnancy?", "context": first["context"]})
    assert follow["drug"]["doc_id"] == "warfarin" and follow["notices"] == []
    with serve(app_for(settings_at(corpus, secret="s" * 40))) as other_key_url:  # FAQBOT_SECRET replaces the file
        other = ask(other_key_url, {"question": "and in pregnancy?", "context": first["context"]})
    assert other["drug"] is None and other["notices"]


# ---- what the question says ------------------------------------------------------------------------


def test_the_question_wins_over_a_drug_field_that_names_another_drug(url: str) -> None:
    result = ask(url, {"question": "ibuprofen dose", "drug": "warfarin"})
    assert result["drug"]["doc_id"] == "ibuprofen" and result["drug"]["how"] != "filter"
    assert all(p["doc_id"] == "ibuprofen" for p in ([result["answer"]] if result["answer"] else []) + result["alternatives"])
    assert any("Ibuprofen" in n and "Warfarin" in n and "drug field" in n for n in result["notices"])
    # the same drug, or none named: the field applies, with no notice
    agreed = ask(url, {"question": "warfarin dose", "drug": "warfarin"})
    unnamed = ask(url, {"question": "dose", "drug": "warfarin"})
    assert agreed["drug"]["doc_id"] == unnamed["drug"]["doc_id"] == "warfarin"
    assert agreed["notices"] == unnamed["notices"] == []


def test_invisible_characters_inside_a_question_never_reach_the_log(url: str, corpus: Path) -> None:
    result = ask(url, {"question": "\ufeffwarfarin\u200b dose\u0000"})
    assert result["drug"]["doc_id"] == "warfarin"
    with closing(sqlite3.connect(settings_at(corpus).db)) as db:
        logged = db.execute("SELECT question FROM queries WHERE query_id = ?", (result["query_id"],)).fetchone()[0]
    assert logged == "warfarin dose"


def test_a_422_for_thousands_of_unknown_keys_stays_short(url: str) -> None:
    body = {"question": "dose", **{f"k{n}": 1 for n in range(6500)}}
    response = httpx.post(f"{url}/ask", json=body, timeout=30)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert len(response.content) < 2000 and "is not a known field; remove it" in detail and "6495 more problems" in detail
    long_key = httpx.post(f"{url}/ask", json={"question": "dose", "x" * 60_000: 1}, timeout=30)
    assert long_key.status_code == 422 and len(long_key.content) < 2000


# ---- feedback and the report ---------------------------------------------------------------------


def report(url: str) -> str:
    response = httpx.get(f"{url}/report", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    return response.text


def test_one_feedback_per_answer_and_a_later_click_replaces_it(url: str, corpus: Path) -> None:
    asked = ask(url, {"question": "side effects of metformin"})
    for n in range(5):
        sent = httpx.post(f"{url}/feedback", json={"query_id": asked["query_id"], "helpful": False, "comment": f"spam {n}"})
        assert sent.status_code == 200
    with closing(sqlite3.connect(settings_at(corpus).db)) as db:
        rows = db.execute("SELECT helpful, comment FROM feedback WHERE query_id = ?", (asked["query_id"],)).fetchall()
    assert rows == [(0, "spam 4")]
    html = report(url)
    assert "spam 4" in html and "spam 3" not in html
    assert httpx.post(f"{url}/feedback", json={"query_id": asked["query_id"], "helpful": True}).status_code == 200
    assert "spam 4" not in report(url)  # marked helpful after all: off the list of unhelpful answers


def test_feedback_on_a_withheld_answer_shows_as_withheld(url: str) -> None:
    asked = ask(url, {"question": "best pizza in town"})
    assert asked["answered"] is False
    httpx.post(f"{url}/feedback", json={"query_id": asked["query_id"], "helpful": False, "comment": "no answer at all"})
    html = report(url)
    row = next(r for r in html.split("<tr>") if "no answer at all" in r)  # its row in the unhelpful answers
    assert "withheld" in row and "None" not in row


def test_the_report_takes_the_token_only_in_the_authorization_header(url: str) -> None:
    basic = base64.b64encode(f"editor:{TOKEN}".encode()).decode()
    assert httpx.get(f"{url}/report", headers={"Authorization": f"Basic {basic}"}).status_code == 200
    assert httpx.get(f"{url}/report", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    refused = httpx.get(f"{url}/report")
    assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Basic")
    in_address = httpx.get(f"{url}/report", params={"token": TOKEN})
    assert in_address.status_code == 401 and "no longer accepted" in in_address.json()["detail"]
    assert httpx.get(f"{url}/report", headers={"Authorization": "Bearer wrong-token"}).status_code == 401


def test_without_a_token_the_report_is_for_this_machine_only(corpus: Path) -> None:
    with serve(app_for(settings_at(corpus))) as base:
        assert httpx.get(f"{base}/report").status_code == 200  # an editor on the server itself
        proxied = httpx.get(f"{base}/report", headers={"X-Forwarded-For": "203.0.113.9"})
        assert proxied.status_code == 403 and "FAQBOT_REPORT_TOKEN" in proxied.json()["detail"]


def test_serve_on_a_public_address_without_a_report_token_refuses_to_start(
    corpus: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("FAQBOT_REPORT_TOKEN", raising=False)
    code, stderr = faqbot_here(settings_at(corpus), monkeypatch, capsys, "serve", "--host", "0.0.0.0", "--port", "1")
    assert code == 2 and len(stderr.strip().splitlines()) == 1
    assert "FAQBOT_REPORT_TOKEN" in stderr and "0.0.0.0" in stderr


@pytest.mark.parametrize("path", ["/", "/healthz", "/drugs", "/pages/warfarin", "/static/chat.js", "/report"])
def test_head_answers_wherever_get_does(url: str, path: str) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    got = httpx.get(url + path, headers=auth)
    head = httpx.head(url + path, headers=auth)
    assert got.status_code == head.status_code == 200
    assert head.content == b"" and head.headers["content-type"] == got.headers["content-type"]


# ---- the query log is kept for FAQBOT_LOG_DAYS ----------------------------------------------------


def old_row(db: Path, query_id: str, days_ago: float) -> None:
    store = Store(db)
    try:
        response = {"query_id": query_id, "session_id": "s", "answered": False, "took_ms": 1.0, "index_version": "v"}
        store.log_query(response, f"question {query_id}")
        store.add_feedback(query_id, False, f"comment {query_id}")
    finally:
        store.close()
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("UPDATE queries SET ts = ? WHERE query_id = ?", (time.time() - days_ago * 86400, query_id))
        conn.execute("UPDATE feedback SET ts = ? WHERE query_id = ?", (time.time() - days_ago * 86400, query_id))


def stored_ids(db: Path) -> set[str]:
    with closing(sqlite3.connect(db)) as conn:
        return {r[0] for r in conn.execute("SELECT query_id FROM queries UNION SELECT query_id FROM feedback")}


def test_old_questions_and_feedback_are_purged_at_start_and_on_schedule(corpus: Path, tmp_path: Path) -> None:
    settings = settings_at(corpus, log_days=30, log_purge_interval_s=0.2).model_copy(update={"db": tmp_path / "log.sqlite3"})
    old_row(settings.db, "old", days_ago=31)
    old_row(settings.db, "recent", days_ago=29)
    with serve(app_for(settings)):
        assert stored_ids(settings.db) == {"recent"}  # purged before the first request
        old_row(settings.db, "later", days_ago=45)  # written while the server runs
        deadline = time.monotonic() + 30
        while "later" in stored_ids(settings.db) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert stored_ids(settings.db) == {"recent"}


# ---- connection limits, over raw sockets ------------------------------------------------------------


@pytest.fixture(scope="module")
def limited(corpus: Path) -> Iterator[tuple[str, int]]:
    settings = settings_at(corpus, read_timeout_s=1.0, keep_alive_s=60, max_header_bytes=16 * 1024, max_connections=4)
    with serve(app_for(settings)) as base:
        host, port = base.removeprefix("http://").split(":")
        yield host, int(port)


def connect(address: tuple[str, int]) -> socket.socket:
    sock = socket.create_connection(address, timeout=20)  # a bound on the test, not a measured time
    return sock


def read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (b"" at once if it reset it)."""
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    return data


def request(sock: socket.socket, path: str = "/healthz") -> bytes:
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")))
    while len(body) < length:
        body += sock.recv(65536)
    return head


def test_a_connection_that_sends_nothing_is_closed(limited: tuple[str, int]) -> None:
    with closing(connect(limited)) as sock:
        assert read_all(sock) == b""  # closed by the server (the socket's 20 s timeout would raise instead)


@pytest.mark.parametrize(
    "partial",
    [b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n", b'POST /ask HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n'
     b'Content-Length: 100\r\n\r\n{"question": '],
    ids=["half a head", "half a body"],
)  # fmt: skip
def test_half_a_request_gets_408_and_the_connection_closes(limited: tuple[str, int], partial: bytes) -> None:
    with closing(connect(limited)) as sock:
        sock.sendall(partial)
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 408") and b"send the whole request at once" in answer


def test_a_keep_alive_connection_survives_between_requests(limited: tuple[str, int]) -> None:
    with closing(connect(limited)) as sock:
        assert request(sock).startswith(b"HTTP/1.1 200")
        assert request(sock).startswith(b"HTTP/1.1 200")


@pytest.mark.parametrize("size", [1_000_000, 10_000_000])
def test_a_huge_header_is_refused(limited: tuple[str, int], size: int) -> None:
    with closing(connect(limited)) as sock:
        head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * size + b"\r\n\r\n"
        sent = threading.Thread(target=lambda: _send_ignoring_errors(sock, head), daemon=True)
        sent.start()
        answer = read_all(sock)
        sent.join(timeout=20)
    # 431 with a reason, or (when the kernel resets the connection under the unsent bytes) no answer at all
    assert answer == b"" or (answer.startswith(b"HTTP/1.1 431") and b"send fewer or shorter headers" in answer)
    with closing(connect(limited)) as sock:  # an ordinary head is still fine
        big_but_normal = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: " + b"c" * 8000 + b"\r\n\r\n"
        sock.sendall(big_but_normal)
        assert sock.recv(100).startswith(b"HTTP/1.1 200")


def _send_ignoring_errors(sock: socket.socket, data: bytes) -> None:
    with suppress(OSError):  # the server closes the connection once it has seen enough
        sock.sendall(data)


def test_a_request_over_the_connection_cap_gets_503(limited: tuple[str, int]) -> None:
    held = [connect(limited) for _ in range(4)]
    try:
        for sock in held:
            assert request(sock).startswith(b"HTTP/1.1 200")  # four idle keep-alive connections: the cap
        with closing(connect(limited)) as extra:
            extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            answer = read_all(extra)
        assert answer.startswith(b"HTTP/1.1 503") and b"limit of 4 open connections" in answer
    finally:
        for sock in held:
            sock.close()
    for _ in range(200):  # the server notices the closed connections on its next loop turns
        with closing(connect(limited)) as sock:
            if request(sock).startswith(b"HTTP/1.1 200"):
                break
        time.sleep(0.05)
    else:
        pytest.fail("the server still refused requests after the held connections closed")
