"""The editors' report: groups of unanswered questions by drug and meaning, not-helpful answers by passage,
trends, the daily chart, CSV and JSON, `faqbot report`, and the page in a real Chromium.

The clustering and the served report use the real packaged model over a real index of a few of
data/'s pages; the log is a real SQLite file; the server is the real app on loopback.
"""

from __future__ import annotations

import csv
import io
import json
import random
import shutil
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from faqbot.api import create_app
from faqbot.cli import main
from faqbot.embedding import CachedQueryEmbedder, load_embedder, model_id_for
from faqbot.index import build_index
from faqbot.report import build_report, chart
from faqbot.retrieval import Answerer, AnswererHolder
from faqbot.settings import Settings
from faqbot.store import Store
from tests.report_log import synthetic_questions
from tests.support import chromium, serve

REPO = Path(__file__).resolve().parents[1]
PAGES = ["warfarin", "metformin", "sertraline", "lisinopril", "ibuprofen", "alemtuzumab"]
DAY = 86400.0


@dataclass
class Site:
    url: str
    settings: Settings
    answerer: Answerer
    models: Path


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, real_embedder, build_embedder) -> Iterator[Site]:
    """A few of data/'s pages indexed with the real model, served by the real app on loopback."""
    root = tmp_path_factory.mktemp("report-site")
    data = root / "data"
    data.mkdir()
    for name in PAGES:
        shutil.copy2(REPO / "data" / f"{name}.md", data / f"{name}.md")
    build_index(data, root / "index", lambda: build_embedder, model_id_for("packaged"))
    settings = Settings(data_dir=data, index_dir=root / "index", db=root / "var" / "db.sqlite3", model="packaged")
    holder = AnswererHolder(settings, embedder=CachedQueryEmbedder(real_embedder))
    with serve(create_app(settings, holder)) as url:
        exported = next(tmp_path_factory.getbasetemp().glob("models*/*.onnx"))  # where conftest's real_embedder exported it
        yield Site(url, settings, holder.get(), exported.parent)


# ---- the clustering, on a synthetic log with known groups -----------------------------------------


def adjusted_rand(truth: list[Any], found: list[Any]) -> float:
    """Hubert & Arabie's adjusted Rand index, written out here so the test does not grade itself."""
    n = len(truth)

    def pairs(counts: Any) -> float:
        return sum(c * (c - 1) / 2 for c in counts)

    joint = pairs(Counter(zip(truth, found)).values())
    a, b = pairs(Counter(truth).values()), pairs(Counter(found).values())
    expected = a * b / (n * (n - 1) / 2)
    return (joint - expected) / ((a + b) / 2 - expected)


def purity(truth: list[Any], found: list[Any]) -> float:
    """Share of questions whose group's most common true label is their own."""
    by_group: dict[Any, Counter[Any]] = {}
    for t, f in zip(truth, found):
        by_group.setdefault(f, Counter())[t] += 1
    return sum(c.most_common(1)[0][1] for c in by_group.values()) / len(truth)


ARI_FLOOR = 0.6


@pytest.mark.model
def test_a_synthetic_log_of_2000_questions_lands_in_its_known_groups(site: Site, tmp_path: Path, real_embedder) -> None:
    questions = synthetic_questions()
    assert len(questions) == 2000
    store = Store(tmp_path / "log.sqlite3")
    for n, (text, doc_id, _) in enumerate(questions):  # what /ask logs for a withheld question about a known drug
        store.log_query({"query_id": f"q{n}", "session_id": "s", "answered": False, "answer": None, "alternatives": [],
                         "drug": {"doc_id": doc_id}, "took_ms": 5.0, "index_version": "v"}, text)  # fmt: skip
    now = time.time()
    report = build_report(store.report_rows(now - 60 * DAY), now=now, log_days=30, embedder=real_embedder,
                          index=site.answerer.index, find=site.answerer.analyser.matcher.find, members=True)  # fmt: skip
    store.close()

    group_of = {(q, g["drug"]["doc_id"]): g["id"] for g in report["unanswered"] for q in g["questions"]}
    truth = [(doc_id, intent) for _, doc_id, intent in questions]
    found = [group_of[(text, doc_id)] for text, doc_id, _ in questions]
    ari, pure = adjusted_rand(truth, found), purity(truth, found)
    shuffled = found[:]
    random.Random(0).shuffle(shuffled)
    random_ari = adjusted_rand(truth, shuffled)
    message = (f"ARI {ari:.3f}, purity {pure:.3f}, {len(set(found))} groups for 40 known ones "
               f"(a random grouping of the same sizes: ARI {random_ari:.3f}); floor {ARI_FLOOR}")  # fmt: skip
    print(message)
    assert random_ari < ARI_FLOOR, message  # the floor is one a random grouping fails
    assert ari >= ARI_FLOOR and pure >= 0.8, message
    # no group mixes drugs, and the report lists the largest first
    assert all(len({doc for (doc, _) in [t for t, f in zip(truth, found) if f == g["id"]]}) == 1 for g in report["unanswered"])
    sizes = [g["size"] for g in report["unanswered"]]
    assert sizes == sorted(sizes, reverse=True) and sum(sizes) == 2000


