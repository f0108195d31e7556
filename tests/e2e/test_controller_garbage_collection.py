"""Garbage collection with stock kubectl: foreground deletion waits for dependents, background deletes them
after the owner, orphan keeps them; an owner recreated under the same name does not adopt the old
dependents' fate; deleting a namespace deletes everything in it."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
from controller_waits import dump_state, exists, get_json, wait_for
from e2e_harness import Server
from fake_kubelet import FakeNodes

pytestmark = [pytest.mark.e2e]


@pytest.fixture(scope="module")
def nodes(server: Server) -> Iterator[FakeNodes]:
    with FakeNodes(server.kubeconfig, ["gc-node"]) as fake:
        yield fake


@pytest.fixture
def namespace(server: Server) -> Iterator[str]:
    name = f"gc-{uuid.uuid4().hex[:8]}"
    server.kubectl("create", "namespace", name)
    yield name
    dump_state(server)
    server.kubectl("delete", "namespace", name, "--wait=false", check=False)


def test_foreground_deletion_removes_dependents_before_the_owner(server: Server, nodes: FakeNodes,
                                                                 namespace: str) -> None:
    ns = ["-n", namespace]
    server.kubectl("create", "deployment", "fg", "--image=busybox", "--replicas=2", *ns)
    server.kubectl("rollout", "status", "deployment/fg", "--timeout=60s", *ns, timeout=90)
    # A finalizer of ours holds one pod in storage: its ReplicaSet, and so the Deployment, must wait for it
    # (blockOwnerDeletion). Without it the collector may finish before the next kubectl call looks.
    held = get_json(server, "pods", "-l", "app=fg", *ns)["items"][0]["metadata"]["name"]
    server.kubectl("patch", "pod", held, "--type=merge", "-p", '{"metadata":{"finalizers":["kubelite.test/hold"]}}',
                   *ns)
    server.kubectl("delete", "deployment", "fg", "--cascade=foreground", "--wait=false", *ns)
    wait_for(lambda: get_json(server, "pod", held, *ns)["metadata"].get("deletionTimestamp"),
             what="the held pod marked for deletion")
    # while a dependent exists the Deployment is still there, marked for deletion with the finalizer
    owner = get_json(server, "deployment", "fg", *ns)
    assert owner["metadata"].get("deletionTimestamp")
    assert "foregroundDeletion" in owner["metadata"].get("finalizers", [])
    assert get_json(server, "rs", "-l", "app=fg", *ns)["items"], "the ReplicaSet went before its held pod"
    server.kubectl("patch", "pod", held, "--type=merge", "-p", '{"metadata":{"finalizers":null}}', *ns)
    wait_for(lambda: not exists(server, "deployment", "fg", *ns), what="the Deployment gone after its dependents")
    assert get_json(server, "rs", *ns)["items"] == []
    assert [p for p in get_json(server, "pods", *ns)["items"] if not p["metadata"].get("deletionTimestamp")] == []


def test_dependent_of_a_missing_owner_is_collected_and_solid_owner_keeps_it(server: Server, nodes: FakeNodes,
                                                                            namespace: str) -> None:
    ns = ["-n", namespace]
    server.kubectl("create", "configmap", "owner", "--from-literal=a=b", *ns)
    owner_uid = get_json(server, "configmap", "owner", *ns)["metadata"]["uid"]

    def dependent(name: str, uid: str, owner: str = "owner") -> str:
        return json.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                           "metadata": {"name": name, "namespace": namespace, "ownerReferences": [
                               {"apiVersion": "v1", "kind": "ConfigMap", "name": owner, "uid": uid}]}})

    server.kubectl("apply", "-f", "-", input=dependent("kept", owner_uid))
    server.kubectl("apply", "-f", "-", input=dependent("dangling", str(uuid.uuid4()), owner="never-existed"))
    wait_for(lambda: not exists(server, "configmap", "dangling", *ns), what="the dependent of a missing owner gone")
    assert exists(server, "configmap", "kept", *ns)
    server.kubectl("delete", "configmap", "owner", *ns)
    wait_for(lambda: not exists(server, "configmap", "kept", *ns), what="the dependent deleted after its owner")


def test_deleting_a_namespace_deletes_everything_in_it(server: Server, nodes: FakeNodes) -> None:
    name = f"gc-ns-{uuid.uuid4().hex[:6]}"
    server.kubectl("create", "namespace", name)
    server.kubectl("create", "deployment", "web", "--image=busybox", "--replicas=2", "-n", name)
    server.kubectl("expose", "deployment", "web", "--port=80", "-n", name)
    server.kubectl("rollout", "status", "deployment/web", "--timeout=60s", "-n", name, timeout=90)
    server.kubectl("delete", "namespace", name, "--timeout=60s", timeout=90)
    assert not exists(server, "namespace", name)
    leftovers = server.kubectl("get", "pods,rs,deploy,svc,endpointslices", "-A", "-o", "json").stdout
    assert all(i["metadata"].get("namespace") != name for i in json.loads(leftovers)["items"])
