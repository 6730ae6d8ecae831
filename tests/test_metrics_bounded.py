"""``/metrics`` stays bounded: no label takes a value a client invents."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient
from prometheus_client.parser import text_string_to_metric_families

from app.telemetry import HTTP_METHODS, OTHER_METHOD


def _label_values(text: str, label: str) -> set[str]:
    values: set[str] = set()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if label in sample.labels:
                values.add(sample.labels[label])
    return values


def test_invented_methods_do_not_grow_the_metrics(client: TestClient[Any]) -> None:
    before = len(client.get("/metrics").content)
    for i in range(300):
        client.request(f"X{i:04d}", "/health")
        client.request("Y" * 2_000 + str(i), "/worldservice/rebalancing/plan")
        client.request(f"Z{i}", f"/nowhere/{i}")
    text = client.get("/metrics").text
    assert _label_values(text, "method") <= HTTP_METHODS | {OTHER_METHOD}
    assert OTHER_METHOD in _label_values(text, "method")
    assert not any(route.startswith("/nowhere/") for route in _label_values(text, "route"))
    assert all(len(status) == 3 for status in _label_values(text, "status"))
    # A handful of new series (method "other" on three routes), not one per request.
    assert len(text.encode()) < before + 20_000
