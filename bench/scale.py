"""Scale benchmarks: prints tables. Not a test; never run by CI.

    python bench/scale.py vectors [--n 1000000]      # synthetic 384-d vectors: exact vs approximate FAISS
    python bench/scale.py medquad [--limit 0]        # MedQuAD pairs imported as pages: build, /ask latency, memory

The vector benchmark draws clustered unit vectors (real embeddings cluster by topic; uniform random
vectors would make every approximate index look worse than it is), searches 1,000 held-out queries
exactly and approximately, and reports recall@10 against exact search, p50/p95 search time and memory.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
MEDQUAD = REPO.parent / "shared" / "datasets" / "medquad" / "medquad_answered.jsonl"


def clustered(n: int, dim: int, seed: int) -> np.ndarray:
    """Unit vectors with the structure of real embeddings: topic clusters in a low-dimensional subspace."""
    rng = np.random.default_rng(seed)
    latent = 48
    basis = np.random.default_rng(0).normal(size=(latent, dim)).astype(np.float32)  # shared by data and queries
    centres = np.random.default_rng(1).normal(size=(max(1, n // 1000), latent)).astype(np.float32)
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 100_000):
        stop = min(n, start + 100_000)
        assign = rng.integers(0, len(centres), stop - start)
        z = centres[assign] + 0.5 * rng.normal(size=(stop - start, latent)).astype(np.float32)
        out[start:stop] = z @ basis + 0.5 * rng.normal(size=(stop - start, dim)).astype(np.float32)
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out


def search_times(index, queries: np.ndarray, k: int = 10) -> tuple[np.ndarray, list[float]]:
    ids = np.empty((len(queries), k), dtype=np.int64)
    times = []
    for i, q in enumerate(queries):
        t = time.perf_counter()
        _, row = index.search(q[None, :], k)
        times.append((time.perf_counter() - t) * 1000)
        ids[i] = row[0]
    return ids, times


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def vectors(n: int) -> None:
    import faiss

    dim = 384
    started = time.perf_counter()
    data = clustered(n, dim, seed=1)
    queries = clustered(1000, dim, seed=2)
    print(f"generated {n:,} vectors in {time.perf_counter() - started:.0f}s; RSS {rss_mib():.0f} MiB", file=sys.stderr)
    rows = []
    exact = faiss.IndexFlatIP(dim)
    exact.add(data)
    truth, times = search_times(exact, queries[:200])
    rows.append(("exact (IndexFlatIP)", 0.0, 1.0, times, data.nbytes))

    truth_all, _ = search_times(exact, queries)
    t = time.perf_counter()
    hnsw = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
    hnsw.hnsw.efConstruction = 80
    hnsw.add(data)
    build = time.perf_counter() - t
    for ef in (32, 64, 128):
        hnsw.hnsw.efSearch = ef
        found, times = search_times(hnsw, queries)
        recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, truth_all)])
        rows.append((f"HNSW32 efSearch={ef}", build, recall, times, data.nbytes + n * 32 * 2 * 4))

    t = time.perf_counter()
    nlist = 4096
    quantizer = faiss.IndexFlatIP(dim)
    ivf = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
    ivf.train(data[np.random.default_rng(3).choice(n, min(n, 100_000), replace=False)])
    ivf.add(data)
    build = time.perf_counter() - t
    for nprobe in (16, 64):
        ivf.nprobe = nprobe
        found, times = search_times(ivf, queries)
        recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, truth_all)])
        rows.append((f"IVF{nlist},Flat nprobe={nprobe}", build, recall, times, data.nbytes + n * 8))

    print(f"| index ({n:,} x {dim}) | build (s) | recall@10 | p50 (ms) | p95 (ms) | memory (MiB) |")
    print("|---|---|---|---|---|---|")
    for name, build_s, recall, times, nbytes in rows:
        print(
            f"| {name} | {build_s:.0f} | {recall:.3f} | {np.percentile(times, 50):.2f} | {np.percentile(times, 95):.2f} | {nbytes / 2**20:.0f} |"
        )
    print(f"\nprocess peak RSS {rss_mib():.0f} MiB; {os.cpu_count()} cores; faiss {faiss.__version__}")


def medquad(limit: int) -> None:
    """Import MedQuAD answers as pages (one page per document, its QA pairs as FAQs), build, serve, ask."""
    import httpx

    if not MEDQUAD.exists():
        raise SystemExit(f"no MedQuAD at {MEDQUAD}")
    work = Path(tempfile.mkdtemp(prefix="faqbot-medquad-"))
    try:
        data = work / "data"
        data.mkdir()
        pages: dict[str, list[dict]] = {}
        questions = []
        for n, line in enumerate(MEDQUAD.read_text().splitlines()):
            if limit and n >= limit:
                break
            pair = json.loads(line)
            doc = "mq-" + "".join(ch if ch.isalnum() else "-" for ch in pair["id"].rsplit("_", 1)[0].lower())
            pages.setdefault(doc, []).append(pair)
            questions.append(pair["question"])
        for doc, pairs in pages.items():
            faqs = "".join(f"  - q: {json.dumps(p['question'])}\n    a: {json.dumps(p['answer'])}\n" for p in pairs)
            title = json.dumps(pairs[0]["focus"] or doc)
            (data / f"{doc}.md").write_text(f"---\ntitle: {title}\nfaqs:\n{faqs}---\n")
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        index = work / "index"
        started = time.perf_counter()
        build = subprocess.run([sys.executable, "-m", "faqbot.cli", "build", "--data", str(data), "--index", str(index)], env=env,
                               capture_output=True, text=True)  # fmt: skip
        build_s = time.perf_counter() - started
        build_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(build.stdout.strip(), build.stderr.strip()[-500:], file=sys.stderr)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        server_env = {**env, "FAQBOT_INDEX_DIR": str(index), "FAQBOT_DATA_DIR": str(data), "FAQBOT_DB": str(work / "db.sqlite3")}
        server = subprocess.Popen([sys.executable, "-m", "faqbot.cli", "serve", "--port", str(port)], env=server_env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        client = httpx.Client(timeout=60)
        for _ in range(1200):
            try:
                client.get(f"{url}/healthz")
                break
            except httpx.TransportError:
                time.sleep(0.1)
        rng = np.random.default_rng(0)
        sample = [questions[i] for i in rng.choice(len(questions), min(300, len(questions)), replace=False)]
        latencies = []
        for q in sample:
            t = time.perf_counter()
            client.post(f"{url}/ask", json={"question": q}).raise_for_status()
            latencies.append((time.perf_counter() - t) * 1000)
        status = Path(f"/proc/{server.pid}/status").read_text()
        server_rss = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM")) / 1024
        server.terminate()
        server.wait(timeout=30)
        print(f"| MedQuAD as pages ({len(pages)} pages, {len(questions)} FAQs) | value |")
        print("|---|---|")
        print(f"| full build (s) | {build_s:.0f} |")
        print(f"| build peak RSS (MiB) | {build_rss:.0f} |")
        print(f"| /ask over HTTP, {len(sample)} MedQuAD questions: p50 (ms) | {np.percentile(latencies, 50):.1f} |")
        print(f"| /ask p95 (ms) | {np.percentile(latencies, 95):.1f} |")
        print(f"| server peak RSS (MiB) | {server_rss:.0f} |")
        print("\nMedQuAD: Ben Abacha & Demner-Fushman (2019), CC BY 4.0.")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    v = sub.add_parser("vectors")
    v.add_argument("--n", type=int, default=1_000_000)
    m = sub.add_parser("medquad")
    m.add_argument("--limit", type=int, default=0)
    args = parser.parse_args()
    if args.what == "vectors":
        vectors(args.n)
    else:
        medquad(args.limit)


if __name__ == "__main__":
    main()
