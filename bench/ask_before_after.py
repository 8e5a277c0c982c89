"""/ask latency and throughput of this tree beside an earlier one, in one run. Prints a table; not a test.

    python bench/ask_before_after.py [--before 600c49e] [--seconds 10] [--clients 16] [--rounds 2]

`--before` defaults to the pipeline before the answerability work (gold set v2, no answerability
stage). Each tree serves the shipped pages from its own index in a temp folder, one server at a
time, and the rounds alternate (before, after, before, after) so that a busy machine hurts both
alike. Questions are the gold questions made new by a suffix, so no cached query vector helps.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def export_tree(rev: str, target: Path) -> None:
    """The files of one commit, unpacked into target (no git worktree, nothing written into .git)."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", rev], check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(target, filter="data")


class Server:
    """`faqbot serve` of one source tree, run with this environment's packages."""

    def __init__(self, tree: Path, work: Path, name: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(tree / "src"),
            "FAQBOT_DATA_DIR": str(work / "data"), "FAQBOT_INDEX_DIR": str(work / f"index-{name}"),
            "FAQBOT_DB": str(work / f"var-{name}" / "faqbot.sqlite3"),
        }  # fmt: skip
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "faqbot.cli", "serve", "--port", str(self.port)], cwd=tree, env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 300
        while True:
            try:
                if httpx.post(f"{self.url}/ask", json={"question": "max dose of tylenol"}, timeout=30).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the {name} server did not come up")
            time.sleep(0.2)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def single_client(url: str, questions: list[str], tag: str) -> list[float]:
    latencies = []
    with httpx.Client(timeout=30) as client:
        for i, q in enumerate(questions):
            started = time.perf_counter()
            response = client.post(f"{url}/ask", json={"question": f"{q} ({tag}{i})"})
            latencies.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"/ask answered {response.status_code}: {response.text[:200]}")
    return latencies


def load(url: str, questions: list[str], clients: int, seconds: float, tag: str) -> tuple[float, int]:
    """Answers/s and errors with `clients` clients on distinct new questions for `seconds`."""
    done = errors = 0
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def worker(offset: int) -> None:
        nonlocal done, errors
        with httpx.Client(timeout=30) as client:
            i = offset
            while time.perf_counter() < deadline:
                try:
                    ok = client.post(f"{url}/ask", json={"question": f"{questions[i % len(questions)]} ({tag}{offset}-{i})"}).status_code == 200
                except httpx.HTTPError:
                    ok = False
                with lock:
                    done += ok
                    errors += not ok
                i += clients

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return done / (time.perf_counter() - started), errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", default="600c49e", help="the commit to compare with")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    opts = parser.parse_args()
    gold = REPO / "eval" / "gold.jsonl"
    questions = [json.loads(line)["question"] for line in gold.read_text().splitlines() if line.strip()]
    work = Path(tempfile.mkdtemp(prefix="faqbot-before-after-"))
    results: dict[str, dict[str, list[float]]] = {"before": {}, "after": {}}
    try:
        shutil.copytree(REPO / "data", work / "data")
        before_tree = work / "before-tree"
        export_tree(opts.before, before_tree)
        trees = {"before": before_tree, "after": REPO}
        for round_ in range(opts.rounds):
            for name, tree in trees.items():
                server = Server(tree, work, name)
                try:
                    tag = f"r{round_}{name[0]}"
                    lat = single_client(server.url, questions, tag)
                    rate, errors = load(server.url, questions, opts.clients, opts.seconds, tag)
                finally:
                    server.stop()
                r = results[name]
                r.setdefault("p50", []).append(float(np.percentile(lat, 50)))
                r.setdefault("p95", []).append(float(np.percentile(lat, 95)))
                r.setdefault("rate", []).append(rate)
                r.setdefault("errors", []).append(float(errors))
                print(f"round {round_ + 1} {name}: p50 {r['p50'][-1]:.1f} ms, p95 {r['p95'][-1]:.1f} ms, {rate:.0f} answers/s, {errors} errors",
                      file=sys.stderr, flush=True)  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rows = [
        (f"/ask single client, {len(questions)} new questions: p50 (ms)", "p50", "{:.1f}"),
        ("/ask single client: p95 (ms)", "p95", "{:.1f}"),
        (f"throughput, {opts.clients} clients, distinct new questions, {opts.seconds:.0f} s (answers/s)", "rate", "{:.0f}"),
        ("errors", "errors", "{:.0f}"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"| {'measure'.ljust(width)} | before ({opts.before}) | after (this tree) |")
    print(f"|{'-' * (width + 2)}|---|---|")
    for label, key, fmt in rows:
        # the median over rounds for times and rates; errors summed
        pick = (lambda v: sum(v)) if key == "errors" else (lambda v: float(np.median(v)))
        print(f"| {label.ljust(width)} | {fmt.format(pick(results['before'][key]))} | {fmt.format(pick(results['after'][key]))} |")
    print(f"\n{os.cpu_count()} cores; {opts.rounds} alternating rounds, median shown; load from other processes affects both alike")


if __name__ == "__main__":
    main()
