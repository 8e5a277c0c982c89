"""The ONNX path gives the same vectors as sentence-transformers (the reference), and the cache works."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from faqbot.embedding import BatchingEmbedder, CachedQueryEmbedder, HashingEmbedder, SentenceTransformerEmbedder

TEXTS = [
    "can I take lemtrada while pregnant?",
    "max dose of tylenol",
    "Alemtuzumab (Campath, Lemtrada). Dosage › Standard Dosage › Adults. Multiple Sclerosis (Lemtrada): First Treatment "
    "Course: 12 mg/day IV over 4 hours for 5 consecutive days (total dose 60 mg). " * 8,
    "x",
]


@pytest.mark.model
def test_onnx_vectors_equal_sentence_transformers(real_embedder) -> None:
    reference = SentenceTransformerEmbedder("packaged").encode(TEXTS)
    ours = real_embedder.encode(TEXTS)
    assert ours.shape == reference.shape == (len(TEXTS), 384)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    cosines = np.sum(ours * reference, axis=1)
    assert cosines.min() > 0.9999, cosines


@pytest.mark.model
def test_batch_and_single_encodings_agree(real_embedder) -> None:
    together = real_embedder.encode(TEXTS)
    alone = np.stack([real_embedder.encode([t])[0] for t in TEXTS])
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_query_cache_returns_the_same_vectors_and_stays_bounded() -> None:
    inner = HashingEmbedder(64)
    cached = CachedQueryEmbedder(inner, size=2)
    first = cached.encode(["a b", "c d", "e f"])
    np.testing.assert_allclose(first, inner.encode(["a b", "c d", "e f"]))
    np.testing.assert_allclose(cached.encode(["a b"]), inner.encode(["a b"]))
    assert len(cached._cache) <= 2


class _GatedEmbedder(HashingEmbedder):
    """Holds its first call until released, and records the texts of every call."""

    def __init__(self) -> None:
        super().__init__(64)
        self.calls: list[list[str]] = []
        self.entered, self.release = threading.Event(), threading.Event()

    def encode(self, texts, *, progress=False):
        self.calls.append(list(texts))
        self.entered.set()
        self.release.wait(10)
        return super().encode(texts)


def test_questions_asked_together_are_embedded_in_one_call_with_their_own_vectors() -> None:
    inner = _GatedEmbedder()
    batching = BatchingEmbedder(inner)
    questions = [f"question number {i} about warfarin" for i in range(9)]
    results: dict[str, np.ndarray] = {}

    def ask(text: str) -> None:
        results[text] = batching.encode([text])

    first = threading.Thread(target=ask, args=(questions[0],))
    first.start()
    assert inner.entered.wait(10)  # the model is busy with the first question
    others = [threading.Thread(target=ask, args=(q,)) for q in questions[1:]]
    for t in others:
        t.start()
    deadline = time.monotonic() + 10
    while batching._queue.qsize() < len(others) and time.monotonic() < deadline:
        time.sleep(0.01)
    inner.release.set()
    for t in [first, *others]:
        t.join(10)
    assert len(inner.calls) == 2 and inner.calls[0] == questions[:1]
    assert sorted(inner.calls[1]) == sorted(questions[1:])  # the eight that waited went in together
    for text in questions:
        np.testing.assert_allclose(results[text], HashingEmbedder(64).encode([text]))


def test_a_model_error_reaches_every_waiting_question_and_the_next_one_is_answered() -> None:
    class Failing(HashingEmbedder):
        fail = True

        def encode(self, texts, *, progress=False):
            if self.fail:
                self.fail = False
                raise RuntimeError("model crashed")
            return super().encode(texts)

    batching = BatchingEmbedder(Failing(64))
    with pytest.raises(RuntimeError, match="model crashed"):
        batching.encode(["first"])
    np.testing.assert_allclose(batching.encode(["second"]), HashingEmbedder(64).encode(["second"]))
    np.testing.assert_allclose(batching.encode(["a", "b"]), HashingEmbedder(64).encode(["a", "b"]))  # builds go straight through
