"""Resource metrics storage: the kubelet's /metrics/resource parsed, CPU rates between two scrapes, restarts."""

from __future__ import annotations

import pytest

from kubelite.agent.kubelet.stats import render_resource_metrics
from kubelite.controlplane.metrics.api import cpu_quantity, go_duration, memory_quantity
from kubelite.controlplane.metrics.storage import (
    MetricsParseError,
    MetricsPoint,
    MetricsStorage,
    NodeBatch,
    parse_resource_metrics,
)


def _summary(*, second: int, node_cpu_ns: int, app_cpu_ns: int, start: str = "2026-01-01T00:00:00Z") -> dict:
    stamp = f"2026-01-01T00:01:{second:02d}Z"
    return {"node": {"cpu": {"time": stamp, "usageCoreNanoSeconds": node_cpu_ns},
                     "memory": {"time": stamp, "workingSetBytes": 4096 * 1024}},
            "pods": [{"podRef": {"name": "web", "namespace": "default", "uid": "u"},
                      "cpu": {"time": stamp, "usageCoreNanoSeconds": app_cpu_ns},
                      "memory": {"time": stamp, "workingSetBytes": 2048},
                      "containers": [{"name": "app", "startTime": start,
                                      "cpu": {"time": stamp, "usageCoreNanoSeconds": app_cpu_ns},
                                      "memory": {"time": stamp, "workingSetBytes": 3 * 1024 * 1024}}]}]}


def test_the_kubelets_format_parses_into_node_and_container_points() -> None:
    batch = parse_resource_metrics(render_resource_metrics(_summary(second=0, node_cpu_ns=5 * 10**9,
                                                                    app_cpu_ns=10**9)))
    assert batch.node is not None and batch.node.cpu_seconds == 5.0 and batch.node.memory_bytes == 4096 * 1024
    point = batch.containers[("default", "web", "app")]
    assert point.cpu_seconds == 1.0 and point.memory_bytes == 3 * 1024 * 1024 and point.start_time > 0


def test_rates_come_from_two_scrapes_and_the_window_is_the_time_between_them() -> None:
    storage = MetricsStorage()
    storage.store("n1", parse_resource_metrics(render_resource_metrics(
        _summary(second=0, node_cpu_ns=5 * 10**9, app_cpu_ns=10**9))))
    assert storage.node("n1") is None and storage.pod("default", "web") is None  # one point is no rate
    storage.store("n1", parse_resource_metrics(render_resource_metrics(
        _summary(second=15, node_cpu_ns=20 * 10**9, app_cpu_ns=4 * 10**9))))
    node = storage.node("n1")
    assert node is not None and node.nanocores == 10**9 and node.window == 15.0  # 15 core-s in 15 s
    found = storage.pod("default", "web")
    assert found is not None
    _, window, (app,) = found
    assert window == 15.0 and app.name == "app" and app.nanocores == 200_000_000  # 3 core-s in 15 s = 200m
    assert app.memory_bytes == 3 * 1024 * 1024


def test_a_sample_with_the_same_timestamp_keeps_the_previous_rate() -> None:
    storage = MetricsStorage()
    for second, cpu in ((0, 1), (10, 2), (10, 2)):
        storage.store("n1", NodeBatch(node=MetricsPoint(float(second), float(cpu), 1)))
    usage = storage.node("n1")
    assert usage is not None and usage.window == 10.0 and usage.nanocores == 100_000_000


@pytest.mark.parametrize("second", [
    pytest.param(MetricsPoint(20.0, 0.5, 1, start_time=1.0), id="counter-went-down"),
    pytest.param(MetricsPoint(20.0, 9.0, 1, start_time=2.0), id="container-restarted"),
    pytest.param(MetricsPoint(5.0, 9.0, 1, start_time=1.0), id="clock-went-back"),
])
def test_a_restart_drops_the_old_point_instead_of_serving_a_bogus_rate(second: MetricsPoint) -> None:
    storage = MetricsStorage()
    storage.store("n1", NodeBatch(containers={("ns", "p", "c"): MetricsPoint(10.0, 1.0, 1, start_time=1.0)}))
    storage.store("n1", NodeBatch(containers={("ns", "p", "c"): second}))
    assert storage.pod("ns", "p") is None


def test_a_pod_is_served_only_when_every_container_has_a_rate() -> None:
    storage = MetricsStorage()
    storage.store("n1", NodeBatch(containers={("ns", "p", "a"): MetricsPoint(10.0, 1.0, 1)}))
    storage.store("n1", NodeBatch(containers={("ns", "p", "a"): MetricsPoint(20.0, 2.0, 1),
                                              ("ns", "p", "b"): MetricsPoint(20.0, 2.0, 1)}))
    assert storage.pod("ns", "p") is None
    storage.store("n1", NodeBatch(containers={("ns", "p", "a"): MetricsPoint(30.0, 3.0, 1),
                                              ("ns", "p", "b"): MetricsPoint(30.0, 4.0, 1)}))
    found = storage.pod("ns", "p")
    assert found is not None and [c.name for c in found[2]] == ["a", "b"]
    assert [c.nanocores for c in found[2]] == [100_000_000, 200_000_000]


def test_pods_and_nodes_that_disappear_are_forgotten() -> None:
    storage = MetricsStorage()
    for stamp in (1.0, 2.0):
        storage.store("n1", NodeBatch(node=MetricsPoint(stamp, stamp, 1),
                                      containers={("ns", "p", "c"): MetricsPoint(stamp, stamp, 1)}))
    assert storage.pod("ns", "p") is not None
    storage.store("n1", NodeBatch(node=MetricsPoint(3.0, 3.0, 1)))
    assert storage.pod("ns", "p") is None and storage.node("n1") is not None
    storage.prune([])
    assert storage.node("n1") is None


def test_garbage_is_a_parse_error() -> None:
    with pytest.raises(MetricsParseError):
        parse_resource_metrics("node_cpu_usage_seconds_total{ 1 2 3\n")


@pytest.mark.parametrize(("seconds", "text"), [(15.0, "15s"), (15.25, "15.25s"), (75.0, "1m15s"), (0.5, "500ms"),
                                               (3600.0, "1h0m0s"), (0.0, "0s")])
def test_windows_are_go_durations(seconds: float, text: str) -> None:
    assert go_duration(seconds) == text


def test_quantities_are_canonical_as_metrics_server_writes_them() -> None:
    assert cpu_quantity(200_000_000) == "200m" and cpu_quantity(123_456) == "123456n" and cpu_quantity(0) == "0"
    assert memory_quantity(3 * 1024 * 1024) == "3Mi" and memory_quantity(1000) == "1k"  # as Go prints it
