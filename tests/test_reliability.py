"""Reliability and security (issue 8): hostile requests, faults, load, durable user data, hardening.

Servers are real: uvicorn in a thread (LiveServer) or `faqbot serve` in a subprocess, always on
127.0.0.1. The index is built with the fast hashing embedder: these tests are about the server,
the build and the store, not about ranking. Every load is bounded in time.
"""

from __future__ import annotations

import asyncio
import gzip
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from faqbot.api import create_app
from faqbot.cli import main as cli_main
from faqbot.embedding import HashingEmbedder
from faqbot.errors import IndexMismatchError
from faqbot.index import build_index, current_build, load_index
from faqbot.retrieval import AnswererHolder
from faqbot.settings import Settings
from faqbot.store import Store
from tests.conftest import DATA, LiveServer
from tests.support import ServeProcess, faqbot_serve

MODEL = "hashing-256"
FEW = ("alemtuzumab", "ibuprofen", "metformin", "paracetamol", "sertraline", "warfarin")  # where size does not matter
JSON = {"content-type": "application/json"}
QUESTIONS = [
    "warfarin dose",
    "can I take ibuprofen with warfarin",
    "side effects of metformin",
    "is paracetamol safe in pregnancy",
    "lemtrada infusion reactions",
    "and while breastfeeding?",
    "what is sertraline used for",
    "amoxicillin for children",
    "how does omeprazole work",
    "what is the capital of france",
]


# ---- helpers ---------------------------------------------------------------------------------


def settings_at(root: Path, **extra: Any) -> Settings:
    return Settings(model=MODEL, data_dir=root / "data", index_dir=root / "index", db=root / "var" / "faqbot.sqlite3", **extra)


def copy_corpus(data: Path, copies: int = 1, only: tuple[str, ...] | None = None) -> None:
    """The repository's pages (or only some); with copies > 1 also `<stem>-copy<n>.md`, a bigger folder."""
    data.mkdir(parents=True, exist_ok=True)
    for page in sorted(DATA.glob("*.md")):
        if only is not None and page.stem not in only:
            continue
        shutil.copy(page, data / page.name)
        for n in range(2, copies + 1):
            shutil.copy(page, data / f"{page.stem}-copy{n}.md")


def build(settings: Settings, **kwargs: Any) -> Any:
    return build_index(settings.data_dir, settings.index_dir, lambda: HashingEmbedder(256), MODEL, **kwargs)


def few_pages_built(root: Path) -> Settings:
    """Settings under root whose data folder holds the FEW pages, already indexed."""
    settings = settings_at(root)
    copy_corpus(settings.data_dir, only=FEW)
    build(settings)
    return settings


def live_server(settings: Settings) -> LiveServer:
    return LiveServer(create_app(settings, AnswererHolder(settings, embedder=HashingEmbedder(256))))


def cli_env(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "FAQBOT_MODEL": MODEL,
        "FAQBOT_DATA_DIR": str(settings.data_dir),
        "FAQBOT_INDEX_DIR": str(settings.index_dir),
        "FAQBOT_DB": str(settings.db),
        "HF_HUB_OFFLINE": "1",
    }


def faqbot(settings: Settings, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run the real `faqbot` command line in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "faqbot.cli", *args],
        env=cli_env(settings),
        cwd=settings.data_dir.parent,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def faqbot_here(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str]:
    """The faqbot command line run in this process (fast): exit code and stderr."""
    for key, value in cli_env(settings).items():
        if key.startswith("FAQBOT_"):
            monkeypatch.setenv(key, value)
    capsys.readouterr()
    code = cli_main(list(args))
    return code, capsys.readouterr().err


