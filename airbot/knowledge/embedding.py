"""Fast sentence embeddings on a CPU: the embedder's transformer in bf16, called directly.

``SentenceTransformer.encode`` spends about as long around the model (feature dicts, sorting,
device moves, numpy conversion) as inside it for a one-line query, and runs fp32. Calling the
same transformer in bf16 with the cached tokenizer, mean pooling and normalizing ourselves gives
the same vectors (cosine >= 0.9999 with ``encode``'s) in less than half the time; measured in
bench/retrieval.py. Per-tensor int8 dynamic quantization was faster still but moved vectors to
cosine 0.94, enough to change rankings, so it is not used.

    from airbot.knowledge.embedding import fast_encoder
    vectors = fast_encoder("all-MiniLM-L6-v2").encode(["How heavy can my bag be?"])

Many texts (a document being indexed) are cut into length-sorted batches, so little of a batch
is padding, and the batches run on ``workers`` Python threads, each a one-thread torch forward.
That is how two cores are used for indexing: torch's own two intra-op threads met at a barrier
after every op and ran at 15-19 chunks/s beside other work, against 41 for one thread and 40-44
for two batch threads (bench/retrieval.py, load 7); independent batches never wait on each other.

A single query (no padding) runs through a TorchScript trace of the same bf16 model, frozen:
3.7-3.8 CPU ms per query against 4.8-5.0 eagerly (load 5-7), identical vectors. The trace fixes
the "no padding" branch, so it is only used for one text and only after it reproduced the eager
output on two probes of other lengths; anything else runs eagerly. The BERT pooler (a dense
layer mean pooling never reads) is dropped.

Only the plain Transformer -> mean Pooling -> (Normalize) pipeline is taken over (MiniLM and most
sentence-transformers models); anything else, and CPUs without bf16 units, use ``encode``.
"""

from __future__ import annotations

import copy
import logging
import os
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from airbot.models import compute_scope

_encoders: dict[tuple[str, int], FastEncoder] = {}
_lock = threading.Lock()


class FastEncoder:
    """Unit-length float32 embeddings, like ``encode(..., normalize_embeddings=True)``."""

    def __init__(self, embedder: Any, threads: int = 1, workers: int | None = None) -> None:
        import torch

        from airbot.models import bf16_supported

        self.embedder, self.threads = embedder, threads
        self.workers = workers or min(2, os.cpu_count() or 1)
        self.direct = _plain_mean_pooling(embedder) and bf16_supported(str(embedder.device))
        if self.direct:
            self.tokenizer = embedder.tokenizer
            self.max_length = int(embedder.max_seq_length or 512)
            self.model = copy.deepcopy(embedder[0].auto_model).to(torch.bfloat16).eval()
            if hasattr(self.model, "pooler"):
                self.model.pooler = None  # mean pooling reads last_hidden_state only
        self._single: Any = None
        self._single_tried = not self.direct
        self._single_lock = threading.Lock()

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """Embeddings in input order; batches are length-sorted so little of a batch is padding,
        and run ``workers`` at a time when there are several."""
        if not self.direct:
            vecs = self.embedder.encode(texts, batch_size=batch_size, normalize_embeddings=True,
                                        convert_to_numpy=True, show_progress_bar=False)
            return np.asarray(vecs, dtype=np.float32).reshape(len(texts), -1)
        if len(texts) == 1 and self._traced() is not None:
            with compute_scope(self.threads):
                return self._forward(self._tokenize(texts), self._single)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), self.model.config.hidden_size), dtype=np.float32)
        batches = [order[start:start + batch_size] for start in range(0, len(order), batch_size)]
        # Tokenized here, not in the workers: a fast tokenizer shared across threads can fail
        # with "Already borrowed" when its truncation settings are touched concurrently.
        inputs = [self._tokenize([texts[i] for i in batch]) for batch in batches]

        def run(job: int) -> None:
            import torch

            with torch.inference_mode():  # thread-local: each worker enters it itself
                out[batches[job]] = self._forward(inputs[job])

        with compute_scope(self.threads):
            if self.workers > 1 and len(batches) > 1:
                with ThreadPoolExecutor(min(self.workers, len(batches))) as pool:
                    list(pool.map(run, range(len(batches))))
            else:
                for job in range(len(batches)):
                    run(job)
        return out

    def _tokenize(self, texts: list[str]) -> Any:
        return self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")

    def _traced(self) -> Any:
        """The frozen trace for single unpadded texts, built once; None (eager) if it fails or disagrees."""
        with self._single_lock:
            if not self._single_tried:
                self._single, self._single_tried = self._trace(), True
            return self._single

    def _trace(self) -> Any:
        import torch

        hf_log = logging.getLogger("transformers.modeling_utils")  # tracing reads loss_function, which warns
        level = hf_log.level
        hf_log.setLevel(logging.ERROR)
        try:
            with compute_scope(self.threads), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                enc = self._tokenize(["How heavy can my checked bag be?"])
                traced = torch.jit.freeze(torch.jit.trace(self.model, (enc["input_ids"], enc["attention_mask"]),
                                                          strict=False).eval())
                for probe in ("Refund?", "Can I cancel a Saver ticket within 24 hours of booking and get my money back?"):
                    enc = self._tokenize([probe])
                    if not np.allclose(self._forward(enc, traced), self._forward(enc), atol=1e-4):
                        return None
                return traced
        except Exception:  # any tracing failure just means the eager path
            return None
        finally:
            hf_log.setLevel(level)

    def _forward(self, enc: Any, model: Any = None) -> np.ndarray:
        """Mean-pooled, unit-length embeddings of one tokenized batch (``model``: the trace)."""
        import torch

        if model is None:
            hidden = self.model(**enc).last_hidden_state.float()
        else:
            out = model(enc["input_ids"], enc["attention_mask"])
            hidden = (out["last_hidden_state"] if isinstance(out, dict) else out[0]).float()
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
