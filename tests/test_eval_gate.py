"""Regression gate: the full pipeline on the gold set's test split must not fall below eval/baseline.json."""

from __future__ import annotations

import json

import pytest

from faqbot.embedding import CachedQueryEmbedder, model_id_for
from faqbot.evaluation import gate_metrics, load_gold, run_case
from faqbot.index import build_index, load_index
from faqbot.retrieval import Answerer
from tests.conftest import DATA, REPO

pytestmark = pytest.mark.model
GOLD = REPO / "eval" / "gold.jsonl"
BASELINE = REPO / "eval" / "baseline.json"


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory, real_embedder):
    if not GOLD.exists() or not BASELINE.exists():
        pytest.fail("eval/gold.jsonl and eval/baseline.json are part of the repository; restore them")
    index_dir = tmp_path_factory.mktemp("gate") / "index"
    build_index(DATA, index_dir, lambda: real_embedder, model_id_for("packaged"))
    answerer = Answerer(load_index(index_dir), CachedQueryEmbedder(real_embedder))
    cases = [c for c in load_gold(GOLD) if c.split == "test"]
    return [run_case(answerer, case, "full") for case in cases]


def test_quality_does_not_regress(outcomes) -> None:
    baseline = json.loads(BASELINE.read_text())
    now = gate_metrics(outcomes)
    # one answerable case of slack for float noise between machines; the drug and abstention rules get none
    slack = 1.0 / sum(o.case.answerable for o in outcomes) + 1e-9
    assert now["hit@1"] >= baseline["hit@1"] - slack, f"hit@1 fell: {now['hit@1']:.3f} < {baseline['hit@1']:.3f}; run faqbot eval"
    assert now["wrong_drug"] <= baseline["wrong_drug"] + 1e-9, f"wrong-drug rate rose: {now['wrong_drug']:.3f}"
    assert now["withheld_unanswerable"] >= baseline["withheld_unanswerable"] - 1e-9, "fewer unanswerable questions withheld"
    assert now["false_abstention"] <= baseline["false_abstention"] + slack, "more answerable questions wrongly withheld"
