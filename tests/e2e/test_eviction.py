"""pods/eviction (kubectl drain's call): deletes the pod unless its PodDisruptionBudget forbids it."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from e2e_harness import Server, raw_request

pytestmark = [pytest.mark.e2e]


def make_running_pod(server: Server, ns: str, name: str) -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": "guarded"}},
           "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    status, _ = raw_request(server, "POST", f"/api/v1/namespaces/{ns}/pods", json.dumps(pod).encode())
    assert status == 201
    status, _ = raw_request(server, "PATCH", f"/api/v1/namespaces/{ns}/pods/{name}/status",
                            json.dumps({"status": {"phase": "Running"}}).encode(), "application/merge-patch+json")
    assert status == 200


def evict(server: Server, ns: str, name: str) -> tuple[int, dict[str, object]]:
    body = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name, "namespace": ns}}
    return raw_request(server, "POST", f"/api/v1/namespaces/{ns}/pods/{name}/eviction", json.dumps(body).encode())


def test_eviction_respects_disruption_budget(server: Server) -> None:
    ns = f"ev-{uuid.uuid4().hex[:6]}"
    server.kubectl("create", "namespace", ns)
    make_running_pod(server, ns, "free")
    assert evict(server, ns, "free")[0] == 201, "no budget: the pod is evicted"
    assert server.kubectl("get", "pod", "free", "-n", ns, check=False).returncode == 1

    make_running_pod(server, ns, "guarded")
    server.kubectl("create", "pdb", "budget", "-n", ns, "--selector=app=guarded", "--min-available=1")
    status, body = evict(server, ns, "guarded")
    assert (status, body["reason"]) == (429, "TooManyRequests")
    assert "would violate the pod's disruption budget" in str(body["message"])
    server.kubectl("get", "pod", "guarded", "-n", ns)  # still there

    # the disruption controller counts Ready pods: with a second Ready pod one disruption is allowed
    make_running_pod(server, ns, "spare")
    for name in ("guarded", "spare"):
        set_ready(server, ns, name)
    wait_for_budget(server, ns, currentHealthy=2, disruptionsAllowed=1)
    assert evict(server, ns, "guarded")[0] == 201
    assert server.kubectl("get", "pod", "guarded", "-n", ns, check=False).returncode == 1
    after = wait_for_budget(server, ns, currentHealthy=1, disruptionsAllowed=0)
    assert "guarded" not in (after.get("disruptedPods") or {}), "the deletion confirmed the eviction"

    # an unready pod goes without a charge while the budget is healthy without it (IfHealthyBudget)
    make_running_pod(server, ns, "sick")
    wait_for_budget(server, ns, expectedPods=2, currentHealthy=1, disruptionsAllowed=0)
    assert evict(server, ns, "sick")[0] == 201
    status, body = evict(server, ns, "spare")
    assert status == 429 and "needs 1 healthy pods and has 1 currently" in str(body["details"])


def set_ready(server: Server, ns: str, name: str) -> None:
    ready = {"status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    status, _ = raw_request(server, "PATCH", f"/api/v1/namespaces/{ns}/pods/{name}/status",
                            json.dumps(ready).encode(), "application/merge-patch+json")
    assert status == 200


def wait_for_budget(server: Server, ns: str, **want: int) -> dict[str, object]:
    deadline = time.monotonic() + 30
    while True:
        pdb = json.loads(server.kubectl("get", "pdb", "budget", "-n", ns, "-o", "json").stdout)
        status: dict[str, object] = pdb.get("status") or {}
        if all(status.get(k) == v for k, v in want.items()):
            return status
        assert time.monotonic() < deadline, f"budget status {status} never reached {want}"
        time.sleep(0.1)
