"""Request counts from the in-process server's Prometheus registry (the ``served`` fixture)."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # kept light: test_schemathesis.py is also imported as schemathesis' hooks module
    from server.app import RunningServer


def request_counts(served: RunningServer) -> Counter[tuple[str, str]]:
    """deepfake_requests_total by (RPC name, gRPC code), e.g. ``("Predict", "OK")``."""
    metrics = served.service.metrics
    assert metrics is not None
    counts: Counter[tuple[str, str]] = Counter()
    for family in metrics.registry.collect():
        for sample in family.samples:
            if sample.name == "deepfake_requests_total":
                counts[sample.labels["method"].rsplit("/", 1)[-1], sample.labels["code"]] += sample.value
    return counts
