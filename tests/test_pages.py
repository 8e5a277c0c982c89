"""Reading pages: FAQ repair, headings, sections, drug names, broken pages."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from faqbot.chunks import page_chunks, split_text
from faqbot.errors import PageError
from faqbot.pages import load_pages, parse_page
from tests.conftest import DATA, SEED

SEED_QUESTIONS = [
    "What is the recommended dosage for Alemtuzumab?",
    "What are the most serious side effects of Alemtuzumab?",
    "Can Alemtuzumab be used during pregnancy or breastfeeding?",
    "How does Alemtuzumab work in multiple sclerosis?",
    "How does Alemtuzumab work in B-cell chronic lymphocytic leukemia?",
    "What are the common infusion reactions associated with Alemtuzumab?",
    "What monitoring is required for patients receiving Alemtuzumab?",
    "Are there any contraindications to Alemtuzumab use?",
    "Can patients receive vaccinations while on Alemtuzumab?",
    "What is the duration of treatment with Alemtuzumab for MS?",
]


@pytest.fixture(scope="module")
def seed():
    return parse_page(SEED, root=DATA)


def test_every_seed_faq_appears_exactly_once_with_a_clean_question(seed) -> None:
    chunks = page_chunks(seed)
    questions = [c.question for c in chunks if c.kind == "faq"]
    assert questions == SEED_QUESTIONS
    # the body's FAQ section repeats the same FAQs: it must not become passages of its own
    assert not any("Q1" in c.text or "Frequently Asked" in c.section for c in chunks)
    assert sum("12 mg/day IV for 5 days for the first course" in c.text for c in chunks if c.kind == "faq") == 1


def test_faq_answers_lose_the_damage(seed) -> None:
    answers = {f.question: f.answer for f in seed.faqs}
    assert answers["Can Alemtuzumab be used during pregnancy or breastfeeding?"] == (
        "No, alemtuzumab is contraindicated in both pregnancy and breastfeeding."
    )
    assert (
        answers["How does Alemtuzumab work in B-cell chronic lymphocytic leukemia?"]
        == "It targets and destroys malignant B-cells."
    )


def test_no_chunk_carries_answer_debris_or_heading_bold(seed) -> None:
    for chunk in page_chunks(seed):
        for field in (chunk.text, chunk.question or "", chunk.section):
            assert "**A:**" not in field and "A:**" not in field, chunk.chunk_id
        assert "**" not in chunk.section and "**" not in (chunk.question or "")
        assert not chunk.text.startswith("#")


def test_heading_paths_follow_the_page(seed) -> None:
    by_anchor = {c.chunk_id: c for c in page_chunks(seed)}
    assert by_anchor["alemtuzumab#adults"].heading_path == ("Dosage", "Standard Dosage", "Adults")
    assert by_anchor["alemtuzumab#adults"].section == "Dosage › Standard Dosage › Adults"
    assert by_anchor["alemtuzumab#rare-but-serious-side-effects"].heading_path == (
        "Side Effects",
        "Rare but Serious Side Effects",
    )
    assert by_anchor["alemtuzumab#pregnancy-and-breastfeeding"].heading_path == ("Pregnancy and Breastfeeding",)


def test_text_on_a_heading_line_is_kept_and_empty_sections_are_dropped(seed) -> None:
    chunks = {c.chunk_id: c for c in page_chunks(seed)}
    assert chunks["alemtuzumab#children"].text.startswith("Not recommended. Safety and efficacy have not been established")
    # "## Dosage" is followed directly by "### Standard Dosage": no passage for either
    assert "alemtuzumab#dosage" not in chunks
    assert "alemtuzumab#standard-dosage" not in chunks


def test_brand_names_are_names_of_the_drug(seed) -> None:
    assert seed.names[0] == "Alemtuzumab"
    assert {"Campath", "Lemtrada"} <= set(seed.names)
    assert not any("B-CLL" in n or n == "MS" for n in seed.names)


def test_front_matter_fields_are_kept(seed) -> None:
    assert seed.is_banned is False
    assert seed.last_modified == "2025-09-22T17:21:52.138Z"
    assert seed.description == "Alemtuzumab is prescribed for the treatment of:"
    assert seed.source_path == "data/alemtuzumab.md"


def test_long_sections_split_at_boundaries_never_mid_sentence(seed) -> None:
    chunks = page_chunks(seed)
    how = [c for c in chunks if c.anchor == "how-it-works"]
    assert len(how) == 2 and [c.chunk_id for c in how] == ["alemtuzumab#how-it-works-1", "alemtuzumab#how-it-works-2"]
    section = next(s for s in seed.sections if s.anchor == "how-it-works")
    # the parts are the section, verbatim, in order
    assert re.sub(r"\s+", "", "".join(c.text for c in how)) == re.sub(r"\s+", "", section.text)
    for chunk in chunks:
        assert len(chunk.text) <= 1000 or "\n" not in chunk.text
        assert chunk.text.rstrip()[-1] in ".:)!?" or chunk.text.lstrip().startswith(("*", "-")), chunk.chunk_id


def test_split_text_keeps_bullets_whole() -> None:
    bullets = "\n".join(f"*   Item {i} is a sentence about dosing that is long enough to matter here." for i in range(40))
    parts = split_text(bullets, 300)
    assert len(parts) > 1
    assert all(p.startswith("*   Item") for p in parts)
    assert "\n".join(parts) == bullets


def test_clean_faqs_and_body_only_faqs(tmp_path: Path) -> None:
    clean = tmp_path / "clean.md"
    clean.write_text("---\ntitle: Cleanol\nfaqs:\n  - q: Is it safe?\n    a: Mostly.\n---\n## **Usage**\n\nFor tests.\n")
    page = parse_page(clean)
    assert [(f.question, f.answer) for f in page.faqs] == [("Is it safe?", "Mostly.")]
    body_only = tmp_path / "bodyonly.md"
    body_only.write_text(
        "---\ntitle: Bodyol\n---\n## **Usage**\n\nFor tests.\n\n## **FAQs (Frequently Asked Questions)**\n\n"
        "### **Q1: Can I drive?**\n\n**A:** Yes, if you feel well.\n\n### **Q2:  Is it addictive?**\n\n**A:** No.\n"
    )
    page = parse_page(body_only)
    assert [(f.question, f.answer) for f in page.faqs] == [
        ("Can I drive?", "Yes, if you feel well."),
        ("Is it addictive?", "No."),
    ]


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("badyaml.md", b"---\ntitle: [unclosed\n---\n## Usage\n\ntext\n", "not valid YAML"),
        ("notitle.md", b"---\ndescription: x\n---\n## Usage\n\ntext\n", "no 'title'"),
        ("latin1.md", "---\ntitle: Caf\u00e9\n---\n## Usage\n\nna\u00efve\n".encode("latin-1"), "not UTF-8"),
        ("empty.md", b"---\ntitle: Empty\n---\n", "nothing to index"),
    ],
)
def test_broken_pages_are_reported_and_skipped(tmp_path: Path, name: str, content: bytes, reason: str) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "alemtuzumab.md").write_bytes(SEED.read_bytes())
    (folder / name).write_bytes(content)
    pages, errors = load_pages(folder)
    assert [p.doc_id for p in pages] == ["alemtuzumab"]
    assert len(errors) == 1 and errors[0].path.endswith(name) and reason in errors[0].reason


def test_duplicate_ids_are_reported(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    (folder / "sub").mkdir(parents=True)
    (folder / "alemtuzumab.md").write_bytes(SEED.read_bytes())
    (folder / "sub" / "alemtuzumab.md").write_bytes(SEED.read_bytes())
    pages, errors = load_pages(folder)
    assert len(pages) == 1
    assert len(errors) == 1 and "duplicate page id 'alemtuzumab'" in errors[0].reason


def test_bad_file_name_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "Bad Name.md"
    path.write_bytes(SEED.read_bytes())
    with pytest.raises(PageError, match="not a valid page id"):
        parse_page(path)