# ---- trends and the daily counts (no model: every wording is its own group) -------------------------


def rows(*specs: tuple[str, float, bool]) -> list[dict[str, Any]]:
    """Store rows: (question, days ago, answered)."""
    now = time.time()
    return [{"ts": now - days * DAY, "question": q, "answered": int(answered), "doc_id": "warfarin", "chunk_id": None,
             "closest_chunk_id": None, "helpful": None, "comment": None} for q, days, answered in specs]  # fmt: skip


def test_trend_compares_the_last_7_and_30_days_with_the_30_before() -> None:
    log = rows(
        *[("rising question", d, False) for d in (0.5, 1, 2, 3, 4, 5, 6, 6.5)],  # 8 in the last week
        *[("rising question", d, False) for d in (20, 40)],  # 2 in the 30 days before it
        *[("falling question", d, False) for d in (10, 12, 14, 16, 18, 20, 22, 40, 45, 50)],
        *[("new question", d, False) for d in (1, 2)],
        ("oldest answered question", 60.5, True),  # the log reaches back past the 60 days compared
    )
    report = build_report(log, now=time.time(), log_days=60, embedder=None)
    trend = {g["examples"][0]: g["trend"] for g in report["unanswered"]}
    assert trend["rising question"]["label"] == "rising"
    assert trend["rising question"]["last_7_days"]["count"] == 8 and trend["rising question"]["last_7_days"]["before"] == 1
    assert trend["rising question"]["last_30_days"] == {"count": 9, "before": 1, "before_days": 30.0, "change": 8.0}
    assert trend["falling question"]["label"] == "falling"
    assert trend["new question"]["label"] == "new"


def test_a_log_that_keeps_only_30_days_has_no_30_before_to_compare_with() -> None:
    log = rows(("asked today", 0.1, False), ("asked a while ago", 25, False))
    report = build_report(log, now=time.time(), log_days=30, embedder=None)
    today = next(g for g in report["unanswered"] if g["examples"] == ["asked today"])
    assert today["trend"]["last_30_days"]["before"] is None  # unknown, not "none asked"
    # the week's comparison has the 18 days the log holds before it: none asked then, so the group is new
    assert today["trend"]["last_7_days"]["before"] == 0 and today["trend"]["last_7_days"]["before_days"] == 18.0
    assert today["trend"]["label"] == "new"


def test_daily_counts_feed_the_chart() -> None:
    log = rows(("a", 0, False), ("b", 0, True), ("c", 0, True), ("d", 0, True), ("e", 3, False), ("f", 45, False))
    report = build_report(log, now=time.time(), log_days=60, embedder=None)
    days = report["daily"]
    assert len(days) == 30 and days[-1]["questions"] == 4 and days[-1]["unanswered"] == 1
    assert days[-1]["unanswered_share"] == 0.25 and days[-4]["unanswered_share"] == 1.0
    assert sum(d["questions"] for d in days) == 5  # 45 days ago is outside the chart
    drawn = chart(report)
    assert len(drawn["bars"]) == 30 and len(drawn["points"]) == 2  # a share only for days with questions
    assert drawn["bars"][-1]["h"] > drawn["bars"][-4]["h"] > 0 == drawn["bars"][0]["h"]


# ---- the served report: JSON, CSV, the HTML page ---------------------------------------------------

WITHHELD_LIKELY = [
    "what does a warfarin tablet look like", "warfarin pill colour", "what colour are warfarin tablets",
    "how much does metformin cost", "metformin price per month", "how do you pronounce sertraline",
    "ozanimod side effects", '=HYPERLINK("http://example.com") ozanimod dose',
]  # fmt: skip
ANSWERED_LIKELY = ["can i take lemtrada while pregnant", "warfarin dose for adults"]


