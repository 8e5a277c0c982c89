"""Where an answer's time goes outside the embedding model. Prints tables; not a test; never run by CI.

    python bench/profile_ask.py [--index index/] [--limit 300] [--rounds 3] [--top 25] [--by-own] [--no-app]
    python bench/profile_ask.py --compare 47022d1 [--pairs 3]     # that commit's faqbot beside this tree's

Opens the built index read-only (build it first: `faqbot build`), warms up, then asks the dev-split
gold questions (never test or heldout-pages):

1. Answerer.ask with the real model (ONNX, as the server runs it): ms per answer, ms in the embedding
   call, ms outside it;
2. the same questions again with each query vector replayed from step 1 (a dict look-up, no model):
   ms outside the model alone, the median of --rounds rounds (the machine is shared, so take the best
   of a few runs before believing a difference of a few percent);
3. POST /ask through the ASGI app in process (no socket, no uvicorn) with replayed vectors: the
   request's whole cost, and what of it is not Answerer.ask (validation, context token, log write,
   JSON), with the SQLite log in a temp folder;
4. cProfile of steps 2 and 3: the top functions by cumulative time, all of it outside the model. For
   step 3 the threadpool hops run inline, so that one profiler sees the whole request.

With --compare REV, the script runs --pairs times on REV's faqbot (exported into a temp folder, first
on PYTHONPATH) and on this tree's, alternately, and prints the medians side by side.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def dev_questions(limit: int) -> list[str]:
    """The dev split's questions, first `limit` of them, each once."""
    rows = [json.loads(line) for line in (REPO / "eval" / "gold.jsonl").read_text().splitlines() if line.strip()]
    return list(dict.fromkeys(r["question"] for r in rows if r.get("split") == "dev"))[:limit]


