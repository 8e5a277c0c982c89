"""Building, saving, loading and swapping the index (fast: a deterministic fake embedder)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from faqbot.embedding import HashingEmbedder
from faqbot.errors import FaqbotError, IndexMismatchError, IndexMissingError
from faqbot.index import build_index, current_build, load_index

MODEL_ID = "hashing-256"


class CountingEmbedder(HashingEmbedder):
    def __init__(self) -> None:
        super().__init__(256)
        self.texts = 0

    def encode(self, texts, *, progress=False):
        self.texts += len(texts)
        return super().encode(texts)


class FailingEmbedder(HashingEmbedder):
    def encode(self, texts, *, progress=False):
        raise RuntimeError("killed mid-build")


def build(data: Path, index: Path, embedder=None, **kwargs):
    embedder = embedder or HashingEmbedder(256)
    return build_index(data, index, lambda: embedder, MODEL_ID, **kwargs)


def test_build_writes_a_loadable_index_with_manifest(seed_dir: Path, tmp_path: Path) -> None:
    report = build(seed_dir, tmp_path / "index")
    assert report.skipped == [] and report.chunks == 29
    index = load_index(tmp_path / "index", MODEL_ID)
    manifest = index.manifest
    assert manifest["chunk_count"] == len(index.chunks) == 29
    assert manifest["model"] == {"id": MODEL_ID, "dim": 256}
    assert manifest["files"] == {"data/alemtuzumab.md": manifest["inputs"]["alemtuzumab.md"]}
    assert {"faiss-cpu", "bm25s", "numpy"} <= set(manifest["libraries"])
    # one passage vector per chunk plus one question vector per FAQ
    assert len(index.vectors) == 29 + 10


def test_chunk_ids_are_stable_across_two_builds(seed_dir: Path, tmp_path: Path) -> None:
    build(seed_dir, tmp_path / "a")
    build(seed_dir, tmp_path / "b", full=True)
    ids_a = [c.chunk_id for c in load_index(tmp_path / "a").chunks]
    ids_b = [c.chunk_id for c in load_index(tmp_path / "b").chunks]
    assert ids_a == ids_b and len(set(ids_a)) == len(ids_a)


def test_faiss_top_k_equals_brute_force_numpy(seed_dir: Path, tmp_path: Path) -> None:
    build(seed_dir, tmp_path / "index")
    index = load_index(tmp_path / "index")
    queries = HashingEmbedder(256).encode(["lemtrada pregnancy", "dose for children", "thyroid monitoring"])
    scores, rows = index.faiss_index.search(queries, 10)
    brute = queries @ index.vectors.T
    for q in range(len(queries)):
        expected = np.argsort(-brute[q], kind="stable")[:10]
        # same scores in the same order, and each returned row really has the score FAISS gives it
        np.testing.assert_allclose(scores[q], brute[q][expected], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(brute[q][rows[q]], scores[q], rtol=1e-5, atol=1e-6)


def test_no_change_rebuild_embeds_nothing_and_one_edit_embeds_only_that(seed_dir: Path, tmp_path: Path) -> None:
    first = CountingEmbedder()
    build(seed_dir, tmp_path / "index", first)
    index = load_index(tmp_path / "index")
    sentences = int(index.sentence_starts[-1])
    assert sentences > len(index.chunks)  # most passages hold several sentences
    keys = json.loads((index.path / "keys.json").read_text())
    # passages and FAQ questions; each sentence alone and paired; a text written twice is embedded once
    assert len(keys) == len(index.vectors) + 2 * sentences and first.texts == len(set(keys))

    calls = []
    again = build_index(seed_dir, tmp_path / "index", lambda: calls.append(1), MODEL_ID)
    assert again.up_to_date and calls == []  # the model is not even loaded

    page = seed_dir / "alemtuzumab.md"
    page.write_text(page.read_text().replace("Renal excretion plays a minor role.", "Renal excretion plays a small role."))
    edited = CountingEmbedder()
    report = build(seed_dir, tmp_path / "index", edited)
    assert not report.up_to_date
    # the edited passage, and of its sentences the edited one alone and under the heading (it is the last), and
    # the one before it paired with it
    assert edited.texts == 4 and report.reused == first.texts - 4


def test_broken_page_is_skipped_and_the_rest_indexed(seed_dir: Path, tmp_path: Path) -> None:
    (seed_dir / "broken.md").write_text("---\ntitle: [oops\n---\n## Usage\n\ntext\n")
    report = build(seed_dir, tmp_path / "index")
    assert [e.path for e in report.skipped] == ["data/broken.md"]
    assert report.indexed == ["data/alemtuzumab.md"]
    assert load_index(tmp_path / "index").manifest["skipped"] == {"data/broken.md": report.skipped[0].reason}


def test_interrupted_build_leaves_the_previous_index_serving(seed_dir: Path, tmp_path: Path) -> None:
    build(seed_dir, tmp_path / "index")
    before = current_build(tmp_path / "index")
    page = seed_dir / "alemtuzumab.md"
    page.write_text(page.read_text().replace("Sinusitis", "Sinus infections"))
    with pytest.raises(RuntimeError, match="killed mid-build"):
        build(seed_dir, tmp_path / "index", FailingEmbedder(256))
    assert current_build(tmp_path / "index") == before
    index = load_index(tmp_path / "index")
    assert any("Sinusitis" in c.text for c in index.chunks)
    assert not [p for p in (tmp_path / "index" / "builds").iterdir() if p.name.startswith(".tmp")]
    # and the next build succeeds
    assert build(seed_dir, tmp_path / "index").chunks == 29
    assert any("Sinus infections" in c.text for c in load_index(tmp_path / "index").chunks)


def test_loading_checks_the_model_and_says_how_to_rebuild(seed_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(IndexMissingError, match="faqbot build"):
        load_index(tmp_path / "index")
    build(seed_dir, tmp_path / "index")
    with pytest.raises(IndexMismatchError, match=r"built with model hashing-256.*faqbot build --full"):
        load_index(tmp_path / "index", "sentence-transformers/all-MiniLM-L6-v2")


def test_damaged_index_file_gives_a_clear_error(seed_dir: Path, tmp_path: Path) -> None:
    build(seed_dir, tmp_path / "index")
    build_dir = current_build(tmp_path / "index")
    (build_dir / "faiss.index").write_bytes(b"garbage")
    with pytest.raises(IndexMismatchError, match="damaged.*faqbot build --full"):
        load_index(tmp_path / "index")


def test_a_build_without_its_sentence_vectors_gives_a_clear_error(seed_dir: Path, tmp_path: Path) -> None:
    build(seed_dir, tmp_path / "index")
    (current_build(tmp_path / "index") / "sentence_vectors.npy").unlink()
    with pytest.raises(IndexMismatchError, match="damaged.*faqbot build --full"):
        load_index(tmp_path / "index")


def test_an_index_of_the_format_before_sentence_vectors_is_rebuilt_reusing_its_vectors(seed_dir: Path, tmp_path: Path) -> None:
    build(seed_dir, tmp_path / "index")
    build_dir = current_build(tmp_path / "index")
    manifest = json.loads((build_dir / "manifest.json").read_text())
    (build_dir / "manifest.json").write_text(json.dumps({**manifest, "format_version": 2}))
    (build_dir / "sentence_vectors.npy").unlink()
    keys = json.loads((build_dir / "keys.json").read_text())[: manifest["vector_count"]]
    (build_dir / "keys.json").write_text(json.dumps(keys))  # as format 2 wrote it
    with pytest.raises(IndexMismatchError, match="format 2.*faqbot build --full"):
        load_index(tmp_path / "index")
    counting = CountingEmbedder()
    report = build(seed_dir, tmp_path / "index", counting)
    assert not report.up_to_date and report.reused == manifest["vector_count"]  # only the sentences are embedded
    assert counting.texts == len(set(json.loads((current_build(tmp_path / "index") / "keys.json").read_text())) - set(keys))


def test_old_builds_are_pruned(seed_dir: Path, tmp_path: Path) -> None:
    for _ in range(4):
        build(seed_dir, tmp_path / "index", full=True)
    assert len([p for p in (tmp_path / "index" / "builds").iterdir()]) <= 2


def test_missing_or_empty_data_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FaqbotError, match="no page folder"):
        build(tmp_path / "nope", tmp_path / "index")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FaqbotError, match="no .md pages"):
        build(tmp_path / "empty", tmp_path / "index")


def test_cli_build_reports_skips_with_exit_code(seed_dir: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    from faqbot.cli import main

    monkeypatch.setenv("FAQBOT_MODEL", "hashing-256")
    assert main(["build", "--data", str(seed_dir), "--index", str(tmp_path / "index")]) == 0
    assert "indexed 1 pages into 29 passages" in capsys.readouterr().out
    assert main(["build", "--data", str(seed_dir), "--index", str(tmp_path / "index")]) == 0
    assert "up to date" in capsys.readouterr().out
    shutil.copy(seed_dir / "alemtuzumab.md", seed_dir / "Bad Name.md")
    assert main(["build", "--data", str(seed_dir), "--index", str(tmp_path / "index")]) == 1
    err = capsys.readouterr().err
    assert "skipped data/Bad Name.md" in err and "not a valid page id" in err
    assert main(["build", "--data", str(tmp_path / "missing")]) == 2
    assert capsys.readouterr().err.startswith("faqbot: no page folder")
    manifest = json.loads((current_build(tmp_path / "index") / "manifest.json").read_text())
    assert "data/Bad Name.md" in manifest["skipped"]


def test_a_killed_builds_leftovers_are_removed_by_the_next_build(seed_dir: Path, tmp_path: Path) -> None:
    build(seed_dir, tmp_path / "index")
    leftover = tmp_path / "index" / "builds" / ".tmp-20260101T000000Z-999"
    (leftover / "bm25").mkdir(parents=True)
    build(seed_dir, tmp_path / "index", full=True)
    assert not leftover.exists()