@pytest.fixture(scope="module")
def asked(site: Site) -> list[dict[str, Any]]:
    """Questions sent through /ask; a not-helpful click with a comment on the first answered one and one withheld one."""
    out = []
    for question in WITHHELD_LIKELY + ANSWERED_LIKELY + WITHHELD_LIKELY[:3]:
        response = httpx.post(f"{site.url}/ask", json={"question": question}, timeout=30)
        assert response.status_code == 200
        out.append({**response.json(), "question": question})
    answered = next(r for r in out if r["answered"])
    withheld = next(r for r in out if not r["answered"])
    for reply, comment in ((answered, "=SUM(A1) too vague <b>"), (withheld, "no answer at all")):
        sent = httpx.post(f"{site.url}/feedback", json={"query_id": reply["query_id"], "helpful": False, "comment": comment})
        assert sent.status_code == 200
    return out


def report_json(site: Site) -> dict[str, Any]:
    response = httpx.get(f"{site.url}/report.json", timeout=120)
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/json")
    return response.json()


def test_report_json_groups_what_was_withheld_by_drug_and_links_the_closest_section(site: Site, asked: list[dict[str, Any]]) -> None:
    report = report_json(site)
    withheld = [r for r in asked if not r["answered"]]
    assert report["totals"]["questions"] == len(asked) and report["totals"]["unanswered"] == len(withheld)
    assert report["totals"]["not_helpful"] == 2
    # the medicine asked about that no page covers, twice: the page to write next
    assert [(g["medicine"], g["size"], g["answered"]) for g in report["missing_pages"]] == [("ozanimod", 2, 0)]
    assert report["daily"][-1]["questions"] == len(asked) and report["daily"][-1]["unanswered"] == len(withheld)
    groups = report["unanswered"]
    assert sum(g["size"] for g in groups) == len(withheld)
    assert [g["size"] for g in groups] == sorted((g["size"] for g in groups), reverse=True)
    drug_of = {r["question"]: (r["drug"] or {}).get("doc_id") for r in withheld}
    for group in groups:
        assert 1 <= len(group["examples"]) <= 3
        assert {drug_of[q] for q in group["examples"]} == {(group["drug"] or {}).get("doc_id")}  # one drug a group
        assert {"last_7_days", "last_30_days", "label"} <= set(group["trend"])
    # the three ways of asking what a warfarin tablet looks like, each asked twice, make one group
    looks = {q for q in WITHHELD_LIKELY[:3] if q in drug_of}
    if len(looks) >= 2:
        holding = [g for g in groups if looks & set(g["examples"])]
        assert len(holding) == 1 and holding[0]["size"] >= 2 * len(looks), holding
    # the closest section of a drug's group is a link that opens that section of the page
    linked = [g for g in groups if g["drug"] and g["closest"]]
    assert linked, groups
    for group in linked:
        url = group["closest"]["url"]
        assert url.startswith(f"/pages/{group['drug']['doc_id']}#")
        page = httpx.get(site.url + url.split("#")[0])
        assert page.status_code == 200 and f'id="{url.split("#")[1]}"' in page.text


def test_not_helpful_answers_are_grouped_by_the_passage_shown(site: Site, asked: list[dict[str, Any]]) -> None:
    report = report_json(site)
    answered = next(r for r in asked if r["answered"])
    shown = next(g for g in report["not_helpful"] if g["shown"])
    assert shown["shown"]["chunk_id"] == answered["answer"]["chunk_id"]
    assert shown["shown"]["url"] == answered["answer"]["url"] and shown["comments"] == ["=SUM(A1) too vague <b>"]
    withheld = next(g for g in report["not_helpful"] if not g["shown"])
    assert withheld["comments"] == ["no answer at all"]


def test_report_csv_has_one_row_a_group_and_no_formulas(site: Site, asked: list[dict[str, Any]]) -> None:
    response = httpx.get(f"{site.url}/report.csv", timeout=120)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"].startswith("attachment; filename=\"faqbot-report-")
    table = list(csv.DictReader(io.StringIO(response.text)))
    report = report_json(site)
    assert [r["group"] for r in table] == [g["id"] for g in report["unanswered"] + report["not_helpful"] + report["missing_pages"]]
    cells = [cell for row in table for cell in row.values()]
    assert not [c for c in cells if c[:1] in "=+-@" and c], "a visitor's text would run as a spreadsheet formula"
    assert any(c.startswith("'=HYPERLINK(") for c in cells) and any(c.startswith("'=SUM(A1)") for c in cells)


