"""Fast checks of the answering pieces: drug recognition, highlights, sessions, calibration fitting."""

from __future__ import annotations

import re
import time

import numpy as np
import pytest

from faqbot.analysis import DrugMatcher
from faqbot.embedding import HashingEmbedder
from faqbot.evaluation.fitting import fit_logistic, relative_weights, utility_threshold
from faqbot.evaluation.metrics import ndcg, reciprocal_rank
from faqbot.index import build_index, load_index
from faqbot.mentions import Mentions, own_classes
from faqbot.model import Model
from faqbot.response import highlight, sentence_spans
from faqbot.retrieval import Answerer
from faqbot.sessions import Sessions
from tests.conftest import DATA


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    root = tmp_path_factory.mktemp("units")
    build_index(DATA, root / "index", lambda: HashingEmbedder(256), "hashing-256")
    return load_index(root / "index")


@pytest.mark.parametrize(
    ("question", "doc_id", "how"),
    [
        ("max dose of TYLENOL?", "paracetamol", "alias"),
        ("acetaminophen and alcohol", "paracetamol", "alias"),
        ("paracetemol overdose", "paracetamol", "fuzzy"),
        ("ibuprofin for kids", "ibuprofen", "fuzzy"),
        ("sertaline side effects", "sertraline", "fuzzy"),
        ("Glatiramer acetate injection", "glatiramer-acetate", "title"),
        ("copaxone", "glatiramer-acetate", "alias"),
        ("interferon beta 1a flu symptoms", "interferon-beta-1a", "title"),
        ("dimethyl fumarate flushing", "dimethyl-fumarate", "title"),
    ],
)
def test_drug_names_brands_and_typos_are_recognised(index, question: str, doc_id: str, how: str) -> None:
    matches = DrugMatcher(index).find(question)
    assert [(m.doc_id, m.how) for m in matches] == [(doc_id, how)]


def test_two_drugs_in_order_and_absent_drugs_flagged(index) -> None:
    matcher = DrugMatcher(index)
    assert [m.doc_id for m in matcher.find("can i take advil with coumadin")] == ["ibuprofen", "warfarin"]
    found = matcher.find("is cladribine like lemtrada")
    assert [(m.doc_id, m.matched) for m in found] == [(None, "cladribine"), ("alemtuzumab", "lemtrada")]
    assert [m.doc_id for m in matcher.find("ozanimod in pregnancy")] == [None]


def test_common_words_are_not_drugs(index) -> None:
    for question in ["what is the maximum dose", "headache and nausea after infusion", "pregnancy and breastfeeding",
                     "is it safe with alcohol", "monitoring blood pressure"]:  # fmt: skip
        assert DrugMatcher(index).find(question) == [], question


def test_absent_drug_is_never_answered_from_another_page(index) -> None:
    answerer = Answerer(index, HashingEmbedder(256), Model())
    result = answerer.ask("gabapentin dose")
    assert result["answered"] is False and result["alternatives"] == [] and "gabapentin" in result["message"]


def test_banned_drug_answers_carry_a_notice(index) -> None:
    result = Answerer(index, HashingEmbedder(256), Model()).ask("what was meridia used for")
    assert result["drug"]["doc_id"] == "sibutramine"
    assert result["notices"] and "withdrawn" in result["notices"][0]


def test_two_drug_question_returns_passages_of_both_pages(index) -> None:
    result = Answerer(index, HashingEmbedder(256), Model()).ask("can i take ibuprofen with warfarin", k=4)
    shown = ([result["answer"]] if result["answer"] else []) + result["alternatives"]
    assert {p["doc_id"] for p in shown[:2]} == {"ibuprofen", "warfarin"}


def test_highlight_marks_the_sentence_that_shares_the_question_words() -> None:
    text = "Take it with food. Do not drink alcohol while taking it, as it raises the risk of liver damage. Store cool."
    [[start, end]] = highlight(text, {"alcohol", "drink"})
    assert text[start:end] == "Do not drink alcohol while taking it, as it raises the risk of liver damage."
    bullets = "*   **Elderly:** no change.\n*   **Kidney problems:** lower the dose."
    spans = sentence_spans(bullets)
    assert [bullets[a:b] for a, b in spans] == ["**Elderly:** no change.", "**Kidney problems:** lower the dose."]


