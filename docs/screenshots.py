"""Take the README screenshots of the chat page: docs/screenshot-desktop.png and docs/screenshot-phone.png.

Builds an index of data/ with the packaged model into a temporary folder, serves it on a free
127.0.0.1 port, asks one question in headless Chromium (Debian's chromium package) at desktop
(1280x800) and phone (390x844) size, and saves both pictures next to this script.

    .venv/bin/python docs/screenshots.py ["question"]
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

from faqbot.api import create_app
from faqbot.embedding import load_embedder, model_id_for
from faqbot.index import build_index
from faqbot.settings import Settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.support, when run as a script
from tests.support import CHROMIUM_ARGS, serve  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
OUT = Path(__file__).resolve().parent
QUESTION = "can I take lemtrada while pregnant?"
SIZES = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


def main(question: str = QUESTION) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("no chromium on PATH; install Debian's chromium package (apt-get install chromium)")
    with tempfile.TemporaryDirectory(prefix="faqbot-shots-") as tmp:
        root = Path(tmp)
        data = root / "data"
        data.mkdir()
        for page in sorted((REPO / "data").glob("*.md")):
            shutil.copy2(page, data / page.name)
        build_index(data, root / "index", lambda: load_embedder("packaged"), model_id_for("packaged"))
        settings = Settings(data_dir=data, index_dir=root / "index", db=root / "db.sqlite3", model="packaged")
        with serve(create_app(settings), start_timeout_s=300) as url, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            for name, viewport in SIZES.items():
                context = browser.new_context(viewport=viewport, device_scale_factor=1)
                page = context.new_page()
                page.goto(url + "/")
                page.get_by_label("Your question").fill(question)
                page.get_by_label("Your question").press("Enter")
                expect(page.locator(".msg-bot article")).to_have_count(1, timeout=60_000)
                page.get_by_label("Your question").blur()
                target = OUT / f"screenshot-{name}.png"
                page.screenshot(path=str(target))
                print(f"wrote {target.relative_to(REPO)}")
                context.close()
            browser.close()


if __name__ == "__main__":
    main(*sys.argv[1:2])
