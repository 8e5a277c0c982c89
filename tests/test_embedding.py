"""The ONNX path gives the same vectors as sentence-transformers (the reference), and the cache works."""

from __future__ import annotations

import numpy as np
import pytest

from faqbot.embedding import CachedQueryEmbedder, HashingEmbedder, SentenceTransformerEmbedder

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
