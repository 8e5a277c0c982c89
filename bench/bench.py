"""faqbot benchmark: prints a table. Not a test; never run by CI.

    python bench/bench.py [--seconds 10] [--clients 16]

    python bench/bench.py --only scale-out [--seconds 5]    # just the part below

Measures, on the shipped pages: /ask over HTTP on loopback (single client p50/p95/p99 on the gold
questions), throughput and errors with concurrent clients for a bounded time, cold start (process
start to first answer), full / no-change / one-page-edited builds, peak memory of server and build,
and the plain way (sentence-transformers encode + FAISS search, no faqbot) side by side.

Scale-out: throughput on distinct new questions with `faqbot serve --workers 1, 2 and 4`; what the
PostgreSQL log costs each answer beside SQLite (the log write in process, and /ask end to end),
with a throwaway PostgreSQL server started like the tests start it (tests/pg_server.py, fsync on);
and how long after a build is published both of two processes serve it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

REPO = Path(__file__).resolve().parents[1]
FAQBOT = [sys.executable, "-m", "faqbot.cli"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def questions() -> list[str]:
    gold = REPO / "eval" / "gold.jsonl"
    return [json.loads(line)["question"] for line in gold.read_text().splitlines() if line.strip()]


def timed_build(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Seconds and peak RSS (MiB) of one `faqbot build` in a child process."""
    started = time.perf_counter()
    proc = subprocess.Popen(FAQBOT + ["build", *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) not in (0, 1):
        raise SystemExit(f"build failed: {args}")
    return time.perf_counter() - started, usage.ru_maxrss / 1024


def rss_peak_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start_server(env: dict[str, str], *args: str) -> tuple[subprocess.Popen[bytes], str]:
    """`faqbot serve` on a free port, once it has answered a first question."""
    port = free_port()
    server = subprocess.Popen(FAQBOT + ["serve", "--port", str(port), *args], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.perf_counter() + 180
    while time.perf_counter() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"faqbot serve {' '.join(args)} exited with {server.returncode}")
        try:
            if httpx.post(f"{url}/ask", json={"question": "max dose of tylenol"}, timeout=30).status_code == 200:
                return server, url
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit("server did not answer within 180 s")


def stop(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    server.wait(timeout=30)


def load(target: str, qs: list[str], clients: int, seconds: float, unique: bool) -> tuple[float, int]:
    """Answers/s and failures with `clients` clients for `seconds`; unique questions miss the vector cache."""
    done = errors = 0
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds
    tag = f"{time.time_ns() % 100_000}"

    def worker(offset: int) -> None:
        nonlocal done, errors
        with httpx.Client(timeout=30) as c:
            i = offset
            while time.perf_counter() < deadline:
                q = qs[i % len(qs)] + (f" ({tag}-{offset}-{i})" if unique else "")
                try:
                    ok = c.post(f"{target}/ask", json={"question": q}).status_code == 200
                except httpx.HTTPError:
                    ok = False
                with lock:
                    done += ok
                    errors += not ok
                i += 7

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(clients)]
    t0 = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return done / (time.perf_counter() - t0), errors


def store_write_ms(target: str | Path, count: int) -> list[float]:
    """Milliseconds of one answer's log write (the query line and its session, one transaction), in process."""
    from faqbot.store import Store

    store = Store(target)
    try:
        latencies = []
        for n in range(count):
            response = {"query_id": f"bench-{time.time_ns()}-{n}", "session_id": f"s1bench{n % 50}", "answered": True,
                        "took_ms": 4.0, "index_version": "bench", "drug": {"doc_id": "warfarin"},
                        "answer": {"chunk_id": "warfarin#dosage", "score": 0.9}}  # fmt: skip
            t = time.perf_counter()
            store.log_query(response, f"warfarin dose {n}", session_drug="warfarin", session_ttl_s=1800)
            latencies.append((time.perf_counter() - t) * 1000)
        return latencies
    finally:
        store.close()


def scale_out(opts: argparse.Namespace, env: dict[str, str], data: Path, index: Path, work: Path) -> list[tuple[str, str]]:
    """Workers, the PostgreSQL log beside SQLite, and publishing a build to two processes."""
    sys.path.insert(0, str(REPO))
    from tests.pg_server import PostgresServer, unavailable_reason

    rows: list[tuple[str, str]] = []
    qs = questions()
    sqlite_env = {**env, "FAQBOT_INDEX_DIR": str(index), "FAQBOT_DATA_DIR": str(data), "FAQBOT_DB": str(work / "scale.sqlite3")}
    rates: dict[int, list[float]] = {1: [], 2: [], 4: []}
    failed = 0
    for _ in range(opts.rounds):  # interleaved, so that a busy moment of the machine falls on every setting alike
        for workers in rates:
            server, url = start_server(sqlite_env, "--workers", str(workers))
            try:
                load(url, qs, opts.clients, 1.0, True)  # warm-up: every worker has answered
                rate, errors = load(url, qs, opts.clients, opts.seconds, True)
            finally:
                stop(server)
            rates[workers].append(rate)
            failed += errors
    for workers, measured in rates.items():
        rows.append((f"throughput, --workers {workers}, {opts.clients} clients, new questions: median of {opts.rounds} x "
                     f"{opts.seconds:.0f} s (min-max) (answers/s)",
                     f"{percentile(measured, 50):.0f} ({min(measured):.0f}-{max(measured):.0f})"))  # fmt: skip
    rows.append(("  errors in all of these", str(failed)))

    reason = unavailable_reason()
    if reason:
        rows.append(("PostgreSQL figures", f"skipped: {reason}"))
        return rows
    postgres = PostgresServer(fsync=True)
    try:
        sqlite_writes = store_write_ms(work / "writes.sqlite3", 500)
        postgres_writes = store_write_ms(postgres.new_database(), 500)
        rows += [
            ("log write per answer (query + session), SQLite: p50 / p95 (ms)",
             f"{percentile(sqlite_writes, 50):.2f} / {percentile(sqlite_writes, 95):.2f}"),
            ("log write per answer, PostgreSQL (Unix socket, fsync on): p50 / p95 (ms)",
             f"{percentile(postgres_writes, 50):.2f} / {percentile(postgres_writes, 95):.2f}"),
        ]  # fmt: skip
        # both servers at once, each question to one then the other: the same moment of the machine for both
        timings: dict[str, list[float]] = {"SQLite": [], "PostgreSQL": []}
        servers = {name: start_server({**sqlite_env, "FAQBOT_DB": db})
                   for name, db in (("SQLite", str(work / "e2e.sqlite3")), ("PostgreSQL", postgres.new_database()))}  # fmt: skip
        clients = {name: httpx.Client(base_url=url, timeout=30) for name, (_, url) in servers.items()}
        try:
            for n, q in enumerate(qs[: opts.latency_questions + 50]):
                for name, client in clients.items():
                    t = time.perf_counter()
                    response = client.post("/ask", json={"question": f"{q} ({n})"})
                    assert response.status_code == 200, response.text
                    if n >= 50:  # the first 50 warm up
                        timings[name].append((time.perf_counter() - t) * 1000)
        finally:
            for client in clients.values():
                client.close()
            for server, _ in servers.values():
                stop(server)
        rows += [
            (f"/ask single client, {opts.latency_questions} new questions, {name} log: p50 / p95 (ms)",
             f"{percentile(ms, 50):.1f} / {percentile(ms, 95):.1f}")
            for name, ms in timings.items()
        ]  # fmt: skip
        cost = percentile(timings["PostgreSQL"], 50) - percentile(timings["SQLite"], 50)
        rows.append(("  PostgreSQL log minus SQLite log, p50 (ms)", f"{cost:+.2f}"))

        url_db = postgres.new_database()
        shared_env = {**sqlite_env, "FAQBOT_DB": url_db, "FAQBOT_SECRET": "bench-secret-" + "x" * 32}
        replicas = [start_server(shared_env) for _ in range(2)]
        try:
            pairs: list[tuple[float, int]] = []
            threads = [threading.Thread(target=lambda u=u: pairs.append(load(u, qs, opts.clients // 2, opts.seconds, True)))
                       for _, u in replicas]  # fmt: skip
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            rows.append((f"throughput, 2 processes x 1 worker on one PostgreSQL, {opts.clients} clients (answers/s)",
                         f"{sum(r for r, _ in pairs):.0f} ({sum(e for _, e in pairs)} errors)"))  # fmt: skip
            rows.append(("publish a build: until both processes serve it (s)", f"{publish_switch(env, data, index, [u for _, u in replicas]):.2f}"))
        finally:
            for server, _ in replicas:
                stop(server)
    finally:
        postgres.stop()
    return rows


def publish_switch(env: dict[str, str], data: Path, index: Path, urls: list[str]) -> float:
    """Build into a staging folder, publish it as the README says; seconds until every process reports it."""
    staging = index.parent / "staging-index"
    shutil.copytree(index, staging, dirs_exist_ok=True)  # the previous vectors, so only the edited page is embedded
    page = data / "metformin.md"
    page.write_text(page.read_text() + "\n")
    subprocess.run(FAQBOT + ["build", "--data", str(data), "--index", str(staging)], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    version = (staging / "CURRENT").read_text().strip()
    shutil.copytree(staging / "builds" / version, index / "builds" / f".tmp-{version}")
    os.replace(index / "builds" / f".tmp-{version}", index / "builds" / version)
    shutil.copy(staging / "CURRENT", index / "CURRENT.new")
    published = time.perf_counter()
    os.replace(index / "CURRENT.new", index / "CURRENT")
    waiting = set(urls)
    while waiting and time.perf_counter() - published < 30:
        for url in list(waiting):
            if httpx.get(f"{url}/healthz", timeout=10).json()["index_version"] == version:
                waiting.discard(url)
        time.sleep(0.01)
    return time.perf_counter() - published if not waiting else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--latency-questions", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of the 1/2/4-worker throughput")
    parser.add_argument("--only", choices=["scale-out"], help="run only this part (after building the index)")
    opts = parser.parse_args()
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    rows: list[tuple[str, str]] = []
    work = Path(tempfile.mkdtemp(prefix="faqbot-bench-"))
    try:
        data = work / "data"
        shutil.copytree(REPO / "data", data)
        index = work / "index"
        if opts.only == "scale-out":
            timed_build(["--data", str(data), "--index", str(index)], env)
            rows = scale_out(opts, env, data, index, work)
            return
        seconds, peak = timed_build(["--data", str(data), "--index", str(index)], env)
        rows += [("full build of data/ (s)", f"{seconds:.1f}"), ("build peak RSS (MiB)", f"{peak:.0f}")]
        seconds, _ = timed_build(["--data", str(data), "--index", str(index)], env)
        rows.append(("no-change rebuild (s)", f"{seconds:.2f}"))
        page = data / "warfarin.md"
        page.write_text(page.read_text().replace("INR", "INR (international normalised ratio)", 1))
        seconds, _ = timed_build(["--data", str(data), "--index", str(index)], env)
        rows.append(("one page edited rebuild (s)", f"{seconds:.1f}"))

        port = free_port()
        server_env = {**env, "FAQBOT_INDEX_DIR": str(index), "FAQBOT_DATA_DIR": str(data), "FAQBOT_DB": str(work / "db.sqlite3")}
        started = time.perf_counter()
        server = subprocess.Popen(
            FAQBOT + ["serve", "--port", str(port)], env=server_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        url = f"http://127.0.0.1:{port}"
        client = httpx.Client(timeout=30)
        while True:
            try:
                if client.post(f"{url}/ask", json={"question": "max dose of tylenol"}).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.perf_counter() - started > 120:
                raise SystemExit("server did not answer within 120 s")
            time.sleep(0.05)
        rows.append(("cold start: process start to first answer (s)", f"{time.perf_counter() - started:.1f}"))

        qs = questions()
        latencies = []
        for q in qs:
            t = time.perf_counter()
            response = client.post(f"{url}/ask", json={"question": q})
            latencies.append((time.perf_counter() - t) * 1000)
            assert response.status_code == 200, response.text
        rows += [
            (f"/ask single client, {len(qs)} gold questions: p50 (ms)", f"{percentile(latencies, 50):.1f}"),
            ("/ask single client: p95 (ms)", f"{percentile(latencies, 95):.1f}"),
            ("/ask single client: p99 (ms)", f"{percentile(latencies, 99):.1f}"),
        ]

        for unique in (False, True):
            rate, errors = load(url, qs, opts.clients, opts.seconds, unique)
            what = "new questions (no cache hits)" if unique else "gold questions (cached vectors)"
            rows += [
                (f"throughput, {opts.clients} clients, {opts.seconds:.0f}s, {what} (answers/s)", f"{rate:.0f}"),
                ("  errors", str(errors)),
            ]
        rows.append(("server peak RSS, 1 worker (MiB)", f"{rss_peak_mib(server.pid):.0f}"))
        server.terminate()
        server.wait(timeout=30)

        rows += scale_out(opts, env, data, index, work)

        # the plain way: encode + FAISS search over the same vectors, no faqbot around it
        from faqbot.embedding import load_embedder
        from faqbot.index import load_index

        loaded = load_index(index)
        embedder = load_embedder("packaged")
        plain = []
        for q in qs:
            t = time.perf_counter()
            vector = embedder.encode([q])
            loaded.faiss_index.search(vector, 10)
            plain.append((time.perf_counter() - t) * 1000)
        ratio = percentile(latencies, 50) / percentile(plain, 50)
        rows += [
            ("plain encode + FAISS search, in process: p50 (ms)", f"{percentile(plain, 50):.1f}"),
            ("plain: p95 (ms)", f"{percentile(plain, 95):.1f}"),
            ("faqbot over HTTP / plain in process, p50 ratio", f"{ratio:.2f}"),
        ]
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if rows:
            print_table(rows)


def print_table(rows: list[tuple[str, str]]) -> None:
    width = max(len(name) for name, _ in rows)
    print(f"| {'measure'.ljust(width)} | value |")
    print(f"|{'-' * (width + 2)}|-------|")
    for name, value in rows:
        print(f"| {name.ljust(width)} | {value} |")
    print(f"\n{os.cpu_count()} cores, python {sys.version.split()[0]}; one run of each measure, so expect some noise")


if __name__ == "__main__":
    main()
