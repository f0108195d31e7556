"""The controller manager on real nodes: two network-namespace nodes with their own containerd and kubelet
(netns_cluster.py), driven by stock kubectl, one cluster for every check.

* `kubectl create deployment web --image=... --replicas=3`, then `kubectl set image`: the rolling update never
  has fewer than replicas - maxUnavailable Ready pods; `kubectl rollout undo` brings the previous image back;
  a deleted pod is replaced;
* a Job runs to completion (its pod's tracking finalizer is removed once it is counted);
* deleting a namespace deletes everything in it, pods stopped by their kubelets;
* a node whose agent stops (SIGSTOP: no more heartbeats, its containers keep running) goes Unknown after
  `--node-monitor-grace-period`, gets the unreachable taints, and its pods are evicted after the
  `--default-unreachable-toleration-seconds` the API server gave them and replaced on the other node; the
  agent is resumed afterwards and completes the evicted pod's deletion.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from netns_cluster import BUSYBOX_IMAGE, Cluster, netns_cluster

pytestmark = [pytest.mark.root, pytest.mark.e2e, pytest.mark.slow]

Obj = dict[str, Any]
IMAGE_V2 = "kubelite.local/busybox:e2e-v2"
GRACE_SECONDS = 16  # more than the kubelet's 10 s Lease renewal, as upstream requires
TOLERATION_SECONDS = 4
# exits promptly on SIGTERM (a shell as PID 1 would otherwise ignore it for the whole grace period)
LOOP = 'trap "exit 0" TERM; while true; do sleep 1; done'


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    flags = ("--node-monitor-grace-period", f"{GRACE_SECONDS}s",
             "--default-not-ready-toleration-seconds", str(TOLERATION_SECONDS),
             "--default-unreachable-toleration-seconds", str(TOLERATION_SECONDS))
    with netns_cluster(2, server_flags=flags, extra_image_tags=(IMAGE_V2,)) as running:
        yield running


def ready_pods(cluster: Cluster, selector: str, namespace: str = "default") -> list[Obj]:
    done = cluster.kubectl("get", "pods", "-n", namespace, "-l", selector, "-o", "json", check=False)
    if done.returncode != 0:
        return []
    return [p for p in json.loads(done.stdout)["items"] if not p["metadata"].get("deletionTimestamp")
            and any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", []))]


def images(pods: list[Obj]) -> set[str]:
    return {c["image"] for p in pods for c in p["spec"]["containers"]}


class ReadyFloor:
    """Polls the Ready pods of a selector in a thread and remembers the fewest seen."""

    def __init__(self, cluster: Cluster, selector: str) -> None:
        self.cluster, self.selector = cluster, selector
        self.fewest: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self._stop.is_set():
            count = len(ready_pods(self.cluster, self.selector))
            self.fewest = count if self.fewest is None else min(self.fewest, count)
            self._stop.wait(0.2)

    def __enter__(self) -> ReadyFloor:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)


def test_rolling_update_undo_and_self_healing(cluster: Cluster) -> None:
    cluster.kubectl("create", "deployment", "web", f"--image={BUSYBOX_IMAGE}", "--replicas=3", "--",
                    "sh", "-c", LOOP)
    cluster.kubectl("rollout", "status", "deployment/web", "--timeout=120s", timeout=150)
    pods = ready_pods(cluster, "app=web")
    assert len(pods) == 3 and images(pods) == {BUSYBOX_IMAGE}
    tolerations = {t["key"]: t.get("tolerationSeconds") for t in pods[0]["spec"]["tolerations"]}
    assert tolerations["node.kubernetes.io/unreachable"] == TOLERATION_SECONDS, tolerations
    assert tolerations["node.kubernetes.io/not-ready"] == TOLERATION_SECONDS, tolerations
    container = cluster.get_json("deployment", "web")["spec"]["template"]["spec"]["containers"][0]["name"]

    # maxUnavailable 25% of 3 rounds down to 0: the update may never go below 3 Ready pods
    with ReadyFloor(cluster, "app=web") as floor:
        cluster.kubectl("set", "image", "deployment/web", f"{container}={IMAGE_V2}")
        cluster.kubectl("rollout", "status", "deployment/web", "--timeout=120s", timeout=150)
    assert floor.fewest is not None and floor.fewest >= 3, f"only {floor.fewest} Ready pods during the update"
    cluster.wait("every Ready pod on the new image", lambda: images(p := ready_pods(cluster, "app=web")) ==
                 {IMAGE_V2} and len(p) == 3)

    cluster.kubectl("rollout", "undo", "deployment/web")
    cluster.kubectl("rollout", "status", "deployment/web", "--timeout=120s", timeout=150)
    cluster.wait("every Ready pod back on the first image",
                 lambda: images(p := ready_pods(cluster, "app=web")) == {BUSYBOX_IMAGE} and len(p) == 3)
    web = cluster.get_json("deployment", "web")
    assert web["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"

    victim = ready_pods(cluster, "app=web")[0]["metadata"]["name"]
    cluster.kubectl("delete", "pod", victim, "--wait=false")
    cluster.wait("the deleted pod replaced", lambda: len(p := ready_pods(cluster, "app=web")) == 3
                 and victim not in {x["metadata"]["name"] for x in p})


def test_job_runs_to_completion(cluster: Cluster) -> None:
    cluster.kubectl("create", "job", "once", f"--image={BUSYBOX_IMAGE}", "--", "sh", "-c", "echo job finished")
    cluster.kubectl("wait", "--for=condition=complete", "job/once", "--timeout=120s", timeout=150)
    status = cluster.get_json("job", "once")["status"]
    assert status["succeeded"] == 1 and not status.get("active")
    (pod,) = cluster.get_json("pods", "-l", "job-name=once")["items"]
    assert pod["status"]["phase"] == "Succeeded"
    cluster.wait("the tracking finalizer removed", lambda: not cluster.get_json("pod", pod["metadata"]["name"])
                 ["metadata"].get("finalizers"))
    assert "job finished" in cluster.kubectl("logs", "job/once").stdout


def test_deleting_a_namespace_deletes_everything_in_it(cluster: Cluster) -> None:
    ns = "doomed"
    cluster.kubectl("create", "namespace", ns)
    cluster.kubectl("create", "deployment", "app", f"--image={BUSYBOX_IMAGE}", "--replicas=2", "-n", ns, "--",
                    "sh", "-c", LOOP)
    cluster.kubectl("create", "service", "clusterip", "app", "--tcp=80:8080", "-n", ns)
    cluster.kubectl("create", "configmap", "settings", "--from-literal=a=b", "-n", ns)
    cluster.kubectl("create", "job", "work", f"--image={BUSYBOX_IMAGE}", "-n", ns, "--", "sh", "-c", LOOP)
    cluster.wait("the namespace's pods running", lambda: len(ready_pods(cluster, "app=app", ns)) == 2
                 and len(ready_pods(cluster, "job-name=work", ns)) == 1)

    cluster.kubectl("delete", "namespace", ns, "--timeout=150s", timeout=180)
    assert cluster.kubectl("get", "namespace", ns, check=False).returncode != 0
    for kind in ("pods", "deployments", "replicasets", "services", "configmaps", "jobs", "endpointslices"):
        listed = cluster.get_json(kind, "-n", ns)["items"]
        assert not listed, f"{kind} left in the deleted namespace: {[o['metadata']['name'] for o in listed]}"


def _spread_deployment() -> Obj:
    """Two replicas that prefer different nodes (preferred anti-affinity), so one runs on each."""
    term = {"weight": 100, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname",
                                               "labelSelector": {"matchLabels": {"app": "spread"}}}}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "spread", "namespace": "default"},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "spread"}},
                     "template": {"metadata": {"labels": {"app": "spread"}}, "spec": {
                         "terminationGracePeriodSeconds": 2,
                         "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [term]}},
                         "containers": [{"name": "c", "image": BUSYBOX_IMAGE, "command": ["sh", "-c", LOOP]}]}}}}


def _node_ready(cluster: Cluster, name: str) -> str:
    node = cluster.get_json("node", name)
    return next((c["status"] for c in node["status"].get("conditions", []) if c["type"] == "Ready"), "")


def test_pods_of_a_stopped_node_are_replaced_after_the_grace_period(cluster: Cluster) -> None:
    cluster.apply(_spread_deployment())
    pods = cluster.wait("one spread pod on each node", lambda: (p := ready_pods(cluster, "app=spread"))
                        and len(p) == 2 and len({x["spec"]["nodeName"] for x in p}) == 2 and p)
    lost = cluster.nodes[1]
    (stranded,) = [p for p in pods if p["spec"]["nodeName"] == lost.name]
    agent = lost.processes[0]  # `kubelite agent` (nsenter --net execs it: this is its PID)
    os.kill(agent.pid, signal.SIGSTOP)
    stopped_at = time.monotonic()
    try:
        cluster.wait(f"{lost.name} to go Unknown", lambda: _node_ready(cluster, lost.name) == "Unknown",
                     timeout=GRACE_SECONDS + 30)
        unknown_after = time.monotonic() - stopped_at
        taints = {(t["key"], t["effect"]) for t in cluster.get_json("node", lost.name)["spec"].get("taints", [])}
        assert ("node.kubernetes.io/unreachable", "NoExecute") in taints, taints
        replaced = cluster.wait("both spread pods Ready on the remaining node", lambda: (
            p := ready_pods(cluster, "app=spread")) and len(p) == 2
            and {x["spec"]["nodeName"] for x in p} == {cluster.nodes[0].name} and p, timeout=90)
        assert stranded["metadata"]["name"] not in {p["metadata"]["name"] for p in replaced}
        evicted = cluster.get_json("pod", stranded["metadata"]["name"])
        assert evicted["metadata"].get("deletionTimestamp"), "the stranded pod was evicted (terminating)"
        # the node was not given up on before the grace period (less the lease renewal it may have missed)
        assert unknown_after >= GRACE_SECONDS - 10, unknown_after
    finally:
        os.kill(agent.pid, signal.SIGCONT)
    # the resumed agent stops the evicted pod, whose deletion then completes (the node's Ready condition
    # comes back with the kubelet's next status report)
    cluster.wait("the evicted pod gone", lambda: cluster.kubectl(
        "get", "pod", stranded["metadata"]["name"], check=False).returncode != 0, timeout=90)
