"""Regression gate: the full pipeline on the test and heldout-pages splits must not fall below eval/baseline.json."""

from __future__ import annotations

import json
import re

import pytest

from faqbot.embedding import CachedQueryEmbedder, model_id_for
from faqbot.evaluation.gold import TRAIN_SPLIT, load_gold
from faqbot.evaluation.metrics import Outcome, run_case, run_clarify_case
from faqbot.evaluation.reports import GATE, HEADLINE_SPLITS, gate_metrics
from faqbot.index import build_index, load_index
from faqbot.retrieval import Answerer
from tests.conftest import DATA, REPO

pytestmark = pytest.mark.model
GOLD = REPO / "eval" / "gold.jsonl"
BASELINE = REPO / "eval" / "baseline.json"
HIGHER_IS_WORSE = {"withheld_answerable", "wrong_drug"}
# learned figures get one case of slack for float noise between machines; rule-based ones get none (but the
# baseline's rounding to 4 decimals)
ROUNDING = 5e-5
NO_SLACK = {"wrong_drug", "withheld:absent-drug", "withheld:out-of-scope"}


@pytest.fixture(scope="module")
def answerer(tmp_path_factory, real_embedder, build_embedder) -> Answerer:
    if not GOLD.exists() or not BASELINE.exists():
        pytest.fail("eval/gold.jsonl and eval/baseline.json are part of the repository; restore them")
    index_dir = tmp_path_factory.mktemp("gate") / "index"
    build_index(DATA, index_dir, lambda: build_embedder, model_id_for("packaged"))
    return Answerer(load_index(index_dir), CachedQueryEmbedder(real_embedder))


@pytest.fixture(scope="module")
def outcomes(answerer: Answerer) -> dict[str, list[Outcome]]:
    cases = [c for c in load_gold(GOLD) if not c.clarify]  # scored apart, below
    return {split: [run_case(answerer, c, "full") for c in cases if c.split == split] for split in HEADLINE_SPLITS}


def test_a_picked_drug_answers_no_worse_than_the_baseline(answerer: Answerer) -> None:
    """Issue 15: every question naming no drug is asked back, and after "Which medicine do you mean?" the
    answer once the drug is given is right at least as often as eval/baseline.json records (one case of slack).

    Issue 12 changed this from "as often as the question with the drug named in it, less one case": the
    named questions carry words the pick cannot ("too many tylenol" against "too many tablets", then
    "tylenol"), and the question-kind model widened that gap (right after the pick 22 -> 20 of 24, named
    23 -> 24; no reading of the pick did better on dev). Both figures are in `faqbot eval`'s clarify table.
    """
    baseline = json.loads(BASELINE.read_text()).get("clarify")
    assert baseline, "eval/baseline.json has no 'clarify' figures; run faqbot eval --record-baseline"
    outs = [run_clarify_case(answerer, c) for c in load_gold(GOLD) if c.clarify]
    assert len(outs) >= 20, "eval/gold.jsonl should hold at least 20 clarifying-turn cases"
    asked_back = sum(o.asked_back for o in outs)
    picked, named = sum(o.picked.right for o in outs), sum(o.named.right for o in outs)
    summary = f"asked back {asked_back}/{len(outs)}; right after the pick {picked}, with the drug named {named}"
    assert asked_back == len(outs), summary
    assert picked / len(outs) >= baseline["answered_right_after_pick"] - 1 / len(outs) - ROUNDING, summary


def _denominator(outs: list[Outcome], figure: str) -> int:
    """How many cases one figure is a share of, so that one case of slack is 1/that."""
    if figure == "answered_precision":
        return sum(o.answered for o in outs)
    if figure.startswith("withheld:"):
        return sum(o.case.kind == figure.split(":", 1)[1] for o in outs)
    if figure == "wrong_drug":
        return len(outs)
    return sum(o.case.answerable for o in outs)


@pytest.mark.parametrize("split", HEADLINE_SPLITS)
def test_no_figure_a_visitor_sees_regresses(outcomes, split: str) -> None:
    baseline = json.loads(BASELINE.read_text())[split]
    now = gate_metrics(outcomes[split])
    assert set(baseline) <= set(now), f"figures missing on {split}: {sorted(set(baseline) - set(now))}"
    worse = []
    for figure in GATE:
        if figure not in baseline:
            continue
        slack = 0.0 if figure in NO_SLACK else 1.0 / max(1, _denominator(outcomes[split], figure))
        if figure in HIGHER_IS_WORSE:
            if now[figure] > baseline[figure] + slack + ROUNDING:
                worse.append(f"{figure} rose to {now[figure]:.3f} (baseline {baseline[figure]:.3f})")
        elif now[figure] < baseline[figure] - slack - ROUNDING:
            worse.append(f"{figure} fell to {now[figure]:.3f} (baseline {baseline[figure]:.3f})")
    assert not worse, f"{split}: " + "; ".join(worse) + "; run faqbot eval to see the cases"


def test_training_questions_never_touch_a_held_out_page(answerer: Answerer) -> None:
    """eval/train*.jsonl are for fitting: no case may be about a heldout-pages page, cite one, or name its drug."""
    train = [c for path in sorted((REPO / "eval").glob("train*.jsonl")) for c in load_gold(path, (TRAIN_SPLIT,))]
    gold = load_gold(GOLD)
    # the held-out pages: those only heldout-pages cases are about
    held = {c.doc_id for c in gold if c.split == "heldout-pages"} - {c.doc_id for c in gold if c.split != "heldout-pages"} - {None}
    names = {n.lower() for d in held for n in answerer.index.drugs[d].names}
    assert len(train) >= 200 and held and "ocrevus" in names
    touching = [
        c.id for c in train
        if c.doc_id in held or any(r.split("#", 1)[0] in held for r in c.relevant)
        or any(re.search(rf"\b{re.escape(n)}\b", c.question.lower()) for n in names)
    ]  # fmt: skip
    assert not touching, f"training cases about held-out pages: {touching}"


def test_the_shipped_model_answers_held_out_pages_as_pages_it_never_saw(answerer: Answerer) -> None:
    """The fit records the pages it saw; the held-out pages must not be among them, so that heldout-pages measures the
    parameters every new page on the site gets (Model.new_pages), and the pages dev is about must be."""
    gold = load_gold(GOLD)
    held = {c.doc_id for c in gold if c.split == "heldout-pages"} - {c.doc_id for c in gold if c.split != "heldout-pages"} - {None}
    dev_pages = {c.doc_id for c in gold if c.split == "dev" and c.doc_id}
    model = answerer.model
    assert model.new_pages and model.for_new_pages().page_axis
    assert held and not held & set(model.fitted_pages), "a held-out page was fitted on"
    assert dev_pages <= set(model.fitted_pages)
    assert all(answerer.ranker.rank("dose", ["dose"], {"dose"}, [d]).model is model.for_new_pages() for d in held)
