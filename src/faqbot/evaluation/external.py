"""External data sets run through the shipped pipeline: a BEIR-style folder, or MedQuAD.

Each set is laid out as pages in a cache folder, indexed by the same `build_index`, and asked
through the same `Answerer` the server uses, with the drug lock off (these sets name diseases,
not drugs). Plain dense, BM25 and hybrid rankings run beside it in the same run. Figures are per
document: a document's passages count as one result, at its best rank.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from faqbot.embedding import CachedQueryEmbedder, load_embedder, model_id_for
from faqbot.errors import FaqbotError
from faqbot.evaluation.metrics import K, ndcg, reciprocal_rank
from faqbot.index import build_index, load_index
from faqbot.model import Model
from faqbot.pages import slugify
from faqbot.ranking import MODES
from faqbot.retrieval import Answerer
from faqbot.settings import Settings

Qrels = dict[str, set[str]]
MEDQUAD_CREDIT = "MedQuAD (CC BY 4.0, Ben Abacha & Demner-Fushman 2019)"


@dataclass
class ExternalSet:
    """Pages (doc id -> title and sections), queries, and for each query its relevant doc ids."""

    name: str
    pages: dict[str, tuple[str, list[tuple[str, str]]]] = field(default_factory=dict)
    queries: dict[str, str] = field(default_factory=dict)
    qrels: Qrels = field(default_factory=dict)


def load_beir(folder: Path, split: str = "test") -> tuple[dict[str, str], dict[str, str], Qrels]:
    """corpus.jsonl, queries.jsonl and qrels/<split>.tsv of a BEIR data set."""
    try:
        corpus = {}
        for line in (folder / "corpus.jsonl").read_text().splitlines():
            if line.strip():
                doc = json.loads(line)
                corpus[str(doc["_id"])] = f"{doc.get('title', '')} {doc['text']}".strip()
        queries = {}
        for line in (folder / "queries.jsonl").read_text().splitlines():
            if line.strip():
                q = json.loads(line)
                queries[str(q["_id"])] = q["text"]
        qrels: Qrels = {}
        with open(folder / "qrels" / f"{split}.tsv") as handle:
            for row in csv.DictReader(handle, delimiter="\t"):
                if int(row.get("score", 1)) > 0:
                    qrels.setdefault(str(row["query-id"]), set()).add(str(row["corpus-id"]))
    except (OSError, KeyError, json.JSONDecodeError) as exc:
        raise FaqbotError(
            f"{folder} is not a BEIR folder ({exc}); it needs corpus.jsonl, queries.jsonl, qrels/{split}.tsv"
        ) from exc
    return corpus, {q: t for q, t in queries.items() if q in qrels}, qrels


def beir_set(folder: Path) -> ExternalSet:
    """A BEIR folder as pages: one page per document, its text as one section."""
    corpus, queries, qrels = load_beir(folder)
    result = ExternalSet(folder.name, queries=queries)
    ids = {doc: slugify(doc) for doc in corpus}
    for doc, text in corpus.items():
        result.pages[ids[doc]] = (doc, [("Text", text)])
    result.qrels = {q: {ids[d] for d in docs if d in ids} for q, docs in qrels.items()}
    return result


def medquad_part(source: str, doc: str) -> str:
    """"eval" for about a tenth of MedQuAD's documents (by a hash of their id), "train" for the rest.

    Whole documents go one way, so no page of the eval part was ever seen by anything trained.
    """
    digest = hashlib.sha256(f"{source}/{doc}".encode()).digest()
    return "eval" if digest[0] % 10 == 0 else "train"


def load_medquad(path: Path, part: str | None = None) -> list[dict[str, str]]:
    """MedQuAD pairs, optionally only those of one part ("eval" or "train")."""
    if not path.exists():
        raise FaqbotError(f"no MedQuAD file at {path}; it lives in ../shared/datasets/medquad/")
    pairs = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [p for p in pairs if part is None or medquad_part(p["source"], p["doc"]) == part]


def medquad_set(pairs: list[dict[str, str]]) -> ExternalSet:
    """MedQuAD as pages: one page per NIH document, one section per answer under its question type."""
    result = ExternalSet(MEDQUAD_CREDIT)
    for pair in pairs:
        doc_id = slugify(f"{pair['source']}-{pair['doc']}")
        title, sections = result.pages.setdefault(doc_id, (pair["focus"], []))
        heading = pair["qtype"].capitalize()
        used = sum(1 for h, _ in sections if h == heading or h.startswith(f"{heading} ("))
        heading = heading if not used else f"{heading} ({used + 1})"
        sections.append((heading, pair["answer"]))
        query_id = pair["id"]
        result.queries[query_id] = pair["question"]
        result.qrels[query_id] = {f"{doc_id}/{heading}"}
    return result


def write_pages(data: ExternalSet, folder: Path) -> None:
    """The set's pages as markdown files in the corpus format (only changed files are rewritten)."""
    folder.mkdir(parents=True, exist_ok=True)
    for doc_id, (title, sections) in data.pages.items():
        front = yaml.safe_dump({"title": title, "description": "", "is_banned": False,
                                "lastModified": "2019-01-01T00:00:00Z", "faqs": []}, sort_keys=False)  # fmt: skip
        # a line that starts with '#' in a source text would read as a heading
        body = "".join(f"## **{h}**\n\n{re.sub(r'(?m)^#+', '', t).strip()}\n\n" for h, t in sections)
        text = f"---\n{front}---\n\n{body}"
        path = folder / f"{doc_id}.md"
        if not path.exists() or path.read_text() != text:
            path.write_text(text)


