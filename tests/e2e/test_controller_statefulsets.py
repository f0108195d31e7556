"""StatefulSets with stock kubectl on fake nodes: ordered creation with stable names, per-pod claims,
ordered scale-down, rolling update from the highest ordinal, and Parallel pod management."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from controller_waits import dump_state, get_json, wait_for
from e2e_harness import Server
from fake_kubelet import FakeNodes

pytestmark = [pytest.mark.e2e]

Obj = dict[str, Any]


@pytest.fixture(scope="module")
def nodes(server: Server) -> Iterator[FakeNodes]:
    with FakeNodes(server.kubeconfig, ["sts-node"], ready_delay=0.3) as fake:
        yield fake


@pytest.fixture
def namespace(server: Server) -> Iterator[str]:
    name = f"sts-{uuid.uuid4().hex[:8]}"
    server.kubectl("create", "namespace", name)
    yield name
    dump_state(server)
    server.kubectl("delete", "namespace", name, "--wait=false", check=False)


def manifest(namespace: str, *, replicas: int, policy: str = "OrderedReady", image: str = "busybox:1") -> str:
    return json.dumps({
        "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db", "namespace": namespace},
        "spec": {"replicas": replicas, "serviceName": "db", "podManagementPolicy": policy,
                 "selector": {"matchLabels": {"app": "db"}},
                 "template": {"metadata": {"labels": {"app": "db"}},
                              "spec": {"containers": [{"name": "c", "image": image}]}},
                 "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                     "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]}})


def live(server: Server, namespace: str) -> dict[str, Obj]:
    return {p["metadata"]["name"]: p for p in get_json(server, "pods", "-n", namespace, "-l", "app=db")["items"]
            if not p["metadata"].get("deletionTimestamp")}


def test_ordered_creation_stable_names_scale_down_and_rolling_update(server: Server, nodes: FakeNodes,
                                                                      namespace: str) -> None:
    ns = ["-n", namespace]
    # record the order in which pods first appear
    order: list[str] = []
    stop = threading.Event()

    def watch_order() -> None:
        while not stop.is_set():
            for name in sorted(live(server, namespace)):
                if name not in order:
                    order.append(name)

    watcher = threading.Thread(target=watch_order)
    watcher.start()
    try:
        server.kubectl("apply", "-f", "-", input=manifest(namespace, replicas=3))
        server.kubectl("rollout", "status", "sts/db", "--timeout=60s", *ns, timeout=90)
    finally:
        stop.set()
        watcher.join()
    assert order == ["db-0", "db-1", "db-2"]
    pods = live(server, namespace)
    for name, pod in pods.items():
        assert pod["spec"]["hostname"] == name and pod["spec"]["subdomain"] == "db"
        assert pod["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"] == name
        claim = next(v for v in pod["spec"]["volumes"] if v["name"] == "data")["persistentVolumeClaim"]["claimName"]
        assert claim == f"data-{name}"
    claims = {c["metadata"]["name"] for c in get_json(server, "pvc", *ns)["items"]}
    assert claims == {"data-db-0", "data-db-1", "data-db-2"}

    # a deleted pod comes back under the same name
    uid = pods["db-1"]["metadata"]["uid"]
    server.kubectl("delete", "pod", "db-1", "--wait=false", *ns)
    wait_for(lambda: "db-1" in live(server, namespace) and live(server, namespace)["db-1"]["metadata"]["uid"] != uid,
             what="db-1 recreated")

    # rolling update, highest ordinal first
    server.kubectl("set", "image", "sts/db", "c=busybox:2", *ns)
    server.kubectl("rollout", "status", "sts/db", "--timeout=60s", *ns, timeout=90)
    wait_for(lambda: {p["spec"]["containers"][0]["image"] for p in live(server, namespace).values()} == {"busybox:2"}
             and len(live(server, namespace)) == 3, what="busybox:2 everywhere")
    status = get_json(server, "sts", "db", *ns)["status"]
    assert status["currentRevision"] == status["updateRevision"]

    server.kubectl("scale", "sts/db", "--replicas=1", *ns)
    wait_for(lambda: sorted(live(server, namespace)) == ["db-0"], what="scaled down to db-0")
    assert {c["metadata"]["name"] for c in get_json(server, "pvc", *ns)["items"]} == claims  # claims are kept


def test_parallel_pod_management_creates_all_at_once(server: Server, nodes: FakeNodes, namespace: str) -> None:
    server.kubectl("apply", "-f", "-", input=manifest(namespace, replicas=3, policy="Parallel"))
    wait_for(lambda: len(live(server, namespace)) == 3, what="three pods", timeout=10)
    server.kubectl("rollout", "status", "sts/db", "--timeout=60s", "-n", namespace, timeout=90)
