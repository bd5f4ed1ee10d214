"""Continuous batching: the answers in flight on one engine decode their next tokens in one pass.

Decoding one token reads every weight once, and for a 135M model on a CPU that read, not the
arithmetic, sets the pace. When several people ask at once (a shared link; the arena's bots that
share a model), each answer decoding alone pays the whole read per token. Here one scheduler thread
per engine steps every answer in flight together (``Engine.step_batch``): an answer joins the
running batch between two steps as soon as its prompt is read, leaves it at its own stop (end of
turn, ``max_new_tokens``, or its reader closing the stream: the loop guard, a cancel), and gets
its tokens one by one through its own queue, so streaming is unchanged. Rows never mix: each has
its own KV cache and sampling, and a row's logits equal those of the same answer decoding alone
(``tests/generate/test_batch.py``).

Measured on a 2-core Xeon, base model, 1 thread, 200-token prompts (``bench/app.py --json`` has the
app-level figure): one answer 17.5 ms a step (57 tok/s); 8 together 68 ms a step, 117 tok/s in all.

``AIRBOT_BATCHING=0`` turns it off (every answer decodes in its own thread, as before).
"""

from __future__ import annotations

import logging
import queue
import threading
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


class Batcher:
    """The scheduler of one engine: ``decode`` hands it an answer whose prompt is read and yields its tokens."""

    def __init__(self, engine: Engine, threads: int) -> None:
        self.engine, self.threads = engine, threads
        self._joining: list[Request] = []
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self.largest = 0
        """The most answers one step has decoded together (for tests and benchmarks)."""

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
        while True:
            with self._wake:
                if not active and not self._joining:
                    self._wake.wait(IDLE_EXIT_S)
                    if not self._joining:
                        self._thread = None
                        return
                active += self._joining
                self._joining.clear()
            active = [r for r in active if not r.closed]
            if not active:
                continue
            try:
                self._step(active)
            except Exception as err:  # every answer in the step hears of it; the scheduler goes on
                logging.getLogger(__name__).exception("batched decoding step failed")
                for r in active:
                    r.outbox.put(err)
                active = []
                continue
            active = [r for r in active if r.left > 0 and not r.closed]

    def _step(self, active: list[Request]) -> None:
        import torch

        from airbot.generate.stream import next_token

        self.largest = max(self.largest, len(active))
        with compute_scope(self.threads):
            if len(active) == 1:  # alone: the one-row step, no batch bookkeeping
                logits = self.engine.forward(torch.tensor([active[0].token]), active[0].state)[None]
            else:
                logits = self.engine.step_batch([r.token for r in active], [r.state for r in active])
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


def batcher_for(engine: Engine, threads: int) -> Batcher:
    """The engine's scheduler (one per engine: answers on the same weights batch together)."""
    with _batchers_lock:
        if engine.batcher is None:
            engine.batcher = Batcher(engine, threads)
        return engine.batcher