class RecordingEmbedder:
    """Times every encode call and keeps each query's vector, for the replay."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.model_id = inner.model_id
        self.dim = inner.dim
        self.seconds = 0.0
        self.vectors: dict[str, np.ndarray] = {}

    def encode(self, texts: list[str], *, progress: bool = False) -> np.ndarray:
        started = time.perf_counter()
        out = self.inner.encode(texts)
        self.seconds += time.perf_counter() - started
        self.vectors.update(zip(texts, out))
        return out


class ReplayEmbedder:
    """The vectors RecordingEmbedder saw, by text: the pipeline without the model."""

    def __init__(self, recorded: RecordingEmbedder) -> None:
        self.model_id = recorded.model_id
        self.dim = recorded.dim
        self.vectors = recorded.vectors

    def encode(self, texts: list[str], *, progress: bool = False) -> np.ndarray:
        try:
            return np.stack([self.vectors[t] for t in texts]).astype(np.float32)
        except KeyError as exc:
            raise SystemExit(f"no recorded vector for {exc}; the replay must ask what the recording asked") from exc


def answerer_with(index_dir: Path, embedder: Any) -> Any:
    from faqbot.retrieval import AnswererHolder
    from faqbot.settings import Settings

    return AnswererHolder(Settings(index_dir=index_dir), embedder=embedder).get()


def ms_per_answer(ask: Callable[[str], Any], questions: list[str]) -> list[float]:
    out = []
    for q in questions:
        started = time.perf_counter()
        ask(q)
        out.append((time.perf_counter() - started) * 1000)
    return out


def top_functions(profiler: cProfile.Profile, top: int, calls: int, by_own: bool = False) -> list[tuple[str, float, float, float]]:
    """(function, cumulative ms per answer, own ms per answer, calls per answer), by cumulative (or own) time."""
    stats = pstats.Stats(profiler)
    rows = []
    for (path, line, name), (_, ncalls, tottime, cumtime, _) in stats.stats.items():  # type: ignore[attr-defined]
        where = path.replace(str(REPO) + "/", "").replace(sys.prefix + "/", "")
        if "site-packages/" in where:
            where = where.split("site-packages/", 1)[1]
        label = f"{where}:{line}({name})" if line else name
        rows.append((label, cumtime * 1000 / calls, tottime * 1000 / calls, ncalls / calls))
    rows.sort(key=lambda r: -r[2] if by_own else -r[1])
    return rows[:top]


def print_functions(title: str, rows: list[tuple[str, float, float, float]]) -> None:
    width = max(len(r[0]) for r in rows)
    print(f"\n{title}\n")
    print(f"| {'function'.ljust(width)} | cumulative ms | own ms | calls |")
    print(f"|{'-' * (width + 2)}|---:|---:|---:|")
    for label, cum, own, n in rows:
        print(f"| {label.ljust(width)} | {cum:.3f} | {own:.3f} | {n:.1f} |")


@contextmanager
def inline_threadpool() -> Iterator[None]:
    """FastAPI's threadpool hops run in the calling thread, so that cProfile sees the route's work."""
    import fastapi.dependencies.utils
    import fastapi.routing

    import faqbot.api

    async def inline(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    # FastAPI's own hops, and faqbot.api's where it makes its own
    modules = [m for m in (fastapi.routing, fastapi.dependencies.utils, faqbot.api) if hasattr(m, "run_in_threadpool")]
    saved = [m.run_in_threadpool for m in modules]  # type: ignore[attr-defined]
    for module in modules:
        module.run_in_threadpool = inline  # type: ignore[attr-defined]
    try:
        yield
    finally:
        for module, original in zip(modules, saved):
            module.run_in_threadpool = original  # type: ignore[attr-defined]


async def post(app: Any, path: str, payload: dict[str, Any]) -> tuple[int, bytes]:
    """One request through the ASGI app, as uvicorn would hand it over."""
    body = json.dumps(payload).encode()
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
        "headers": [(b"host", b"127.0.0.1:8000"), (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode())],
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000), "state": {},
    }  # fmt: skip
    delivered = False
    never: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await never  # the client stays connected
        return {"type": "http.disconnect"}

    status = 0
    chunks: list[bytes] = []

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


def app_section(
    index_dir: Path, replay: ReplayEmbedder, questions: list[str], rounds: int, top: int, by_own: bool
) -> list[tuple[str, float]]:
    """POST /ask in process: the request's cost, Answerer.ask's share, the log write's share; and its profile."""
    from faqbot.api import create_app
    from faqbot.retrieval import AnswererHolder
    from faqbot.settings import Settings

    rows: list[tuple[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="faqbot-profile-") as tmp:
        settings = Settings(index_dir=index_dir, db=Path(tmp) / "faqbot.sqlite3", secret="p" * 32)
        holder = AnswererHolder(settings, embedder=replay)
        app = create_app(settings, holder)
        answerer = holder.get()
        store = app.state.store
        spent = {"ask": 0.0, "log": 0.0}

        def timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                started = time.perf_counter()
                try:
                    return fn(*args, **kwargs)
                finally:
                    spent[name] += time.perf_counter() - started

            return wrapper

        answerer.ask = timed("ask", answerer.ask)
        store.log_query = timed("log", store.log_query)

        async def run_all(qs: list[str]) -> list[float]:
            out = []
            for q in qs:
                started = time.perf_counter()
                status, body = await post(app, "/ask", {"question": q})
                out.append((time.perf_counter() - started) * 1000)
                if status != 200:
                    raise SystemExit(f"/ask answered {status}: {body[:200]!r}")
            return out

        async def main() -> None:
            await run_all(questions[:30])  # warm-up: the middleware stack, the store's connection
            totals, asks, logs = [], [], []
            for _ in range(rounds):
                spent["ask"] = spent["log"] = 0.0
                times = await run_all(questions)
                totals.append(statistics.fmean(times))
                asks.append(spent["ask"] * 1000 / len(questions))
                logs.append(spent["log"] * 1000 / len(questions))
            total, ask, log = statistics.median(totals), statistics.median(asks), statistics.median(logs)
            rows.extend([
                ("POST /ask in process, replayed vectors: ms per request", total),
                ("  of which Answerer.ask", ask),
                ("  of which the query log write (SQLite, in the request)", log),
                ("  the rest: middleware, validation, context token, response model, JSON", total - ask - log),
            ])  # fmt: skip
            if not top:
                return
            with inline_threadpool():
                profiler = cProfile.Profile()
                profiler.enable()
                await run_all(questions)
                profiler.disable()
            print_functions("POST /ask in process (replayed vectors, threadpool inline), per request:",
                            top_functions(profiler, top, len(questions), by_own))  # fmt: skip

        asyncio.run(main())
        store.close()
    return rows


def measure(opts: argparse.Namespace) -> list[tuple[str, float]]:
    """The table's rows (label, ms); prints the function tables unless --top 0."""
    from faqbot.embedding import CachedQueryEmbedder, load_embedder
    from faqbot.index import current_build

    if current_build(opts.index) is None:
        raise SystemExit(f"no index in {opts.index}; build it first: faqbot build --index {opts.index}")
    questions = dev_questions(opts.limit)
    # as the server runs it: ONNX Runtime, behind the query cache (every question here is new to it)
    recording = RecordingEmbedder(CachedQueryEmbedder(load_embedder("packaged", opts.index / "models")))
    answerer = answerer_with(opts.index, recording)
    ms_per_answer(lambda q: answerer.ask(f"{q} (warm-up)"), questions[:30])

    recording.seconds = 0.0
    total = statistics.fmean(ms_per_answer(answerer.ask, questions))
    embed = recording.seconds * 1000 / len(questions)

    replay = ReplayEmbedder(recording)
    replayed = answerer_with(opts.index, replay)
    ms_per_answer(replayed.ask, questions[:30])
    outside = statistics.median(statistics.fmean(ms_per_answer(replayed.ask, questions)) for _ in range(opts.rounds))
    rows = [
        (f"Answerer.ask, {len(questions)} dev questions, real model: ms per answer", total),
        ("  in the embedding call (ONNX Runtime)", embed),
        ("  outside it", total - embed),
        (f"Answerer.ask, replayed vectors (no model), median of {opts.rounds} rounds: ms per answer", outside),
    ]
    if opts.top:
        profiler = cProfile.Profile()
        profiler.enable()
        for q in questions:
            replayed.ask(q)
        profiler.disable()
        print_functions("Answerer.ask (replayed vectors: all of it outside the model), per answer:",
                        top_functions(profiler, opts.top, len(questions), opts.by_own))  # fmt: skip
    if not opts.no_app:
        rows += app_section(opts.index, replay, questions, opts.rounds, opts.top, opts.by_own)
    return rows


def compare(opts: argparse.Namespace) -> None:
    """This script at opts.compare and at the working tree, alternately, opts.pairs times; medians side by side."""
    import io
    import subprocess
    import tarfile

    args = ["--index", str(opts.index), "--limit", str(opts.limit), "--rounds", str(opts.rounds), "--top", "0", "--json"]
    if opts.no_app:
        args.append("--no-app")
    runs: dict[str, list[list[tuple[str, float]]]] = {"before": [], "after": []}
    with tempfile.TemporaryDirectory(prefix="faqbot-profile-before-") as tmp:
        archive = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", opts.compare], check=True,
                                 capture_output=True).stdout  # fmt: skip
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(tmp, filter="data")
        before_args = args if opts.before_index is None else ["--index", str(opts.before_index), *args[2:]]
        for _ in range(opts.pairs):
            for name, src, tree_args in (("before", Path(tmp) / "src", before_args), ("after", REPO / "src", args)):
                # the tree's own faqbot first on the path (PYTHONPATH comes before the editable install)
                env = {**os.environ, "PYTHONPATH": str(src)}
                out = subprocess.run([sys.executable, __file__, *tree_args], env=env, check=True, capture_output=True, text=True)
                runs[name].append([(label, value) for label, value in json.loads(out.stdout.splitlines()[-1])])
                print(f"{name}: {runs[name][-1][3][1]:.3f} ms outside the model", file=sys.stderr, flush=True)
    labels = [label for label, _ in runs["after"][0]]
    title = f"measure (ms, median of {opts.pairs} alternating runs)"
    width = max(len(label) for label in [*labels, title])
    print(f"| {title.ljust(width)} | before ({opts.compare}) | after (this tree) |")
    print(f"|{'-' * (width + 2)}|---:|---:|")
    for i, label in enumerate(labels):
        before = statistics.median(run[i][1] for run in runs["before"])
        after = statistics.median(run[i][1] for run in runs["after"])
        print(f"| {label.ljust(width)} | {before:.3f} | {after:.3f} |")
    print(f"\n{os.cpu_count()} cores, shared with other work: figures are noisy; each run's rows: {json.dumps(runs)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, default=REPO / "index", help="a built index (read only)")
    parser.add_argument("--before-index", type=Path, help="with --compare: the before tree's own index, when the index "
                        "format changed in between (build it with that tree's faqbot)")  # fmt: skip
    parser.add_argument("--limit", type=int, default=300, help="dev questions to ask")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the replayed passes (median shown)")
    parser.add_argument("--top", type=int, default=25, help="functions listed (0: no profile)")
    parser.add_argument("--by-own", action="store_true", help="list functions by their own time, not cumulative")
    parser.add_argument("--no-app", action="store_true", help="leave out POST /ask through the app")
    parser.add_argument("--json", action="store_true", help="the table's rows as one JSON line")
    parser.add_argument("--compare", metavar="REV", help="also run this script on the faqbot of commit REV, alternately")
    parser.add_argument("--pairs", type=int, default=3, help="with --compare: runs of each tree")
    opts = parser.parse_args()
    if opts.compare:
        compare(opts)
        return
    rows = measure(opts)
    if opts.json:
        print(json.dumps(rows))
        return
    width = max(len(r[0]) for r in rows)
    print(f"\n| {'measure'.ljust(width)} | ms |")
    print(f"|{'-' * (width + 2)}|---:|")
    for label, value in rows:
        print(f"| {label.ljust(width)} | {value:.3f} |")
    print(f"\n{os.cpu_count()} cores, shared: figures are noisy; compare trees with --compare REV (alternating runs)")


if __name__ == "__main__":
    main()
