"""PodDisruptionBudgets kept current by the disruption controller, with stock kubectl against a real server and a
fake node agent: status from a Deployment's and a StatefulSet's scale (integer and percentage budgets), an
eviction charged against the budget and refused when none is left, and `kubectl drain` that waits for the
budget (it evicts one pod, is refused for the next until the replacement is Ready elsewhere, then finishes)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from controller_waits import dump_state, get_json, wait_for
from e2e_harness import Server, raw_request
from fake_kubelet import FakeNodes

pytestmark = [pytest.mark.e2e]

Obj = dict[str, Any]
NODES = ["pdb-node-a", "pdb-node-b"]


@pytest.fixture(scope="module")
def nodes(server: Server) -> Iterator[FakeNodes]:
    with FakeNodes(server.kubeconfig, NODES) as fake:
        yield fake


@pytest.fixture
def namespace(server: Server) -> Iterator[str]:
    name = f"pdb-{uuid.uuid4().hex[:8]}"
    server.kubectl("create", "namespace", name)
    yield name
    dump_state(server)
    server.kubectl("delete", "namespace", name, "--wait=false", check=False)
    for node in NODES:
        server.kubectl("uncordon", node, check=False)


def budget_status(server: Server, namespace: str, name: str) -> Obj:
    status: Obj = get_json(server, "pdb", name, "-n", namespace).get("status") or {}
    return status


def budget_reaches(server: Server, namespace: str, name: str, **want: int) -> Obj | None:
    status = budget_status(server, namespace, name)
    return status if all(status.get(k) == v for k, v in want.items()) else None


def ready_pods(server: Server, namespace: str, selector: str) -> list[Obj]:
    return [p for p in get_json(server, "pods", "-n", namespace, "-l", selector)["items"]
            if not p["metadata"].get("deletionTimestamp")
            and any(c["type"] == "Ready" and c["status"] == "True" for c in p.get("status", {}).get("conditions", []))]


def evict(server: Server, namespace: str, name: str) -> tuple[int, Obj]:
    body = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name, "namespace": namespace}}
    return raw_request(server, "POST", f"/api/v1/namespaces/{namespace}/pods/{name}/eviction",
                       json.dumps(body).encode())


def test_budget_status_tracks_controllers_and_evictions(server: Server, nodes: FakeNodes, namespace: str) -> None:
    ns = ["-n", namespace]
    server.kubectl("create", "deployment", "web", "--image=busybox:1", "--replicas=3", *ns)
    server.kubectl("create", "pdb", "web", "--selector=app=web", "--min-available=2", *ns)
    statefulset = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db", "namespace": namespace},
                   "spec": {"replicas": 2, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
                            "template": {"metadata": {"labels": {"app": "db"}},
                                         "spec": {"containers": [{"name": "c", "image": "busybox:1"}]}}}}
    server.kubectl("apply", "-f", "-", input=json.dumps(statefulset))
    server.kubectl("create", "pdb", "db", "--selector=app=db", "--max-unavailable=50%", *ns)

    web = wait_for(lambda: budget_reaches(server, namespace, "web", expectedPods=3, desiredHealthy=2,
                                          currentHealthy=3, disruptionsAllowed=1),
                   what="the web budget to count 3 healthy pods")
    pdb = get_json(server, "pdb", "web", *ns)
    assert web["observedGeneration"] == pdb["metadata"]["generation"]
    condition = {c["type"]: c for c in web["conditions"]}["DisruptionAllowed"]
    assert (condition["status"], condition["reason"]) == ("True", "SufficientPods")
    # maxUnavailable 50% of the StatefulSet's 2 replicas rounds up to 1: one of two may go
    wait_for(lambda: budget_reaches(server, namespace, "db", expectedPods=2, desiredHealthy=1, currentHealthy=2,
                                    disruptionsAllowed=1), what="the db budget from the StatefulSet's scale")
    table = server.kubectl("get", "pdb", "web", *ns).stdout
    assert table.split("\n")[1].split()[:4] == ["web", "2", "N/A", "1"], table

    # scaling the StatefulSet changes what the percentage is taken of
    server.kubectl("scale", "statefulset/db", "--replicas=3", *ns)
    wait_for(lambda: budget_reaches(server, namespace, "db", expectedPods=3, desiredHealthy=1, currentHealthy=3,
                                    disruptionsAllowed=2), what="the db budget after scaling to 3", timeout=60)

    # one eviction is allowed and charged; the next is refused until the replacement is Ready
    victims = [p["metadata"]["name"] for p in ready_pods(server, namespace, "app=web")]
    status, _ = evict(server, namespace, victims[0])
    assert status == 201
    status, refused = evict(server, namespace, victims[1])
    assert status == 429, refused
    assert refused["message"] == "Cannot evict pod as it would violate the pod's disruption budget."
    assert refused["details"]["causes"][0]["reason"] == "DisruptionBudget"
    wait_for(lambda: budget_reaches(server, namespace, "web", currentHealthy=3, disruptionsAllowed=1)
             and victims[0] not in {p["metadata"]["name"] for p in ready_pods(server, namespace, "app=web")},
             what="the evicted pod replaced and the budget restored")
    assert "disruptedPods" not in budget_status(server, namespace, "web"), "the deletion confirmed the eviction"

    # a budget changed by its owner is recomputed (observedGeneration follows)
    server.kubectl("patch", "pdb", "web", "--type=merge", "-p", '{"spec":{"minAvailable":3}}', *ns)
    wait_for(lambda: budget_reaches(server, namespace, "web", desiredHealthy=3, disruptionsAllowed=0,
                                    observedGeneration=2), what="the budget recomputed after its change")
    condition = {c["type"]: c for c in budget_status(server, namespace, "web")["conditions"]}["DisruptionAllowed"]
    assert (condition["status"], condition["reason"]) == ("False", "InsufficientPods")
    status, refused = evict(server, namespace, victims[1])
    assert status == 429 and "needs 3 healthy pods and has 3 currently" in refused["details"]["causes"][0]["message"]


def test_kubectl_drain_waits_for_the_budget(server: Server, nodes: FakeNodes, namespace: str) -> None:
    ns = ["-n", namespace]
    server.kubectl("create", "deployment", "api", "--image=busybox:1", "--replicas=4", *ns)
    server.kubectl("rollout", "status", "deployment/api", "--timeout=60s", *ns, timeout=90)
    server.kubectl("create", "pdb", "api", "--selector=app=api", "--max-unavailable=1", *ns)
    wait_for(lambda: budget_reaches(server, namespace, "api", expectedPods=4, desiredHealthy=3, disruptionsAllowed=1),
             what="the api budget")
    by_node: dict[str, int] = {}
    for p in ready_pods(server, namespace, "app=api"):
        by_node[p["spec"]["nodeName"]] = by_node.get(p["spec"]["nodeName"], 0) + 1
    node = max(by_node, key=lambda n: by_node[n])
    assert by_node[node] >= 2, by_node

    # the second eviction is refused (429) until the first pod's replacement is Ready on the other node
    drained = server.kubectl("drain", node, "--ignore-daemonsets", "--timeout=90s", timeout=120)
    assert f"node/{node} drained" in drained.stdout, drained.stdout
    assert "Cannot evict pod as it would violate the pod's disruption budget" in drained.stderr, drained.stderr
    pods = ready_pods(server, namespace, "app=api")
    assert len(pods) == 4 and all(p["spec"]["nodeName"] != node for p in pods)
    wait_for(lambda: budget_reaches(server, namespace, "api", currentHealthy=4, disruptionsAllowed=1),
             what="the budget after the drain")
