"""The bf16 direct encoder: same vectors as sentence-transformers, in input order, with or
without batch workers (indexing and queries must stay consistent with the stored vectors)."""

from __future__ import annotations

import numpy as np

from airbot.knowledge.embedding import FastEncoder, fast_encoder
from airbot.models import shared_embedder

TEXTS = [f"Clause {i}. " + "Checked bags may weigh up to 23 kg in Economy and 32 kg in Business. " * (1 + i % 5)
         for i in range(70)] + ["Pets travel in the cabin.", "Refunds take 7 days."]


def test_workers_and_batches_give_encode_vectors_in_order() -> None:
    st = shared_embedder()
    ref = st.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
    serial = FastEncoder(st, 1, workers=1).encode(TEXTS, 32)
    parallel = FastEncoder(st, 1, workers=2).encode(TEXTS, 16)
    assert serial.shape == parallel.shape == ref.shape
    assert np.min(np.sum(serial * ref, axis=1)) >= 0.9999  # the stored vectors stay what queries expect
    np.testing.assert_allclose(parallel, serial, atol=2e-3)  # batching differs, so bf16 rounding may too
    assert np.argmax(parallel @ ref[-2]) == len(TEXTS) - 2  # rows are in input order, not length order


def test_single_query_uses_the_shared_encoder() -> None:
    enc = fast_encoder()
    assert enc is fast_encoder()
    vec = enc.encode(["How heavy can my checked bag be?"])
    assert vec.shape == (1, 384) and abs(float(np.linalg.norm(vec)) - 1) < 1e-5


def test_single_queries_take_the_trace_and_match_eager() -> None:
    """One text goes through the frozen trace (when the CPU runs bf16): same vector as eager."""
    enc = FastEncoder(shared_embedder(), 1, workers=1)
    queries = ["Bag?", "How heavy can my checked bag be on a domestic Saver fare, and what does extra weight cost?"]
    single = np.concatenate([enc.encode([q]) for q in queries])
    batch = enc.encode(queries)
    if enc.direct:
        assert enc._traced() is not None
    np.testing.assert_allclose(single, batch, atol=2e-3)
    ref = shared_embedder().encode(queries, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
    assert np.min(np.sum(single * ref, axis=1)) >= 0.9999
