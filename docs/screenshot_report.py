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
import shutil
import sqlite3
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

from faqbot.api import create_app
from faqbot.embedding import load_embedder, model_id_for
from faqbot.index import build_index
from faqbot.retrieval import AnswererHolder
from faqbot.settings import Settings
from faqbot.store import Store

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.*, when run as a script
from tests.report_log import synthetic_questions  # noqa: E402
from tests.support import CHROMIUM_ARGS, serve  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
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
    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("no chromium on PATH; install Debian's chromium package (apt-get install chromium)")
    with tempfile.TemporaryDirectory(prefix="faqbot-shots-") as tmp:
        root = Path(tmp)
        data = root / "data"
        data.mkdir()
        for name in PAGES:
            shutil.copy2(REPO / "data" / f"{name}.md", data / f"{name}.md")
        embedder = load_embedder("packaged", root / "models")
        build_index(data, root / "index", lambda: embedder, model_id_for("packaged"))
        settings = Settings(data_dir=data, index_dir=root / "index", db=root / "db.sqlite3", model="packaged", log_days=60)
        holder = AnswererHolder(settings, embedder=embedder)
        fill_log(settings, holder)
        with serve(create_app(settings, holder), start_timeout_s=300) as url, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            context = browser.new_context(viewport={"width": 1280, "height": 1000}, device_scale_factor=1)
            page = context.new_page()
            page.goto(url + "/report")
            expect(page.locator("tr.group").first).to_be_visible(timeout=120_000)
            page.screenshot(path=str(OUT))
            print(f"wrote {OUT.relative_to(REPO)}")
            context.close()
            browser.close()


if __name__ == "__main__":
    main()
