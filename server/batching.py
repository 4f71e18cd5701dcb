"""The inference worker: the one thread that runs torch, with dynamic batching of classification requests.

All torch work of the server (classification, face detection, Grad-CAM, and loading and warming the engine)
runs on this one thread. On a small CPU, torch's OpenMP pool used from several threads runs each forward
pass 2x slower than from one thread, and concurrent passes only oversubscribe the cores, so request
threads decode and prepare numpy batches and hand the torch work over here.

Classification requests are batched: a request submits all of its faces as one item; the worker takes the
oldest item, then adds queued items while the batch has room. It waits up to ``max_delay_ms`` for more
only while other requests are known to be on their way (``pending()`` > 0), so an idle server answers a
lone request without added delay. Other work (``call``) runs alone, in arrival order.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import torch

from server.engine import Engine
from server.errors import ModelNotReady, Overloaded

log = logging.getLogger(__name__)
T = TypeVar("T")


def _never() -> bool:
    return False


@dataclass
class _Job:
    batch: torch.Tensor | None = None  # a classification request's images
    fn: Callable[[], Any] | None = None  # or any other torch work, run alone
    future: Future[Any] = field(default_factory=Future)
    abandoned: Callable[[], bool] = _never


@dataclass
class BatchStats:
    batches: int = 0
    images: int = 0
    skipped: int = 0  # jobs dropped because their caller had given up


class Batcher:
    def __init__(self, load_engine: Callable[[], Engine], max_batch: int = 8, max_delay_ms: float = 0.0,
                 max_queue: int = 64, pending: Callable[[], int] = lambda: 0,
                 on_batch: Callable[[int, float], None] | None = None) -> None:
        self._load_engine = load_engine
        self.max_batch = max_batch
        self.max_delay_s = max_delay_ms / 1000.0
        self.pending = pending
        self.on_batch = on_batch
        self.stats = BatchStats()
        self.engine: Engine | None = None
        self._queue: queue.Queue[_Job | None] = queue.Queue(maxsize=max_queue)
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()
        self._put_lock = threading.Lock()

    def start(self) -> Engine:
        """Start the worker, which loads and warms the engine first; returns it once ready (or raises)."""
        loaded: Future[Engine] = Future()
        self._thread = threading.Thread(target=self._run, args=(loaded,), name="inference", daemon=True)
        self._thread.start()
        self.engine = loaded.result()
        return self.engine

    def stop(self, timeout: float = 5.0) -> None:
        """Finish the queued work, then end the worker thread. Work it could not finish in ``timeout`` fails
        with ModelNotReady, so no request thread waits forever (and keeps the process from exiting)."""
        with self._put_lock:  # no job can be queued behind the stop marker
            if self._stopped.is_set():
                return
            self._stopped.set()
        if self._thread is None:
            return
        self._queue.put(None)
        self._thread.join(timeout)
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                return
            if job is not None and job.future.set_running_or_notify_cancel():
                job.future.set_exception(ModelNotReady("The service is shutting down."))

    def depth(self) -> int:
        return self._queue.qsize()

    def submit(self, batch: torch.Tensor, abandoned: Callable[[], bool] = _never) -> Future[torch.Tensor]:
        """Queue a request's images; the future resolves to their logits. Raises Overloaded when full."""
        return self._put(_Job(batch=batch, abandoned=abandoned))

    def call(self, fn: Callable[[], T], abandoned: Callable[[], bool] = _never) -> Future[T]:
        """Run ``fn`` on the worker thread, alone; raises Overloaded when the queue is full."""
        return self._put(_Job(fn=fn, abandoned=abandoned))

    def _put(self, job: _Job) -> Future[Any]:
        with self._put_lock:
            if self._stopped.is_set():
                raise ModelNotReady("The service is shutting down.")
            try:
                self._queue.put_nowait(job)
            except queue.Full:
                raise Overloaded("The service is busy; please retry in a moment.") from None
        return job.future

    def _run(self, loaded: Future[Engine]) -> None:
        try:
            engine = self._load_engine()
        except BaseException as exc:  # reported to start()'s caller
            loaded.set_exception(exc)
            return
        loaded.set_result(engine)
        carry: _Job | None = None
        while True:
            first = carry if carry is not None else self._queue.get()
            carry = None
            if first is None:
                return
            jobs = [first]
            try:
                if first.fn is not None:
                    self._call(first)
                    continue
                jobs, carry = self._gather(first)
                self._classify(engine, jobs)
            except Exception as exc:  # a bug here must fail these requests, never end the thread (all would hang)
                log.exception("the inference worker failed on %d jobs", len(jobs))
                for job in jobs:
                    if not job.future.done():
                        job.future.set_exception(exc)

    def _gather(self, first: _Job) -> tuple[list[_Job], _Job | None]:
        """Queued classification jobs that fit into one batch with ``first``; the job that did not fit."""
        jobs = [first]
        size = len(first.batch) if first.batch is not None else 0
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
                self._queue.put(None)  # keep the stop marker for after this batch
                break
            if nxt.batch is None or size + len(nxt.batch) > self.max_batch:
                return jobs, nxt  # starts the next round, keeping arrival order
            jobs.append(nxt)
            size += len(nxt.batch)
        return jobs, None

    def _claim(self, job: _Job) -> bool:
        """Mark a job running unless its caller gave up (then its waiting thread gets CancelledError)."""
        if job.abandoned():
            job.future.cancel()
        if job.future.set_running_or_notify_cancel():
            return True
        self.stats.skipped += 1
        return False

    def _call(self, job: _Job) -> None:
        if not self._claim(job):
            return
        assert job.fn is not None
        try:
            job.future.set_result(job.fn())
        except Exception as exc:
            job.future.set_exception(exc)

    def _classify(self, engine: Engine, jobs: list[_Job]) -> None:
        live = [job for job in jobs if self._claim(job)]
        if not live:
            return
        batches = [job.batch for job in live if job.batch is not None]
        started = time.perf_counter()
        try:
            # numpy, not torch.cat: a plain copy; torch.cat took ~9% of this thread's time at 16 concurrent
            # requests (py-spy), twice what np.concatenate takes.
            logits = engine.run(torch.from_numpy(np.concatenate([b.numpy() for b in batches])))
        except Exception as exc:  # the engine failed: every caller in this batch gets the error
            log.exception("inference failed for a batch of %d images", sum(len(b) for b in batches))
            for job in live:
                job.future.set_exception(exc)
            return
        elapsed = time.perf_counter() - started
        self.stats.batches += 1
        self.stats.images += len(logits)
        if self.on_batch is not None:
            self.on_batch(len(logits), elapsed)
        offset = 0
        for job, batch in zip(live, batches, strict=True):
            job.future.set_result(logits[offset:offset + len(batch)])
            offset += len(batch)
