"""Dynamic batching: one inference thread runs the engine on batches gathered from concurrent requests.

A request submits all of its faces as one item. The worker takes the oldest item, then adds queued items
while the batch has room. It waits up to ``max_delay_ms`` for more only while other requests are known to
be on their way (``pending()`` > 0), so an idle server answers a lone request without any added delay.
The engine only ever sees one thread, so its threads are not oversubscribed by concurrent calls.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

import torch

from server.engine import Engine
from server.errors import ModelNotReady, Overloaded

log = logging.getLogger(__name__)


@dataclass
class _Item:
    batch: torch.Tensor
    future: Future[torch.Tensor] = field(default_factory=Future)
    abandoned: Callable[[], bool] = lambda: False


@dataclass
class BatchStats:
    batches: int = 0
    images: int = 0
    skipped: int = 0  # items dropped because their caller had given up


class Batcher:
    def __init__(self, engine: Engine, max_batch: int = 8, max_delay_ms: float = 0.0, max_queue: int = 64,
                 pending: Callable[[], int] = lambda: 0,
                 on_batch: Callable[[int, float], None] | None = None) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self.max_delay_s = max_delay_ms / 1000.0
        self.pending = pending
        self.on_batch = on_batch
        self.stats = BatchStats()
        self._queue: queue.Queue[_Item | None] = queue.Queue(maxsize=max_queue)
        self._thread = threading.Thread(target=self._run, name="inference", daemon=True)
        self._stopped = threading.Event()

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Finish the queued work, then end the worker thread."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        self._queue.put(None)
        self._thread.join(timeout)

    def depth(self) -> int:
        return self._queue.qsize()

    def submit(self, batch: torch.Tensor, abandoned: Callable[[], bool] = lambda: False) -> Future[torch.Tensor]:
        """Queue a request's images; the future resolves to their logits. Raises Overloaded when full."""
        if self._stopped.is_set():
            raise ModelNotReady("The service is shutting down.")
        item = _Item(batch, abandoned=abandoned)
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            raise Overloaded("The service is busy; please retry in a moment.") from None
        return item.future

    def _run(self) -> None:
        carry: _Item | None = None
        while True:
            first = carry if carry is not None else self._queue.get()
            carry = None
            if first is None:
                return
            items = [first]
            size = len(first.batch)
            deadline = time.monotonic() + self.max_delay_s
            while size < self.max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0 or self.pending() <= 0:
                        break
                    try:
                        nxt = self._queue.get(timeout=min(remaining, 0.001))
                    except queue.Empty:
                        continue
                if nxt is None:
                    self._queue.put(None)  # re-queue the stop marker for after this batch
                    break
                if size + len(nxt.batch) > self.max_batch:
                    carry = nxt  # starts the next batch, keeping arrival order
                    break
                items.append(nxt)
                size += len(nxt.batch)
            self._execute(items)

    def _execute(self, items: list[_Item]) -> None:
        live = []
        for item in items:
            if item.abandoned():
                item.future.cancel()  # its waiting handler thread gets CancelledError and returns
            if item.future.set_running_or_notify_cancel():
                live.append(item)
            else:
                self.stats.skipped += 1
        if not live:
            return
        started = time.perf_counter()
        try:
            logits = self.engine.run(torch.cat([i.batch for i in live]))
        except Exception as exc:  # the engine failed: every caller in this batch gets the error
            log.exception("inference failed for a batch of %d images", sum(len(i.batch) for i in live))
            for item in live:
                item.future.set_exception(exc)
            return
        elapsed = time.perf_counter() - started
        self.stats.batches += 1
        self.stats.images += len(logits)
        if self.on_batch is not None:
            self.on_batch(len(logits), elapsed)
        offset = 0
        for item in live:
            item.future.set_result(logits[offset:offset + len(item.batch)])
            offset += len(item.batch)
