"""The maintained drug vocabulary: names the pages do not list, read as the drugs they are."""

from __future__ import annotations

import re
import shutil

import pytest

from faqbot import vocabulary
from faqbot.analysis import DrugMatcher
from faqbot.embedding import HashingEmbedder
from faqbot.index import build_index, load_index
from faqbot.model import Model
from faqbot.retrieval import Answerer
from faqbot.vocabulary import drug_groups, generic_name, quoted_name
from tests.conftest import DATA


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    root = tmp_path_factory.mktemp("vocabulary")
    build_index(DATA, root / "index", lambda: HashingEmbedder(256), "hashing-256")
    return load_index(root / "index")


@pytest.fixture
def without_vocabulary(monkeypatch: pytest.MonkeyPatch):
    """As on a machine where the vocabulary package is missing."""
    monkeypatch.setattr(vocabulary, "data_path", lambda: None)
    vocabulary.forget()
    yield
    vocabulary.forget()


def test_brands_and_other_names_give_the_generic_name() -> None:
    assert generic_name("aleve") == "naproxen"
    assert generic_name("Crestor") == "rosuvastatin"
    assert generic_name("ozempic") == "semaglutide"
    assert generic_name("campath") == "alemtuzumab"  # the data's "alemtuzumab (multiple sclerosis)", use dropped
    assert quoted_name("aleve") == "'aleve' (naproxen)" and quoted_name("naproxen") == "'naproxen'"


def test_english_words_and_unknown_names_are_not_looked_up() -> None:
    # the data holds "caps" and "sulfur" as drug names; a visitor using those words means no drug
    assert generic_name("caps") is None and generic_name("sulfur") is None
    assert generic_name("turmeric") is None and generic_name("pregnancy") is None
    # groups of medicines are not drugs: "how long before the antidepressant starts working" names none
    assert generic_name("antidepressant") is None and generic_name("antihistamine") is None


def test_groups_come_from_the_vocabulary_tree() -> None:
    assert "fluoroquinolones" in drug_groups("ciprofloxacin")
    assert "benzodiazepines" in drug_groups("diazepam")
    assert "hydroxyzine" not in drug_groups("cetirizine")  # a drug above another in MeSH is not its group


@pytest.fixture(scope="module")
def unlisted_brand_index(tmp_path_factory):
    """The ibuprofen page without its sentence of brand names, beside the sertraline page."""
    root = tmp_path_factory.mktemp("unlisted")
    (root / "data").mkdir()
    page = re.sub(r"Ibuprofen is marketed under the brand names[^\n]*", "", (DATA / "ibuprofen.md").read_text())
    assert "motrin" not in page.lower()
    (root / "data" / "ibuprofen.md").write_text(page)
    shutil.copy(DATA / "sertraline.md", root / "data" / "sertraline.md")
    build_index(root / "data", root / "index", lambda: HashingEmbedder(256), "hashing-256")
    return load_index(root / "index")


def test_a_brand_the_page_does_not_list_finds_its_page(unlisted_brand_index) -> None:
    assert [(m.doc_id, m.how) for m in DrugMatcher(unlisted_brand_index).find("max dose of motrin")] == [("ibuprofen", "alias")]
    result = Answerer(unlisted_brand_index, HashingEmbedder(256), Model()).ask("max dose of motrin")
    assert result["drug"]["doc_id"] == "ibuprofen"
    shown = ([result["answer"]] if result["answer"] else []) + result["alternatives"]
    assert shown and all(p["doc_id"] == "ibuprofen" for p in shown)


def test_without_the_vocabulary_that_brand_has_no_page(unlisted_brand_index, without_vocabulary) -> None:
    result = Answerer(unlisted_brand_index, HashingEmbedder(256), Model()).ask("max dose of motrin")
    assert result["answered"] is False and result["drug"] is None and "'motrin'" in result["message"]


def test_second_drug_without_a_page_is_answered_through_its_generic_name(index) -> None:
    result = Answerer(index, HashingEmbedder(256), Model()).ask("aubagio and crestor", k=5)
    assert result["notices"] == ["No page here covers 'crestor' (rosuvastatin); this answer is about Teriflunomide."]
    assert result["answered"] is True, result["message"]
    assert result["answer"]["doc_id"] == "teriflunomide"
    assert "rosuvastatin" in ((result["answer"]["question"] or "") + result["answer"]["text"]).lower()


def test_second_drug_without_a_page_is_answered_through_a_class_the_pages_put_its_generic_in(index) -> None:
    # "aleve" is naproxen; the pages list naproxen among the NSAIDs, and the ibuprofen page speaks of NSAIDs
    result = Answerer(index, HashingEmbedder(256), Model()).ask("can i take aleve and advil together", k=5)
    assert "'aleve' (naproxen)" in result["notices"][0]
    assert result["answered"] is True, result["message"]
    text = (result["answer"]["question"] or "") + result["answer"]["text"]
    assert result["answer"]["doc_id"] == "ibuprofen" and re.search(r"naproxen|NSAID", text, re.IGNORECASE), text


def test_without_the_vocabulary_such_a_name_is_not_understood(index, without_vocabulary, caplog) -> None:
    result = Answerer(index, HashingEmbedder(256), Model()).ask("aubagio and crestor", k=5)
    assert result["answered"] is False
    assert "not installed" in caplog.text


def test_the_report_lists_medicines_without_a_page_under_their_generic_name(index) -> None:
    from faqbot.report import build_report, to_csv, to_table

    now = 1_800_000_000.0
    asked = [
        ("can i take aleve and advil together", True, "ibuprofen"),
        ("max dose of aleve", False, None),
        ("naproxen and alcohol", False, None),
        ("aubagio and crestor", True, "teriflunomide"),
        ("what is humira used for", True, "adalimumab"),
    ]
    rows = [{"ts": now - 60 * i, "question": q, "answered": a, "doc_id": d} for i, (q, a, d) in enumerate(asked)]
    report = build_report(rows, now=now, log_days=90, embedder=None, index=index, find=DrugMatcher(index).find)
    missing = report["missing_pages"]
    assert [(g["medicine"], g["size"], g["answered"], g["names"]) for g in missing] == [
        ("naproxen", 3, 1, ["aleve", "naproxen"]),
        ("rosuvastatin", 1, 1, ["crestor"]),
    ]
    assert "max dose of aleve" in missing[0]["examples"]
    assert "naproxen" in to_table(report) and "aleve | naproxen" in to_csv(report)