def score_set(data: ExternalSet, settings: Settings, cache_dir: Path) -> dict[str, dict[str, float]]:
    """Per mode: nDCG@10, MRR@10, recall@10 at document level; for the full pipeline also what a visitor gets."""
    folder = cache_dir / slugify(data.name)[:40]
    write_pages(data, folder / "data")
    embedder = load_embedder(settings.model, cache_dir / "models")
    report = build_index(folder / "data", folder / "index", lambda: embedder, model_id_for(settings.model), progress=True)
    if report.skipped:
        raise FaqbotError(f"{len(report.skipped)} external pages could not be read, e.g. {report.skipped[0]}")
    index = load_index(folder / "index", model_id_for(settings.model))
    model = Model.load(settings.models_dir)  # the configured one (FAQBOT_MODELS_DIR), as the server and the gold set use
    answerer = Answerer(index, CachedQueryEmbedder(embedder, size=len(data.queries) * 2 + 10), model, drug_lock=False)
    section_of = {c.chunk_id: f"{c.doc_id}/{c.heading_path[-1]}" if c.heading_path else c.doc_id for c in index.chunks}
    per_section = any("/" in r for rel in data.qrels.values() for r in rel)
    results: dict[str, dict[str, float]] = {}
    for mode in MODES:
        figures: dict[str, list[float]] = {"ndcg@10": [], "mrr@10": [], "recall@10": [], "answered_right": [], "answered": []}
        for query_id in sorted(data.queries):
            result = answerer.ask(data.queries[query_id], k=K, mode=mode)
            docs = [section_of[c] if per_section else c.split("#", 1)[0] for c in result["_ranked"]]
            ranked = list(dict.fromkeys(docs))
            relevant = data.qrels[query_id]
            figures["ndcg@10"].append(ndcg(ranked, relevant))
            figures["mrr@10"].append(reciprocal_rank(ranked, relevant))
            figures["recall@10"].append(len(set(ranked[:K]) & relevant) / len(relevant))
            if mode == "full":
                figures["answered"].append(float(result["answered"]))
                figures["answered_right"].append(float(result["answered"] and bool(ranked) and ranked[0] in relevant))
        results[mode] = {k: float(np.mean(v)) for k, v in figures.items() if v}
    return results


def run_external(args: argparse.Namespace, settings: Settings) -> int:
    started = time.perf_counter()
    if args.beir:
        data = beir_set(args.beir)
        slug = "beir"
    else:
        pairs = load_medquad(args.medquad, part="eval")
        if args.limit:
            pairs = pairs[: args.limit]
        data = medquad_set(pairs)
        data.name += f", eval part ({len(pairs)} pairs; nothing was fitted or trained on it)"
        slug = "medquad"
    table = score_set(data, settings, args.out / "cache")
    lines = [
        f"# {data.name}: {len(data.queries)} queries, {len(data.pages)} pages, through faqbot's Answerer (drug lock off)",
        "",
        "| mode | nDCG@10 | MRR@10 | recall@10 | answered | answered and right |",
        "|---|---|---|---|---|---|",
    ]
    for mode, values in table.items():
        answered = f"{values['answered']:.3f}" if "answered" in values else ""
        right = f"{values['answered_right']:.3f}" if "answered_right" in values else ""
        lines.append(f"| {mode} | {values['ndcg@10']:.3f} | {values['mrr@10']:.3f} | {values['recall@10']:.3f} | {answered} | {right} |")
    text = "\n".join(lines) + "\n"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"external-{slug}.md").write_text(text)
    print(text)
    print(f"done in {time.perf_counter() - started:.1f}s")
    return 0
