"""pods/eviction (kubectl drain's call): deletes the pod unless its PodDisruptionBudget forbids it."""

from __future__ import annotations

import json
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

    # once the disruption controller (not built yet) allows one disruption, the eviction goes through
    pdb = json.loads(server.kubectl("get", "pdb", "budget", "-n", ns, "-o", "json").stdout)
    status, _ = raw_request(server, "PATCH", f"/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets/budget/status",
                            json.dumps({"status": {"disruptionsAllowed": 1, "observedGeneration":
                                                   pdb["metadata"]["generation"], "currentHealthy": 1,
                                                   "desiredHealthy": 1, "expectedPods": 1}}).encode(),
                            "application/merge-patch+json")
    assert status == 200
    assert evict(server, ns, "guarded")[0] == 201
    after = json.loads(server.kubectl("get", "pdb", "budget", "-n", ns, "-o", "json").stdout)
    assert after["status"]["disruptionsAllowed"] == 0
    assert "guarded" in after["status"]["disruptedPods"]
