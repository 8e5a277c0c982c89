"""faqbot under hostile connections: prints a table. Not a test; never run by CI.

    python bench/connections.py [--seconds 10] [--clients 32] [--idle 200] [--half-open 50]

Builds the shipped pages (real model) into a temporary folder, starts `faqbot serve` on loopback
with its default connection limits, and measures /ask latency for `clients` keep-alive clients:
alone, then while `idle` connections send nothing and `half-open` connections send half a
request (half a head, or a head and half a body). Those are reopened whenever the server closes
them, as an attacker would. Prints p50/p95 per run, errors (any non-200 or lost answer), and how
often the server cut the idle and half-open connections.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np

from bench import free_port  # bench/bench.py: this script's folder is on sys.path

REPO = Path(__file__).resolve().parents[1]
QUESTIONS = [
    "warfarin dose", "can I take ibuprofen with warfarin", "side effects of metformin", "is paracetamol safe in pregnancy",
    "lemtrada infusion reactions", "what is sertraline used for", "amoxicillin for children", "how does omeprazole work",
    "what is the capital of france", "metformin and alcohol",
]  # fmt: skip


@dataclass
class Run:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    cut: int = 0  # idle or half-open connections the server closed (each was reopened)

    def p(self, q: float) -> float:
        return float(np.percentile(self.latencies, q)) * 1000 if self.latencies else float("nan")


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    status = int((await reader.readline()).split()[1])
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return status, await reader.readexactly(length)


async def client(port: int, n: int, deadline: float, run: Run) -> None:
    rng = random.Random(n)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    while time.monotonic() < deadline:
        body = json.dumps({"question": rng.choice(QUESTIONS)}).encode()
        head = f"POST /ask HTTP/1.1\r\nHost: b\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        started = time.perf_counter()
        try:
            writer.write(head.encode() + body)
            await writer.drain()
            status, _ = await read_response(reader)
        except (OSError, ValueError, asyncio.IncompleteReadError):
            run.errors += 1
            writer.close()
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            continue
        run.latencies.append(time.perf_counter() - started)
        if status != 200:
            run.errors += 1
    writer.close()


async def nuisance(port: int, deadline: float, run: Run, partial: bytes) -> None:
    """Hold one connection that sends `partial` (maybe nothing) and then nothing; reopen it when cut."""
    while time.monotonic() < deadline:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        if partial:
            writer.write(partial)
        try:
            await asyncio.wait_for(reader.read(), timeout=max(0.01, deadline - time.monotonic()))
            run.cut += 1
        except (TimeoutError, OSError):
            pass
        writer.close()


HALF_HEAD = b"GET /healthz HTTP/1.1\r\nHost: b\r\nX-Slow: "
HALF_BODY = b'POST /ask HTTP/1.1\r\nHost: b\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{"question": "'


async def measure(port: int, seconds: float, clients: int, idle: int, half_open: int) -> Run:
    run = Run()
    deadline = time.monotonic() + seconds
    extra = deadline + 1  # the nuisances outlive the clients, so every /ask sees them
    nuisances = [nuisance(port, extra, run, b"") for _ in range(idle)]
    nuisances += [nuisance(port, extra, run, HALF_HEAD if i % 2 else HALF_BODY) for i in range(half_open)]
    tasks = [asyncio.ensure_future(t) for t in nuisances]
    await asyncio.sleep(0.5 if nuisances else 0)  # the connections are open before the first question
    await asyncio.gather(*(client(port, n, deadline, run) for n in range(clients)))
    await asyncio.gather(*tasks)
    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--idle", type=int, default=200)
    parser.add_argument("--half-open", type=int, default=50)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="faqbot-bench-"))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "FAQBOT_DATA_DIR": str(REPO / "data"), "FAQBOT_INDEX_DIR": str(work / "index"),
           "FAQBOT_DB": str(work / "var" / "faqbot.sqlite3")}  # fmt: skip
    faqbot = [sys.executable, "-m", "faqbot.cli"]
    try:
        print("building the index of data/ ...", file=sys.stderr)
        subprocess.run([*faqbot, "build"], env=env, check=True, capture_output=True)
        port = free_port()
        server = subprocess.Popen([*faqbot, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            for _ in range(600):
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            asyncio.run(measure(port, 2, args.clients, 0, 0))  # warm-up
            runs = [
                ("1 client, nothing else", asyncio.run(measure(port, args.seconds, 1, 0, 0))),
                (f"{args.clients} clients", asyncio.run(measure(port, args.seconds, args.clients, 0, 0))),
                (f"{args.clients} clients + {args.idle} idle + {args.half_open} half-open",
                 asyncio.run(measure(port, args.seconds, args.clients, args.idle, args.half_open))),
            ]  # fmt: skip
        finally:
            server.terminate()
            server.wait(timeout=30)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"\n/ask on 127.0.0.1, {args.seconds:g} s per run, faqbot serve with its default limits\n")
    print("| run | answers | p50 (ms) | p95 (ms) | errors | idle/half-open cut by the server |")
    print("|---|---|---|---|---|---|")
    for name, run in runs:
        print(f"| {name} | {len(run.latencies)} | {run.p(50):.1f} | {run.p(95):.1f} | {run.errors} | {run.cut} |")
    base, loaded = runs[1][1], runs[2][1]
    print(f"\np95 with the hostile connections / p95 of the same clients alone: {loaded.p(95) / base.p(95):.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