def test_sessions_expire_and_are_bounded() -> None:
    sessions = Sessions(max_sessions=2, ttl_s=0.05)
    sessions.set("a", "x")
    sessions.set("b", "y")
    sessions.set("c", "z")
    assert sessions.get("a") is None and sessions.get("c") == "z"
    time.sleep(0.06)
    assert sessions.get("c") is None


def test_metrics_match_hand_computed_values() -> None:
    ranked = ["a", "b", "c", "d"]
    assert reciprocal_rank(ranked, {"c"}) == pytest.approx(1 / 3)
    # relevant at ranks 1 and 3 of 2 relevant: (1 + 1/log2(4)) / (1 + 1/log2(3))
    assert ndcg(ranked, {"a", "c"}) == pytest.approx((1 + 0.5) / (1 + 1 / np.log2(3)))
    assert ndcg(ranked, {"z"}) == 0.0


def test_logistic_fit_recovers_a_separating_direction() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 2))
    y = (x[:, 0] + 0.2 * rng.normal(size=400) > 0).astype(float)
    coef, _ = fit_logistic(x, y)
    assert coef[0] > 3 * abs(coef[1])


def test_threshold_shows_an_answer_only_where_a_right_one_outweighs_two_wrong_ones() -> None:
    # scores 0.10 ... 0.90; below 0.50 one in three shown answers is right, from 0.50 up all are
    scores = [i / 100 for i in range(10, 91)]
    right = [s >= 0.5 or i % 3 == 1 for i, s in enumerate(scores)]
    threshold = utility_threshold(scores, right, wrong_cost=2.0)
    # showing a band where one in three is right gains 1 and loses 4: never worth it
    assert threshold == pytest.approx(0.50)
    # with wrong answers free, every right answer is shown (0.11 is the lowest right one; ties go higher)
    assert utility_threshold(scores, right, wrong_cost=0.0) == pytest.approx(0.11)


@pytest.mark.parametrize("dense_weight", [3.0, -3.0])
def test_fitted_weights_keep_the_fitted_order_whatever_the_sign_of_dense(dense_weight: float) -> None:
    from faqbot.model import SIGNALS
    from faqbot.ranking import fuse

    rng = np.random.default_rng(0)
    n_sig = len(SIGNALS)
    w = np.r_[dense_weight, rng.normal(size=n_sig - 1), rng.normal(size=2)]  # signals, then two heading priors
    signals, kinds = rng.random((12, n_sig)), rng.integers(0, 2, size=12)
    weights, priors = relative_weights(w, {"adults": 0, "faq": 1})
    assert weights["dense"] == pytest.approx(np.sign(dense_weight))
    fitted = fuse(signals, w[:n_sig], w[n_sig:][kinds])
    used = fuse(signals, np.array([weights[s] for s in SIGNALS]), np.array([priors["adults"], priors["faq"]])[kinds])
    assert list(np.argsort(-used)) == list(np.argsort(-fitted)), "the ranking uses the order the fit found"


def test_pages_own_such_as_lists_put_a_drug_in_a_class() -> None:
    mentions = Mentions(["Avoid NSAIDs such as ibuprofen, naproxen and diclofenac.", "Other medicines such as warfarin."])
    assert "nsaids" in mentions.classes["naproxen"]
    assert "warfarin" not in mentions.classes  # "medicines" is too general to be a class
    assert mentions.mentioned("NSAID use raises the bleeding risk.", ["naproxen"])  # singular form too
    assert mentions.mentioned("Combine with naproxen only on advice.", ["Naproxen"])
    assert not mentions.mentioned("Paracetamol is preferred for pain.", ["naproxen"])


def test_coverage_sees_question_words_the_page_never_uses(index) -> None:
    from faqbot.decision import Coverage
    from faqbot.lexical import tokenize

    coverage = Coverage(index)
    rows = [i for i, c in enumerate(index.chunks) if c.doc_id == "warfarin" and "bleed" in tokenize(c.text)]
    assert rows, "the warfarin page speaks of bleeding"
    on_page, missing_on_page = coverage(set(tokenize("warfarin bleeding")) - {"warfarin"}, rows[0], "warfarin")
    assert on_page == 1.0 and missing_on_page == 0.0
    # "imprint" and "medicare": words of questions the page cannot answer, used nowhere on it
    found, missing = coverage(set(tokenize("imprint on the tablet, covered by medicare")), rows[0], "warfarin")
    assert missing > 0.5 and found < 0.5, (found, missing)


