"""Endpoints and EndpointSlices of a Service follow its pods (a real server with its controllers, a fake node
agent that runs pods): ready and not-ready pods, named target ports, terminating pods, selector-less
Services left alone, and slices removed with their Service."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from e2e_harness import Server
from fake_kubelet import FakeNodes

pytestmark = [pytest.mark.e2e]

Obj = dict[str, Any]


def wait_for(probe: Callable[[], Any], *, what: str, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


def get_json(server: Server, *args: str) -> Obj:
    return json.loads(server.kubectl("get", *args, "-o", "json").stdout)


@pytest.fixture(scope="module")
def nodes(server: Server) -> Iterator[FakeNodes]:
    with FakeNodes(server.kubeconfig, ["ep-node-a", "ep-node-b"]) as fake:
        yield fake


@pytest.fixture
def namespace(server: Server) -> Iterator[str]:
    name = f"ep-{uuid.uuid4().hex[:8]}"
    server.kubectl("create", "namespace", name)
    yield name
    server.kubectl("delete", "namespace", name, "--wait=false", check=False)


def pod_manifest(name: str, namespace: str, *, app: str, port_name: str = "http", port: int = 8080) -> Obj:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace,
                                                            "labels": {"app": app}},
            "spec": {"containers": [{"name": "c", "image": "busybox",
                                     "ports": [{"name": port_name, "containerPort": port}]}]}}


def service_manifest(name: str, namespace: str, *, selector: dict[str, str] | None) -> Obj:
    spec: Obj = {"ports": [{"name": "web", "port": 80, "targetPort": "http"}]}
    if selector is not None:
        spec["selector"] = selector
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def apply(server: Server, obj: Obj) -> None:
    server.kubectl("apply", "-f", "-", input=json.dumps(obj))


def slices_of(server: Server, namespace: str, service: str) -> list[Obj]:
    items: list[Obj] = get_json(server, "endpointslices", "-n", namespace, "-l",
                                f"kubernetes.io/service-name={service}")["items"]
    return items


def test_service_endpoints_follow_ready_pods_and_named_ports(server: Server, nodes: FakeNodes, namespace: str) -> None:
    apply(server, service_manifest("web", namespace, selector={"app": "web"}))
    apply(server, pod_manifest("web-1", namespace, app="web", port=8080))
    apply(server, pod_manifest("web-2", namespace, app="web", port=9090))  # same port name, another number
    apply(server, pod_manifest("other", namespace, app="other"))

    def two_ready() -> list[Obj] | None:
        slices = slices_of(server, namespace, "web")
        endpoints = [e for s in slices for e in s.get("endpoints") or []]
        ready = [e for e in endpoints if e["conditions"].get("ready")]
        return slices if len(ready) == 2 else None

    slices = wait_for(two_ready, what="two ready endpoints in the web Service's slices")
    by_pod = {e["targetRef"]["name"]: (e, s) for s in slices for e in s.get("endpoints") or []}
    assert set(by_pod) == {"web-1", "web-2"}
    assert by_pod["web-1"][1]["ports"] == [{"name": "web", "port": 8080, "protocol": "TCP"}]
    assert by_pod["web-2"][1]["ports"] == [{"name": "web", "port": 9090, "protocol": "TCP"}]
    for endpoint, slice_ in by_pod.values():
        assert slice_["addressType"] == "IPv4"
        assert endpoint["nodeName"] in ("ep-node-a", "ep-node-b")
        assert endpoint["conditions"] == {"ready": True, "serving": True, "terminating": False}
        assert slice_["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"] == \
            "endpointslice-controller.k8s.io"
        owner = slice_["metadata"]["ownerReferences"][0]
        assert (owner["kind"], owner["name"], owner["controller"]) == ("Service", "web", True)

    def endpoints_ready() -> Obj | None:
        ep = get_json(server, "endpoints", "web", "-n", namespace) if server.kubectl(
            "get", "endpoints", "web", "-n", namespace, check=False).returncode == 0 else None
        addresses = [a for s in (ep or {}).get("subsets") or [] for a in s.get("addresses") or []]
        return ep if len(addresses) == 2 else None

    ep = wait_for(endpoints_ready, what="the web Endpoints with two addresses")
    ports = sorted(s["ports"][0]["port"] for s in ep["subsets"])
    assert ports == [8080, 9090]
    shown = server.kubectl("get", "endpoints", "web", "-n", namespace).stdout
    assert ":8080" in shown and ":9090" in shown

    # a pod going not ready moves to notReadyAddresses and ready=false in its slice
    server.kubectl("patch", "pod", "web-1", "-n", namespace, "--subresource=status", "--type=merge", "-p",
                   json.dumps({"status": {"conditions": [{"type": "Ready", "status": "False"}]}}))

    def web1_not_ready() -> bool:
        eps = [e for s in slices_of(server, namespace, "web") for e in s.get("endpoints") or []
               if e["targetRef"]["name"] == "web-1"]
        ep = get_json(server, "endpoints", "web", "-n", namespace)
        not_ready = [a["targetRef"]["name"] for s in ep.get("subsets") or [] for a in s.get("notReadyAddresses") or []]
        return bool(eps) and eps[0]["conditions"]["ready"] is False and not_ready == ["web-1"]

    wait_for(web1_not_ready, what="web-1 not ready in the slice and the Endpoints")

    # a deleted pod goes away (the fake kubelet confirms termination)
    server.kubectl("delete", "pod", "web-2", "-n", namespace, "--wait=false")
    wait_for(lambda: all(e["targetRef"]["name"] != "web-2" for s in slices_of(server, namespace, "web")
                         for e in s.get("endpoints") or []), what="web-2 gone from the slices")

    # deleting the Service deletes its slices (ownerReference) and its Endpoints
    server.kubectl("delete", "service", "web", "-n", namespace)
    wait_for(lambda: not slices_of(server, namespace, "web"), what="the slices deleted with their Service")
    wait_for(lambda: server.kubectl("get", "endpoints", "web", "-n", namespace, check=False).returncode != 0,
             what="the Endpoints deleted with their Service")


def test_service_without_selector_gets_no_managed_slices(server: Server, nodes: FakeNodes, namespace: str) -> None:
    apply(server, service_manifest("external", namespace, selector=None))
    apply(server, service_manifest("empty", namespace, selector={"app": "nothing-matches"}))
    # the Service that selects nothing gets one empty slice, as upstream; that is our sign the controller ran
    wait_for(lambda: slices_of(server, namespace, "empty"), what="an empty slice for a Service selecting nothing")
    assert slices_of(server, namespace, "empty")[0].get("endpoints") in (None, [])
    assert slices_of(server, namespace, "external") == []
