"""EndpointSlices for every Service with a selector (upstream ``pkg/controller/endpointslice``).

The work queue holds Service keys. A Service change queues itself; a Pod change queues every Service
in its namespace whose selector matches the pod's old or new labels. The reconcile computes the whole
desired set of slices for the Service from the caches and writes the difference:

* endpoints: every pod the selector matches that has an IP (``status.podIPs``, one slice family per
  address type), is not finished (Succeeded/Failed), with conditions as upstream: ``ready`` = pod Ready
  and not terminating (always true with ``publishNotReadyAddresses``), ``serving`` = pod Ready,
  ``terminating`` = being deleted; ``nodeName``, ``zone`` (the node's ``topology.kubernetes.io/zone``)
  and a ``targetRef`` to the pod. Topology hints are off.
* ports: each Service port with its ``targetPort`` resolved per pod (a named port is looked up in the
  pod's containers, so pods that name it differently land in different slices, as upstream); a named
  port a pod does not define leaves that port out for that pod.
* slices hold at most ``max_endpoints_per_slice`` (100) endpoints, carry the labels
  ``kubernetes.io/service-name``, ``endpointslice.kubernetes.io/managed-by`` (plus the Service's own
  labels and ``service.kubernetes.io/headless`` for headless Services) and a controller
  ownerReference to the Service, so deleting the Service deletes them (garbage collector).

Existing slices of the same address type and port set are reused in name order before new ones are
created, and only slices whose content differs are written. Slices managed by someone else are never
touched; a Service without a selector gets none (its owner manages them).
"""

from __future__ import annotations

import ipaddress
import logging
from typing import Any, Final

from kubelite.api import labels
from kubelite.client import APIClient, APIStatusError, SharedInformerFactory, is_not_found
from kubelite.controlplane.controllers.base import Controller
from kubelite.controlplane.controllers.pod_control import is_ready
from kubelite.controlplane.controllers.write_tracker import WriteTracker

log = logging.getLogger(__name__)

Obj = dict[str, Any]

SERVICE_NAME_LABEL: Final = "kubernetes.io/service-name"
MANAGED_BY_LABEL: Final = "endpointslice.kubernetes.io/managed-by"
MANAGED_BY: Final = "endpointslice-controller.k8s.io"
HEADLESS_LABEL: Final = "service.kubernetes.io/headless"
ZONE_LABEL: Final = "topology.kubernetes.io/zone"
MAX_ENDPOINTS_PER_SLICE: Final = 100
SERVICE_INDEX: Final = "service-name"


def slice_service_index(obj: Obj) -> list[str]:
    md = obj.get("metadata") or {}
    name = (md.get("labels") or {}).get(SERVICE_NAME_LABEL)
    return [f"{md.get('namespace')}/{name}"] if name else []


def service_selector(service: Obj) -> labels.Selector | None:
    """The Service's selector, or None for a Service that selects no pods (selector absent or empty)."""
    selector = (service.get("spec") or {}).get("selector")
    if not selector:
        return None
    return labels.selector_from_set({str(k): str(v) for k, v in selector.items()})


def pod_ips(pod: Obj) -> list[str]:
    status = pod.get("status") or {}
    ips = [str(p.get("ip")) for p in status.get("podIPs") or [] if isinstance(p, dict) and p.get("ip")]
    if not ips and status.get("podIP"):
        ips = [str(status["podIP"])]
    return ips


def address_type(ip: str) -> str | None:
    try:
        return "IPv6" if ipaddress.ip_address(ip).version == 6 else "IPv4"
    except ValueError:
        return None


def find_port(pod: Obj, service_port: Obj) -> int | None:
    """Upstream ``podutil.FindPort``: a numeric targetPort as is; a name looked up in the pod's containers."""
    target = service_port.get("targetPort", service_port.get("port"))
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    protocol = service_port.get("protocol") or "TCP"
    for container in (pod.get("spec") or {}).get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("name") == target and (port.get("protocol") or "TCP") == protocol:
                return int(port["containerPort"])
    return None


def endpoint_ports(service: Obj, pod: Obj) -> tuple[tuple[str, int, str, str | None], ...]:
    """(name, port, protocol, appProtocol) per Service port this pod serves, in Service order."""
    ports = []
    for port in (service.get("spec") or {}).get("ports") or []:
        number = find_port(pod, port)
        if number is None:
            continue
        ports.append((str(port.get("name") or ""), number, str(port.get("protocol") or "TCP"),
                      port.get("appProtocol")))
    return tuple(ports)