class Connection:
    """One keep-alive HTTP/1.1 connection on asyncio streams.

    A deliberately small client: 32 httpx clients in this process cost more CPU than the server
    they load, and the latencies measured would be the client's.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, url: str) -> Connection:
        host, port = url.removeprefix("http://").split(":")
        return cls(*await asyncio.open_connection(host, int(port)))

    async def post(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        data = json.dumps(body).encode()
        head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
        self.writer.write(head.encode() + data)
        await self.writer.drain()
        status = int((await self.reader.readline()).split()[1])
        headers = {}
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        payload = await self.reader.readexactly(int(headers["content-length"]))  # FastAPI's JSON always has one
        return status, json.loads(payload)

    def close(self) -> None:
        self.writer.close()


@dataclass
class Load:
    """What a bounded run of concurrent clients saw."""

    statuses: Counter[int] = field(default_factory=Counter)  # 0: no HTTP response at all
    latencies: list[float] = field(default_factory=list)
    versions: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    def p95_ms(self) -> float:
        ordered = sorted(self.latencies)
        return 1000 * ordered[int(0.95 * (len(ordered) - 1))]


async def _clients(url: str, seconds: float, clients: int, stop: threading.Event | None) -> Load:
    load = Load()
    deadline = time.monotonic() + seconds

    async def one_client(n: int) -> None:
        rng = random.Random(n)
        connection = await Connection.open(url)
        try:
            while time.monotonic() < deadline and not (stop and stop.is_set()):
                body = {"question": rng.choice(QUESTIONS)}
                started = time.perf_counter()
                try:
                    status, answer = await connection.post("/ask", body)
                except (OSError, ValueError, asyncio.IncompleteReadError) as exc:  # no (whole) response
                    load.statuses[0] += 1
                    load.errors.append(repr(exc))
                    connection.close()
                    connection = await Connection.open(url)
                    continue
                load.latencies.append(time.perf_counter() - started)
                load.statuses[status] += 1
                if status == 200:
                    load.versions[answer["index_version"]] += 1
                else:
                    load.errors.append(str(answer)[:200])
        finally:
            connection.close()

    await asyncio.gather(*(one_client(n) for n in range(clients)))
    return load


def run_clients(url: str, seconds: float, clients: int = 32, stop: threading.Event | None = None) -> Load:
    """`clients` concurrent clients asking /ask questions for at most `seconds` (or until stop is set)."""
    return asyncio.run(_clients(url, seconds, clients, stop))


def health(url: str) -> dict[str, Any]:
    return httpx.get(f"{url}/healthz", timeout=10).json()


def wait_for_version(url: str, old: str, seconds: float = 10) -> str:
    """The server's index version once it differs from old (the server re-reads CURRENT each second)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        version = health(url)["index_version"]
        if version != old:
            return str(version)
        time.sleep(0.1)
    raise AssertionError(f"the server still serves {old} after {seconds} s")


def raw_get(url: str, path: str) -> tuple[int, dict[str, str], str]:
    """GET with the path sent byte for byte: httpx would resolve `..` segments before sending."""
    host, port = url.removeprefix("http://").split(":")
    with closing(http.client.HTTPConnection(host, int(port), timeout=10)) as conn:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read().decode("utf-8", "replace")


# ---- bad requests ----------------------------------------------------------------------------

