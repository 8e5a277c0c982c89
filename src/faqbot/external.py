"""Retrieval measured on external data: a BEIR-style folder, or MedQuAD (question -> its answer)."""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import time
from pathlib import Path

import numpy as np

from faqbot.embedding import load_embedder
from faqbot.errors import FaqbotError
from faqbot.evaluation import K, ndcg, reciprocal_rank
from faqbot.index import make_bm25
from faqbot.lexical import tokenize
from faqbot.settings import Settings

Qrels = dict[str, set[str]]


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


def load_medquad(path: Path, limit: int = 0) -> tuple[dict[str, str], dict[str, str], Qrels]:
    """MedQuAD pairs: every answer is a document, every question must find its own answer."""
    if not path.exists():
        raise FaqbotError(f"no MedQuAD file at {path}; it lives in ../shared/datasets/medquad/")
    corpus, queries, qrels = {}, {}, {}
    for n, line in enumerate(path.read_text().splitlines()):
        if limit and n >= limit:
            break
        pair = json.loads(line)
        corpus[pair["id"]] = pair["answer"]
        queries[pair["id"]] = pair["question"]
        qrels[pair["id"]] = {pair["id"]}
    return corpus, queries, qrels


def cached_embeddings(texts: list[str], model: str, cache_dir: Path) -> np.ndarray:
    """Embeddings of texts, cached on disk by content hash (embedding MedQuAD takes minutes)."""
    key = hashlib.sha256(("\n".join(texts) + model).encode()).hexdigest()[:24]
    path = cache_dir / f"emb-{key}.npy"
    if path.exists():
        return np.load(path)
    vectors = load_embedder(model, cache_dir).encode(texts, progress=True)
    cache_dir.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


def score_modes(
    corpus: dict[str, str], queries: dict[str, str], qrels: Qrels, model: str, cache_dir: Path
) -> dict[str, dict[str, float]]:
    doc_ids = sorted(corpus)
    query_ids = sorted(queries)
    bm25 = make_bm25([corpus[d] for d in doc_ids])
    doc_vectors = cached_embeddings([corpus[d] for d in doc_ids], model, cache_dir)
    query_vectors = cached_embeddings([queries[q] for q in query_ids], model, cache_dir)
    results: dict[str, dict[str, list[float]]] = {
        m: {"ndcg@10": [], "mrr@10": [], "recall@10": []} for m in ("lexical", "dense", "hybrid")
    }
    for qi, qid in enumerate(query_ids):
        lexical = bm25.get_scores(tokenize(queries[qid]) or ["_empty_"])
        top = lexical.max()
        lexical_norm = lexical / top if top > 0 else lexical
        dense = doc_vectors @ query_vectors[qi]
        relevant = qrels[qid]
        for mode, scores in (("lexical", lexical), ("dense", dense), ("hybrid", dense + 0.3 * lexical_norm)):
            order = np.lexsort((np.arange(len(doc_ids)), -scores))[:K]  # ties broken by position, i.e. by id
            ranked = [doc_ids[i] for i in order]
            results[mode]["ndcg@10"].append(ndcg(ranked, relevant))
            results[mode]["mrr@10"].append(reciprocal_rank(ranked, relevant))
            results[mode]["recall@10"].append(len(set(ranked) & relevant) / len(relevant))
    return {m: {k: float(np.mean(v)) for k, v in metrics.items()} for m, metrics in results.items()}


def run_external(args: argparse.Namespace, settings: Settings) -> int:
    started = time.perf_counter()
    if args.beir:
        corpus, queries, qrels = load_beir(args.beir)
        name = args.beir.name
    else:
        corpus, queries, qrels = load_medquad(args.medquad, args.limit)
        name = "MedQuAD (CC BY 4.0, Ben Abacha & Demner-Fushman 2019)" + (f", first {args.limit} pairs" if args.limit else "")
    table = score_modes(corpus, queries, qrels, settings.model, args.out / "cache")
    lines = [
        f"# {name}: {len(queries)} queries, {len(corpus)} documents",
        "",
        "| mode | nDCG@10 | MRR@10 | recall@10 |",
        "|---|---|---|---|",
    ]
    for mode, values in table.items():
        lines.append(f"| {mode} | {values['ndcg@10']:.3f} | {values['mrr@10']:.3f} | {values['recall@10']:.3f} |")
    text = "\n".join(lines) + "\n"
    args.out.mkdir(parents=True, exist_ok=True)
    slug = "beir" if args.beir else "medquad"
    (args.out / f"external-{slug}.md").write_text(text)
    print(text)
    print(f"done in {time.perf_counter() - started:.1f}s")
    return 0
