"""DaemonSets with stock kubectl on fake nodes: one pod per eligible node (taints and node selectors
respected, pods target their node through node affinity), nodes joining or becoming eligible get a pod,
rolling update to a new image, rollout status and history."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from controller_waits import dump_state, get_json, wait_for
from e2e_harness import Server
from fake_kubelet import FakeNodes

pytestmark = [pytest.mark.e2e]

Obj = dict[str, Any]
NODES = ["ds-node-a", "ds-node-b", "ds-node-c"]


@pytest.fixture(scope="module")
def nodes(server: Server) -> Iterator[FakeNodes]:
    with FakeNodes(server.kubeconfig, NODES) as fake:
        yield fake


@pytest.fixture
def namespace(server: Server) -> Iterator[str]:
    name = f"ds-{uuid.uuid4().hex[:8]}"
    server.kubectl("create", "namespace", name)
    yield name
    dump_state(server)
    server.kubectl("delete", "namespace", name, "--wait=false", check=False)


def placement(server: Server, namespace: str) -> dict[str, str]:
    """node -> image of the live daemon pods."""
    pods = get_json(server, "pods", "-n", namespace, "-l", "app=agent")["items"]
    return {p["spec"].get("nodeName", "?"): p["spec"]["containers"][0]["image"] for p in pods
            if not p["metadata"].get("deletionTimestamp") and p["status"].get("phase") == "Running"}


def test_daemonset_places_updates_and_follows_taints(server: Server, nodes: FakeNodes, namespace: str) -> None:
    ns = ["-n", namespace]
    server.kubectl("taint", "node", "ds-node-c", "dedicated=special:NoSchedule")
    try:
        ds = {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent", "namespace": namespace},
              "spec": {"selector": {"matchLabels": {"app": "agent"}},
                       "template": {"metadata": {"labels": {"app": "agent"}},
                                    "spec": {"containers": [{"name": "c", "image": "busybox:1"}]}}}}
        server.kubectl("apply", "-f", "-", input=json.dumps(ds))
        server.kubectl("rollout", "status", "ds/agent", "--timeout=60s", *ns, timeout=90)
        wait_for(lambda: placement(server, namespace) == {"ds-node-a": "busybox:1", "ds-node-b": "busybox:1"},
                 what="one pod on each untainted node")
        pod = get_json(server, "pods", "-l", "app=agent", *ns)["items"][0]
        terms = pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        assert terms["nodeSelectorTerms"][0]["matchFields"][0]["key"] == "metadata.name"
        status = get_json(server, "ds", "agent", *ns)["status"]
        assert (status["desiredNumberScheduled"], status["numberReady"]) == (2, 2)

        # the taint goes: the node becomes eligible and gets its pod
        server.kubectl("taint", "node", "ds-node-c", "dedicated-")
        wait_for(lambda: len(placement(server, namespace)) == 3, what="a pod on the untainted node")

        # rolling update to a new image, one node at a time (maxUnavailable 1)
        server.kubectl("set", "image", "ds/agent", "c=busybox:2", *ns)
        server.kubectl("rollout", "status", "ds/agent", "--timeout=60s", *ns, timeout=90)
        wait_for(lambda: placement(server, namespace) == dict.fromkeys(NODES, "busybox:2"),
                 what="busybox:2 on every node")
        history = server.kubectl("rollout", "history", "ds/agent", *ns).stdout
        assert "1" in history and "2" in history

        # a node selector restricts placement
        server.kubectl("patch", "ds", "agent", *ns, "--type=merge", "-p",
                       json.dumps({"spec": {"template": {"spec": {"nodeSelector": {
                           "kubernetes.io/hostname": "ds-node-b"}}}}}))
        wait_for(lambda: list(placement(server, namespace)) == ["ds-node-b"], what="only ds-node-b keeps a pod")
    finally:
        server.kubectl("taint", "node", "ds-node-c", "dedicated-", check=False)
