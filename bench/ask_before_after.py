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
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import httpx

from bench import load, percentile, questions, start_server, stop  # bench/bench.py: this script's folder is on sys.path

REPO = Path(__file__).resolve().parents[1]


def export_tree(rev: str, target: Path) -> None:
    """The files of one commit, unpacked into target (no git worktree, nothing written into .git)."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", rev], check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(target, filter="data")


def single_client(url: str, qs: list[str], tag: str) -> list[float]:
    """Milliseconds of each /ask, one question at a time, each made new by a suffix."""
    latencies = []
    with httpx.Client(timeout=30) as client:
        for i, q in enumerate(qs):
            started = time.perf_counter()
            response = client.post(f"{url}/ask", json={"question": f"{q} ({tag}{i})"})
            latencies.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"/ask answered {response.status_code}: {response.text[:200]}")
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", default="600c49e", help="the commit to compare with")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    opts = parser.parse_args()
    qs = questions()
    work = Path(tempfile.mkdtemp(prefix="faqbot-before-after-"))
    results: dict[str, dict[str, list[float]]] = {"before": {}, "after": {}}
    try:
        shutil.copytree(REPO / "data", work / "data")
        before_tree = work / "before-tree"
        export_tree(opts.before, before_tree)
        for round_ in range(opts.rounds):
            for name, tree in (("before", before_tree), ("after", REPO)):
                # this environment's packages, the tree's own faqbot (PYTHONPATH comes before the editable install)
                env = {
                    **os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(tree / "src"),
                    "FAQBOT_DATA_DIR": str(work / "data"), "FAQBOT_INDEX_DIR": str(work / f"index-{name}"),
                    "FAQBOT_DB": str(work / f"var-{name}" / "faqbot.sqlite3"),
                }  # fmt: skip
                server, url = start_server(env)
                try:
                    lat = single_client(url, qs, f"r{round_}{name[0]}")
                    rate, errors = load(url, qs, opts.clients, opts.seconds, True)
                finally:
                    stop(server)
                r = results[name]
                r.setdefault("p50", []).append(percentile(lat, 50))
                r.setdefault("p95", []).append(percentile(lat, 95))
                r.setdefault("rate", []).append(rate)
                r.setdefault("errors", []).append(float(errors))
                print(f"round {round_ + 1} {name}: p50 {r['p50'][-1]:.1f} ms, p95 {r['p95'][-1]:.1f} ms, {rate:.0f} answers/s, {errors} errors",
                      file=sys.stderr, flush=True)  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rows = [
        (f"/ask single client, {len(qs)} new questions: p50 (ms)", "p50", "{:.1f}"),
        ("/ask single client: p95 (ms)", "p95", "{:.1f}"),
        (f"throughput, {opts.clients} clients, distinct new questions, {opts.seconds:.0f} s (answers/s)", "rate", "{:.0f}"),
        ("errors", "errors", "{:.0f}"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"| {'measure'.ljust(width)} | before ({opts.before}) | after (this tree) |")
    print(f"|{'-' * (width + 2)}|---|---|")
    for label, key, fmt in rows:
        # the median over rounds for times and rates; errors summed
        pick = (lambda v: sum(v)) if key == "errors" else (lambda v: percentile(v, 50))
        print(f"| {label.ljust(width)} | {fmt.format(pick(results['before'][key]))} | {fmt.format(pick(results['after'][key]))} |")
    print(f"\n{os.cpu_count()} cores; {opts.rounds} alternating rounds, median shown; load from other processes affects both alike")


if __name__ == "__main__":
    main()
