"""faqbot benchmark: prints a table. Not a test; never run by CI.

    python bench/bench.py [--seconds 10] [--clients 16]

Measures, on the shipped pages: /ask over HTTP on loopback (single client p50/p95/p99 on the gold
questions), throughput and errors with concurrent clients for a bounded time, cold start (process
start to first answer), full / no-change / one-page-edited builds, peak memory of server and build,
and the plain way (sentence-transformers encode + FAISS search, no faqbot) side by side.
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=16)
    opts = parser.parse_args()
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    rows: list[tuple[str, str]] = []
    work = Path(tempfile.mkdtemp(prefix="faqbot-bench-"))
    try:
        data = work / "data"
        shutil.copytree(REPO / "data", data)
        index = work / "index"
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

        def load(target: str, unique: bool) -> tuple[float, int]:
            """Answers/s and failures with opts.clients clients for opts.seconds; unique questions miss the cache."""
            done = errors = 0
            lock = threading.Lock()
            deadline = time.perf_counter() + opts.seconds

            def worker(offset: int) -> None:
                nonlocal done, errors
                with httpx.Client(timeout=30) as c:
                    i = offset
                    while time.perf_counter() < deadline:
                        q = qs[i % len(qs)] + (f" ({offset}-{i})" if unique else "")
                        try:
                            ok = c.post(f"{target}/ask", json={"question": q}).status_code == 200
                        except httpx.HTTPError:
                            ok = False
                        with lock:
                            done += ok
                            errors += not ok
                        i += 7

            threads = [threading.Thread(target=worker, args=(n,)) for n in range(opts.clients)]
            t0 = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            return done / (time.perf_counter() - t0), errors

        for unique in (False, True):
            rate, errors = load(url, unique)
            what = "new questions (no cache hits)" if unique else "gold questions (cached vectors)"
            rows += [
                (f"throughput, {opts.clients} clients, {opts.seconds:.0f}s, {what} (answers/s)", f"{rate:.0f}"),
                ("  errors", str(errors)),
            ]
        rows.append(("server peak RSS, 1 worker (MiB)", f"{rss_peak_mib(server.pid):.0f}"))
        server.terminate()
        server.wait(timeout=30)

        port = free_port()
        workers = subprocess.Popen(FAQBOT + ["serve", "--port", str(port), "--workers", "2"], env=server_env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        for _ in range(600):
            try:
                if client.post(f"{url}/ask", json={"question": "max dose of tylenol"}).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        rate, errors = load(url, True)
        children = [int(p) for p in Path(f"/proc/{workers.pid}/task/{workers.pid}/children").read_text().split()]
        rows += [
            (f"throughput, 2 workers, {opts.clients} clients, new questions (answers/s)", f"{rate:.0f}"),
            ("  errors", str(errors)),
            ("peak RSS per worker (MiB)", " / ".join(f"{rss_peak_mib(p):.0f}" for p in children)),
        ]
        workers.terminate()
        workers.wait(timeout=30)

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
    width = max(len(name) for name, _ in rows)
    print(f"| {'measure'.ljust(width)} | value |")
    print(f"|{'-' * (width + 2)}|-------|")
    for name, value in rows:
        print(f"| {name.ljust(width)} | {value} |")
    print(f"\n{os.cpu_count()} cores, python {sys.version.split()[0]}; one run of each measure, so expect some noise")


if __name__ == "__main__":
    main()
