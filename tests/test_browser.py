"""The chat page in a real headless Chromium over a real index built with the packaged model.

The server is the real app (create_app) under uvicorn on a free 127.0.0.1 port. Chromium is
Debian's `chromium` package; without it these tests skip, unless FAQBOT_REQUIRE_BROWSER=1.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, expect

from faqbot.api import create_app
from faqbot.embedding import CachedQueryEmbedder, model_id_for
from faqbot.index import build_index
from faqbot.retrieval import AnswererHolder
from faqbot.settings import Settings
from tests.support import chromium, serve

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[1]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
ANSWER_WAIT_MS = 30_000


@dataclass
class Site:
    url: str
    db: Path


@dataclass
class Tab:
    """A browser page that records every request it makes and every error it logs."""

    page: Page
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def assert_clean(self) -> None:
        foreign = [u for u in self.requests if urlsplit(u).hostname != "127.0.0.1"]
        assert foreign == [], f"the page requested other hosts: {foreign}"
        assert self.errors == [], f"the page logged errors (CSP violations show up here): {self.errors}"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    expect.set_options(timeout=ANSWER_WAIT_MS)
    with chromium() as browser:
        yield browser


@pytest.fixture(scope="module")
def site(browser: Browser, tmp_path_factory: pytest.TempPathFactory, real_embedder, build_embedder) -> Iterator[Site]:
    """The repo's drug pages, indexed with the real model once for this module, served."""
    root = tmp_path_factory.mktemp("site")
    data = root / "data"
    data.mkdir()
    for page in (REPO / "data").glob("*.md"):
        shutil.copy2(page, data / page.name)
    assert (data / "alemtuzumab.md").exists(), "the browser tests need data/alemtuzumab.md"
    build_index(data, root / "index", lambda: build_embedder, model_id_for("packaged"))
    settings = Settings(data_dir=data, index_dir=root / "index", db=root / "db.sqlite3", model="packaged")
    holder = AnswererHolder(settings, embedder=CachedQueryEmbedder(real_embedder))
    with serve(create_app(settings, holder)) as url:
        yield Site(url, settings.db)


def open_tab(browser: Browser, viewport: dict[str, int]) -> Tab:
    context = browser.new_context(viewport=viewport)
    context.set_default_timeout(ANSWER_WAIT_MS)
    tab = Tab(context.new_page())
    tab.page.on("request", lambda request: tab.requests.append(request.url))
    tab.page.on("console", lambda message: tab.errors.append(message.text) if message.type == "error" else None)
    tab.page.on("pageerror", lambda error: tab.errors.append(str(error)))
    return tab


@pytest.fixture
def desktop(browser: Browser) -> Iterator[Tab]:
    tab = open_tab(browser, DESKTOP)
    yield tab
    tab.page.context.close()


@pytest.fixture
def phone(browser: Browser) -> Iterator[Tab]:
    tab = open_tab(browser, PHONE)
    yield tab
    tab.page.context.close()


def ask(page: Page, question: str) -> dict[str, Any]:
    """Type a question, press Enter, wait for the answer bubble; return /ask's JSON."""
    answers = page.locator("#messages .msg-bot article")
    before = answers.count()
    box = page.get_by_label("Your question")
    box.fill(question)
    with page.expect_response(lambda r: r.url.endswith("/ask") and r.request.method == "POST") as response:
        box.press("Enter")
    expect(answers).to_have_count(before + 1)
    return response.value.json()