HOSTILE_PAGE = """\
---
title: 'Evilol <script>alert(1)</script>'
description: '"><img src=x onerror=alert(2)>'
is_banned: true
lastModified: '2025-01-01"><script>alert(3)</script>'
faqs:
  - q: 'Is <b onmouseover="alert(4)">Evilol</b> safe?**'
    a: 'A:** Only as <iframe src="javascript:alert(5)"></iframe> text.'
---
## **Usage <img src=x onerror=alert(6)>**

Evilol is a made-up drug. <script>alert(7)</script>

#### **Children <svg onload=alert(8)>:** not recommended.
"""
SECRET = "SECRET-MARKER-4711"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Some real pages plus a hostile one, served by the real app; a page beside and one not yet indexed."""
    root = tmp_path_factory.mktemp("site")
    settings = settings_at(root)
    copy_corpus(settings.data_dir, only=FEW)
    (settings.data_dir / "evilol.md").write_text(HOSTILE_PAGE)
    build(settings)
    (root / "secret.md").write_text(f"---\ntitle: Secret\n---\n## Usage\n\n{SECRET}\n")  # outside the data folder
    (settings.data_dir / "unindexed.md").write_text(f"---\ntitle: Unindexed\n---\n## Usage\n\n{SECRET}\n")
    with live_server(settings) as live:
        yield live


def chunked(payload: bytes, size: int = 8192) -> list[bytes]:
    """A body httpx sends in chunks, without Content-Length (a list, so a rerun can send it again)."""
    return [payload[start : start + size] for start in range(0, len(payload), size)]


BAD_ASKS = [
    ("empty question", {"json": {"question": ""}}, 422, "question is empty"),
    ("whitespace question", {"json": {"question": " \t\n\u3000 "}}, 422, "question is empty"),
    ("1001 characters", {"json": {"question": "x" * 1001}}, 422, "shorten it to at most 1000"),
    ("100 KB question", {"json": {"question": "dose " * 20_000}}, 413, "larger than 64 KB"),
    ("100 KB chunked, no length", {"content": chunked(b'{"question": "' + b"a" * 100_000 + b'"}'), "headers": JSON}, 413, "larger than 64 KB"),
    ("invalid UTF-8", {"content": b'{"question": "\xff\xfe dose"}', "headers": JSON}, 422, "body: is not valid UTF-8"),
    ("lone surrogate escape", {"content": b'{"question": "\\ud800 dose"}', "headers": JSON}, 422, "lone UTF-16 surrogate"),
    ("truncated JSON", {"content": b'{"question": "dose', "headers": JSON}, 422, "not valid JSON"),
    ("JSON nested 10,000 deep", {"content": b'{"question": ' + b"[" * 10_000 + b"]" * 10_000 + b"}", "headers": JSON}, 422, "the JSON is nested too deeply"),
    ("5,000-digit number", {"content": b'{"question": "dose", "k": ' + b"7" * 5000 + b"}", "headers": JSON}, 422, "more than 4300 digits"),
    ("form-encoded body", {"data": {"question": "dose"}}, 415, "send it as JSON with the header Content-Type: application/json"),
    ("text/plain body", {"content": b'{"question": "dose"}', "headers": {"content-type": "text/plain"}}, 415, "Content-Type: application/json"),
    ("gzip body", {"content": gzip.compress(b'{"question": "dose"}'), "headers": {**JSON, "content-encoding": "gzip"}}, 415, "Content-Encoding 'gzip' is not supported"),
    ("only zero-width spaces", {"json": {"question": "\u200b\u200b\u200b"}}, 422, "question has no letter or digit"),
    ("only a BOM", {"json": {"question": "\ufeff"}}, 422, "question has no letter or digit"),
    ("only NUL and controls", {"json": {"question": "\u0000\u0001\u001b\u007f"}}, 422, "question has no letter or digit"),
    ("only punctuation and a word joiner", {"json": {"question": "?\u2060!"}}, 422, "question has no letter or digit"),
    ("array body", {"json": ["dose"]}, 422, "body: Input should be a valid dictionary"),
    ("question is a number", {"json": {"question": 42}}, 422, "question: Input should be a valid string"),
    ("question is null", {"json": {"question": None}}, 422, "question: Input should be a valid string"),
    ("missing question", {"json": {"k": 3}}, 422, "question: is required"),
    ("k as text", {"json": {"question": "dose", "k": "3"}}, 422, "k must be a JSON number"),
    ("k as boolean", {"json": {"question": "dose", "k": True}}, 422, "k must be a JSON number"),
    ("k fractional", {"json": {"question": "dose", "k": 2.5}}, 422, "k: Input should be a valid integer"),
    ("k huge", {"json": {"question": "dose", "k": 10**40}}, 422, "k: Input should be less than or equal to 10"),
    ("k zero", {"json": {"question": "dose", "k": 0}}, 422, "k: Input should be greater than or equal to 1"),
    ("k NaN", {"content": b'{"question": "dose", "k": NaN}', "headers": JSON}, 422, "k: Input should be a finite number"),
    ("session_id with a space", {"json": {"question": "dose", "session_id": "bad id"}}, 422, "session_id must be"),
    ("session_id with a newline", {"json": {"question": "dose", "session_id": "abc\n"}}, 422, "session_id must be"),
    ("session_id of 65", {"json": {"question": "dose", "session_id": "a" * 65}}, 422, "session_id must be"),
    ("session_id traversal", {"json": {"question": "dose", "session_id": "../../etc"}}, 422, "session_id must be"),
    ("unknown field", {"json": {"question": "dose", "colour": "red"}}, 422, "colour: is not a known field; remove it"),
    ("unknown drug", {"json": {"question": "dose", "drug": "../etc/passwd"}}, 422, "unknown doc_id '../etc/passwd'"),
    ("drug with a lone surrogate", {"content": b'{"question": "dose", "drug": "\\udc80"}', "headers": JSON}, 422, "unknown doc_id"),
]  # fmt: skip


@pytest.mark.parametrize(("kwargs", "status", "detail"), [c[1:] for c in BAD_ASKS], ids=[c[0] for c in BAD_ASKS])
def test_bad_ask_gets_a_4xx_that_says_what_to_change(
    site: LiveServer, kwargs: dict[str, Any], status: int, detail: str, caplog: pytest.LogCaptureFixture
) -> None:
    response = httpx.post(f"{site.url}/ask", timeout=30, **kwargs)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert detail in response.json()["detail"]
    assert not [r for r in caplog.records if r.levelno >= 40], "the server logged an error for a bad request"


BAD_FEEDBACK = [
    ("helpful as text", {"query_id": "abc", "helpful": "yes"}, "helpful: Input should be a valid boolean"),
    ("helpful as number", {"query_id": "abc", "helpful": 1}, "helpful: Input should be a valid boolean"),
    ("query_id with a slash", {"query_id": "../x", "helpful": True}, "query_id: String should match pattern"),
    ("comment of 2001", {"query_id": "abc", "helpful": False, "comment": "x" * 2001}, "comment: String should have at most 2000"),
    ("missing helpful", {"query_id": "abc"}, "helpful: is required"),
]


@pytest.mark.parametrize(("body", "detail"), [c[1:] for c in BAD_FEEDBACK], ids=[c[0] for c in BAD_FEEDBACK])
def test_bad_feedback_gets_a_422_that_says_what_to_change(site: LiveServer, body: dict[str, Any], detail: str) -> None:
    response = httpx.post(f"{site.url}/feedback", json=body, timeout=30)
    assert response.status_code == 422 and detail in response.json()["detail"]


# ---- faults: the build killed, a damaged index, a rebuild under load ---------------------------


def holds_build_lock(pid: int) -> bool:
    """Whether pid holds a flock, i.e. is inside build_index (past imports, before the swap)."""
    return any(line.split()[4] == str(pid) for line in Path("/proc/locks").read_text().splitlines() if "FLOCK" in line)


def build_dirs(settings: Settings) -> tuple[list[str], list[str]]:
    """(complete builds, half-written .tmp- builds) in the index folder."""
    names = sorted(p.name for p in (settings.index_dir / "builds").iterdir())
    return [n for n in names if not n.startswith(".")], [n for n in names if n.startswith(".tmp-")]


def assert_serving(url: str, version: str) -> None:
    assert health(url)["index_version"] == version
    answer = httpx.post(f"{url}/ask", json={"question": "warfarin dose"}, timeout=30)
    assert answer.status_code == 200 and answer.json()["index_version"] == version


def test_build_killed_mid_embedding_leaves_the_previous_index_serving(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = settings_at(tmp_path)
    copy_corpus(settings.data_dir, copies=2)  # 50 pages: embedding them takes long enough to be hit
    # a clean CLI build first, timed: from taking the build lock to writing the build directory
    started = time.monotonic()
    process = subprocess.Popen([sys.executable, "-m", "faqbot.cli", "build"], env=cli_env(settings), cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    locked_at = written_at = None
    while process.poll() is None and time.monotonic() - started < 60:
        if locked_at is None and holds_build_lock(process.pid):
            locked_at = time.monotonic()
        if written_at is None and (settings.index_dir / "builds").is_dir() and build_dirs(settings)[1]:
            written_at = time.monotonic()
        time.sleep(0.002)
    assert process.wait(timeout=60) == 0, process.stderr.read() if process.stderr else ""
    assert locked_at is not None and written_at is not None
    window = written_at - locked_at  # parsing and embedding 50 pages, then FAISS and BM25
    first = current_build(settings.index_dir).name  # type: ignore[union-attr]
    chunks = len(load_index(settings.index_dir, MODEL).chunks)

    rng = random.Random(8)
    outcomes = []
    with live_server(settings) as live:
        assert_serving(live.url, first)
        for attempt in range(5):
            # an earlier attempt the kill missed may have finished and swapped in its build: this one must keep that
            previous = current_build(settings.index_dir).name  # type: ignore[union-attr]
            process = subprocess.Popen([sys.executable, "-m", "faqbot.cli", "build", "--full"], env=cli_env(settings),
                                       cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
            if attempt < 4:  # inside the build, before anything is written: while embedding
                deadline = time.monotonic() + 30
                while not holds_build_lock(process.pid) and process.poll() is None and time.monotonic() < deadline:
                    time.sleep(0.002)
                time.sleep(rng.uniform(0.2, 0.6) * window)
                mid_build = process.poll() is None and holds_build_lock(process.pid) and not build_dirs(settings)[1]
            else:  # any moment at all, from start-up to the swap
                time.sleep(rng.uniform(0.0, 1.2) * (written_at - started))
                mid_build = False
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
            serving = current_build(settings.index_dir)
            assert serving is not None, "SIGKILL left no CURRENT build"
            index = load_index(settings.index_dir, MODEL)  # complete and loadable, whichever build it is
            assert len(index.chunks) == chunks
            assert_serving(live.url, first if serving.name == first else wait_for_version(live.url, first))
            outcomes.append((mid_build, serving.name == previous, len(build_dirs(settings)[1])))
        assert all(kept for mid, kept, _ in outcomes if mid), f"a build killed mid-embedding replaced the index: {outcomes}"
        assert sum(mid for mid, _, _ in outcomes) >= 3, f"too few kills landed mid-embedding: {outcomes}"

        # the next build succeeds over whatever the kills left behind, and the server switches to it
        (settings.data_dir / "zentravil.md").write_text((DATA / "warfarin.md").read_text().replace("Warfarin", "Zentravil"))
        result = faqbot(settings, "build")
        assert result.returncode == 0, result.stderr
        new = current_build(settings.index_dir).name  # type: ignore[union-attr]
        assert new != first and wait_for_version(live.url, first) == new
        assert httpx.post(f"{live.url}/ask", json={"question": "zentravil dose"}).json()["drug"]["doc_id"] == "zentravil"
    with capsys.disabled():
        print(f"\nSIGKILL mid-build: {len(outcomes)} kills (mid-embedding, CURRENT kept, .tmp dirs left): {outcomes}")


def test_damaged_index_is_a_clear_error_and_the_server_keeps_its_last_good_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = few_pages_built(tmp_path)
    good = current_build(settings.index_dir)
    assert good is not None
    with live_server(settings) as live:
        assert_serving(live.url, good.name)
        # a new build whose FAISS file is cut short becomes CURRENT (a bad disk, a bad copy)
        damaged = settings.index_dir / "builds" / "20990101T000000000000Z"
        shutil.copytree(good, damaged)
        faiss_file = damaged / "faiss.index"
        faiss_file.write_bytes(faiss_file.read_bytes()[:1000])
        (settings.index_dir / "CURRENT").write_text(damaged.name + "\n")
        time.sleep(1.2)  # the server looks at CURRENT at most once a second

        assert_serving(live.url, good.name)  # still answering from the good index
        status = health(live.url)
        assert status["status"] == "ok" and "damaged" in status["error"] and "faqbot build --full" in status["error"]

        with pytest.raises(IndexMismatchError, match=r"is damaged .*rebuild with: faqbot build --full"):
            load_index(settings.index_dir, MODEL)
        code, stderr = faqbot_here(settings, monkeypatch, capsys, "ask", "warfarin dose")
        assert code == 2 and stderr.startswith("faqbot: ") and "faqbot build --full" in stderr

        # a server started now has no good index to fall back on: 503 that names the command
        with live_server(settings) as fresh:
            refused = httpx.post(f"{fresh.url}/ask", json={"question": "warfarin dose"})
            assert refused.status_code == 503 and "faqbot build --full" in refused.json()["detail"]
            assert health(fresh.url)["status"] == "no index"

        # the command the error names repairs it, and the running server moves on without a restart
        assert faqbot_here(settings, monkeypatch, capsys, "build", "--full")[0] == 0
        repaired = wait_for_version(live.url, good.name)
        assert repaired not in (good.name, damaged.name) and health(live.url)["error"] is None


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda build: (build / "chunks.jsonl").unlink(), "is damaged"),
        (lambda build: (build / "vectors.npy").write_bytes(b"not numpy"), "is damaged"),
        (lambda build: (build / "manifest.json").write_text("{"), "manifest"),
        (lambda build: shutil.rmtree(build), "no index"),
        (lambda build: (build / "vector_chunk.npy").write_bytes((build / "vector_chunk.npy").read_bytes()[:200]), "is damaged"),
    ],
    ids=["chunks missing", "vectors garbage", "manifest cut", "build folder gone", "vector map cut"],
)
def test_each_kind_of_index_damage_is_one_line_naming_the_fix(
    tmp_path: Path, damage: Any, message: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = settings_at(tmp_path)
    copy_corpus(settings.data_dir, only=("warfarin",))
    build(settings)
    damage(current_build(settings.index_dir))
    code, stderr = faqbot_here(settings, monkeypatch, capsys, "ask", "warfarin dose")
    assert code == 2 and len(stderr.strip().splitlines()) == 1 and stderr.startswith("faqbot: ")
    assert message in stderr and "faqbot build" in stderr


@pytest.fixture(scope="module")
def served_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    settings = settings_at(tmp_path_factory.mktemp("served"))
    copy_corpus(settings.data_dir)
    build(settings)
    return settings


@pytest.fixture(scope="module")
def served(served_settings: Settings) -> Iterator[ServeProcess]:
    with faqbot_serve(cli_env(served_settings), served_settings.data_dir.parent) as server:
        yield server


def test_rebuild_under_load_fails_no_request_and_is_picked_up_without_restart(
    served: ServeProcess, served_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    before = health(served.url)["index_version"]
    stop = threading.Event()
    outcome: list[Load] = []
    clients = threading.Thread(target=lambda: outcome.append(run_clients(served.url, 30, stop=stop)))
    clients.start()
    try:
        time.sleep(0.5)
        page = (DATA / "warfarin.md").read_text().replace("Warfarin", "Zentravil").replace("warfarin", "zentravil")
        (served_settings.data_dir / "zentravil.md").write_text(page)
        result = faqbot(served_settings, "build")
        assert result.returncode == 0, result.stderr
        after = wait_for_version(served.url, before)
        time.sleep(0.5)  # keep the clients going on the new index for a moment
    finally:
        stop.set()
        clients.join(timeout=60)
    load = outcome[0]
    with capsys.disabled():
        print(f"\nrebuild under 32 clients: {load.requests} requests, statuses {dict(load.statuses)}, "
              f"answers per index version {dict(load.versions)}")  # fmt: skip
    assert load.statuses == Counter({200: load.requests}), load.errors[:5]
    assert load.versions[before] > 0 and load.versions[after] > 0
    answer = httpx.post(f"{served.url}/ask", json={"question": "zentravil dose"}).json()
    assert answer["drug"]["doc_id"] == "zentravil" and answer["index_version"] == after


def test_32_clients_get_no_5xx_and_server_memory_stays_flat(served: ServeProcess, capsys: pytest.CaptureFixture[str]) -> None:
    run_clients(served.url, 0.5)  # warm-up: first requests fill caches and sessions
    first = run_clients(served.url, 2.0)
    rss_first = served.rss_mib()
    second = run_clients(served.url, 2.0)
    rss_second = served.rss_mib()
    with capsys.disabled():
        for name, load, rss in (("round 1", first, rss_first), ("round 2", second, rss_second)):
            print(f"\n32 clients x 2 s, {name}: {load.requests} requests, statuses {dict(load.statuses)}, "
                  f"p95 {load.p95_ms():.0f} ms, server RSS {rss:.1f} MiB")  # fmt: skip
    for load in (first, second):
        assert load.requests > 100 and set(load.statuses) == {200}, (load.statuses, load.errors[:5])
    assert rss_second - rss_first < 16, f"server RSS grew {rss_second - rss_first:.1f} MiB between two equal rounds"


def listening_addresses(port: int) -> set[str]:
    """Local addresses of the sockets listening on port (Linux /proc/net)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                # the kernel prints the address as 32-bit words in host (little-endian) order
                packed = b"".join(bytes.fromhex(address[i : i + 8])[::-1] for i in range(0, len(address), 8))
                found.add(socket.inet_ntop(socket.AF_INET if len(packed) == 4 else socket.AF_INET6, packed))
    return found


