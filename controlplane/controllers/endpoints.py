"""The legacy v1 Endpoints object of every Service with a selector (upstream ``pkg/controller/endpoint``).

Same inputs as the EndpointSlice controller (Services, Pods, Nodes), one Endpoints object named like
the Service. Pods that have an IP and are not terminating (unless ``publishNotReadyAddresses``) are
listed under ``addresses`` when Ready (or when the Service publishes not-ready addresses) and under
``notReadyAddresses`` otherwise; each subset groups the pods that resolve the Service's ports (named
target ports looked up per pod) to the same numbers, as upstream's ``RepackSubsets``. Labels are the
Service's plus ``service.kubernetes.io/headless`` for headless Services. An Endpoints object for a
Service without a selector is left alone (the user manages it); one whose Service is gone is deleted.
Endpoints of Services deleted while no controller ran are not swept (upstream's leftover check).
"""

from __future__ import annotations

import logging
from typing import Any

from kubelite.client import APIClient, APIStatusError, SharedInformerFactory, is_already_exists, is_not_found
from kubelite.controlplane.controllers.base import Controller
from kubelite.controlplane.controllers.endpointslice import (
    HEADLESS_LABEL,
    endpoint_ports,
    pod_ips,
    service_selector,
    should_include,
)
from kubelite.controlplane.controllers.pod_control import is_ready
from kubelite.controlplane.controllers.write_tracker import WriteTracker

log = logging.getLogger(__name__)

Obj = dict[str, Any]



def desired_subsets(service: Obj, pods: list[Obj]) -> list[Obj]:
    spec = service.get("spec") or {}
    publish_not_ready = bool(spec.get("publishNotReadyAddresses"))
    groups: dict[tuple[Any, ...], tuple[list[Obj], list[Obj]]] = {}
    for pod in pods:
        if not should_include(pod, include_terminating=publish_not_ready):
            continue
        ports = endpoint_ports(service, pod)
        if spec.get("ports") and not ports:
            continue
        md = pod["metadata"]
        ready, not_ready = groups.setdefault(ports, ([], []))
        for ip in pod_ips(pod)[:1]:  # Endpoints carry the primary family only, as upstream
            address: Obj = {"ip": ip, "targetRef": {"kind": "Pod", "namespace": md["namespace"],
                                                    "name": md["name"], "uid": md.get("uid")}}
            node = (pod.get("spec") or {}).get("nodeName")
            if node:
                address["nodeName"] = node
            (ready if publish_not_ready or is_ready(pod) else not_ready).append(address)
    subsets = []
    for ports, (ready, not_ready) in sorted(groups.items(), key=lambda g: g[0]):
        subset: Obj = {}
        if ready:
            subset["addresses"] = sorted(ready, key=lambda a: (a["ip"], a["targetRef"]["name"]))
        if not_ready:
            subset["notReadyAddresses"] = sorted(not_ready, key=lambda a: (a["ip"], a["targetRef"]["name"]))
        if ports:
            subset["ports"] = [{"name": n, "port": p, "protocol": proto, **({"appProtocol": a} if a else {})}
                               if n else {"port": p, "protocol": proto, **({"appProtocol": a} if a else {})}
                               for n, p, proto, a in ports]
        subsets.append(subset)
    return subsets


def endpoints_labels(service: Obj) -> dict[str, str]:
    out = dict(service["metadata"].get("labels") or {})
    if (service.get("spec") or {}).get("clusterIP") == "None":
        out[HEADLESS_LABEL] = ""
    else:
        out.pop(HEADLESS_LABEL, None)
    return out


class EndpointsController(Controller):
    name = "endpoints"

    def __init__(self, client: APIClient, *, factory: SharedInformerFactory | None = None) -> None:
        super().__init__()
        self.client = client
        self.endpoints = client.resource("", "v1", "endpoints")
        self.services = self.shared(factory, "", "v1", "services")
        self.pods = self.shared(factory, "", "v1", "pods")
        self.endpoints_informer = self.shared(factory, "", "v1", "endpoints")
        self.services.add_handler(on_add=self.enqueue, on_update=lambda _o, n: self.enqueue(n),
                                  on_delete=self.enqueue)
        self.pods.add_handler(on_add=self._pod_changed, on_update=self._pod_updated, on_delete=self._pod_changed)
        self.endpoints_informer.add_handler(on_delete=self.enqueue)
        self.tracker = WriteTracker()

    def _pod_changed(self, pod: Obj) -> None:
        self._queue_services_for([pod])

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        if old is new or (old.get("status"), old["metadata"].get("labels"), old["metadata"].get("deletionTimestamp"),
                          (old.get("spec") or {}).get("nodeName")) != (
                new.get("status"), new["metadata"].get("labels"), new["metadata"].get("deletionTimestamp"),
                (new.get("spec") or {}).get("nodeName")):
            self._queue_services_for([new, old])

    def _queue_services_for(self, pods: list[Obj]) -> None:
        namespace = str(pods[0]["metadata"].get("namespace"))
        label_sets = [p["metadata"].get("labels") or {} for p in pods]
        for service in self.services.store.by_index("namespace", namespace):
            selector = service_selector(service)
            if selector is not None and any(selector.matches(ls) for ls in label_sets):
                self.enqueue(service)

    async def reconcile(self, key: str) -> float | None:
        wait = self.tracker.wait_for(key, self.endpoints_informer.store)
        if wait is not None:
            return wait
        namespace, _, name = key.partition("/")
        service = self.services.store.get(key)
        current = self.endpoints_informer.store.get(key)
        if service is None:
            if current is not None:  # the Service is gone: its Endpoints go too, as upstream
                try:
                    await self.endpoints.delete(name, namespace=namespace)
                except APIStatusError as exc:
                    if not is_not_found(exc):
                        raise
                self.tracker.deleted(key, current)
            return None
        selector = service_selector(service)
        if selector is None:
            return None
        pods = [p for p in self.pods.store.by_index("namespace", namespace)
                if selector.matches(p["metadata"].get("labels") or {})]
        subsets = desired_subsets(service, pods)
        wanted_labels = endpoints_labels(service)
        if current is not None and (current.get("subsets") or []) == subsets and \
                (current["metadata"].get("labels") or {}) == wanted_labels:
            return None
        try:
            if current is None:
                body: Obj = {"apiVersion": "v1", "kind": "Endpoints",
                             "metadata": {"name": name, "namespace": namespace, "labels": wanted_labels},
                             "subsets": subsets}
                written: Obj = await self.endpoints.create(body, namespace=namespace)
            else:
                body = {**current, "metadata": {**current["metadata"], "labels": wanted_labels}, "subsets": subsets}
                written = await self.endpoints.update(body)
        except APIStatusError as exc:
            if is_already_exists(exc) or is_not_found(exc) or exc.code == 403:
                return None if exc.code == 403 else 0.2
            raise
        self.tracker.wrote(key, written)
        return None
