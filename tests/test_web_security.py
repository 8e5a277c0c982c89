"""Hostile text stays text: in questions, in drug pages and in the editors' report.

A page whose body carries <script>, <img onerror> and a javascript: link is indexed (with the
fast hashing embedder: these tests are about rendering, not ranking) and served by the real app
under uvicorn. HTTP checks use httpx; browser checks use Debian's chromium through Playwright.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from faqbot.api import create_app
from faqbot.embedding import load_embedder, model_id_for
from faqbot.index import build_index
from faqbot.settings import Settings
from tests.support import chromium, serve

QUESTION_PAYLOAD = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2">'
HOSTILE_PAGE = """\
---
title: Xssamine
description: 'A made-up drug whose page carries hostile markup'
is_banned: false
lastModified: '2025-01-02T03:04:05.000Z'
faqs:
  - q: >-
      Is <script>window.__xss=3</script> Xssamine safe with food?**


      **A:** Yes <img src=x onerror="window.__xss=4"> with food.
    a: >-
      A:** Yes <img src=x onerror="window.__xss=4"> with food.
---
## **Usage**

Xssamine is used for testing pages. <script>window.__xss=1</script>

<img src=x onerror="window.__xss=2">

[Read more](javascript:window.__xss=8)

## **Dosage**

*   **Adults:** take <b onmouseover="window.__xss=6">one</b> tablet <script>window.__xss=7</script> daily.
*   **Children:** not recommended.
"""
TAG_RE = re.compile(r"<([a-zA-Z][a-zA-Z0-9]*)\b([^>]*)>")


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("hostile")
    data = root / "data"
    data.mkdir()
    (data / "xssamine.md").write_text(HOSTILE_PAGE, encoding="utf-8")
    build_index(data, root / "index", lambda: load_embedder("hashing"), model_id_for("hashing"))
    settings = Settings(data_dir=data, index_dir=root / "index", db=root / "db.sqlite3", model="hashing")
    with serve(create_app(settings)) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as browser:
        yield browser


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    yield context.new_page()
    context.close()


def tags(html: str) -> list[tuple[str, str]]:
    """(name, attributes) of every real tag in html; escaped text (&lt;...) is not a tag."""
    return [(m.group(1).lower(), m.group(2)) for m in TAG_RE.finditer(html)]


def assert_no_inline_code(html: str) -> None:
    """No script but /static/ files, no event-handler attributes, no javascript: links, no style attributes."""
    for name, attrs in tags(html):
        if name == "script":
            assert re.search(r'\bsrc="/static/[^"]+"', attrs), f"inline or foreign script: <script{attrs}>"
        assert name != "style", "inline <style> block"
        assert not re.search(r"\son[a-z]+\s*=", attrs, re.IGNORECASE), f"event handler attribute: <{name}{attrs}>"
        assert not re.search(r"\sstyle\s*=", attrs, re.IGNORECASE), f"style attribute: <{name}{attrs}>"
        assert "javascript:" not in attrs.lower(), f"javascript: URL: <{name}{attrs}>"


@pytest.mark.parametrize("path", ["/", "/pages/xssamine", "/report"])
def test_html_routes_send_a_strict_content_security_policy(base_url: str, path: str) -> None:
    response = httpx.get(base_url + path)
    assert response.status_code == 200
    policy = response.headers.get("content-security-policy", "")
    assert "default-src 'self'" in policy
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert response.headers.get("x-content-type-options") == "nosniff"
    assert_no_inline_code(response.text)


def test_page_shows_its_raw_html_as_escaped_text(base_url: str) -> None:
    html = httpx.get(base_url + "/pages/xssamine").text
    assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=" in html
    assert "&lt;script&gt;window.__xss=3&lt;/script&gt;" in html  # in an FAQ question
    assert not [attrs for name, attrs in tags(html) if name == "img" and "onerror" in attrs.lower()]
    assert_no_inline_code(html)


def test_report_shows_hostile_questions_and_comments_as_text(base_url: str) -> None:
    asked = httpx.post(base_url + "/ask", json={"question": QUESTION_PAYLOAD}).json()
    comment = '<img src=x onerror="window.__xss=5">'
    sent = httpx.post(base_url + "/feedback", json={"query_id": asked["query_id"], "helpful": False, "comment": comment})
    assert sent.status_code == 200
    html = httpx.get(base_url + "/report").text
    assert "&lt;img src=x onerror=" in html
    assert_no_inline_code(html)


@pytest.mark.browser
def test_hostile_page_runs_nothing_in_the_browser(base_url: str, page: Page) -> None:
    page.goto(base_url + "/pages/xssamine")
    expect(page.get_by_text("<script>window.__xss=1</script>")).to_be_visible()
    expect(page.locator("main img")).to_have_count(0)
    page.locator("#dosage li").first.hover()  # where the page had <b onmouseover>
    assert page.evaluate("typeof window.__xss") == "undefined"


@pytest.mark.browser
def test_hostile_question_and_passage_show_as_text_in_the_chat(base_url: str, page: Page) -> None:
    page.goto(base_url + "/")
    box = page.get_by_label("Your question")
    box.fill(QUESTION_PAYLOAD)
    with page.expect_response(lambda r: r.url.endswith("/ask")) as response:
        box.press("Enter")
    reply = response.value.json()
    # the question names no drug: faqbot asks which one; the pick answers the hostile question with the page
    assert reply["clarify"] and [c["title"] for c in reply["clarify"]["choices"]] == ["Xssamine"]
    with page.expect_response(lambda r: r.url.endswith("/ask")) as response:
        page.get_by_role("button", name="Xssamine").click()
    reply = response.value.json()
    assert reply["clarified_question"] == QUESTION_PAYLOAD
    shown = [p["text"] for p in ([reply["answer"]] if reply["answer"] else []) + reply["alternatives"]]
    assert any("<script>" in text for text in shown), "the hostile page's passage should be among the results"

    question = page.locator("#messages .msg-user").first
    expect(question).to_contain_text(QUESTION_PAYLOAD)
    answer = page.locator("#messages .msg-bot article").last
    expect(answer).to_be_visible()
    # folded alternatives included: the passage's markup is in the DOM as text, nowhere as elements
    assert "<script>window.__xss=" in answer.evaluate("node => node.textContent")
    expect(answer.locator(".clarified")).to_contain_text(QUESTION_PAYLOAD)  # the question it answers, as text
    expect(page.locator("#messages script, #messages img")).to_have_count(0)
    assert page.evaluate("typeof window.__xss") == "undefined"


@pytest.mark.browser
def test_api_docs_work_in_the_browser_from_this_server_alone(base_url: str, page: Page) -> None:
    response = httpx.get(base_url + "/docs")
    assert response.status_code == 200
    assert response.headers.get("x-content-type-options") == "nosniff" and response.headers.get("x-frame-options") == "DENY"
    # Swagger UI starts itself with an inline script: the API docs are the one page without the strict policy
    assert "content-security-policy" not in response.headers
    elsewhere: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(base_url) else elsewhere.append(r.url))
    page.goto(base_url + "/docs")
    expect(page.locator(".opblock-summary-path", has_text="/ask").first).to_be_visible()
    assert elsewhere == []


def test_report_needs_the_token_when_one_is_configured(tmp_path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "xssamine.md").write_text(HOSTILE_PAGE, encoding="utf-8")
    build_index(data, tmp_path / "index", lambda: load_embedder("hashing"), model_id_for("hashing"))
    settings = Settings(
        data_dir=data, index_dir=tmp_path / "index", db=tmp_path / "db.sqlite3", model="hashing", report_token="s3cret-editors-token"
    )
    with serve(create_app(settings)) as url:
        assert httpx.get(f"{url}/report").status_code == 401
        assert "token" in httpx.get(f"{url}/report", headers={"Authorization": "Bearer wrong"}).json()["detail"]
        assert httpx.get(f"{url}/report?token=s3cret-editors-token").status_code == 401  # never in the address
        assert httpx.get(f"{url}/report", headers={"Authorization": "Bearer s3cret-editors-token"}).status_code == 200
