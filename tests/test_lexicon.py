"""One test per entry of faqbot's word lists (src/faqbot/lexicon/): each entry must do what it is there for."""

from __future__ import annotations

import pytest

from faqbot.analysis import DrugMatcher, known_drug_names, wordpiece_vocab
from faqbot.embedding import HashingEmbedder
from faqbot.index import build_index, load_index
from faqbot.lexical import STOPWORDS, _stemmer, tokenize
from faqbot.lexicon import (
    class_heads,
    class_qualifiers,
    drug_suffixes,
    edge_words,
    generic_heads,
    known_drug_lines,
    pick_words,
    stem_aliases,
    topic_words,
)
from faqbot.mentions import Mentions, own_classes
from faqbot.pages import normalise_name
from faqbot.report import build_report
from faqbot.retrieval import Answerer
from tests.conftest import DATA


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    root = tmp_path_factory.mktemp("lexicon")
    build_index(DATA, root / "index", lambda: HashingEmbedder(64), "hashing-64")
    return load_index(root / "index")


@pytest.fixture(scope="module")
def heading_tokens(index) -> set[str]:
    """The words that the topic bonus matches: section headings and FAQ questions of the shipped pages."""
    return {t for c in index.chunks for t in tokenize(" ".join(c.heading_path) + " " + (c.question or ""))}


@pytest.fixture(scope="module")
def page_tokens(index) -> set[str]:
    return {t for c in index.chunks for t in tokenize(f"{c.question or ''} {c.text}")}


@pytest.mark.parametrize(("word", "topic"), sorted(topic_words().items()))
def test_topic_word_leads_to_a_heading_word(word: str, topic: str, heading_tokens: set[str]) -> None:
    assert word.isalpha() and word == word.lower(), f"'{word}' must be one lower-case word"
    assert set(tokenize(topic)) & heading_tokens, f"'{word}' -> '{topic}': no heading or FAQ question of data/ uses '{topic}'"


@pytest.mark.parametrize(("stem", "target"), sorted(stem_aliases().items()))
def test_stem_alias_maps_a_real_stem_to_a_word_the_pages_use(stem: str, target: str, page_tokens: set[str]) -> None:
    assert stem != target, f"'{stem}' maps to itself: the entry does nothing"
    assert any(_stemmer().stemWord(w) == stem for w in wordpiece_vocab() | {stem}), f"no English word stems to '{stem}'"
    assert target in page_tokens, f"'{stem}' -> '{target}': no page of data/ has the stem '{target}'"


@pytest.mark.parametrize("suffix", drug_suffixes())
def test_drug_suffix_ends_drug_names_and_no_english_word(suffix: str, index) -> None:
    names = known_drug_names() | {normalise_name(n) for d in index.drugs.values() for n in d.names}
    assert any(n.endswith(suffix) for n in names), f"no known drug name ends with '-{suffix}'; add one to known_drugs.txt or drop it"
    english = sorted(w for w in wordpiece_vocab() if w.endswith(suffix) and len(w) >= 6 and w not in names)
    assert not english, f"'-{suffix}' also ends ordinary words {english[:5]}: they would be taken for drugs"


@pytest.fixture(scope="module")
def matcher(index) -> DrugMatcher:
    return DrugMatcher(index)


@pytest.mark.parametrize("name", known_drug_lines())
def test_known_drug_name_is_recognised_as_a_drug(name: str, matcher: DrugMatcher, index) -> None:
    assert name == name.lower(), f"'{name}': one lower-case name a line"
    found = matcher.find(f"can I take {name} with food?")
    assert found, f"'{name}' in a question is not recognised as a drug"
    covered = {normalise_name(n): d for d, info in index.drugs.items() for n in info.names}
    expected = covered.get(normalise_name(name))
    assert found[0].doc_id == expected, f"'{name}' was read as {found[0]}"


@pytest.fixture(scope="module")
def answerer(index) -> Answerer:
    return Answerer(index, HashingEmbedder(64))


PENDING = "how long should I wait between doses?"


def test_a_reply_saying_more_than_a_pick_is_a_new_question(answerer: Answerer) -> None:
    """What the pick-word test below relies on: a reply with another word beside the name drops the pending question."""
    assert answerer.ask("warfarin", pending=PENDING)["clarified_question"] == PENDING
    assert answerer.ask("warfarin bruising", pending=PENDING)["clarified_question"] is None


