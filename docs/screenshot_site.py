"""What the screenshot scripts share: a temporary site of data/'s pages indexed with the packaged model,
served on a free 127.0.0.1 port, and headless Chromium (Debian's chromium package) to photograph it.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, sync_playwright

from faqbot.api import create_app
from faqbot.embedding import Embedder, load_embedder, model_id_for
from faqbot.index import build_index
from faqbot.retrieval import AnswererHolder
from faqbot.settings import Settings

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # for tests.*, when run as a script
from tests.support import CHROMIUM_ARGS, serve  # noqa: E402


@dataclass
class Site:
    settings: Settings
    embedder: Embedder
    holder: AnswererHolder
    chromium: str


def chromium() -> str:
    """Debian's chromium, or an exit that says how to install it."""
    path = shutil.which("chromium")
    if path is None:
        raise SystemExit("no chromium on PATH; install Debian's chromium package (apt-get install chromium)")
    return path


@contextmanager
def temporary_site(pages: Iterable[str] | None = None, **settings: Any) -> Iterator[Site]:
    """data/'s pages (or only the named ones) indexed with the packaged model in a temporary folder, removed afterwards.

    settings: further Settings fields (log_days=60, ...). Chromium is looked for first, before the slow build.
    """
    executable = chromium()
    with tempfile.TemporaryDirectory(prefix="faqbot-shots-") as tmp:
        root = Path(tmp)
        data = root / "data"
        data.mkdir()
        sources = sorted((REPO / "data").glob("*.md")) if pages is None else [REPO / "data" / f"{name}.md" for name in pages]
        for page in sources:
            shutil.copy2(page, data / page.name)
        embedder = load_embedder("packaged", root / "models")
        build_index(data, root / "index", lambda: embedder, model_id_for("packaged"))
        config = Settings(data_dir=data, index_dir=root / "index", db=root / "db.sqlite3", model="packaged", **settings)
        yield Site(config, embedder, AnswererHolder(config, embedder=embedder), executable)


@contextmanager
def served_in_chromium(site: Site) -> Iterator[tuple[str, Browser]]:
    """The site served on a free loopback port, and a headless Chromium to open it in: (base URL, browser)."""
    with serve(create_app(site.settings, site.holder), start_timeout_s=300) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=site.chromium, args=CHROMIUM_ARGS)
        try:
            yield url, browser
        finally:
            browser.close()