def should_include(pod: Obj, *, include_terminating: bool) -> bool:
    """Upstream ``ShouldPodBeInEndpoints``: has an IP, not finished for good, terminating only if asked."""
    if not pod_ips(pod):
        return False
    if not include_terminating and (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    policy = (pod.get("spec") or {}).get("restartPolicy") or "Always"
    phase = (pod.get("status") or {}).get("phase")
    if policy == "Never":
        return phase not in ("Failed", "Succeeded")
    if policy == "OnFailure":
        return phase != "Succeeded"
    return True


def endpoint_for(pod: Obj, ip: str, *, publish_not_ready: bool, zone: str | None) -> Obj:
    md = pod["metadata"]
    terminating = bool(md.get("deletionTimestamp"))
    ready = is_ready(pod)
    endpoint: Obj = {
        "addresses": [ip],
        "conditions": {"ready": publish_not_ready or (ready and not terminating), "serving": ready or
                       publish_not_ready, "terminating": terminating},
        "targetRef": {"kind": "Pod", "namespace": md["namespace"], "name": md["name"], "uid": md.get("uid")},
    }
    node = (pod.get("spec") or {}).get("nodeName")
    if node:
        endpoint["nodeName"] = node
    if zone:
        endpoint["zone"] = zone
    return endpoint


def desired_groups(service: Obj, pods: list[Obj], nodes: dict[str, Obj]) -> dict[tuple[Any, ...], list[Obj]]:
    """(addressType, ports) -> endpoints, in a stable order."""
    spec = service.get("spec") or {}
    publish_not_ready = bool(spec.get("publishNotReadyAddresses"))
    groups: dict[tuple[Any, ...], list[Obj]] = {}
    for pod in sorted(pods, key=lambda p: p["metadata"]["name"]):
        if not should_include(pod, include_terminating=True):
            continue
        ports = endpoint_ports(service, pod)
        if spec.get("ports") and not ports:
            continue
        node = nodes.get(str((pod.get("spec") or {}).get("nodeName") or ""))
        zone = ((node or {}).get("metadata", {}).get("labels") or {}).get(ZONE_LABEL)
        for ip in pod_ips(pod):
            family = address_type(ip)
            if family is None:
                continue
            groups.setdefault((family, ports), []).append(
                endpoint_for(pod, ip, publish_not_ready=publish_not_ready, zone=zone))
    return groups


def ports_json(ports: tuple[tuple[str, int, str, str | None], ...]) -> list[Obj]:
    out = []
    for name, number, protocol, app in ports:
        port: Obj = {"name": name, "port": number, "protocol": protocol}
        if app:
            port["appProtocol"] = app
        out.append(port)
    return out


def slice_ports_key(slice_: Obj) -> tuple[Any, ...]:
    ports = tuple((str(p.get("name") or ""), int(p.get("port") or 0), str(p.get("protocol") or "TCP"),
                   p.get("appProtocol")) for p in slice_.get("ports") or [])
    return (slice_.get("addressType"), ports)


def slice_labels(service: Obj) -> dict[str, str]:
    md = service["metadata"]
    out = {k: v for k, v in (md.get("labels") or {}).items() if k not in (SERVICE_NAME_LABEL, MANAGED_BY_LABEL)}
    out[SERVICE_NAME_LABEL] = md["name"]
    out[MANAGED_BY_LABEL] = MANAGED_BY
    if (service.get("spec") or {}).get("clusterIP") == "None":
        out[HEADLESS_LABEL] = ""
    return out


class EndpointSliceController(Controller):
    name = "endpointslice"

    def __init__(self, client: APIClient, *, factory: SharedInformerFactory | None = None,
                 max_endpoints_per_slice: int = MAX_ENDPOINTS_PER_SLICE) -> None:
        super().__init__()
        if max_endpoints_per_slice < 1:
            raise ValueError(f"max_endpoints_per_slice must be at least 1, got {max_endpoints_per_slice}")
        self.client = client
        self.max_per_slice = max_endpoints_per_slice
        self.slices = client.resource("discovery.k8s.io", "v1", "endpointslices")
        self.services = self.shared(factory, "", "v1", "services")
        self.pods = self.shared(factory, "", "v1", "pods")
        self.nodes = self.shared(factory, "", "v1", "nodes", namespaced=False)
        self.slice_informer = self.shared(factory, "discovery.k8s.io", "v1", "endpointslices",
                                          indexers={SERVICE_INDEX: slice_service_index})
        self.services.add_handler(on_add=self.enqueue, on_update=lambda _o, n: self.enqueue(n),
                                  on_delete=self.enqueue)
        self.pods.add_handler(on_add=self._pod_changed, on_update=self._pod_updated, on_delete=self._pod_changed)
        self.slice_informer.add_handler(on_update=lambda _o, n: self._slice_changed(n),
                                        on_delete=self._slice_changed)
        # slices written but not yet seen in the cache: reconciling before they arrive would duplicate them
        self.tracker = WriteTracker()

    def _pod_changed(self, pod: Obj) -> None:
        self._queue_services_for(pod, None)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        if old is new:
            self._queue_services_for(new, None)
        elif (old.get("status"), old["metadata"].get("labels"), old["metadata"].get("deletionTimestamp"),
              (old.get("spec") or {}).get("nodeName")) != (
                new.get("status"), new["metadata"].get("labels"), new["metadata"].get("deletionTimestamp"),
                (new.get("spec") or {}).get("nodeName")):
            self._queue_services_for(new, old)

    def _queue_services_for(self, pod: Obj, old: Obj | None) -> None:
        namespace = pod["metadata"].get("namespace")
        label_sets = [pod["metadata"].get("labels") or {}]
        if old is not None:
            label_sets.append(old["metadata"].get("labels") or {})
        for service in self.services.store.by_index("namespace", str(namespace)):
            selector = service_selector(service)
            if selector is not None and any(selector.matches(ls) for ls in label_sets):
                self.enqueue(service)

    def _slice_changed(self, slice_: Obj) -> None:
        md = slice_.get("metadata") or {}
        service = (md.get("labels") or {}).get(SERVICE_NAME_LABEL)
        if service and (md.get("labels") or {}).get(MANAGED_BY_LABEL) == MANAGED_BY:
            self.queue.add(f"{md.get('namespace')}/{service}")

    def existing(self, key: str) -> list[Obj]:
        return [s for s in self.slice_informer.store.by_index(SERVICE_INDEX, key)
                if (s["metadata"].get("labels") or {}).get(MANAGED_BY_LABEL) == MANAGED_BY]

    async def reconcile(self, key: str) -> float | None:
        wait = self.tracker.wait_for(key, self.slice_informer.store)
        if wait is not None:
            return wait
        service = self.services.store.get(key)
        if service is None or service_selector(service) is None:
            # a deleted Service's slices go with it (ownerReference); a selector removed: ours are stale
            if service is not None:
                for stale in self.existing(key):
                    await self._delete(stale)
            return None
        namespace = service["metadata"]["namespace"]
        selector = service_selector(service)
        assert selector is not None
        pods = [p for p in self.pods.store.by_index("namespace", namespace)
                if selector.matches(p["metadata"].get("labels") or {})]
        nodes = {n["metadata"]["name"]: n for n in self.nodes.store.list()}
        groups = desired_groups(service, pods, nodes)
        if not groups:
            # upstream keeps one empty slice per Service so consumers can tell "no endpoints" from "not synced"
            family = "IPv6" if ":" in str((service.get("spec") or {}).get("clusterIP") or "") else "IPv4"
            groups = {(family, ()): []}
        await self._write(service, groups)
        return None

    async def _write(self, service: Obj, groups: dict[tuple[Any, ...], list[Obj]]) -> None:
        key = f"{service['metadata']['namespace']}/{service['metadata']['name']}"
        existing = sorted(self.existing(key), key=lambda s: s["metadata"]["name"])
        by_group: dict[tuple[Any, ...], list[Obj]] = {}
        for slice_ in existing:
            by_group.setdefault(slice_ports_key(slice_), []).append(slice_)
        wanted_labels = slice_labels(service)
        used: set[str] = set()
        for (family, ports), endpoints in groups.items():
            chunks = [endpoints[i:i + self.max_per_slice] for i in range(0, len(endpoints), self.max_per_slice)]
            if not chunks:
                chunks = [[]]
            reusable = by_group.get((family, ports), [])
            for i, chunk in enumerate(chunks):
                body: Obj = {"addressType": family, "endpoints": chunk, "ports": ports_json(ports)}
                if i < len(reusable):
                    current = reusable[i]
                    used.add(current["metadata"]["name"])
                    if (current.get("endpoints") or []) == chunk and (current.get("ports") or []) == body["ports"] \
                            and (current["metadata"].get("labels") or {}) == wanted_labels:
                        continue
                    updated = {**current, **body, "metadata": {**current["metadata"], "labels": wanted_labels}}
                    self.tracker.wrote(key, await self._update(updated))
                else:
                    self.tracker.wrote(key, await self._create(service, body, wanted_labels))
        for slice_ in existing:
            if slice_["metadata"]["name"] not in used:
                await self._delete(slice_)
                self.tracker.deleted(key, slice_)

    async def _create(self, service: Obj, body: Obj, wanted_labels: dict[str, str]) -> Obj | None:
        md = service["metadata"]
        obj = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
               "metadata": {"generateName": f"{md['name']}-", "namespace": md["namespace"], "labels": wanted_labels,
                            "ownerReferences": [{"apiVersion": "v1", "kind": "Service", "name": md["name"],
                                                 "uid": md["uid"], "controller": True,
                                                 "blockOwnerDeletion": True}]},
               **body}
        try:
            created: Obj = await self.slices.create(obj, namespace=md["namespace"])
        except APIStatusError as exc:
            if not (is_not_found(exc) or exc.code == 403):  # namespace gone or terminating
                raise
            return None
        return created

    async def _update(self, slice_: Obj) -> Obj | None:
        try:
            updated: Obj = await self.slices.update(slice_)
        except APIStatusError as exc:
            if not is_not_found(exc):
                raise  # a conflict: the work queue retries with the fresh cache
            return None
        return updated

    async def _delete(self, slice_: Obj) -> None:
        try:
            await self.slices.delete(slice_["metadata"]["name"], namespace=slice_["metadata"]["namespace"])
        except APIStatusError as exc:
            if not is_not_found(exc):
                raise