@pytest.mark.parametrize("word", sorted(pick_words()))
def test_pick_word_beside_a_drug_name_still_picks_it_for_the_pending_question(word: str, answerer: Answerer) -> None:
    assert word.isalpha() and word == word.lower(), f"'{word}' must be one lower-case word"
    assert word not in STOPWORDS, f"'{word}' is a stop word, which a pick may hold anyway: the entry does nothing"
    reply = f"{word} warfarin"  # the reply to "Which medicine do you mean?"
    result = answerer.ask(reply, pending=PENDING)
    assert result["clarified_question"] == PENDING, f"'{reply}' was read as a new question, not as picking warfarin"
    assert result["drug"]["doc_id"] == "warfarin"


def test_a_class_named_before_such_as_makes_its_members_mentioned() -> None:
    """What the generic-head test below relies on: "<class> such as aspirin" makes a passage naming the class speak of aspirin."""
    mentions = Mentions(["Tell your doctor about any NSAIDs such as aspirin."])
    assert mentions.mentioned("Do not take NSAIDs with this medicine.", ["aspirin"])


@pytest.mark.parametrize("head", sorted(generic_heads()))
def test_generic_head_is_not_taken_for_a_class_of_the_drugs_after_it(head: str) -> None:
    assert head.isalpha() and head == head.lower(), f"'{head}' must be one lower-case word"
    assert head not in STOPWORDS, f"'{head}' is a stop word, which never starts a class: the entry does nothing"
    mentions = Mentions([f"Tell your doctor about any {head} such as aspirin."])
    passage = f"Tell your doctor about any {head} you use."
    assert not mentions.mentioned(passage, ["aspirin"]), f"'{head}' was taken for aspirin's class: a passage saying '{head}' would answer for aspirin"


def unanswered_groups_of(questions: list[str], index) -> list[list[str]]:
    """The editors' report (no model: each wording that differs once the drug's names are out is its own group)."""
    rows = [
        {"ts": 1_000_000.0 + n, "question": q, "answered": False, "doc_id": "warfarin", "chunk_id": None,
         "closest_chunk_id": None, "helpful": None, "comment": None}
        for n, q in enumerate(questions)
    ]  # fmt: skip
    report = build_report(rows, now=1_000_100.0, log_days=60, embedder=None, index=index)
    return sorted(sorted(g["examples"]) for g in report["unanswered"])


@pytest.mark.parametrize("word", sorted(edge_words()))
def test_edge_word_left_by_a_removed_drug_name_does_not_split_a_report_group(word: str, index) -> None:
    assert word.isalpha() and word == word.lower(), f"'{word}' must be one lower-case word"
    questions = ["alcohol", f"warfarin {word} alcohol", f"alcohol {word} coumadin"]
    groups = unanswered_groups_of(questions, index)
    assert groups == [sorted(questions)], f"'{word}' left at the end of a question without its drug name made groups {groups}"


@pytest.mark.parametrize("head", sorted(class_heads()))
def test_class_head_names_a_class_only_with_the_word_before_it(head: str) -> None:
    assert head.isalpha() and head == head.lower(), f"'{head}' must be one lower-case word"
    assert head not in generic_heads(), f"'{head}' is a generic head, which never names a class: the entry does nothing"
    classes = own_classes(f"Pharmacological Classification: Fooxetine is a long-acting calcium channel {head}.", ["Fooxetine"])
    assert f"channel {head}" in classes, f"'channel {head}' should be Fooxetine's class"
    assert head not in classes, f"'{head}' alone was taken for a class: every passage naming any {head} would speak of Fooxetine"


@pytest.mark.parametrize("word", sorted(class_qualifiers()))
def test_class_qualifier_is_not_part_of_the_class_name(word: str) -> None:
    assert word.isalpha() and word == word.lower(), f"'{word}' must be one lower-case word"
    assert word not in STOPWORDS, f"'{word}' is a stop word, which already ends a class name: the entry does nothing"
    mentions = Mentions([f"Avoid {word} anticoagulants such as aspirin."])
    assert mentions.mentioned("Do not take anticoagulants with it.", ["aspirin"]), f"'{word} anticoagulants' was taken for the class"
