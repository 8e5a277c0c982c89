"""The shipped sample pages: structure, names, and the drug lock on every page's brand name."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from faqbot.embedding import HashingEmbedder
from faqbot.index import build_index, load_index
from faqbot.model import Model
from faqbot.pages import load_pages
from faqbot.retrieval import Answerer
from tests.conftest import DATA

SECTIONS = [
    "Usage", "Alternate Names", "How It Works", "Dosage", "Standard Dosage", "Adults", "Children", "Special Cases",
    "Clinical Use Cases", "Dosage Adjustments", "Side Effects", "Common Side Effects", "Rare but Serious Side Effects",
    "Long-Term Effects", "Adverse Drug Reactions (ADR)", "Contraindications", "Drug Interactions",
    "Pregnancy and Breastfeeding", "Drug Profile Summary", "Popular Combinations", "Precautions",
    "FAQs (Frequently Asked Questions)",
]  # fmt: skip
PAGES = sorted(DATA.glob("*.md"))


def headings(path: Path) -> list[str]:
    titles = []
    for line in path.read_text().split("\n---\n", 1)[1].splitlines():
        match = re.match(r"^#{2,4} \*\*(.+?)\*\*", line)
        if match and not re.match(r"Q\d+:", match.group(1)):
            titles.append(match.group(1).rstrip(":"))
    return titles


@pytest.mark.parametrize("path", PAGES, ids=[p.stem for p in PAGES])
def test_page_has_the_seed_structure(path: Path) -> None:
    import frontmatter

    post = frontmatter.load(path)
    assert list(post.metadata)[:5] == ["title", "description", "is_banned", "lastModified", "faqs"]
    assert 8 <= len(post.metadata["faqs"]) <= 10
    assert headings(path) == SECTIONS


def test_every_page_builds_without_warning_and_names_are_extracted(tmp_path: Path) -> None:
    pages, errors = load_pages(DATA)
    assert errors == []
    assert len(pages) >= 25
    for page in pages:
        assert page.warnings == (), page.doc_id
        assert 8 <= len(page.faqs) <= 10, page.doc_id
        brands = [n for n in page.names[1:] if n.lower() != page.doc_id.replace("-", " ")]
        assert brands, f"{page.doc_id}: no brand or other name found in Alternate Names"
    names = {p.doc_id: {n.lower() for n in p.names} for p in pages}
    assert {"acetaminophen", "tylenol", "panadol"} <= names["paracetamol"]
    assert {"lemtrada", "campath"} <= names["alemtuzumab"]
    assert next(p for p in pages if p.doc_id == "sibutramine").is_banned is True
    # a name belongs to one drug only, or the drug lock could not tell them apart
    owners: dict[str, str] = {}
    for doc_id, doc_names in names.items():
        for name in doc_names:
            assert owners.setdefault(name, doc_id) == doc_id, f"{name} is a name of {owners[name]} and {doc_id}"


@pytest.fixture(scope="module")
def answerer(tmp_path_factory) -> Answerer:
    root = tmp_path_factory.mktemp("corpus")
    build_index(DATA, root / "index", lambda: HashingEmbedder(256), "hashing-256")
    return Answerer(load_index(root / "index"), HashingEmbedder(256), Model())


@pytest.mark.parametrize("path", PAGES, ids=[p.stem for p in PAGES])
def test_a_brand_name_question_locks_onto_its_page(answerer: Answerer, path: Path) -> None:
    drug = answerer.index.drugs[path.stem]
    brand = next(n for n in drug.names[1:] if n.lower() != path.stem.replace("-", " "))
    result = answerer.ask(f"what are the side effects of {brand.lower()}")
    assert result["drug"]["doc_id"] == path.stem
    shown = ([result["answer"]] if result["answer"] else []) + result["alternatives"]
    assert shown and all(p["doc_id"] == path.stem for p in shown)
