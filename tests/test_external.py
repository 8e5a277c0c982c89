"""External data sets: a BEIR-style folder and MedQuAD (skipped when ../shared is not beside the repo)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from faqbot.external import load_beir, load_medquad, score_modes
from tests.conftest import REPO

MEDQUAD = REPO.parent / "shared" / "datasets" / "medquad" / "medquad_answered.jsonl"


def write_beir(folder: Path) -> None:
    (folder / "qrels").mkdir(parents=True)
    docs = {
        "d1": "Warfarin needs regular INR blood tests.",
        "d2": "Paracetamol maximum dose is 4 g a day.",
        "d3": "Ibuprofen can upset the stomach.",
    }
    (folder / "corpus.jsonl").write_text("".join(json.dumps({"_id": k, "title": "", "text": v}) + "\n" for k, v in docs.items()))
    queries = {"q1": "how much paracetamol a day", "q2": "warfarin INR tests", "q3": "not judged"}
    (folder / "queries.jsonl").write_text("".join(json.dumps({"_id": k, "text": v}) + "\n" for k, v in queries.items()))
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td2\t1\nq2\td1\t1\nq2\td3\t0\n")


def test_beir_folder_is_read_and_scored(tmp_path: Path) -> None:
    write_beir(tmp_path / "beir")
    corpus, queries, qrels = load_beir(tmp_path / "beir")
    assert set(corpus) == {"d1", "d2", "d3"}
    assert set(queries) == {"q1", "q2"}  # only judged queries
    assert qrels == {"q1": {"d2"}, "q2": {"d1"}}  # score 0 is not relevant
    table = score_modes(corpus, queries, qrels, "hashing-64", tmp_path / "cache")
    # with one relevant document per query, BM25 puts it first for both: every figure is exactly 1
    assert table["lexical"] == {"ndcg@10": 1.0, "mrr@10": 1.0, "recall@10": 1.0}


def test_a_folder_that_is_not_beir_says_what_it_needs(tmp_path: Path) -> None:
    from faqbot.errors import FaqbotError

    with pytest.raises(FaqbotError, match="corpus.jsonl, queries.jsonl"):
        load_beir(tmp_path)


@pytest.mark.skipif(not MEDQUAD.exists(), reason="../shared/datasets/medquad is not beside this checkout")
def test_medquad_pairs_become_question_to_own_answer_cases() -> None:
    corpus, queries, qrels = load_medquad(MEDQUAD, limit=50)
    assert 0 < len(queries) <= 50 and set(queries) == set(corpus) == set(qrels)
    assert all(qrels[q] == {q} for q in queries)
    assert all(len(corpus[q]) > 0 for q in queries)
