from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch

from server.batching import Batcher
from server.engine import Engine, load_engine
from server.errors import ModelNotReady, Overloaded
from server.model.spec import ModelSpec


@pytest.fixture(scope="module")
def engine(random_weights: Path) -> Engine:
    return load_engine("eager", random_weights, ModelSpec.load(random_weights), torch.device("cpu"))


class SlowEngine(Engine):
    """Records batch sizes; sleeps so that requests pile up behind a running batch."""

    name = "slow"

    def __init__(self, delay: float = 0.05) -> None:
        self.sizes: list[int] = []
        self.delay = delay

    @classmethod
    def load(cls, *args: object) -> SlowEngine:
        return cls()

    def _forward(self, batch: torch.Tensor) -> torch.Tensor:
        self.sizes.append(len(batch))
        time.sleep(self.delay)
        return batch.flatten(1)[:, 0]

    def run(self, batch: torch.Tensor) -> torch.Tensor:
        return self._forward(batch)


def test_batching_never_changes_results(engine: Engine) -> None:
    torch.manual_seed(0)
    inputs = [torch.randn(n, 3, 224, 224) for n in (1, 3, 1, 2, 1, 1, 4, 1)]
    expected = [engine.run(x) for x in inputs]
    batcher = Batcher(lambda: engine, max_batch=8, max_delay_ms=20, pending=lambda: 1)
    batcher.start()
    try:
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(lambda x: batcher.submit(x).result(), inputs))
    finally:
        batcher.stop()
    for got, want in zip(results, expected, strict=True):
        assert torch.allclose(got, want, atol=1e-4), (got, want)
    assert batcher.stats.images == sum(len(x) for x in inputs)
    assert batcher.stats.batches < len(inputs), "concurrent requests should have been grouped"


def test_requests_queued_behind_a_batch_are_grouped_up_to_max_batch() -> None:
    engine = SlowEngine()
    batcher = Batcher(lambda: engine, max_batch=4)
    batcher.start()
    try:
        first = batcher.submit(torch.full((1, 1), 0.0))
        time.sleep(0.01)  # the first batch is now running
        futures = [batcher.submit(torch.full((1, 1), float(i))) for i in range(1, 7)]
        assert first.result().tolist() == [0.0]
        assert [f.result().item() for f in futures] == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    finally:
        batcher.stop()
    assert engine.sizes == [1, 4, 2]


def test_idle_server_adds_no_delay() -> None:
    engine = SlowEngine(delay=0.0)
    batcher = Batcher(lambda: engine, max_batch=8, max_delay_ms=500, pending=lambda: 0)
    batcher.start()
    try:
        started = time.perf_counter()
        batcher.submit(torch.zeros(1, 1)).result()
        assert time.perf_counter() - started < 0.1
    finally:
        batcher.stop()


def test_full_queue_is_overloaded_and_stopped_batcher_refuses() -> None:
    engine = SlowEngine(delay=0.2)
    batcher = Batcher(lambda: engine, max_batch=1, max_queue=2)
    batcher.start()
    batcher.submit(torch.zeros(1, 1))
    time.sleep(0.05)
    batcher.submit(torch.zeros(1, 1))
    batcher.submit(torch.zeros(1, 1))
    with pytest.raises(Overloaded):
        batcher.submit(torch.zeros(1, 1))
    batcher.stop()
    with pytest.raises(ModelNotReady):
        batcher.submit(torch.zeros(1, 1))


def test_abandoned_requests_are_skipped() -> None:
    engine = SlowEngine(delay=0.1)
    batcher = Batcher(lambda: engine, max_batch=1)
    batcher.start()
    try:
        batcher.submit(torch.zeros(1, 1))
        time.sleep(0.02)
        gone = threading.Event()
        gone.set()
        skipped = batcher.submit(torch.ones(1, 1), abandoned=gone.is_set)
        kept = batcher.submit(torch.full((1, 1), 2.0))
        assert kept.result().item() == 2.0
        assert skipped.cancelled()
    finally:
        batcher.stop()
    assert batcher.stats.skipped == 1
    assert engine.sizes == [1, 1]


def test_engine_errors_reach_every_caller() -> None:
    class Broken(SlowEngine):
        def _forward(self, batch: torch.Tensor) -> torch.Tensor:
            raise RuntimeError("boom")

    batcher = Batcher(Broken, max_batch=4)
    batcher.start()
    try:
        with pytest.raises(RuntimeError, match="boom"):
            batcher.submit(torch.zeros(2, 1)).result()
    finally:
        batcher.stop()


def test_calls_run_on_the_worker_thread_in_order_between_batches() -> None:
    engine = SlowEngine(delay=0.05)
    batcher = Batcher(lambda: engine, max_batch=8)
    batcher.start()
    try:
        order: list[str] = []
        first = batcher.submit(torch.zeros(1, 1))
        time.sleep(0.01)
        queued = batcher.submit(torch.ones(1, 1))
        call = batcher.call(lambda: order.append(threading.current_thread().name) or "done")
        after = batcher.submit(torch.full((1, 1), 2.0))
        assert call.result() == "done" and order == ["inference"]
        assert [f.result().item() for f in (first, queued, after)] == [0.0, 1.0, 2.0]
    finally:
        batcher.stop()
    assert engine.sizes == [1, 1, 1], "a call is never batched across"


def test_engine_load_errors_reach_start() -> None:
    def broken() -> Engine:
        raise ValueError("no weights")

    with pytest.raises(ValueError, match="no weights"):
        Batcher(broken).start()


def test_work_left_at_stop_fails_instead_of_waiting_forever() -> None:
    """A request thread must never wait forever on a job the worker will not run: it would also keep the process
    from exiting after SIGTERM."""
    batcher = Batcher(lambda: SlowEngine(delay=0.0))
    batcher.start()
    release = threading.Event()
    busy = batcher.call(release.wait)  # the worker is stuck in this call...
    queued = batcher.submit(torch.ones(1, 3))  # ...so this job is still queued when stop gives up waiting
    batcher.stop(timeout=0.2)
    with pytest.raises(ModelNotReady):
        queued.result(timeout=5)
    with pytest.raises(ModelNotReady):
        batcher.submit(torch.ones(1, 3))
    release.set()
    assert busy.result(timeout=5) is True


def test_a_failing_batch_hook_fails_its_requests_but_not_the_worker() -> None:
    calls = []

    def on_batch(size: int, seconds: float) -> None:
        calls.append(size)
        if len(calls) == 1:
            raise RuntimeError("metrics exploded")

    batcher = Batcher(lambda: SlowEngine(delay=0.0), on_batch=on_batch)
    batcher.start()
    try:
        with pytest.raises(RuntimeError, match="metrics exploded"):
            batcher.submit(torch.ones(1, 3)).result(timeout=5)
        assert batcher.submit(torch.full((1, 3), 2.0)).result(timeout=5).tolist() == [2.0]
    finally:
        batcher.stop()
