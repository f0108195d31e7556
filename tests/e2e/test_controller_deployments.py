"""Deployments and ReplicaSets driven by stock kubectl against a real server with its controllers and a fake
node agent: create, scale, rolling update within maxUnavailable, rollout status/history/undo, Recreate,
pause/resume, self-healing, and cascading deletion."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from controller_waits import dump_state, exists, get_json, wait_for
from e2e_harness import Server
from fake_kubelet import FakeNodes

pytestmark = [pytest.mark.e2e]

Obj = dict[str, Any]


@pytest.fixture(scope="module")
def nodes(server: Server) -> Iterator[FakeNodes]:
    with FakeNodes(server.kubeconfig, ["deploy-node-a", "deploy-node-b"]) as fake:
        yield fake


@pytest.fixture
def namespace(server: Server) -> Iterator[str]:
    name = f"dep-{uuid.uuid4().hex[:8]}"
    server.kubectl("create", "namespace", name)
    yield name
    dump_state(server)
    server.kubectl("delete", "namespace", name, "--wait=false", check=False)


def pods_of(server: Server, namespace: str, selector: str) -> list[Obj]:
    items: list[Obj] = get_json(server, "pods", "-n", namespace, "-l", selector)["items"]
    return items


def ready_pods(server: Server, namespace: str, selector: str) -> list[Obj]:
    return [p for p in pods_of(server, namespace, selector) if not p["metadata"].get("deletionTimestamp")
            and any(c["type"] == "Ready" and c["status"] == "True" for c in p.get("status", {}).get("conditions", []))]


def images(pods: list[Obj]) -> set[str]:
    return {p["spec"]["containers"][0]["image"] for p in pods}


def test_deployment_create_scale_update_undo_and_self_heal(server: Server, nodes: FakeNodes, namespace: str) -> None:
    ns = ["-n", namespace]
    server.kubectl("create", "deployment", "web", "--image=busybox:1", "--replicas=3", *ns)
    server.kubectl("rollout", "status", "deployment/web", "--timeout=60s", *ns, timeout=90)
    d = get_json(server, "deployment", "web", *ns)
    assert d["status"]["readyReplicas"] == 3 and d["status"]["updatedReplicas"] == 3
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    conditions = {c["type"]: c for c in d["status"]["conditions"]}
    assert conditions["Available"]["status"] == "True"
    assert conditions["Progressing"]["reason"] == "NewReplicaSetAvailable"
    rs = get_json(server, "rs", "-l", "app=web", *ns)["items"]
    assert len(rs) == 1
    hash_value = rs[0]["metadata"]["labels"]["pod-template-hash"]
    assert rs[0]["metadata"]["name"] == f"web-{hash_value}"
    assert rs[0]["status"]["readyReplicas"] == 3 and rs[0]["status"]["availableReplicas"] == 3
    pods = ready_pods(server, namespace, "app=web")
    assert len(pods) == 3 and all(p["metadata"]["name"].startswith(f"web-{hash_value}-") for p in pods)

    # a deleted pod is replaced
    server.kubectl("delete", "pod", pods[0]["metadata"]["name"], "--wait=false", *ns)
    wait_for(lambda: len(ready_pods(server, namespace, "app=web")) == 3
             and pods[0]["metadata"]["name"] not in {p["metadata"]["name"]
                                                     for p in ready_pods(server, namespace, "app=web")},
             what="the deleted pod replaced")

    # kubectl scale
    server.kubectl("scale", "deployment/web", "--replicas=5", *ns)
    server.kubectl("rollout", "status", "deployment/web", "--timeout=60s", *ns, timeout=90)
    assert len(ready_pods(server, namespace, "app=web")) == 5
    server.kubectl("scale", "deployment/web", "--replicas=4", *ns)
    wait_for(lambda: len(pods_of(server, namespace, "app=web")) == 4, what="scaled down to 4 pods")

    # a rolling update never drops below replicas - maxUnavailable (4 - 1) ready pods
    lowest = [4]
    stop = threading.Event()

    def watch_ready() -> None:
        while not stop.is_set():
            lowest[0] = min(lowest[0], len(ready_pods(server, namespace, "app=web")))

    watcher = threading.Thread(target=watch_ready)
    watcher.start()
    try:
        server.kubectl("set", "image", "deployment/web", "busybox=busybox:2", *ns)
        server.kubectl("rollout", "status", "deployment/web", "--timeout=60s", *ns, timeout=90)
    finally:
        stop.set()
        watcher.join()
    assert lowest[0] >= 3, f"ready pods dropped to {lowest[0]} during the rolling update"
    wait_for(lambda: images(pods_of(server, namespace, "app=web")) == {"busybox:2"}
             and len(pods_of(server, namespace, "app=web")) == 4, what="only busybox:2 pods left")
    history = server.kubectl("rollout", "history", "deployment/web", *ns).stdout
    assert "1" in history and "2" in history
    assert get_json(server, "deployment", "web", *ns)["metadata"]["annotations"][
        "deployment.kubernetes.io/revision"] == "2"

    # rollout undo brings the old template back as revision 3, reusing the old ReplicaSet
    server.kubectl("rollout", "undo", "deployment/web", *ns)
    server.kubectl("rollout", "status", "deployment/web", "--timeout=60s", *ns, timeout=90)
    wait_for(lambda: images(pods_of(server, namespace, "app=web")) == {"busybox:1"}
             and len(pods_of(server, namespace, "app=web")) == 4, what="only busybox:1 pods after undo")
    old_rs = get_json(server, "rs", f"web-{hash_value}", *ns)
    assert old_rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    assert old_rs["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"] == "1"
    assert len(get_json(server, "rs", "-l", "app=web", *ns)["items"]) == 2
    server.kubectl("rollout", "undo", "deployment/web", "--to-revision=2", *ns)
    server.kubectl("rollout", "status", "deployment/web", "--timeout=60s", *ns, timeout=90)
    wait_for(lambda: images(pods_of(server, namespace, "app=web")) == {"busybox:2"},
             what="busybox:2 again after undo --to-revision=2")

    # deleting the Deployment deletes its ReplicaSets and pods (garbage collector, background)
    server.kubectl("delete", "deployment", "web", *ns)
    wait_for(lambda: not get_json(server, "rs", *ns)["items"], what="ReplicaSets deleted with the Deployment")
    wait_for(lambda: not pods_of(server, namespace, "app=web"), what="pods deleted with the Deployment")


def test_recreate_pause_resume_and_history_limit(server: Server, nodes: FakeNodes, namespace: str) -> None:
    ns = ["-n", namespace]
    manifest = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "rec", "namespace": namespace},
                "spec": {"replicas": 2, "revisionHistoryLimit": 1, "strategy": {"type": "Recreate"},
                         "selector": {"matchLabels": {"app": "rec"}},
                         "template": {"metadata": {"labels": {"app": "rec"}},
                                      "spec": {"containers": [{"name": "c", "image": "busybox:1"}]}}}}
    server.kubectl("apply", "-f", "-", input=json.dumps(manifest))
    server.kubectl("rollout", "status", "deployment/rec", "--timeout=60s", *ns, timeout=90)
    for image in ("busybox:2", "busybox:3"):
        server.kubectl("set", "image", "deployment/rec", f"c={image}", *ns)
        server.kubectl("rollout", "status", "deployment/rec", "--timeout=60s", *ns, timeout=90)
        wait_for(lambda image=image: images(pods_of(server, namespace, "app=rec")) == {image}, what=image)
    # revisionHistoryLimit 1: one old ReplicaSet kept
    wait_for(lambda: len(get_json(server, "rs", *ns)["items"]) == 2, what="old ReplicaSets beyond the limit removed")

    server.kubectl("rollout", "pause", "deployment/rec", *ns)
    server.kubectl("set", "image", "deployment/rec", "c=busybox:4", *ns)
    wait_for(lambda: any(c.get("reason") == "DeploymentPaused" for c in get_json(
        server, "deployment", "rec", *ns)["status"].get("conditions", [])), what="the DeploymentPaused condition")
    assert images(pods_of(server, namespace, "app=rec")) == {"busybox:3"}
    server.kubectl("scale", "deployment/rec", "--replicas=3", *ns)
    wait_for(lambda: len(ready_pods(server, namespace, "app=rec")) == 3, what="a paused deployment still scales")
    server.kubectl("rollout", "resume", "deployment/rec", *ns)
    server.kubectl("rollout", "status", "deployment/rec", "--timeout=60s", *ns, timeout=90)
    wait_for(lambda: images(pods_of(server, namespace, "app=rec")) == {"busybox:4"}
             and len(pods_of(server, namespace, "app=rec")) == 3, what="busybox:4 after resume")


def test_replicaset_adopts_orphans_and_releases_relabelled_pods(server: Server, nodes: FakeNodes,
                                                                  namespace: str) -> None:
    ns = ["-n", namespace]
    orphan = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "orphan", "namespace": namespace,
                                                              "labels": {"app": "rs"}},
              "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    server.kubectl("apply", "-f", "-", input=json.dumps(orphan))
    # running first, so that the ReplicaSet finds it rather than racing it with a new pod
    wait_for(lambda: ready_pods(server, namespace, "app=rs"), what="the orphan pod running")
    rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "rs", "namespace": namespace},
          "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "rs"}},
                   "template": {"metadata": {"labels": {"app": "rs"}},
                                "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}
    server.kubectl("apply", "-f", "-", input=json.dumps(rs))
    wait_for(lambda: get_json(server, "rs", "rs", *ns).get("status", {}).get("readyReplicas") == 2,
             what="the ReplicaSet with 2 ready replicas")
    owned = get_json(server, "pod", "orphan", *ns)["metadata"].get("ownerReferences") or []
    assert [(o["kind"], o["name"], o["controller"]) for o in owned] == [("ReplicaSet", "rs", True)]
    assert len(pods_of(server, namespace, "app=rs")) == 2  # adopted one, created one
    # relabelling a pod releases it and a replacement is created
    server.kubectl("label", "pod", "orphan", "app=gone", "--overwrite", *ns)
    wait_for(lambda: not get_json(server, "pod", "orphan", *ns)["metadata"].get("ownerReferences"),
             what="the relabelled pod released")
    wait_for(lambda: len(ready_pods(server, namespace, "app=rs")) == 2, what="a replacement for the released pod")
    events = server.kubectl("get", "events", *ns, "--field-selector", "involvedObject.name=rs").stdout
    assert "SuccessfulCreate" in events
    # orphan propagation: the ReplicaSet goes, its pods stay and lose their owner
    server.kubectl("delete", "rs", "rs", "--cascade=orphan", *ns)
    wait_for(lambda: not exists(server, "rs", "rs", *ns), what="the ReplicaSet deleted with --cascade=orphan")
    wait_for(lambda: all(not p["metadata"].get("ownerReferences") for p in pods_of(server, namespace, "app=rs")),
             what="pods orphaned")
    assert len(pods_of(server, namespace, "app=rs")) == 2