def test_analyse_reads_the_drugs_and_the_conversation(index) -> None:
    from faqbot.analysis import Analyser

    analyser = Analyser(index)
    follow_up = analyser.analyse("and   in pregnancy?", conversation_drug="warfarin")
    assert follow_up.text == "and in pregnancy?"
    assert [(m.doc_id, m.how) for m in follow_up.target] == [("warfarin", "context")]
    assert "pregnanc" in follow_up.topic_tokens
    assert analyser.analyse("ozanimod dose").no_page == ["ozanimod"]  # a drug no page covers, nothing to answer about
    mixed = analyser.analyse("can I take naproxen with sertraline")
    assert [m.doc_id for m in mixed.target] == ["sertraline"] and [m.matched for m in mixed.absent] == ["naproxen"]
    assert any("naproxen" in n for n in mixed.notices)
    assert not (mixed.name_tokens & set(mixed.tokens)), "drug names are left out of the words BM25 matches"


def test_ranking_is_the_one_fuse_of_the_signals(index) -> None:
    from faqbot.model import SIGNALS
    from faqbot.ranking import Ranker, fuse

    model = Model(weights={"dense": 1.0, "lexical": 0.5, "topic": 0.2, "faq": -0.1, "passage": 0.3, "later_part": -0.2},
                  priors={"faq": 0.05})  # fmt: skip
    ranker = Ranker(index, HashingEmbedder(256), model)
    ranking = ranker.rank("warfarin alcohol", ["alcohol"], {"alcohol"}, ["warfarin"])
    assert ranking.ranked and all(index.chunks[c].doc_id == "warfarin" for c in ranking.ranked)
    weights = model.weight_vector("full")
    for c in ranking.ranked:
        s = ranking.signals[c]
        assert s["fused"] == pytest.approx(float(fuse(np.array([s[n] for n in SIGNALS]), weights, s["prior"])))
    fused = [ranking.signals[c]["fused"] for c in ranking.ranked]
    assert fused == sorted(fused, reverse=True)


def test_each_sentence_is_embedded_alone_and_with_the_next_under_its_heading() -> None:
    from faqbot.chunks import Chunk, sentence_texts

    chunk = Chunk(
        chunk_id="warfarin#precautions", doc_id="warfarin", anchor="precautions", kind="section", title="Warfarin",
        section="Precautions", heading_path=("Precautions",), question=None,
        text="*   **Diet:** keep vitamin K intake steady.\n*   Avoid heavy drinking. Report any bleeding.",
        source_path="warfarin.md", last_modified="2024-01-01", is_banned=False,
    )  # fmt: skip
    assert sentence_texts(chunk) == [
        ("Warfarin: Diet: keep vitamin K intake steady.", "Warfarin. Precautions. Diet: keep vitamin K intake steady. Avoid heavy drinking."),
        ("Warfarin: Avoid heavy drinking.", "Warfarin. Precautions. Avoid heavy drinking. Report any bleeding."),
        ("Warfarin: Report any bleeding.", "Warfarin. Precautions. Report any bleeding."),
    ]


def test_the_sentence_signals_are_each_candidates_best_sentence(index) -> None:
    from faqbot.chunks import sentence_texts
    from faqbot.ranking import Ranker

    embedder = HashingEmbedder(256)
    ranker = Ranker(index, embedder, Model())
    query = embedder.encode(["how much alcohol can I drink on warfarin"])[0]
    rows = np.array([*index.chunk_rows["warfarin"][::-1], *index.chunk_rows["ibuprofen"][:3]])  # any order, two pages
    alone, paired = ranker.sentence_signals(rows, query)
    for i, c in enumerate(rows.tolist()):  # the index keeps sentence vectors in half precision
        texts = sentence_texts(index.chunks[c])
        assert alone[i] == pytest.approx(float((embedder.encode([a for a, _ in texts]) @ query).max()), abs=2e-3)
        assert paired[i] == pytest.approx(float((embedder.encode([p for _, p in texts]) @ query).max()), abs=2e-3)
    assert not ranker.sentence_signals(rows, None)[0].any()