def test_report_json_and_csv_are_for_editors_only(site: Site) -> None:
    for path in ("/report.json", "/report.csv"):
        proxied = httpx.get(site.url + path, headers={"X-Forwarded-For": "203.0.113.9"})
        assert proxied.status_code == 403 and "FAQBOT_REPORT_TOKEN" in proxied.json()["detail"]


def test_report_json_and_csv_need_the_token_when_one_is_set(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy2(REPO / "data" / "warfarin.md", data / "warfarin.md")
    build_index(data, tmp_path / "index", lambda: load_embedder("hashing"), model_id_for("hashing"))
    settings = Settings(data_dir=data, index_dir=tmp_path / "index", db=tmp_path / "db.sqlite3", model="hashing",
                        report_token="editors-token-0123456789")  # fmt: skip
    with serve(create_app(settings)) as url:
        for path in ("/report.json", "/report.csv"):
            assert httpx.get(url + path).status_code == 401
            assert httpx.get(url + path, params={"token": "editors-token-0123456789"}).status_code == 401
            assert httpx.get(url + path, headers={"Authorization": "Bearer editors-token-0123456789"}).status_code == 200


def test_faqbot_report_prints_the_same_groups_as_a_table_and_as_json(site: Site, asked: list[dict[str, Any]], capsys) -> None:
    models = site.settings.index_dir / "models"
    if not models.exists():  # the ONNX export the server uses, so the command does not export the model again
        shutil.copytree(site.models, models)
    flags = ["--db", str(site.settings.db), "--index", str(site.settings.index_dir)]
    assert main(["report", "--json", *flags]) == 0
    printed = json.loads(capsys.readouterr().out)
    served = report_json(site)
    strip = [(g["size"], g["examples"], g["closest"]) for g in served["unanswered"]]
    assert [(g["size"], g["examples"], g["closest"]) for g in printed["unanswered"]] == strip
    assert printed["totals"] == served["totals"]
    assert main(["report", *flags]) == 0
    table = capsys.readouterr().out
    top = served["unanswered"][0]
    assert top["examples"][0] in table and (not top["closest"] or top["closest"]["url"] in table)
    assert "=SUM(A1) too vague <b>" in table


def test_faqbot_report_without_a_log_says_where_it_looked(tmp_path: Path, capsys) -> None:
    assert main(["report", "--db", str(tmp_path / "none.sqlite3")]) == 2
    err = capsys.readouterr().err
    assert "no query log" in err and "none.sqlite3" in err


@pytest.mark.browser
def test_report_page_shows_groups_and_the_chart_on_desktop_and_phone(site: Site, asked: list[dict[str, Any]]) -> None:
    from playwright.sync_api import expect

    with chromium() as browser:
        for viewport in ({"width": 1280, "height": 800}, {"width": 390, "height": 844}):
            context = browser.new_context(viewport=viewport)
            page = context.new_page()
            errors: list[str] = []
            page.on("console", lambda m, errors=errors: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
            page.goto(f"{site.url}/report")
            expect(page.get_by_role("heading", level=1)).to_have_text("What to write next")
            groups = page.locator("#unanswered + .table-wrap tr.group")
            expect(groups.first).to_be_visible()
            assert groups.count() == len(report_json(site)["unanswered"])
            expect(page.get_by_role("img", name="Questions per day")).to_be_visible()
            expect(page.locator("#chart rect.bar")).to_have_count(30)
            assert page.locator("#chart rect.bar").last.bounding_box()["height"] > 0  # today's questions
            expect(page.locator("#chart polyline.share-line")).to_have_count(1)
            expect(page.get_by_text("=SUM(A1) too vague <b>")).to_be_visible()  # a comment, as text
            expect(page.locator("#missing-pages + .table-wrap tr.group").first).to_contain_text("ozanimod")
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), viewport
            link = groups.first.get_by_role("link")
            if link.count():
                href = link.get_attribute("href")
                link.click()
                page.wait_for_url(f"**{href}")
                expect(page.locator(f"[id='{href.split('#')[1]}']")).to_be_visible()
            assert errors == [], f"the report logged errors (CSP violations show up here): {errors}"
            context.close()