def test_ask_follow_the_citation_follow_up_and_give_feedback(site: Site, desktop: Tab) -> None:
    page = desktop.page
    page.goto(site.url + "/")
    expect(page.locator("#messages")).to_have_attribute("aria-live", "polite")

    first = ask(page, "can I take lemtrada while pregnant?")
    bubble = page.locator("#messages .msg-bot article").last
    expect(bubble).to_contain_text("Alemtuzumab")
    expect(bubble).to_contain_text("Not medical advice")
    expect(bubble.locator("mark").first).to_be_visible()  # the answering sentence is highlighted
    expect(bubble.locator(".citation time").first).to_have_text(re.compile(r"^\d{1,2} [A-Z][a-z]+ \d{4}$"))  # "22 September 2025"
    expect(bubble.get_by_role("button", name="Helpful", exact=True)).to_be_visible()
    expect(page.locator("#context")).to_have_text("Talking about: Alemtuzumab")
    alternatives = bubble.locator("details", has_text="Other possible answers")
    expect(alternatives.locator("a[href^='/pages/']").first).to_be_hidden()  # folded until asked for
    alternatives.get_by_text("Other possible answers").click()
    expect(alternatives.locator("a[href^='/pages/']").first).to_be_visible()

    citation = bubble.locator("a[href^='/pages/alemtuzumab#']").first
    href = citation.get_attribute("href")
    assert href == first["answer"]["url"]
    citation.click()
    page.wait_for_url(re.compile(r"/pages/alemtuzumab#"))
    expect(page.locator(f"[id='{href.split('#', 1)[1]}']")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_have_text("Alemtuzumab")

    page.go_back()
    expect(page.locator("#context")).to_have_text("Talking about: Alemtuzumab")
    with page.expect_request(lambda r: r.url.endswith("/ask")) as sent:
        follow_up = ask(page, "and for children?")
    assert sent.value.post_data_json.get("session_id") == first["session_id"]
    assert sent.value.post_data_json.get("context") == first["context"]  # the signed conversation state, sent back
    assert follow_up["answered"] and follow_up["answer"]["doc_id"] == "alemtuzumab"
    reply = page.locator("#messages .msg-bot article").last
    expect(reply.locator("a[href^='/pages/alemtuzumab#']").first).to_be_visible()
    expect(page.locator("#context")).to_have_text("Talking about: Alemtuzumab")

    reply.get_by_role("button", name="Not helpful").click()
    expect(reply).to_contain_text("Thanks")
    expect(reply.get_by_role("button", name="Helpful", exact=True)).to_be_disabled()
    expect(reply.get_by_role("button", name="Not helpful")).to_be_disabled()
    with sqlite3.connect(site.db) as db:
        rows = db.execute("SELECT helpful FROM feedback WHERE query_id = ?", (follow_up["query_id"],)).fetchall()
    assert rows == [(0,)]

    desktop.assert_clean()


def test_phone_example_chip_answers_without_sideways_scrolling(site: Site, phone: Tab) -> None:
    page = phone.page
    page.goto(site.url + "/")
    chip = page.get_by_role("button", name="can I take lemtrada while pregnant?")
    chip.focus()
    page.keyboard.press("Enter")  # the examples are real buttons: the keyboard works
    answer = page.locator("#messages .msg-bot article")
    expect(answer).to_have_count(1)
    expect(answer).to_contain_text("Alemtuzumab")
    expect(answer.locator("a[href^='/pages/alemtuzumab#']").first).to_be_in_viewport()
    expect(page.get_by_label("Your question")).to_be_in_viewport()
    expect(page.get_by_role("button", name="Ask", exact=True)).to_be_in_viewport()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    phone.assert_clean()


def test_no_answer_says_so_and_suggestions_ask_them(site: Site, desktop: Tab) -> None:
    page = desktop.page
    page.goto(site.url + "/")
    response = ask(page, "alemtuzumab what is the capital of france?")
    assert response["answered"] is False
    bubble = page.locator("#messages .msg-bot article").last
    if response["covers"]:  # the drug's page doesn't say: said in words, with the sections it does have
        expect(bubble).to_contain_text(f"The {response['covers']['title']} page doesn't say this")
    else:
        expect(bubble).to_contain_text(response["message"])
    expect(bubble.locator(".citation")).to_have_count(0)  # no citation for a withheld answer
    suggestions = bubble.locator("button.suggestion")
    expect(suggestions).to_have_count(len(response["alternatives"]))
    suggestion = response["alternatives"][0]
    expected = suggestion["question"] if suggestion["kind"] == "faq" else f"{suggestion['title']} {suggestion['section']}"
    with page.expect_request(lambda r: r.url.endswith("/ask")) as sent:
        suggestions.first.click()
    assert sent.value.post_data_json["question"] == expected.replace(" › ", " ")
    expect(page.locator("#messages .msg-bot article")).to_have_count(2)

    desktop.assert_clean()


def test_server_errors_show_as_an_error_bubble(site: Site, desktop: Tab) -> None:
    page = desktop.page
    page.goto(site.url + "/")
    page.route("**/ask", lambda route: route.fulfill(status=503, json={"detail": "no index yet; run: faqbot build"}))
    page.get_by_label("Your question").fill("max dose of tylenol?")
    page.get_by_role("button", name="Ask", exact=True).click()
    error = page.locator("#messages [role=alert]")
    expect(error).to_contain_text("no index yet; run: faqbot build")
    expect(error.get_by_role("button", name="Try again")).to_be_visible()

    page.unroute("**/ask")
    page.route("**/ask", lambda route: route.abort("internetdisconnected"))
    page.get_by_label("Your question").fill("max dose of tylenol?")
    page.get_by_label("Your question").press("Enter")
    expect(page.locator("#messages [role=alert]").last).to_contain_text("Could not reach faqbot")


def test_page_that_does_not_say_and_a_drug_without_a_page(site: Site, desktop: Tab) -> None:
    page = desktop.page
    page.goto(site.url + "/")
    response = ask(page, "is warfarin covered by medicare")
    assert response["answered"] is False and response["covers"]["doc_id"] == "warfarin"
    bubble = page.locator("#messages .msg-bot article").last
    expect(bubble).to_contain_text("The Warfarin page doesn't say this")
    expect(bubble.locator("a[href^='/pages/']")).not_to_have_count(0)
    links = bubble.locator(".covers a")
    expect(links).to_have_count(len(response["covers"]["sections"]))
    expect(links.first).to_have_text(response["covers"]["sections"][0]["title"])
    links.first.click()  # a section the page does cover, opened where it starts
    page.wait_for_url(re.compile(r"/pages/warfarin#"))
    expect(page.locator(f"[id='{page.url.split('#', 1)[1]}']")).to_be_visible()
    page.go_back()

    missing = ask(page, "can i take naproxen with sertraline")
    bubble = page.locator("#messages .msg-bot article").last
    notice = bubble.locator(".notice")
    expect(notice).to_contain_text("No page here covers 'naproxen'")
    if missing["answered"]:  # only from a passage that names naproxen or a class the pages put it in
        assert missing["answer"]["doc_id"] == "sertraline"
        text = (missing["answer"]["question"] or "") + missing["answer"]["text"]
        assert re.search(r"naproxen|NSAID", text, re.IGNORECASE), text
    else:
        expect(bubble).to_contain_text("does not mention 'naproxen'")
    desktop.assert_clean()
