"""The visitor's side of issue 15 in a real headless Chromium: "Which medicine do you mean?",
drug names as you type, and links that reopen a question.

Same set-up as tests/test_browser.py: the real app under uvicorn on 127.0.0.1, an index of a few
pages built with the packaged model, Debian's chromium. Each test ends with no console error
(CSP violations are console errors) and no request to another host. Screenshots go to the test's
tmp_path (docs/screenshot-clarify.png and docs/screenshot-typeahead.png were copied from there).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Browser, Page, expect

from faqbot.api import create_app
from faqbot.embedding import CachedQueryEmbedder, model_id_for
from faqbot.index import build_index
from faqbot.retrieval import AnswererHolder
from faqbot.settings import Settings
from tests.support import serve
from tests.test_browser import DESKTOP, PHONE, Tab, ask, browser, open_tab  # noqa: F401  (browser: a fixture)

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[1]
PAGES = ("lisinopril", "ibuprofen", "paracetamol", "alemtuzumab", "teriflunomide", "natalizumab", "warfarin", "metformin")
KIDNEYS = "do i need a lower dose if my kidneys are weak"
# read on data/lisinopril.md: weak kidneys are under Special Cases (renal impairment) and Dosage Adjustments
KIDNEY_PASSAGES = {"lisinopril#special-cases-1", "lisinopril#dosage-adjustments"}
KIDNEY_LINK = re.compile(r"^/pages/lisinopril#(special-cases|dosage-adjustments)$")


@pytest.fixture(scope="module")
def url(browser: Browser, tmp_path_factory: pytest.TempPathFactory, real_embedder, build_embedder) -> Iterator[str]:  # noqa: F811
    root = tmp_path_factory.mktemp("chat")
    (root / "data").mkdir()
    for page in PAGES:
        shutil.copy2(REPO / "data" / f"{page}.md", root / "data" / f"{page}.md")
    build_index(root / "data", root / "index", lambda: build_embedder, model_id_for("packaged"))
    settings = Settings(data_dir=root / "data", index_dir=root / "index", db=root / "db.sqlite3", model="packaged")
    with serve(create_app(settings, AnswererHolder(settings, embedder=CachedQueryEmbedder(real_embedder)))) as base:
        yield base


@pytest.fixture
def desktop(browser: Browser) -> Iterator[Tab]:  # noqa: F811
    tab = open_tab(browser, DESKTOP)
    tab.page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    yield tab
    tab.page.context.close()


@pytest.fixture
def phone(browser: Browser) -> Iterator[Tab]:  # noqa: F811
    tab = open_tab(browser, PHONE)
    yield tab
    tab.page.context.close()


def bubbles(page: Page):
    return page.locator("#messages .msg-bot article")


# ---- the clarifying turn ------------------------------------------------------------------------


def test_a_question_without_a_drug_offers_choices_and_the_pick_answers_it(url: str, desktop: Tab, tmp_path: Path) -> None:
    page = desktop.page
    page.goto(url + "/")
    first = ask(page, KIDNEYS)
    assert first["clarify"] and not first["answered"]
    bubble = bubbles(page).nth(0)
    expect(bubble).to_contain_text("Which medicine do you mean?")
    choices = bubble.get_by_role("list", name="Which medicine do you mean?").get_by_role("button")
    expect(choices).to_have_count(len(first["clarify"]["choices"]))
    expect(bubble.locator("a[href^='/pages/']")).to_have_count(0)  # no passage of some other drug meanwhile
    lisinopril = bubble.get_by_role("button", name=re.compile(r"^Lisinopril"))
    expect(lisinopril).to_contain_text("Zestril")  # brands tell the choices apart
    page.screenshot(path=str(tmp_path / "screenshot-clarify.png"))

    with page.expect_request(lambda r: r.url.endswith("/ask")) as sent:
        lisinopril.click()
    body = sent.value.post_data_json
    assert body["question"] == "Lisinopril" and body["drug"] == "lisinopril" and body["context"] == first["context"]
    expect(bubbles(page)).to_have_count(2)
    answer = bubbles(page).last
    expect(answer).to_contain_text(f"Your question: {KIDNEYS}")
    expect(answer.locator("a.cite-link").first).to_have_attribute("href", KIDNEY_LINK)
    expect(page.locator("#context")).to_have_text("Talking about: Lisinopril")
    expect(choices.first).to_be_disabled()  # the question they were for is answered
    desktop.assert_clean()


def test_a_new_question_instead_of_a_pick_gets_no_stale_answer(url: str, desktop: Tab) -> None:
    page = desktop.page
    page.goto(url + "/")
    ask(page, KIDNEYS)
    choices = bubbles(page).nth(0).locator("button.choice")
    other = ask(page, "what is the maximum daily dose of paracetamol")
    assert other["clarified_question"] is None and other["answer"]["doc_id"] == "paracetamol"
    expect(choices.first).to_be_disabled()  # the dropped question's choices no longer send anything
    later = ask(page, "lisinopril")
    assert later["clarified_question"] is None
    expect(page.locator("#messages")).not_to_contain_text("Your question:")
    expect(page.locator("a.cite-link[href='/pages/lisinopril#special-cases']")).to_have_count(0)
    desktop.assert_clean()


# ---- drug names as you type ----------------------------------------------------------------------


def test_drug_names_are_suggested_and_chosen_by_keyboard(url: str, desktop: Tab, tmp_path: Path) -> None:
    page = desktop.page
    page.goto(url + "/")
    box = page.get_by_role("combobox", name="Your question")
    listbox = page.get_by_role("listbox", name="Drug names")
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if r.url.endswith("/ask") else None)
    box.click()
    box.press_sequentially("can I take teri")
    expect(listbox).to_be_visible()
    expect(box).to_have_attribute("aria-expanded", "true")
    expect(listbox.get_by_role("option").first).to_have_text("Teriflunomide")
    box.press("ArrowDown")
    first = listbox.get_by_role("option").first
    expect(first).to_have_attribute("aria-selected", "true")
    expect(box).to_have_attribute("aria-activedescendant", first.get_attribute("id") or "")
    box.press("Enter")  # takes the name; does not send the question
    expect(box).to_have_value("can I take Teriflunomide ")
    expect(listbox).to_be_hidden()
    expect(box).to_have_attribute("aria-expanded", "false")

    box.press_sequentially("or aubag")
    expect(listbox.get_by_role("option", name=re.compile("^Aubagio"))).to_be_visible()
    expect(listbox.get_by_role("option").first).to_contain_text("Teriflunomide")  # the brand says which drug it is
    box.press("ArrowDown")
    page.screenshot(path=str(tmp_path / "screenshot-typeahead.png"))
    box.press("ArrowUp")  # wraps to the last option and back: the arrows move, the text stays
    expect(box).to_have_value("can I take Teriflunomide or aubag")
    box.press("Escape")
    expect(listbox).to_be_hidden()
    expect(box).to_have_value("can I take Teriflunomide or aubag")
    assert asked == []
    box.press("Enter")  # with the list closed, Enter asks
    expect(bubbles(page)).to_have_count(1)
    desktop.assert_clean()


@pytest.mark.parametrize(("typed", "expected"), [("lemtrda", "Lemtrada"), ("alemtuzamab", "Alemtuzumab"), ("paracetmol", "Paracetamol")])
def test_a_misspelt_name_is_suggested_spelt_right(url: str, desktop: Tab, typed: str, expected: str) -> None:
    page = desktop.page
    page.goto(url + "/")
    box = page.get_by_role("combobox", name="Your question")
    box.click()
    box.press_sequentially(f"side effects of {typed}")
    option = page.get_by_role("listbox", name="Drug names").get_by_role("option", name=re.compile(f"^{expected}"))
    expect(option).to_be_visible()
    option.click()  # the mouse works too
    expect(box).to_have_value(f"side effects of {expected} ")
    desktop.assert_clean()


# ---- links that reopen a question --------------------------------------------------------------


def test_a_copied_link_reopens_the_question_in_a_new_tab(url: str, desktop: Tab, browser: Browser) -> None:  # noqa: F811
    page = desktop.page
    page.goto(url + "/")
    ask(page, KIDNEYS)
    bubbles(page).last.get_by_role("button", name=re.compile("^Lisinopril")).click()
    expect(bubbles(page)).to_have_count(2)
    answered = bubbles(page).last
    answered.get_by_role("button", name="Copy a link that asks this question again").click()
    expect(answered).to_contain_text("Link copied.")
    link = page.evaluate("navigator.clipboard.readText()")
    query = parse_qs(urlsplit(link).query)
    assert link.startswith(url + "/?") and query == {"q": [KIDNEYS], "drug": ["lisinopril"]}

    other = open_tab(browser, DESKTOP)  # someone else, who has no conversation yet
    try:
        with other.page.expect_response(lambda r: r.url.endswith("/ask")) as response:
            other.page.goto(link)
        reopened = response.value.json()
        assert reopened["answered"] and reopened["drug"]["doc_id"] == "lisinopril"
        assert reopened["answer"]["chunk_id"] in KIDNEY_PASSAGES
        expect(bubbles(other.page)).to_have_count(1)
        expect(other.page.locator("#messages .msg-user")).to_have_text(re.compile(KIDNEYS))
        other.page.wait_for_url(url + "/")  # asked once: a reload does not ask again
        other.page.reload()
        expect(bubbles(other.page)).to_have_count(1)
        other.assert_clean()
    finally:
        other.page.context.close()
    desktop.assert_clean()


def test_a_link_with_a_question_asks_it_on_load(url: str, desktop: Tab) -> None:
    page = desktop.page
    with page.expect_response(lambda r: r.url.endswith("/ask")) as response:
        page.goto(url + "/?q=can+I+take+lemtrada+while+pregnant%3F")
    assert response.value.json()["drug"]["doc_id"] == "alemtuzumab"
    expect(bubbles(page).last.locator("a.cite-link[href^='/pages/alemtuzumab#']").first).to_be_visible()
    desktop.assert_clean()


# ---- on a phone ----------------------------------------------------------------------------------


def test_phone_choices_and_suggestions_fit_the_screen(url: str, phone: Tab, tmp_path: Path) -> None:
    page = phone.page
    page.goto(url + "/")
    ask(page, "how long does the infusion take")
    choices = bubbles(page).last.locator("button.choice")
    expect(choices.first).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    box = page.get_by_role("combobox", name="Your question")
    box.click()
    box.press_sequentially("tysab")
    option = page.get_by_role("option", name=re.compile("^Tysabri"))
    expect(option).to_be_in_viewport()
    expect(box).to_be_in_viewport()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path=str(tmp_path / "screenshot-typeahead-phone.png"))
    box.press("ArrowDown")
    box.press("Enter")
    box.press("Enter")  # the question is the drug: it answers the pending one
    expect(bubbles(page)).to_have_count(2)
    expect(bubbles(page).last).to_contain_text("Your question: how long does the infusion take")
    expect(bubbles(page).last.locator("a.cite-link[href^='/pages/natalizumab#']").first).to_be_visible()
    phone.assert_clean()