def test_server_listens_on_loopback_only_by_default(served: ServeProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FAQBOT_HOST", raising=False)
    assert Settings().host == "127.0.0.1"
    assert listening_addresses(served.port) == {"127.0.0.1"}


# ---- user data: concurrent feedback, a crash, a rebuild, a restart ------------------------------


def test_concurrent_feedback_from_two_servers_survives_a_crash_a_rebuild_and_a_restart(tmp_path: Path) -> None:
    settings = few_pages_built(tmp_path)

    async def clients(urls: list[str], n: int = 32, rounds: int = 5) -> list[tuple[str, bool, str]]:
        acknowledged: list[tuple[str, bool, str]] = []

        async def one(i: int) -> None:
            connections = [await Connection.open(url) for url in urls]
            try:
                for j in range(rounds):
                    to_ask, to_thank = connections[(i + j) % 2], connections[(i + j + 1) % 2]  # ask one server, thank the other
                    status, asked = await to_ask.post("/ask", {"question": QUESTIONS[(i + j) % len(QUESTIONS)]})
                    assert status == 200, asked
                    feedback = {
                        "query_id": asked["query_id"],
                        "helpful": (i + j) % 3 != 0,
                        "comment": f"client {i} round {j}: naïve ✓",
                    }
                    status, stored = await to_thank.post("/feedback", feedback)
                    assert status == 200 and stored["query_id"] == asked["query_id"], stored
                    acknowledged.append((feedback["query_id"], feedback["helpful"], feedback["comment"]))
            finally:
                for connection in connections:
                    connection.close()

        await asyncio.gather(*(one(i) for i in range(n)))
        return acknowledged

    with faqbot_serve(cli_env(settings), settings.data_dir.parent) as worker, live_server(settings) as other:  # two processes, one SQLite file
        acknowledged = asyncio.run(clients([worker.url, other.url]))
        worker.process.send_signal(signal.SIGKILL)  # a crash right after the last answer
        worker.process.wait(timeout=10)

    def stored() -> Counter[tuple[str, bool, str]]:
        with closing(sqlite3.connect(settings.db)) as db:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            return Counter((q, bool(h), c) for q, h, c in db.execute("SELECT query_id, helpful, comment FROM feedback"))

    assert len(acknowledged) == 32 * 5
    assert stored() == Counter(acknowledged)
    build(settings, full=True)  # a rebuild does not touch user data
    assert stored() == Counter(acknowledged)

    with live_server(settings) as restarted:  # a new app over the same FAQBOT_DB
        old_query = acknowledged[0][0]
        again = httpx.post(f"{restarted.url}/feedback", json={"query_id": old_query, "helpful": True})
        assert again.status_code == 200, "the restarted server forgot the queries it was asked before"
        assert "naïve ✓" in httpx.get(f"{restarted.url}/report").text
    store = Store(settings.db)
    try:
        assert len(store.feedback()) == len(acknowledged)  # the later click replaced the earlier one
    finally:
        store.close()


# ---- security --------------------------------------------------------------------------------

TRAVERSALS = [
    "/pages/..%2F..%2Fetc%2Fpasswd",
    "/pages/..%252F..%252Fetc%252Fpasswd",
    "/pages/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/pages/%252e%252e%252f%252e%252e%252fetc%252fpasswd",
    "/pages/../../etc/passwd",
    "/pages/..%5C..%5Cetc%5Cpasswd",
    "/pages/%2Fetc%2Fpasswd",
    "/pages//etc/passwd",
    "/pages/..%2Fsecret",
    "/pages/..%2F..%2Fpyproject.toml",
    "/pages/warfarin.md",
    "/pages/warfarin%00",
    "/pages/secret",
    "/pages/unindexed",
    "/static/..%2F..%2Fpyproject.toml",
    "/static/../../pyproject.toml",
    "/static/%2e%2e/%2e%2e/src/faqbot/settings.py",
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_path_traversal_reaches_no_file(site: LiveServer, path: str) -> None:
    status, headers, body = raw_get(site.url, path)
    assert 400 <= status < 500, (status, body[:200])
    for leaked in ("root:", "[project]", SECRET, "BaseSettings"):
        assert leaked not in body
    if path.startswith("/pages/"):
        assert headers["content-type"] == "application/json"  # an echoed id is never rendered as HTML


def test_indexed_page_is_still_served(site: LiveServer) -> None:
    status, _, body = raw_get(site.url, "/pages/warfarin")
    assert status == 200 and "<h1" in body and "Warfarin" in body


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/", None),
        ("GET", "/pages/warfarin", None),
        ("GET", "/pages/nosuchpage", None),
        ("GET", "/healthz", None),
        ("GET", "/drugs", None),
        ("GET", "/static/chat.js", None),
        ("POST", "/ask", {"question": "warfarin dose"}),
        ("POST", "/ask", {"question": ""}),
        ("POST", "/ask", {"question": "x" * 70_000}),
    ],
    ids=["chat", "page", "404", "healthz", "drugs", "static", "ask", "422", "413"],
)
def test_every_response_carries_the_security_headers(site: LiveServer, method: str, path: str, body: Any) -> None:
    response = httpx.request(method, site.url + path, json=body, timeout=30)
    headers = response.headers
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-frame-options"] == "DENY"
    policy = headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy and "unsafe-inline" not in policy


