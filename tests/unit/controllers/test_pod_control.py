"""Pod ordering, slow-start batches and expectations shared by the workload controllers."""

from __future__ import annotations

from typing import Any

import pytest

from kubelite.controlplane.controllers.endpointslice import find_port, should_include
from kubelite.controlplane.controllers.job import format_indexes
from kubelite.controlplane.controllers.pod_control import Expectations, deletion_rank, slow_start_batches

Obj = dict[str, Any]


def pod(name: str, *, node: str | None = "n1", phase: str = "Running", ready: bool = True,
        ready_at: str = "2026-01-01T00:00:00Z", created: str = "2026-01-01T00:00:00Z", restarts: int = 0) -> Obj:
    return {"metadata": {"name": name, "creationTimestamp": created},
            "spec": {"nodeName": node} if node else {},
            "status": {"phase": phase, "containerStatuses": [{"restartCount": restarts}],
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False",
                                       "lastTransitionTime": ready_at}]}}


def test_deletion_order_matches_upstream_active_pods_less() -> None:
    pods = [
        pod("ready-old", created="2026-01-01T00:00:00Z"),
        pod("ready-new", created="2026-01-02T00:00:00Z"),
        pod("ready-recently", ready_at="2026-01-03T00:00:00Z"),
        pod("restarted", restarts=5),
        pod("not-ready", ready=False),
        pod("pending", phase="Pending", ready=False),
        pod("unscheduled", node=None, phase="Pending", ready=False),
    ]
    order = [p["metadata"]["name"] for p in sorted(pods, key=deletion_rank)]
    assert order == ["unscheduled", "pending", "not-ready", "ready-recently", "restarted", "ready-new", "ready-old"]


@pytest.mark.parametrize(("count", "batches"), [
    pytest.param(0, [], id="none"), pytest.param(1, [1], id="one"),
    pytest.param(10, [1, 2, 4, 3], id="ten"), pytest.param(15, [1, 2, 4, 8], id="fifteen"),
])
def test_slow_start_batches(count: int, batches: list[int]) -> None:
    assert slow_start_batches(count) == batches


def test_expectations_wait_for_observed_changes_or_time_out() -> None:
    now = [0.0]
    expectations = Expectations(timeout=10, clock=lambda: now[0])
    assert expectations.satisfied("a")
    expectations.expect("a", adds=2, deletes=1)
    expectations.lower("a", adds=2)
    assert not expectations.satisfied("a")
    expectations.lower("a", deletes=1)
    assert expectations.satisfied("a")
    expectations.expect("b", adds=1)
    now[0] = 11.0
    assert expectations.satisfied("b"), "a lost event must not block the controller for ever"


def test_named_target_ports_resolve_per_pod() -> None:
    p = {"spec": {"containers": [{"ports": [{"name": "http", "containerPort": 8080}]}]}}
    assert find_port(p, {"port": 80, "targetPort": "http"}) == 8080
    assert find_port(p, {"port": 80, "targetPort": "grpc"}) is None
    assert find_port(p, {"port": 80, "targetPort": 9000}) == 9000
    assert find_port(p, {"port": 80}) == 80


@pytest.mark.parametrize(("policy", "phase", "included"), [
    ("Always", "Running", True), ("Never", "Succeeded", False), ("Never", "Failed", False),
    ("OnFailure", "Failed", True), ("OnFailure", "Succeeded", False),
])
def test_finished_pods_leave_endpoints(policy: str, phase: str, included: bool) -> None:
    p = {"metadata": {}, "spec": {"restartPolicy": policy}, "status": {"phase": phase, "podIP": "10.0.0.1"}}
    assert should_include(p, include_terminating=True) is included


def test_completed_indexes_are_written_as_ranges() -> None:
    assert format_indexes({0, 1, 2, 4, 6, 7}) == "0-2,4,6,7"  # upstream: a run of two is "a,b"
    assert format_indexes(set()) == ""
