"""Beyond one process (issue 14): real `faqbot serve` processes on loopback ports that share one
index folder and one database, the deployment the README describes.

- `--workers 4`, and two processes whose turns alternate: every follow-up keeps the drug, by
  session_id alone (the shared store) and by the context token (the shared key).
- Feedback and questions from both processes land in one report (`faqbot report` and /report).
- PostgreSQL: 32 clients over two processes, one SIGKILLed halfway: every acknowledged feedback
  row is there afterwards and the report counts both processes' questions.
- A new build published into the shared index folder while both serve: both switch to it.

PostgreSQL is started by the `postgres_server` fixture (tests/pg_server.py: Debian's initdb and
pg_ctl in a temporary folder, a Unix socket only); those cases skip when it is not installed and
fail instead under FAQBOT_REQUIRE_POSTGRES=1 (CI). The index is built once per module with the
fast hashing embedder: these tests are about the processes and the shared state, not ranking.
"""

from __future__ import annotations

import asyncio
import http.client
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from faqbot.settings import Settings
from tests.support import ServeProcess, faqbot_serve
from tests.test_reliability import FEW, MODEL, Connection, build, cli_env, copy_corpus, few_pages_built, settings_at

SECRET = "a-shared-secret-for-every-replica-0123456789"
REPORT_TOKEN = "editors-token-0123456789abcdef"
# the first turn names the drug (by brand, by name); the follow-up names none
OPENERS = [
    ("zoloft side effects", "sertraline"),
    ("warfarin dose", "warfarin"),
    ("what is metformin used for", "metformin"),
    ("ibuprofen side effects", "ibuprofen"),
    ("how much paracetamol can i take", "paracetamol"),
    ("what is lemtrada", "alemtuzumab"),
]
FOLLOW_UPS = ["and is it safe in pregnancy?", "and for children?", "what about the dose for the elderly?", "and while breastfeeding?"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One index folder, built once, that every process of this module serves."""
    root = tmp_path_factory.mktemp("scale-out")
    few_pages_built(root)
    return root


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def serve_shared(settings: Settings, db: str | Path, workers: int = 1, **env: str) -> AbstractContextManager[ServeProcess]:
    """`faqbot serve` on a free loopback port over the module's index and the given database."""
    environment = {**cli_env(settings), "FAQBOT_DB": str(db), "FAQBOT_REPORT_TOKEN": REPORT_TOKEN, **env}
    return faqbot_serve(environment, settings.data_dir.parent, workers=workers)


def ask(url: str, body: dict[str, Any]) -> dict[str, Any]:
    """One /ask on a connection of its own, so that the kernel may hand it to any worker (plain
    http.client: an httpx client per request would cost the test more CPU than the server)."""
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.request("POST", "/ask", json.dumps(body), {"Content-Type": "application/json"})
        response = connection.getresponse()
        payload = response.read()
    finally:
        connection.close()
    assert response.status == 200, payload
    return json.loads(payload)


def conversation(first_url: str, second_url: str, n: int, carry: str) -> tuple[str, str | None]:
    """Turn one on first_url, the follow-up on second_url, carried by session_id or by context alone."""
    opener, drug = OPENERS[n % len(OPENERS)]
    first = ask(first_url, {"question": opener})
    assert first["drug"]["doc_id"] == drug, (opener, first["drug"])
    body = {"question": FOLLOW_UPS[n % len(FOLLOW_UPS)], carry: first[carry]}
    follow = ask(second_url, body)
    return drug, (follow["drug"] or {}).get("doc_id")


def run_conversations(urls: list[str], carry: str, count: int = 200) -> Counter[str]:
    """count conversations, 8 at a time; how many kept their drug and how many did not."""
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda n: conversation(urls[n % len(urls)], urls[(n + 1) % len(urls)], n, carry), range(count)))
    return Counter("kept" if expected == got else f"lost: {expected} -> {got}" for expected, got in results)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, corpus: Path) -> str | Path:
    """The shared database: the SQLite file beside the index, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        path = corpus / "var" / f"shared-{time.monotonic_ns()}.sqlite3"
        return path
    return str(request.getfixturevalue("postgres_url"))


@pytest.mark.parametrize("carry", ["session_id", "context"])
def test_with_4_workers_200_of_200_follow_ups_keep_the_drug(corpus: Path, carry: str) -> None:
    settings = settings_at(corpus)
    with serve_shared(settings, settings.db, workers=4) as served:  # no FAQBOT_SECRET: the key file beside the db is shared
        workers = served.workers()
        before = {pid: cpu_seconds(pid) for pid in workers}
        outcome = run_conversations([served.url], carry)
        busy = [pid for pid in workers if cpu_seconds(pid) - before[pid] > 0.05]
    assert outcome == Counter({"kept": 200}), outcome
    assert len(workers) == 4 and len(busy) >= 2, f"the load reached {len(busy)} of 4 workers; the test proves nothing"


@pytest.mark.parametrize("carry", ["session_id", "context"])
def test_two_processes_alternating_turns_keep_the_drug_200_of_200(corpus: Path, database: str | Path, carry: str) -> None:
    settings = settings_at(corpus)
    with serve_shared(settings, database, FAQBOT_SECRET=SECRET) as one, serve_shared(settings, database, FAQBOT_SECRET=SECRET) as two:
        outcome = run_conversations([one.url, two.url], carry)
    assert outcome == Counter({"kept": 200}), outcome


def report_command(settings: Settings, db: str | Path) -> dict[str, Any]:
    """`faqbot report --json` over the shared database."""
    done = subprocess.run([sys.executable, "-m", "faqbot.cli", "report", "--json"], env={**cli_env(settings), "FAQBOT_DB": str(db)},
                          cwd=settings.data_dir.parent, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def times_asked(report: dict[str, Any], question: str) -> int:
    """How many times the report counts a question left unanswered (the size of the groups it is an example of)."""
    return sum(g["size"] for g in report["unanswered"] if any(e.lower() == question.lower() for e in g["examples"]))


def test_questions_and_feedback_from_both_processes_are_in_one_report(corpus: Path, database: str | Path) -> None:
    settings = settings_at(corpus)
    with serve_shared(settings, database, FAQBOT_SECRET=SECRET) as one, serve_shared(settings, database, FAQBOT_SECRET=SECRET) as two:
        for url, times in ((one.url, 3), (two.url, 2)):  # a drug no page covers: withheld, so in the report
            for _ in range(times):
                assert ask(url, {"question": "What is the dose of ozanimod"})["answered"] is False
        asked_one = ask(one.url, {"question": "warfarin dose"})
        asked_two = ask(two.url, {"question": "metformin side effects"})
        for url, asked, comment in ((two.url, asked_one, "thanked on the second process"), (one.url, asked_two, "thanked on the first")):
            response = httpx.post(f"{url}/feedback", json={"query_id": asked["query_id"], "helpful": False, "comment": comment})
            assert response.status_code == 200, response.text
        pages = [httpx.get(f"{url}/report", headers={"Authorization": f"Bearer {REPORT_TOKEN}"}).text for url in (one.url, two.url)]
    printed = report_command(settings, database)
    assert times_asked(printed, "what is the dose of ozanimod") == 5  # three questions to one process, two to the other
    assert printed["totals"]["questions"] == 7
    comments = {c for g in printed["not_helpful"] for c in g["comments"]}
    assert {"thanked on the second process", "thanked on the first"} <= comments
    for page in pages:  # either process shows the whole site's report
        assert "thanked on the second process" in page and "thanked on the first" in page and "what is the dose of ozanimod" in page.lower()


def test_postgres_32_clients_over_two_processes_one_killed_halfway_lose_no_acknowledged_feedback(
    corpus: Path, postgres_url: str
) -> None:
    import psycopg

    settings = settings_at(corpus)
    rounds, clients = 8, 32
    acknowledged: list[tuple[str, bool, str]] = []
    asked: Counter[str] = Counter()  # acknowledged answers to the unanswerable question, per process
    errors: Counter[str] = Counter()

    with ExitStack() as stack:
        victim = stack.enter_context(serve_shared(settings, postgres_url, FAQBOT_SECRET=SECRET))
        survivor = stack.enter_context(serve_shared(settings, postgres_url, FAQBOT_SECRET=SECRET))
        names = {victim.url: "victim", survivor.url: "survivor"}
        killed = asyncio.Event()

        async def client(i: int) -> None:
            url = (victim.url, survivor.url)[i % 2]
            connection = await Connection.open(url)
            try:
                for j in range(rounds):
                    try:
                        question = "What is the dose of ozanimod" if j % 2 == 0 else ("warfarin dose", "zoloft side effects")[i % 2]
                        status, answer = await connection.post("/ask", {"question": question})
                        assert status == 200, answer
                        if question.startswith("What is"):
                            asked[names[url]] += 1
                        feedback = {"query_id": answer["query_id"], "helpful": j % 3 != 0, "comment": f"client {i} round {j} ✓"}
                        status, stored = await connection.post("/feedback", feedback)
                        assert status == 200 and stored["query_id"] == answer["query_id"], stored
                        acknowledged.append((feedback["query_id"], feedback["helpful"], feedback["comment"]))
                    except (OSError, asyncio.IncompleteReadError, ValueError, IndexError, KeyError) as exc:
                        # the victim died under this client: like a load balancer, go on with the survivor
                        assert url == victim.url and killed.is_set(), f"{names[url]} failed: {exc!r}"
                        errors[type(exc).__name__] += 1
                        connection.close()
                        url = survivor.url
                        connection = await Connection.open(url)
                    if len(acknowledged) >= clients * rounds // 2 and not killed.is_set():
                        killed.set()
                        victim.process.send_signal(signal.SIGKILL)  # halfway: the workers die mid-load, no clean shutdown
                    await asyncio.sleep(0)
            finally:
                connection.close()

        async def everyone() -> None:
            await asyncio.gather(*(client(i) for i in range(clients)))

        asyncio.run(everyone())
        assert victim.process.wait(timeout=10) == -signal.SIGKILL
        printed = report_command(settings, postgres_url)

    with psycopg.connect(postgres_url) as conn:
        rows = Counter((q, bool(h), c) for q, h, c in conn.execute("SELECT query_id, helpful, comment FROM feedback"))
    assert killed.is_set() and sum(errors.values()) >= 1, "the kill fell on no request; the test proves nothing"
    lost_requests = sum(errors.values())
    assert len(acknowledged) == clients * rounds - lost_requests
    assert not Counter(acknowledged) - rows, "acknowledged feedback is missing"  # every acknowledged row is there
    # besides those, at most the ones the victim stored but died before acknowledging
    assert (rows - Counter(acknowledged)).total() <= lost_requests
    assert asked["victim"] > 0 and asked["survivor"] > 0
    counted = times_asked(printed, "what is the dose of ozanimod")
    # every acknowledged question of both processes, plus at most those the victim logged but could not answer
    assert asked["victim"] + asked["survivor"] <= counted <= asked["victim"] + asked["survivor"] + lost_requests


PUBLISH = """
set -eu
version=$(cat "$STAGING/CURRENT")
cp -r "$STAGING/builds/$version" "$SHARED/builds/.tmp-$version"
mv "$SHARED/builds/.tmp-$version" "$SHARED/builds/$version"
cp "$STAGING/CURRENT" "$SHARED/CURRENT.new"
mv "$SHARED/CURRENT.new" "$SHARED/CURRENT"
"""


def test_a_build_published_while_two_processes_serve_is_picked_up_by_both(corpus: Path, tmp_path: Path) -> None:
    settings = settings_at(corpus)
    staging = Settings(model=MODEL, data_dir=tmp_path / "data", index_dir=tmp_path / "staging-index", db=tmp_path / "x.sqlite3")
    copy_corpus(staging.data_dir, only=(*FEW, "lisinopril"))  # one page more than what is served
    published = build(staging)
    with serve_shared(settings, settings.db) as one, serve_shared(settings, settings.db) as two:
        old = {httpx.get(f"{url}/healthz").json()["index_version"] for url in (one.url, two.url)}
        assert len(old) == 1 and published.version not in old
        assert ask(one.url, {"question": "lisinopril dose"})["answered"] is False
        stop_load = time.monotonic() + 60

        def load(url: str) -> Counter[int]:  # both keep answering while the build is published
            statuses: Counter[int] = Counter()
            with httpx.Client(timeout=30) as client:
                for n in itertools.count():
                    if time.monotonic() > stop_load or (n and statuses.total() >= 40 and switched.get(url)):
                        return statuses
                    statuses[client.post(f"{url}/ask", json={"question": OPENERS[n % len(OPENERS)][0]}).status_code] += 1

        switched: dict[str, float] = {}
        with ThreadPoolExecutor(max_workers=2) as pool:
            loads = [pool.submit(load, url) for url in (one.url, two.url)]
            subprocess.run(["bash", "-c", PUBLISH], check=True,
                           env={**os.environ, "STAGING": str(staging.index_dir), "SHARED": str(settings.index_dir)})  # fmt: skip
            published_at = time.monotonic()
            while len(switched) < 2 and time.monotonic() < published_at + 30:
                for url in (one.url, two.url):
                    if url not in switched and httpx.get(f"{url}/healthz").json()["index_version"] == published.version:
                        switched[url] = time.monotonic() - published_at
                time.sleep(0.02)
            statuses = [future.result() for future in loads]
        assert set(switched) == {one.url, two.url}, "a process kept serving the old build"
        for url in (one.url, two.url):
            assert ask(url, {"question": "lisinopril dose"})["drug"]["doc_id"] == "lisinopril"  # the new page is served
        assert all(set(s) == {200} for s in statuses), statuses  # no request failed during the switch
    print(f"switch after publishing: {', '.join(f'{s:.2f} s' for s in switched.values())}")