def test_hostile_title_headings_and_front_matter_render_as_text(site: LiveServer) -> None:
    html = httpx.get(f"{site.url}/pages/evilol").text
    for payload in ("<script>alert(1)</script>", "<img src=x onerror=alert(6)>", "<svg onload=alert(8)>", '"><script>alert(3)'):
        assert payload not in html
    assert "Evilol &lt;script&gt;alert(1)&lt;/script&gt;" in html  # the title, shown as text
    assert "&lt;img src=x onerror=alert(6)&gt;" in html  # a heading
    tags = re.findall(r"<([a-zA-Z][a-zA-Z0-9]*)\b([^>]*)>", html)
    assert not [t for t in tags if t[0].lower() in ("script", "iframe", "svg") and "/static/" not in t[1]]
    assert not [t for t in tags if re.search(r"\son[a-z]+\s*=", t[1], re.IGNORECASE)]
    # the JSON API returns the page's words as data; no HTML page is built from them
    drugs = httpx.get(f"{site.url}/drugs")
    assert drugs.headers["content-type"] == "application/json"
    assert "Evilol <script>alert(1)</script>" in [d["title"] for d in drugs.json()]


def test_cors_is_off_by_default(site: LiveServer) -> None:
    foreign = {"origin": "https://evil.example"}
    assert "access-control-allow-origin" not in httpx.get(f"{site.url}/healthz", headers=foreign).headers
    asked = httpx.post(f"{site.url}/ask", json={"question": "warfarin dose"}, headers=foreign)
    assert asked.status_code == 200 and "access-control-allow-origin" not in asked.headers
    preflight = httpx.options(f"{site.url}/ask", headers={**foreign, "access-control-request-method": "POST"})
    assert "access-control-allow-origin" not in preflight.headers


