"""Continuous batching: the answers in flight on one engine decode their next tokens in one pass.

Decoding one token reads every weight once, and for a 135M model on a CPU that read, not the
arithmetic, sets the pace. When several people ask at once (a shared link; the arena's bots that
share a model: base and RAG, fine-tuned and hybrid), each answer decoding alone pays the whole read
per token. Here one scheduler thread per engine steps every answer in flight together
(``Engine.step_rows``): an answer joins the batch between two steps as soon as its prompt is read
(in its own thread), leaves it at its own stop (end of turn, ``max_new_tokens``, or its reader
closing the stream: the loop guard, a cancel), and gets its tokens one by one through its own
queue, so streaming is unchanged. Rows never mix: each has its own row of the KV pool, sampling
and stop, and a row's logits equal those of the same answer decoding alone
(``tests/generate/test_batch.py``).

Step time, base model, ~300-token prompts, a 2-core Xeon without AVX512-BF16, beside other work:
one answer 18.6 ms (54 tok/s, 1 thread); 8 answers on 1 thread 72 ms (112 tok/s), on 2 threads
35-55 ms (145-227 tok/s); 16 answers on 2 threads 61-96 ms (167-262 tok/s).
A step of several answers uses every core (``AIRBOT_BATCH_THREADS``); one alone keeps its 1 thread.

``AIRBOT_BATCHING=0`` turns it off (every answer decodes in its own thread, as before).
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from airbot.config import ChatConfig
from airbot.models import compute_scope

if TYPE_CHECKING:
    import torch

    from airbot.generate.engine import Engine, State

IDLE_EXIT_S = 2.0
"""A scheduler with nothing to decode for this long ends its thread (the next answer starts a new one)."""
_END = -1


@dataclass(eq=False)
class Request:
    """One answer in the batch: its cache, the token to feed next, what stops it, and its outbox."""

    state: State
    token: int
    seen: torch.Tensor
    chat: ChatConfig
    stop: set[int]
    left: int
    """Tokens it may still produce."""
    outbox: queue.SimpleQueue = field(default_factory=queue.SimpleQueue)
    closed: bool = False
    """Its reader stopped listening: drop it at the next step."""


class Pool:
    """The KV caches of the answers in the batch, one tensor per layer: row b is the b-th answer's
    cache, so the step attends for every row in one batched product. An answer's ``State`` points
    at its row (views), so a lone answer's one-row step writes there too."""

    ROWS_STEP, LENGTH_STEP = 4, 256
    """Growth granularity: rows in fours, positions in 256s (a growth copies every row once)."""

    def __init__(self) -> None:
        self.keys: list[torch.Tensor] = []
        self.values: list[torch.Tensor] = []

    def admit(self, active: list[Request], request: Request) -> None:
        """Copy ``request``'s cache (its prompt, read in its own thread) into the next row."""
        need = max(r.state.keys[0].shape[-2] for r in [*active, request])
        self._fit(len(active) + 1, need, request.state, active)
        self._move(request, len(active))
        active.append(request)

    def leave(self, active: list[Request], index: int) -> None:
        """Take row ``index`` out; the last row moves into its place (rows stay packed from 0)."""
        last = active.pop()
        if index < len(active):
            active[index] = last
            self._move(last, index)

    def rows(self, count: int) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """The first ``count`` rows of every layer's keys and values (views)."""
        return [k[:count] for k in self.keys], [v[:count] for v in self.values]

    def _move(self, request: Request, row: int) -> None:
        st, filled = request.state, request.state.length
        for layer in range(len(self.keys)):
            self.keys[layer][row, :, :filled] = st.keys[layer][:, :filled]
            self.values[layer][row, :, :filled] = st.values[layer][:, :filled]
            st.keys[layer], st.values[layer] = self.keys[layer][row], self.values[layer][row]

    def _fit(self, rows: int, length: int, like: State, active: list[Request]) -> None:
        """Grow (never shrink) to hold ``rows`` answers of ``length`` positions; active answers move along."""
        import torch

        have_rows, have_length = (self.keys[0].shape[0], self.keys[0].shape[2]) if self.keys else (0, 0)
        if rows <= have_rows and length <= have_length:
            return
        rows = max(have_rows, -(-rows // self.ROWS_STEP) * self.ROWS_STEP)
        length = max(have_length, -(-length // self.LENGTH_STEP) * self.LENGTH_STEP)
        kv_heads, _, head_dim = like.keys[0].shape
        dtype = like.keys[0].dtype
        self.keys = [torch.zeros(rows, kv_heads, length, head_dim, dtype=dtype) for _ in like.keys]
        self.values = [torch.zeros(rows, kv_heads, length, head_dim, dtype=dtype) for _ in like.keys]
        for row, r in enumerate(active):  # their views point at the old tensors until moved
            self._move(r, row)


class Batcher:
    """The scheduler of one engine: ``decode`` hands it an answer whose prompt is read and yields its tokens."""

    def __init__(self, engine: Engine, threads: int, batch_threads: int) -> None:
        self.engine, self.threads, self.batch_threads = engine, threads, batch_threads
        self._joining: list[Request] = []
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self.largest = 0
        """The most answers one step has decoded together (for tests and benchmarks)."""
        self._closing = False
        _live.add(self)

    def close(self) -> None:
        """End the scheduler thread at its next wait (at exit: a thread inside torch when the
        interpreter tears down aborts the process)."""
        with self._wake:
            self._closing = True
            self._wake.notify()
            thread = self._thread
        if thread is not None:
            thread.join(timeout=5)

    def decode(self, state: State, token: int, seen: torch.Tensor, chat: ChatConfig, stop: set[int],
               left: int) -> Iterator[int]:
        """The tokens after ``token`` (already produced: the prompt's logits chose it), one per step, until
        a stop token (yielded) or ``left`` more tokens; closing the iterator takes the answer out."""
        request = Request(state, token, seen, chat, stop, left)
        with self._wake:
            self._joining.append(request)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="airbot-batcher", daemon=True)
                self._thread.start()
            self._wake.notify()
        try:
            while True:
                item = request.outbox.get()
                if isinstance(item, BaseException):
                    raise item
                if item == _END:
                    return
                yield item
        finally:
            request.closed = True

    def _run(self) -> None:
        active: list[Request] = []
        pool = Pool()  # lives as long as this thread: an idle engine holds no batch caches
        while True:
            with self._wake:
                if not active and not self._joining:
                    if not self._closing:
                        self._wake.wait(IDLE_EXIT_S)
                    if not self._joining or self._closing:
                        self._thread = None
                        return
                joining, self._joining = self._joining, []
            try:
                for r in joining:
                    if not r.closed:
                        pool.admit(active, r)
                self._step(active, pool)
            except Exception as err:  # every answer in the step hears of it; the scheduler goes on
                logging.getLogger(__name__).exception("batched decoding step failed")
                for r in active + joining:
                    r.outbox.put(err)
                active, pool = [], Pool()

    def _step(self, active: list[Request], pool: Pool) -> None:
        import torch

        from airbot.generate.stream import next_token

        for index in range(len(active) - 1, -1, -1):  # from the end: a leaving row takes the last one's place
            if active[index].left <= 0 or active[index].closed:
                pool.leave(active, index)
        if not active:
            return
        self.largest = max(self.largest, len(active))
        with compute_scope(self.batch_threads if len(active) > 1 else self.threads):
            if len(active) == 1:  # alone: the one-row step, no batch bookkeeping
                logits = self.engine.forward(torch.tensor([active[0].token]), active[0].state)[None]
            else:
                states = [r.state for r in active]
                positions = [st.length for st in states]
                keys, values = pool.rows(len(active))
                logits = self.engine.step_rows([r.token for r in active], positions, keys, values,
                                               torch.stack([st.qk_cos[p] for st, p in zip(states, positions)]),
                                               torch.stack([st.qk_sin[p] for st, p in zip(states, positions)]))
                for st in states:
                    st.length += 1
            for r, row in zip(active, logits):
                if r.chat.repetition_penalty != 1.0:  # only the penalty reads the history
                    r.seen = torch.cat([r.seen, torch.tensor([r.token])])
                r.token = next_token(row, r.seen, r.chat)
                r.left -= 1
                r.outbox.put(r.token)
                if r.token in r.stop or r.left <= 0:
                    r.left = 0
                    r.outbox.put(_END)


_batchers_lock = threading.Lock()
_live: weakref.WeakSet[Batcher] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for batcher in list(_live):
        batcher.close()


def batcher_for(engine: Engine, threads: int, batch_threads: int) -> Batcher:
    """The engine's scheduler (one per engine: answers on the same weights batch together); ``threads``
    for a step of one answer, ``batch_threads`` for a step of several (their matmuls are big enough to split)."""
    with _batchers_lock:
        if engine.batcher is None:
            engine.batcher = Batcher(engine, threads, batch_threads)
        return engine.batcher
