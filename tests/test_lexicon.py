"""One test per entry of faqbot's word lists (src/faqbot/lexicon/): each entry must do what it is there for."""

from __future__ import annotations

import pytest

from faqbot.analysis import DrugMatcher, known_drug_names, wordpiece_vocab
from faqbot.embedding import HashingEmbedder
from faqbot.index import build_index, load_index
from faqbot.lexical import _stemmer, tokenize
from faqbot.lexicon import drug_suffixes, known_drug_lines, stem_aliases, topic_words
from faqbot.pages import normalise_name
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