def test_cors_allows_exactly_the_configured_origins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAQBOT_CORS_ORIGINS", json.dumps(["https://partner.example"]))
    settings = Settings(model=MODEL, data_dir=tmp_path / "data", index_dir=tmp_path / "index", db=tmp_path / "db.sqlite3")
    assert settings.cors_origins == ["https://partner.example"]
    copy_corpus(settings.data_dir, only=("warfarin",))
    build(settings)
    with live_server(settings) as live:
        partner = {"origin": "https://partner.example"}
        asked = httpx.post(f"{live.url}/ask", json={"question": "warfarin dose"}, headers=partner)
        assert asked.headers["access-control-allow-origin"] == "https://partner.example"
        preflight = httpx.options(f"{live.url}/ask", headers={**partner, "access-control-request-method": "POST"})
        assert preflight.status_code == 200 and preflight.headers["access-control-allow-origin"] == "https://partner.example"
        other = httpx.get(f"{live.url}/healthz", headers={"origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers


def test_pages_are_shown_from_the_build_that_answers(tmp_path: Path) -> None:
    """Editing a page's file changes nothing shown until a build: the citation and the page agree."""
    settings = settings_at(tmp_path)
    copy_corpus(settings.data_dir, only=("warfarin", "paracetamol"))
    report = build(settings)
    page_file = settings.data_dir / "warfarin.md"
    with live_server(settings) as live:
        answer = httpx.post(f"{live.url}/ask", json={"question": "warfarin and alcohol"}).json()
        cited = (answer["answer"] or answer["alternatives"][0])["url"]
        page_file.write_text(page_file.read_text().replace("alcohol", "ALCOHOL-EDITED-NOT-BUILT"))
        html = httpx.get(f"{live.url}{cited.split('#')[0]}").text
        assert "ALCOHOL-EDITED-NOT-BUILT" not in html, "the page came from the file on disk, not from the build"
        assert report.version in html, "the page shows which index build it comes from"
        index = load_index(settings.index_dir)
        for c in index.chunks:
            if c.doc_id == "warfarin":
                assert f'id="{c.anchor}"' in html, f"citation anchor {c.anchor} is missing from the page"
