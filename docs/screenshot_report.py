"""Take the README screenshot of the editors' report: docs/screenshot-report.png.

Indexes a few of data/'s pages with the packaged model into a temporary folder, asks them a
synthetic log's questions (tests/report_log.py: visitors asking what a pill looks like, its price,
...; plus questions the pages answer) through the real answerer, spreads the questions over the
last 60 days (some topics growing), marks a few answers not helpful, serves the app on a free
127.0.0.1 port and photographs /report in headless Chromium (Debian's chromium package).

    .venv/bin/python docs/screenshot_report.py
"""

from __future__ import annotations

import random
import sqlite3
import time
from contextlib import closing
from pathlib import Path

from playwright.sync_api import expect
from screenshot_site import REPO, served_in_chromium, temporary_site  # docs/, beside this script (it puts the repo on sys.path)

from faqbot.retrieval import AnswererHolder
from faqbot.settings import Settings
from faqbot.store import Store
from tests.report_log import synthetic_questions

OUT = Path(__file__).resolve().parent / "screenshot-report.png"
PAGES = ["warfarin", "metformin", "sertraline", "lisinopril", "ibuprofen", "alemtuzumab"]
ANSWERED = ["warfarin dose for adults", "side effects of sertraline", "can i take lemtrada while pregnant",
            "lisinopril and potassium", "ibuprofen with alcohol", "metformin side effects"]  # fmt: skip
GROWING = {"looks", "price"}  # asked more and more over the last weeks


def fill_log(settings: Settings, holder: AnswererHolder) -> None:
    rng = random.Random(7)
    answerer = holder.get()
    store = Store(settings.db)
    intents = {}
    for question, _, intent in synthetic_questions(per_group=9, seed=3):
        result = answerer.ask(question)
        store.log_query(result, question)
        intents[result["query_id"]] = intent
        if rng.random() < 0.05:
            store.add_feedback(result["query_id"], False, None)
    for n in range(260):
        question = ANSWERED[n % len(ANSWERED)]
        result = answerer.ask(question)
        store.log_query(result, question)
        intents[result["query_id"]] = "answered"
        if result["answered"] and rng.random() < 0.08:
            store.add_feedback(result["query_id"], False, rng.choice(["too long", "I wanted the dose for children", None]))
    store.close()
    now = time.time()
    with closing(sqlite3.connect(settings.db)) as db, db:
        for query_id, intent in intents.items():
            days = rng.triangular(0, 60, 0) if intent in GROWING else rng.uniform(0, 60)
            db.execute("UPDATE queries SET ts = ? WHERE query_id = ?", (now - days * 86400, query_id))


def main() -> None:
    with temporary_site(PAGES, log_days=60) as site:
        fill_log(site.settings, site.holder)
        with served_in_chromium(site) as (url, browser):
            context = browser.new_context(viewport={"width": 1280, "height": 1000}, device_scale_factor=1)
            page = context.new_page()
            page.goto(url + "/report")
            expect(page.locator("tr.group").first).to_be_visible(timeout=120_000)
            page.screenshot(path=str(OUT))
            print(f"wrote {OUT.relative_to(REPO)}")
            context.close()


if __name__ == "__main__":
    main()
