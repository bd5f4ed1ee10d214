"""Fast sentence embeddings on a CPU: the embedder's transformer in bf16, called directly.

``SentenceTransformer.encode`` spends about as long around the model (feature dicts, sorting,
device moves, numpy conversion) as inside it for a one-line query, and runs fp32. Calling the
same transformer in bf16 with the cached tokenizer, mean pooling and normalizing ourselves gives
the same vectors (cosine >= 0.9999 with ``encode``'s) in less than half the time; measured in
bench/retrieval.py. Per-tensor int8 dynamic quantization was faster still but moved vectors to
cosine 0.94, enough to change rankings, so it is not used.

    from airbot.fastembed_query import fast_encoder
    vectors = fast_encoder("all-MiniLM-L6-v2").encode(["How heavy can my bag be?"])

Only the plain Transformer -> mean Pooling -> (Normalize) pipeline is taken over (MiniLM and most
sentence-transformers models); anything else, and CPUs without bf16 units, use ``encode``.
"""

from __future__ import annotations

import copy
import threading
from typing import Any

import numpy as np

from airbot.fastgen import compute_scope

_encoders: dict[tuple[str, int], FastEncoder] = {}
_lock = threading.Lock()


class FastEncoder:
    """Unit-length float32 embeddings, like ``encode(..., normalize_embeddings=True)``."""

    def __init__(self, embedder: Any, threads: int = 1) -> None:
        import torch

        from airbot.models import bf16_supported

        self.embedder, self.threads = embedder, threads
        self.direct = _plain_mean_pooling(embedder) and bf16_supported(str(embedder.device))
        if self.direct:
            self.tokenizer = embedder.tokenizer
            self.max_length = int(embedder.max_seq_length or 512)
            self.model = copy.deepcopy(embedder[0].auto_model).to(torch.bfloat16).eval()

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """Embeddings in input order; batches are length-sorted so little of a batch is padding."""
        if not self.direct:
            vecs = self.embedder.encode(texts, batch_size=batch_size, normalize_embeddings=True,
                                        convert_to_numpy=True, show_progress_bar=False)
            return np.asarray(vecs, dtype=np.float32).reshape(len(texts), -1)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), self.model.config.hidden_size), dtype=np.float32)
        with compute_scope(self.threads):
            for start in range(0, len(order), batch_size):
                batch = order[start:start + batch_size]
                out[batch] = self._embed([texts[i] for i in batch])
        return out

    def _embed(self, texts: list[str]) -> np.ndarray:
        import torch

        enc = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
        hidden = self.model(**enc).last_hidden_state.float()
        mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
        return torch.nn.functional.normalize(pooled, dim=-1).numpy()


def _plain_mean_pooling(embedder: Any) -> bool:
    """Transformer -> mean Pooling (-> Normalize) and nothing else: the pipeline we reproduce."""
    names = [type(m).__name__ for m in embedder]
    if names not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
        return False
    return getattr(embedder[1], "pooling_mode", None) == "mean" or bool(getattr(embedder[1], "pooling_mode_mean_tokens", False))


def fast_encoder(name: str | None = None, threads: int = 1) -> FastEncoder:
    """One encoder per (embedder, threads), built from the shared embedder on first use."""
    from airbot.models import DEFAULT_EMBEDDER, shared_embedder

    key = (name or DEFAULT_EMBEDDER, threads)
    with _lock:
        if key not in _encoders:
            _encoders[key] = FastEncoder(shared_embedder(key[0]), threads)
        return _encoders[key]
