"""The whole path on real parts: kubectl apply → scheduled → running on containerd → reachable through a Service.

Two nodes, each a network namespace with its own containerd, kubelite's CNI plugins and service proxy
(netns_cluster.py). A Deployment whose pods cannot share a node (each asks for more than half a node's
CPU) lands one pod per node through the scheduler; its pods serve their node's name with busybox
httpd; a ClusterIP Service spreads requests from either node over both pods, which proves pod
networking across nodes, the EndpointSlice controller and the nftables proxy together. `kubectl
logs` and `kubectl exec` reach the pod on the second node through the API server and its kubelet.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from netns_cluster import BUSYBOX_IMAGE, Cluster, netns_cluster

pytestmark = [pytest.mark.root, pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with netns_cluster(2) as running:
        yield running


def _web(replicas: int) -> dict[str, Any]:
    serve = ("mkdir -p /www && echo \"$NODE_NAME\" > /www/index.html && echo serving on \"$NODE_NAME\" && "
             "exec httpd -f -v -p 8080 -h /www")
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"terminationGracePeriodSeconds": 2, "containers": [{
                    "name": "httpd", "image": BUSYBOX_IMAGE, "command": ["sh", "-c", serve],
                    "env": [{"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
                    "ports": [{"containerPort": 8080, "name": "http"}],
                    "readinessProbe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 1},
                    # more than half of a node's CPU: the scheduler must put the two pods on different nodes
                    "resources": {"requests": {"cpu": "1200m", "memory": "16Mi"}},
                }]},
            },
        },
    }


SERVICE = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "default"},
           "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": "http"}]}}


def _ready_pods(cluster: Cluster) -> list[dict[str, Any]]:
    pods = cluster.get_json("pods", "-l", "app=web")["items"]
    return [p for p in pods if p.get("status", {}).get("podIP") and any(
        c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", []))]


def test_deployment_behind_a_service_answers_from_every_node(cluster: Cluster) -> None:
    # the agents joined with the node token: each got its own node certificate through an approved CSR
    csrs = cluster.get_json("certificatesigningrequests")["items"]
    issued = {x509.load_pem_x509_certificate(base64.b64decode(c["status"]["certificate"])).subject
              .get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
              for c in csrs if c.get("status", {}).get("certificate")}
    assert issued == {f"system:node:{n.name}" for n in cluster.nodes}

    cluster.apply(_web(2), SERVICE)
    pods = cluster.wait("two ready web pods", lambda: (p := _ready_pods(cluster)) and len(p) == 2 and p)
    nodes = {p["spec"]["nodeName"] for p in pods}
    assert nodes == {n.name for n in cluster.nodes}, f"the scheduler put both pods on {nodes}"
    for pod in pods:
        assert pod["status"]["podIP"].startswith("10.42."), pod["status"]
        assert pod["status"]["qosClass"] == "Burstable"

    def endpoints_ready() -> bool:
        slices = cluster.get_json("endpointslices", "-l", "kubernetes.io/service-name=web")["items"]
        ready = [e for s in slices for e in s.get("endpoints") or [] if e.get("conditions", {}).get("ready")]
        return len(ready) == 2

    cluster.wait("the EndpointSlice to list both pods ready", endpoints_ready)
    cluster_ip = cluster.get_json("service", "web")["spec"]["clusterIP"]

    # From each node, the ClusterIP reaches both pods (round robin over the two endpoints), once that
    # node's proxy has synced the endpoints (until then the Service rejects: no endpoints).
    for node in cluster.nodes:
        cluster.wait(f"the Service to answer on {node.name}", lambda n=node: n.http_get(f"http://{cluster_ip}/")[0])
        answers: set[str] = set()
        for _ in range(8):
            ok, body = node.http_get(f"http://{cluster_ip}/")
            assert ok, f"GET from {node.name} failed: {body}\n{cluster.logs()}"
            answers.add(body.strip())
        assert answers == {n.name for n in cluster.nodes}, f"from {node.name} only {answers} answered"

    # Pod to pod across nodes, by pod IP, from inside a container (kubectl exec through the kubelet).
    first, second = sorted(pods, key=lambda p: p["spec"]["nodeName"])
    # (busybox nc, not wget: this busybox build's wget crashes on this kernel, in and out of containers)
    fetched = cluster.kubectl("exec", first["metadata"]["name"], "--", "sh", "-c",
                              f"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 {second['status']['podIP']} 8080")
    assert fetched.stdout.splitlines()[0].startswith("HTTP/1.") and " 200 " in fetched.stdout.splitlines()[0]
    assert fetched.stdout.rstrip().splitlines()[-1] == second["spec"]["nodeName"]

    # The `kubernetes` Service leads pods to the API server (its EndpointSlice is the API server's own):
    # a TCP connection to 10.43.0.1:443 from the pod on the second node (a Service without endpoints rejects).
    probe = "echo | nc -w 3 10.43.0.1 443 && echo connected"
    reached = cluster.kubectl("exec", second["metadata"]["name"], "--", "sh", "-c", probe)
    assert "connected" in reached.stdout, reached.stdout

    # kubectl logs of the pod on the second node: the API server proxies to that node's kubelet.
    logs = cluster.kubectl("logs", second["metadata"]["name"])
    assert f"serving on {second['spec']['nodeName']}" in logs.stdout


def test_scaled_down_deployment_leaves_one_endpoint(cluster: Cluster) -> None:
    cluster.kubectl("scale", "deployment", "web", "--replicas=1")
    cluster.wait("one web pod", lambda: len(cluster.get_json("pods", "-l", "app=web")["items"]) == 1)
    (pod,) = cluster.get_json("pods", "-l", "app=web")["items"]
    cluster_ip = cluster.get_json("service", "web")["spec"]["clusterIP"]

    def only_survivor_answers() -> bool:
        ok, body = cluster.server_node.http_get(f"http://{cluster_ip}/", timeout=3)
        return ok and body.strip() == pod["spec"]["nodeName"]

    # the proxy drops the removed endpoint; several answers in a row come from the survivor
    cluster.wait("the Service to forward only to the remaining pod", only_survivor_answers)
    for _ in range(4):
        assert only_survivor_answers()
    assert json.loads(cluster.kubectl("get", "deployment", "web", "-o", "json").stdout)["status"].get(
        "readyReplicas") == 1


def test_vxlan_backend_carries_service_traffic_across_nodes() -> None:
    """The same path with the VXLAN backend: pod traffic between nodes goes through `kubelite.vxlan`."""
    with netns_cluster(2, agent_flags=("--pod-network-backend", "vxlan")) as vx:
        vx.apply(_web(2), SERVICE)
        pods = vx.wait("two ready web pods", lambda: (p := _ready_pods(vx)) and len(p) == 2 and p)
        assert {p["spec"]["nodeName"] for p in pods} == {n.name for n in vx.nodes}
        routes = vx.server_node.run("ip", "route", "show", check=True).stdout.splitlines()
        assert any(r.startswith("10.42.") and "dev kubelite.vxlan" in r for r in routes), routes
        cluster_ip = vx.get_json("service", "web")["spec"]["clusterIP"]
        node = vx.server_node
        vx.wait("the Service to answer", lambda: node.http_get(f"http://{cluster_ip}/")[0])
        answers = {node.http_get(f"http://{cluster_ip}/")[1].strip() for _ in range(8)}
        assert answers == {n.name for n in vx.nodes}, answers
