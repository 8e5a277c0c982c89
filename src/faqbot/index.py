"""Build, save, load and swap the index directory and its manifest.

Layout of `index/`:

    CURRENT               name of the build being served (replaced atomically)
    builds/<name>/        one complete build: manifest.json, chunks.jsonl, pages.json,
                          vectors.npy, vector_chunk.npy, sentence_vectors.npy, sentence_starts.npy,
                          keys.json, faiss.index, bm25/
    .build.lock           held while a build runs

A build is written into a fresh `builds/<name>` directory and only then named in CURRENT, so a
reader never sees a half-written index and a failed build leaves the previous one serving.
Unchanged texts are not embedded twice: vectors of the previous build are reused by content hash.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import platform
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from faqbot.chunks import Chunk, page_chunks, passage_text, question_text, sentence_texts
from faqbot.errors import FaqbotError, IndexMismatchError, IndexMissingError, PageError
from faqbot.pages import Page, load_pages

FORMAT_VERSION = 3  # 2: chunks carry their part number; 3: sentence vectors
EXACT_LIMIT = 200_000  # above this many vectors an approximate (HNSW) FAISS index is built
KEEP_BUILDS = 2


@dataclass(frozen=True)
class DrugInfo:
    """What the retrieval needs to know about one page besides its chunks."""

    doc_id: str
    title: str
    names: tuple[str, ...]
    description: str
    is_banned: bool
    last_modified: str
    source_path: str

    @classmethod
    def from_page(cls, page: Page) -> DrugInfo:
        return cls(page.doc_id, page.title, page.names, page.description, page.is_banned, page.last_modified, page.source_path)


@dataclass
class BuildReport:
    """What a build did, for the CLI to print."""

    indexed: list[str] = field(default_factory=list)
    skipped: list[PageError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    embedded: int = 0
    reused: int = 0
    chunks: int = 0
    up_to_date: bool = False
    version: str = ""
    seconds: float = 0.0


@dataclass
class Index:
    """A loaded build: chunks with their vectors, FAISS and BM25 over them, the drugs."""

    path: Path
    manifest: dict[str, Any]
    chunks: list[Chunk]
    drugs: dict[str, DrugInfo]
    vectors: np.ndarray  # rows: one per chunk (passage), then one per FAQ question
    vector_chunk: np.ndarray  # chunk index of each vector row
    # per sentence of every passage, in chunk order: [0] the sentence alone, [1] with its heading and the next one
    sentence_vectors: np.ndarray  # (2, sentences, dim): stored in half precision, held in single (see load_index)
    sentence_starts: np.ndarray  # chunk c's sentences are rows sentence_starts[c]:sentence_starts[c + 1]
    faiss_index: Any
    bm25: Any
    chunk_rows: dict[str, np.ndarray] = field(default_factory=dict)  # doc_id -> chunk indices

    @property
    def version(self) -> str:
        return str(self.manifest["version"])


def file_hashes(data_dir: Path) -> dict[str, str]:
    """sha256 of every page file, keyed by path relative to data_dir."""
    hashes = {}
    for path in sorted(data_dir.rglob("*.md")):
        rel = path.relative_to(data_dir)
        if any(part.startswith(".") for part in rel.parts):
            continue
        try:
            hashes[rel.as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:
            hashes[rel.as_posix()] = "unreadable"
    return hashes


def text_key(model_id: str, text: str) -> str:
    return hashlib.sha256(f"{model_id}\n{text}".encode()).hexdigest()[:32]


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in ("faqbot", "faiss-cpu", "bm25s", "sentence-transformers", "torch", "numpy"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def current_build(index_dir: Path) -> Path | None:
    """The build directory CURRENT names, or None when there is none."""
    try:
        name = (index_dir / "CURRENT").read_text().strip()
    except FileNotFoundError:
        return None
    path = index_dir / "builds" / name
    return path if name and path.is_dir() else None


def read_manifest(index_dir: Path) -> dict[str, Any] | None:
    build = current_build(index_dir)
    if build is None:
        return None
    try:
        return json.loads((build / "manifest.json").read_text())
    except (OSError, json.JSONDecodeError):
        return None


@contextmanager
def build_lock(index_dir: Path) -> Iterator[None]:
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / ".build.lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise FaqbotError(f"another build is running on {index_dir}; wait for it to finish") from exc
        yield


def _previous_vectors(index_dir: Path, model_id: str) -> dict[str, np.ndarray]:
    build = current_build(index_dir)
    if build is None:
        return {}
    try:
        manifest = json.loads((build / "manifest.json").read_text())
        if manifest.get("model", {}).get("id") != model_id:
            return {}
        keys = json.loads((build / "keys.json").read_text())
        vectors = np.load(build / "vectors.npy")
        if (build / "sentence_vectors.npy").exists():  # builds before format 3 have none
            sentences = np.load(build / "sentence_vectors.npy")
            vectors = np.concatenate([vectors, sentences.reshape(-1, vectors.shape[1])])
    except (OSError, ValueError, json.JSONDecodeError):
        return {}  # a damaged previous build only costs re-embedding
    return dict(zip(keys, vectors))


def make_faiss_index(vectors: np.ndarray) -> tuple[Any, str]:
    """Exact inner-product search up to EXACT_LIMIT vectors, HNSW above it."""
    import faiss

    dim = vectors.shape[1]
    index: Any
    if len(vectors) <= EXACT_LIMIT:
        index = faiss.IndexFlatIP(dim)
        kind = "flat-ip"
    else:
        index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 80
        index.hnsw.efSearch = 64
        kind = "hnsw32-ip"
    index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index, kind


def make_bm25(texts: list[str]) -> Any:
    import bm25s

    from faqbot.lexical import tokenize

    bm25 = bm25s.BM25()
    bm25.index([tokenize(t) or ["_empty_"] for t in texts], show_progress=False)
    return bm25


def build_index(
    data_dir: Path,
    index_dir: Path,
    embedder_factory: Callable[[], Any],
    model_id: str,
    *,
    full: bool = False,
    progress: bool = False,
) -> BuildReport:
    """Build the index for data_dir into index_dir; incremental unless full.

    embedder_factory is only called when something needs embedding, so a no-change build
    never loads the model.
    """
    started = time.perf_counter()
    report = BuildReport()
    if not data_dir.is_dir():
        raise FaqbotError(f"no page folder at {data_dir}; pass --data DIR or set FAQBOT_DATA_DIR")
    with build_lock(index_dir):
        _remove_unfinished(index_dir)
        hashes = file_hashes(data_dir)
        if not hashes:
            raise FaqbotError(f"no .md pages in {data_dir}; add drug pages there first")
        manifest = read_manifest(index_dir)
        if (
            not full
            and manifest is not None
            and manifest.get("format_version") == FORMAT_VERSION
            and manifest.get("model", {}).get("id") == model_id
            and manifest.get("inputs") == hashes
        ):
            report.up_to_date = True
            report.version = manifest["version"]
            report.chunks = manifest["chunk_count"]
            report.indexed = sorted(manifest["files"])
            report.skipped = [PageError(p, r) for p, r in manifest.get("skipped", {}).items()]
            report.seconds = time.perf_counter() - started
            return report

        pages, errors = load_pages(data_dir)
        report.skipped = errors
        if not pages:
            raise FaqbotError(f"none of the pages in {data_dir} could be read; fix the errors above and build again")
        chunks: list[Chunk] = []
        texts: list[str] = []
        question_rows: list[int] = []
        for page in pages:
            report.warnings.extend(f"{page.source_path}: {w}" for w in page.warnings)
            for chunk in page_chunks(page):
                chunks.append(chunk)
                texts.append(passage_text(chunk, page.names))
        for i, chunk in enumerate(chunks):
            if chunk.kind == "faq":
                texts.append(question_text(chunk))
                question_rows.append(i)
        vector_chunk = np.concatenate([np.arange(len(chunks)), np.asarray(question_rows, dtype=np.int64)])
        per_chunk = [sentence_texts(chunk) for chunk in chunks]
        sentence_starts = np.cumsum([0] + [len(s) for s in per_chunk]).astype(np.int64)
        n_vectors = len(texts)
        texts += [alone for s in per_chunk for alone, _ in s] + [paired for s in per_chunk for _, paired in s]

        keys = [text_key(model_id, t) for t in texts]
        cache = {} if full else _previous_vectors(index_dir, model_id)
        missing = sorted({k: t for k, t in zip(keys, texts) if k not in cache}.items())
        if missing:
            embedder = embedder_factory()
            new = embedder.encode([t for _, t in missing], progress=progress)
            cache.update(zip([k for k, _ in missing], new))
        report.embedded = len(missing)
        report.reused = len(set(keys)) - len(missing)
        every = np.stack([cache[k] for k in keys]).astype(np.float32)
        vectors = every[:n_vectors]
        # stored in half precision: a site's sentences outnumber its passages several times over, and a ranking
        # signal needs no more than three decimals of a cosine
        sentence_vectors = every[n_vectors:].reshape(2, -1, every.shape[1]).astype(np.float16)

        faiss_index, faiss_kind = make_faiss_index(vectors)
        bm25 = make_bm25(texts[: len(chunks)])

        version = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        builds = index_dir / "builds"
        builds.mkdir(parents=True, exist_ok=True)
        tmp = builds / f".tmp-{version}-{os.getpid()}"
        try:
            _write_build(tmp, chunks, pages, (vectors, vector_chunk, sentence_vectors, sentence_starts), keys, faiss_index, bm25)
            new_manifest = {
                "format_version": FORMAT_VERSION,
                "version": version,
                "built_at": datetime.now(UTC).isoformat(),
                "model": {"id": model_id, "dim": int(vectors.shape[1])},
                "chunk_count": len(chunks),
                "vector_count": int(len(vectors)),
                "faiss": faiss_kind,
                "files": {p.source_path: p.content_hash for p in pages},
                "inputs": hashes,
                "skipped": {e.path: e.reason for e in errors},
                "libraries": library_versions(),
            }
            _write_json(tmp / "manifest.json", new_manifest)
            final = builds / version
            os.replace(tmp, final)
            write_atomic(index_dir / "CURRENT", version + "\n")
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        _prune_builds(index_dir, keep=version)
        report.indexed = [p.source_path for p in pages]
        report.chunks = len(chunks)
        report.version = version
        report.seconds = time.perf_counter() - started
        return report


def write_atomic(path: Path, text: str) -> None:
    """Write text to path so that a reader sees the old file or the whole new one, never a part."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def _write_build(
    directory: Path,
    chunks: list[Chunk],
    pages: list[Page],
    arrays: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    keys: list[str],
    faiss_index: Any,
    bm25: Any,
) -> None:
    import faiss

    directory.mkdir(parents=True)
    with open(directory / "chunks.jsonl", "w") as handle:
        for chunk in chunks:
            handle.write(json.dumps(chunk.to_dict(), ensure_ascii=False) + "\n")
    _write_json(directory / "pages.json", [DrugInfo.from_page(p).__dict__ for p in pages])
    for name, array in zip(("vectors", "vector_chunk", "sentence_vectors", "sentence_starts"), arrays):
        np.save(directory / f"{name}.npy", array)
    _write_json(directory / "keys.json", keys)
    faiss.write_index(faiss_index, str(directory / "faiss.index"))
    bm25.save(str(directory / "bm25"), show_progress=False)


