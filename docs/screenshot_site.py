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

from playwright.sync_api import Browser

from faqbot.api import create_app
from faqbot.embedding import load_embedder, model_id_for
from faqbot.index import build_index
from faqbot.retrieval import AnswererHolder
from faqbot.settings import Settings

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # for tests.*, when run as a script
from tests.support import chromium, serve  # noqa: E402


@dataclass
class Site:
    settings: Settings
    holder: AnswererHolder  # the app's answerer, with the embedder the index was built with


def require_chromium() -> None:
    """Exit with what to install when Debian's chromium is missing."""
    if shutil.which("chromium") is None:
        raise SystemExit("no chromium on PATH; install Debian's chromium package (apt-get install chromium)")


@contextmanager
def temporary_site(pages: Iterable[str] | None = None, **settings: Any) -> Iterator[Site]:
    """data/'s pages (or only the named ones) indexed with the packaged model in a temporary folder, removed afterwards.

    settings: further Settings fields (log_days=60, ...). Chromium is looked for first, before the slow build.
    """
    require_chromium()
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
        yield Site(config, AnswererHolder(config, embedder=embedder))


@contextmanager
def served_in_chromium(site: Site) -> Iterator[tuple[str, Browser]]:
    """The site served on a free loopback port, and a headless Chromium to open it in: (base URL, browser)."""
    with serve(create_app(site.settings, site.holder), start_timeout_s=300) as url, chromium() as browser:
        yield url, browser
