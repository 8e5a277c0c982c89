"""Take the README screenshots of the chat page: docs/screenshot-desktop.png and docs/screenshot-phone.png.

Builds an index of data/ with the packaged model into a temporary folder, serves it on a free
127.0.0.1 port, asks one question in headless Chromium (Debian's chromium package) at desktop
(1280x800) and phone (390x844) size, and saves both pictures next to this script.

    .venv/bin/python docs/screenshots.py ["question"]
"""

from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import expect
from screenshot_site import REPO, served_in_chromium, temporary_site  # docs/, beside this script

OUT = Path(__file__).resolve().parent
QUESTION = "can I take lemtrada while pregnant?"
SIZES = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


def main(question: str = QUESTION) -> None:
    with temporary_site() as site, served_in_chromium(site) as (url, browser):
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


if __name__ == "__main__":
    main(*sys.argv[1:2])
