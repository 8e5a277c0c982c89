"""`faqbot check`: broken pages written into tmp_path are reported by file and line, with what to change."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from faqbot.analysis import DrugMatcher
from faqbot.cli import main
from faqbot.embedding import HashingEmbedder
from faqbot.index import build_index, load_index

REPO = Path(__file__).resolve().parents[1]
LINE_RE = re.compile(r"^(?P<path>[^:]+):(?P<line>\d+): (?P<severity>error|warning): (?P<message>.+) — (?P<fix>.+)$")

GOOD = """---
title: Examplamab
description: A made-up medicine for these tests.
is_banned: false
lastModified: '2025-01-31T10:00:00Z'
---
## Usage

Examplamab is used in tests.

## Alternate Names

Examplamab is marketed under the brand name Exampla.
"""


def page(**fields: str) -> str:
    """A page: front matter fields (in order) and a body after 'body'."""
    body = fields.pop("body", "## Usage\n\nText.\n")
    return "---\n" + "".join(f"{k}: {v}\n" for k, v in fields.items()) + "---\n" + body


def line_of(text: str, needle: str, nth: int = 1) -> int:
    """The 1-based line of the nth line holding needle: where the test put the problem."""
    hits = [i + 1 for i, line in enumerate(text.splitlines()) if needle in line]
    return hits[nth - 1]


def check(data: Path, capsys, *flags: str) -> tuple[int, list[dict[str, str]], str]:
    code = main(["check", "--data", str(data), *flags])
    captured = capsys.readouterr()
    lines = [line for line in captured.out.splitlines() if line.strip()]
    parsed = [LINE_RE.match(line) for line in lines]
    assert all(parsed), f"not 'file:line: severity: problem — what to change': {lines}"
    return code, [m.groupdict() for m in parsed if m], captured.err


def find(problems: list[dict[str, str]], name: str, words: str) -> dict[str, str]:
    hits = [p for p in problems if p["path"].endswith(name) and words in p["message"]]
    assert len(hits) == 1, f"expected one problem in {name} about {words!r}: {problems}"
    return hits[0]


def test_the_shipped_pages_pass_with_the_seeds_repaired_damage_as_warnings(capsys) -> None:
    code, problems, summary = check(REPO / "data", capsys)
    assert code == 0, problems
    assert problems and all(p["severity"] == "warning" for p in problems)
    seed = find(problems, "alemtuzumab.md", "seed's damage")
    assert seed["line"] == str(line_of((REPO / "data" / "alemtuzumab.md").read_text(), "  - q: >-"))  # the first damaged FAQ
    assert "repairs it when indexing" in seed["message"]
    assert "25 page(s) checked" in summary and "0 error(s)" in summary
    assert check(REPO / "data", capsys, "--strict")[0] == 1  # warnings fail only when asked to


@pytest.fixture
def broken(tmp_path: Path) -> dict[str, str]:
    """A data folder of pages, each broken in one way (plus a good one); name -> text."""
    data = tmp_path / "data"
    data.mkdir()
    pages = {
        "good.md": GOOD,
        "bad-yaml.md": page(title="Badyaml", description="fine", is_banned="false", lastModified="'2025-01-01'",
                            faqs="\n  - q: what: is this\n    a: fine"),
        "no-title.md": page(description="no title here", is_banned="false", lastModified="'2025-01-01'"),
        "banned-text.md": page(title="Bannedtext", description="d", is_banned="yes please", lastModified="'2025-01-01'"),
        "dates.md": page(title="Futuredate", description="d", is_banned="false", lastModified="'2999-01-01T00:00:00Z'"),
        "nodate.md": page(title="Nodate", description="d", is_banned="false", lastModified="'next tuesday'"),
        "typo-field.md": page(title="Typofield", titel="Typo", description="d", is_banned="false", lastModified="'2025-01-01'"),
        "sections.md": page(title="Sectionsamab", description="d", is_banned="false", lastModified="'2025-01-01'",
                            body="## Usage\n\nUsed.\n\n## Storage\n\n## Dosage\n\nOnce a day.\n\n## Side Effects\n\n### Dosage\n\nAgain.\n"),
        "claims.md": page(title="Claimamab", description="d", is_banned="false", lastModified="'2025-01-01'",
                          body="## Alternate Names\n\nClaimamab is marketed under the brand names Exampla and Claimo.\n"),
        "faqs.md": page(title="Faqamab", description="d", is_banned="false", lastModified="'2025-01-01'",
                        faqs="\n  - q: 'How is it taken?'\n    a: By mouth.\n  - q: '**'\n    a: 'A:** nothing'"
                             "\n  - q: 'How is it taken?'\n    a: With water.\n  - q: 'Is it safe?'",
                        body="## Usage\n\nUsed.\n\n## FAQs\n\n### **Q1: How is it taken?**\n\n**A:** By mouth.\n\n"
                             "### **Q2: Can children take it?**\n\n**A:** Not under 12.\n"),
        "Bad Name.md": GOOD.replace("Examplamab", "Badname").replace("Exampla.", "Badnamo."),
        "empty.md": page(title="Emptyamab", description="d", is_banned="false", lastModified="'2025-01-01'", body="\n"),
    }  # fmt: skip
    for name, text in pages.items():
        (data / name).write_text(text, encoding="utf-8")
    (data / "latin1.md").write_bytes(GOOD.replace("Examplamab", "Latinamab").replace("Exampla.", "Latino.").encode() + b"caf\xe9\n")
    return pages


def test_each_broken_page_is_one_line_with_its_file_line_and_what_to_change(tmp_path: Path, broken: dict[str, str], capsys) -> None:
    code, problems, summary = check(tmp_path / "data", capsys)
    assert code == 1 and "error(s)" in summary
    good = [p["message"] for p in problems if p["path"].endswith("good.md") and p["severity"] == "error"]
    assert len(good) == 1 and "also claimed by claims" in good[0]  # its only fault: claims.md took its brand name

    def at(name: str, words: str, needle: str, severity: str = "error", nth: int = 1) -> dict[str, str]:
        problem = find(problems, name, words)
        assert (problem["severity"], int(problem["line"])) == (severity, line_of(broken[name], needle, nth)), problem
        return problem

    assert "YAML" in at("bad-yaml.md", "not valid YAML", "q: what: is this")["message"]
    assert "title: <drug name>" in find(problems, "no-title.md", "no 'title'")["fix"]
    at("banned-text.md", "not true or false", "is_banned:")
    at("dates.md", "in the future", "lastModified:")
    assert "ISO time" in at("nodate.md", "not a date", "lastModified:")["fix"]
    assert "did you mean 'title'" in at("typo-field.md", "unknown front matter field 'titel'", "titel:", "warning")["fix"]
    at("sections.md", "section 'Storage' is empty", "## Storage", "warning")
    at("sections.md", "same anchor '#dosage'", "### Dosage", "warning")
    assert not [p for p in problems if p["path"].endswith("sections.md") and "Side Effects" in p["message"]]  # a parent
    claim = at("claims.md", "name 'exampla' is also claimed by good", "marketed under")
    assert "go to this page" in claim["message"]
    assert "go to claims, never here" in at("good.md", "name 'exampla' is also claimed by claims", "marketed under")["message"]
    at("faqs.md", "question is empty once repaired", "  - q: '**'")
    at("faqs.md", "asks the same as the FAQ at line", "  - q: 'How is it taken?'", nth=2)
    at("faqs.md", "has no answer", "  - q: 'Is it safe?'")
    assert "add it to 'faqs'" in at("faqs.md", "'Can children take it?' is not among the front matter's faqs", "Q2:")["fix"]
    at("Bad Name.md", "not a valid page id", "---")
    empty = find(problems, "empty.md", "nothing to index")  # where the body should start, after the closing '---'
    assert empty["severity"] == "error" and int(empty["line"]) == line_of(broken["empty.md"], "---", nth=2) + 1
    latin = find(problems, "latin1.md", "not UTF-8")
    assert latin["severity"] == "error" and int(latin["line"]) == GOOD.count("\n") + 1


def test_every_page_the_build_skips_is_an_error_of_check_and_the_build_indexes_the_rest(
    tmp_path: Path, broken: dict[str, str], capsys
) -> None:
    data = tmp_path / "data"
    _, problems, _ = check(data, capsys)
    report = build_index(data, tmp_path / "index", lambda: HashingEmbedder(64), "hashing-64")
    assert report.indexed and "data/good.md" in report.indexed
    skipped = {Path(e.path).name for e in report.skipped}
    assert skipped >= {"bad-yaml.md", "no-title.md", "Bad Name.md", "latin1.md", "empty.md"}
    flagged = {Path(p["path"]).name for p in problems if p["severity"] == "error"}
    assert skipped <= flagged, f"the build skips {skipped - flagged} but check says nothing"
    # what check says of the name two pages claim is what the drug matcher does with it
    matcher = DrugMatcher(load_index(tmp_path / "index"))
    assert [m.doc_id for m in matcher.find("is exampla safe")] == ["claims"]


def test_a_clean_folder_exits_0_and_a_missing_one_says_what_to_pass(tmp_path: Path, capsys) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "good.md").write_text(GOOD, encoding="utf-8")
    code, problems, summary = check(data, capsys)
    assert (code, problems) == (0, []) and "1 page(s) checked" in summary and "0 error(s), 0 warning(s)" in summary
    shutil.rmtree(data)
    assert main(["check", "--data", str(data)]) == 2
    assert "pass --data" in capsys.readouterr().err
