"""External data sets through the shipped pipeline (MedQuAD tests skipped when ../shared is not beside the repo)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from faqbot.errors import FaqbotError
from faqbot.evaluation.external import beir_set, load_beir, load_medquad, medquad_set, score_set
from faqbot.settings import Settings
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


def test_beir_folder_is_read_and_scored_through_the_answerer(tmp_path: Path) -> None:
    write_beir(tmp_path / "beir")
    corpus, queries, qrels = load_beir(tmp_path / "beir")
    assert set(corpus) == {"d1", "d2", "d3"}
    assert set(queries) == {"q1", "q2"}  # only judged queries
    assert qrels == {"q1": {"d2"}, "q2": {"d1"}}  # score 0 is not relevant
    data = beir_set(tmp_path / "beir")
    assert set(data.pages) == {"d1", "d2", "d3"} and data.qrels == {"q1": {"d2"}, "q2": {"d1"}}
    table = score_set(data, Settings(model="hashing-64"), tmp_path / "cache")
    assert set(table) == {"lexical", "dense", "hybrid", "full"}
    # one relevant document per query, and BM25 puts it first for both: the lexical row is exactly 1
    assert table["lexical"] == {"ndcg@10": 1.0, "mrr@10": 1.0, "recall@10": 1.0}
    # only the full pipeline decides whether to answer
    assert "answered" in table["full"] and "answered" not in table["dense"]


def test_a_folder_that_is_not_beir_says_what_it_needs(tmp_path: Path) -> None:
    with pytest.raises(FaqbotError, match="corpus.jsonl, queries.jsonl"):
        load_beir(tmp_path)


@pytest.mark.skipif(not MEDQUAD.exists(), reason="../shared/datasets/medquad is not beside this checkout")
def test_medquad_eval_part_shares_no_document_with_the_training_part() -> None:
    held = load_medquad(MEDQUAD, part="eval")
    train = load_medquad(MEDQUAD, part="train")
    assert len(held) + len(train) == len(load_medquad(MEDQUAD))
    assert 0.05 < len(held) / (len(held) + len(train)) < 0.15
    assert not {(p["source"], p["doc"]) for p in held} & {(p["source"], p["doc"]) for p in train}


@pytest.mark.skipif(not MEDQUAD.exists(), reason="../shared/datasets/medquad is not beside this checkout")
def test_medquad_pairs_become_pages_whose_sections_answer_their_questions() -> None:
    pairs = load_medquad(MEDQUAD, part="eval")[:200]
    data = medquad_set(pairs)
    assert set(data.queries) == {p["id"] for p in pairs}
    sections = {f"{doc}/{heading}": text for doc, (_, secs) in data.pages.items() for heading, text in secs}
    for pair in pairs:
        (relevant,) = data.qrels[pair["id"]]
        assert sections[relevant] == pair["answer"]  # each question points at its own answer, and only at it