def test_a_page_says_which_classes_its_own_drug_is_in() -> None:
    text = (
        "*   Fooxetine is used as an adjunct to talking therapy\n"
        "**Pharmacological Classification:** Fooxetine is an antidepressant of the selective serotonin reuptake "
        "inhibitor (SSRI) class. It is classified as a long-acting calcium channel blocker. "
        "Aspirin is a salicylate. It is a platelet inhibitor. Fooxetine is a treatment for low mood.\n"
        "Fooxetine is a prodrug. Fooxetine is a protein made in yeast cells."
    )
    classes = own_classes(text, ["Fooxetine"])
    assert {"antidepressant", "ssri", "channel blocker"} <= classes
    # a head that needs its modifier, another drug's sentence and the "It" after it, a use, a list item
    # without a stop, and sentences that describe the drug without classifying it give no classes
    assert not classes & {"inhibitor", "blocker", "salicylate", "platelet inhibitor", "treatment", "adjunct", "prodrug", "protein"}


def test_a_second_drug_with_a_page_is_answered_only_from_a_passage_about_it_or_its_class(index) -> None:
    ans = Answerer(index, HashingEmbedder(256))
    # the infliximab page never names prednisone, but says corticosteroids are used alongside it, and the
    # prednisone page says prednisone is a corticosteroid
    both = ans.ask("can i take prednisone with infliximab")
    assert both["answered"]
    assert re.search(r"prednisone|corticosteroid", both["answer"]["text"], re.IGNORECASE)
    # neither the trastuzumab nor the sibutramine page names the other drug or a class of it
    neither = ans.ask("trastuzumab and sibutramine together")
    assert not neither["answered"] and neither["alternatives"]
    assert "Neither the Trastuzumab page nor the Sibutramine page" in neither["message"]


def test_a_page_the_fit_never_saw_is_ranked_and_decided_by_the_new_pages_model(index, tmp_path) -> None:
    """Model.fitted_pages / new_pages: a question locked to another page gets the other parameters, read off its
    page's axis; a fitted page, no page or two pages keep the main ones. Survives saving and loading."""
    from faqbot.ranking import Ranker

    dim = 256
    rng = np.random.default_rng(0)
    aspect = [*rng.normal(size=dim).round(4), 0.1]
    new = Model(threshold=0.0, priors={"faq": 3.0}, page_axis=True, aspect=aspect).as_dict()
    model = Model(threshold=1.0, fitted_pages=["warfarin"], new_pages=new)
    model.save(tmp_path)
    model = Model.load(tmp_path)
    assert model.for_pages(["warfarin"]) is model and model.for_pages(None) is model
    assert model.for_pages(["warfarin", "ibuprofen"]) is model
    unseen = model.for_pages(["ibuprofen"])
    assert unseen is not model and unseen.page_axis and unseen.threshold == 0.0 and unseen is model.for_pages(["metformin"])

    embedder = HashingEmbedder(dim)
    ranker = Ranker(index, embedder, model)
    seen_rank = ranker.rank("alcohol", ["alcohol"], {"alcohol"}, ["warfarin"])
    new_rank = ranker.rank("alcohol", ["alcohol"], {"alcohol"}, ["ibuprofen"])
    assert seen_rank.model is model and new_rank.model is unseen
    assert all(new_rank.signals[c]["prior"] == (3.0 if index.chunks[c].kind == "faq" else 0.0) for c in new_rank.ranked)
    assert all(seen_rank.signals[c]["prior"] == 0.0 for c in seen_rank.ranked)
    raw = embedder.encode(["Ibuprofen: alcohol"])[0]
    axis = ranker.page_axes["ibuprofen"]
    assert new_rank.query_vector is not None and abs(float(new_rank.query_vector @ axis)) < 1e-5
    assert np.allclose(new_rank.query_vector + float(raw @ axis) * axis, raw, atol=1e-5), "only the page's axis is taken out"
    assert np.allclose(seen_rank.query_vector, embedder.encode(["Warfarin: alcohol"])[0], atol=1e-6)

    answerer = Answerer(index, embedder, model)
    assert answerer.ask("warfarin and alcohol")["answered"] is False  # threshold 1: never
    assert answerer.ask("ibuprofen and alcohol")["answered"] is True  # threshold 0: always