def _remove_unfinished(index_dir: Path) -> None:
    """Delete what killed builds left behind; safe because the caller holds the build lock."""
    builds = index_dir / "builds"
    if builds.is_dir():
        for path in builds.iterdir():
            if path.name.startswith(".tmp-"):
                shutil.rmtree(path, ignore_errors=True)


def _prune_builds(index_dir: Path, keep: str) -> None:
    builds = sorted(p for p in (index_dir / "builds").iterdir() if p.is_dir() and not p.name.startswith("."))
    old = [p for p in builds if p.name != keep][: max(0, len(builds) - KEEP_BUILDS)]
    for path in old:
        shutil.rmtree(path, ignore_errors=True)


def load_index(index_dir: Path, model_id: str | None = None) -> Index:
    """Load the current build; checks it against the expected model and format."""
    import bm25s
    import faiss

    build = current_build(index_dir)
    if build is None:
        raise IndexMissingError(f"no index in {index_dir}; build it with: faqbot build --index {index_dir}")
    try:
        manifest = json.loads((build / "manifest.json").read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise IndexMismatchError(f"the index manifest in {build} is unreadable; rebuild with: faqbot build --full") from exc
    if manifest.get("format_version") != FORMAT_VERSION:
        raise IndexMismatchError(
            f"the index in {index_dir} has format {manifest.get('format_version')}, this faqbot reads {FORMAT_VERSION}; "
            "rebuild with: faqbot build --full"
        )
    built_with = manifest.get("model", {}).get("id")
    if model_id is not None and built_with != model_id:
        raise IndexMismatchError(
            f"the index was built with model {built_with}, the configured model is {model_id}; rebuild with: faqbot build --full"
        )
    try:
        chunks = [Chunk.from_dict(json.loads(line)) for line in (build / "chunks.jsonl").read_text().splitlines() if line]
        drugs = {
            d["doc_id"]: DrugInfo(**{**d, "names": tuple(d["names"])}) for d in json.loads((build / "pages.json").read_text())
        }
        vectors = np.load(build / "vectors.npy")
        vector_chunk = np.load(build / "vector_chunk.npy")
        # held in single precision: numpy converts half precision in software, which cost every question 0.2 ms
        # under the drug lock and 1.3 ms over all pages, against 0.02 and 0.2
        sentence_vectors = np.load(build / "sentence_vectors.npy").astype(np.float32)
        sentence_starts = np.load(build / "sentence_starts.npy")
        faiss_index = faiss.read_index(str(build / "faiss.index"))
        bm25 = bm25s.BM25.load(str(build / "bm25"), show_progress=False, verbosity=0)
    except Exception as exc:  # any damaged file: the index cannot be trusted
        raise IndexMismatchError(f"the index in {build} is damaged ({exc}); rebuild with: faqbot build --full") from exc
    if (
        len(chunks) != manifest["chunk_count"]
        or faiss_index.ntotal != len(vectors)
        or len(vector_chunk) != len(vectors)
        or len(sentence_starts) != len(chunks) + 1
        or sentence_vectors.shape[:2] != (2, sentence_starts[-1])
    ):
        raise IndexMismatchError(f"the index in {build} is inconsistent; rebuild with: faqbot build --full")
    rows: dict[str, list[int]] = {}
    for i, chunk in enumerate(chunks):
        rows.setdefault(chunk.doc_id, []).append(i)
    return Index(
        path=build,
        manifest=manifest,
        chunks=chunks,
        drugs=drugs,
        vectors=vectors,
        vector_chunk=vector_chunk,
        sentence_vectors=sentence_vectors,
        sentence_starts=sentence_starts,
        faiss_index=faiss_index,
        bm25=bm25,
        chunk_rows={k: np.asarray(v, dtype=np.int64) for k, v in rows.items()},
    )
