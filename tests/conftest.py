"""Shared fixtures: every test's state lives under tmp_path; the real model is loaded once."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data"
SEED = DATA / "alemtuzumab.md"

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _repo_state() -> dict[str, float]:
    """Every file under the repo's own state folders, with its modification time."""
    state = {}
    for folder in ("index", "var", "models", "eval/reports"):
        root = REPO / folder
        if root.exists():
            state.update({str(p.relative_to(REPO)): p.stat().st_mtime for p in root.rglob("*") if p.is_file()})
    return state


@pytest.fixture(autouse=True, scope="session")
def _repo_untouched():
    """The suite must leave the developer's index, database, models and reports as they were."""
    before = _repo_state()
    yield
    after = _repo_state()
    changed = sorted(p for p in after if before.get(p) != after[p]) + sorted(set(before) - set(after))
    assert not changed, f"tests wrote into the repository instead of tmp_path: {changed[:10]}"


@pytest.fixture(autouse=True)
def _isolated_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads or writes the developer's index or database."""
    monkeypatch.setenv("FAQBOT_INDEX_DIR", str(tmp_path / "index"))
    monkeypatch.setenv("FAQBOT_DB", str(tmp_path / "var" / "faqbot.sqlite3"))
    monkeypatch.setenv("FAQBOT_DATA_DIR", str(tmp_path / "data"))


@pytest.fixture
def seed_dir(tmp_path: Path) -> Path:
    """A data folder holding only the seed page."""
    folder = tmp_path / "data"
    folder.mkdir(exist_ok=True)
    shutil.copy(SEED, folder / SEED.name)
    return folder


@pytest.fixture(scope="session")
def real_embedder(tmp_path_factory):
    """The packaged model the way the product runs it: exported once to ONNX, run by ONNX Runtime."""
    from faqbot.embedding import OnnxEmbedder, load_embedder

    embedder = load_embedder("packaged", tmp_path_factory.mktemp("models"))
    assert isinstance(embedder, OnnxEmbedder), "the ONNX export failed; see the warning above"
    return embedder


@pytest.fixture(scope="session")
def build_embedder(real_embedder):
    """The real model for index builds, remembering every text it embedded in this test session: the builds of the
    shipped pages (about 6,000 passages, FAQ questions and sentences) then embed each text once, not once a build."""
    from faqbot.embedding import CachedQueryEmbedder

    return CachedQueryEmbedder(real_embedder, size=1_000_000)


class LiveServer:
    """A real uvicorn server on a free loopback port: `with LiveServer(app) as live: live.url`."""

    def __init__(self, app) -> None:
        from tests.support import serve

        self._context = serve(app)
        self.url = ""

    def __enter__(self) -> LiveServer:
        self.url = self._context.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._context.__exit__(*exc)


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL server for this test session (tests/pg_server.py says how it starts).

    Skipped with the reason when PostgreSQL is not installed; a failure instead with FAQBOT_REQUIRE_POSTGRES=1 (CI).
    """
    from tests.pg_server import PostgresServer, unavailable_reason

    reason = unavailable_reason()
    if reason:
        if os.environ.get("FAQBOT_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"FAQBOT_REQUIRE_POSTGRES=1 but {reason}")
        pytest.skip(reason)
    server = PostgresServer()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server) -> str:
    """A postgresql:// URL of a fresh, empty database on the test session's server."""
    return postgres_server.new_database()
