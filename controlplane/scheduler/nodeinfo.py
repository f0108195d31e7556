"""NodeInfo: what the scheduler knows about one node, computed from the Node and its pods.

Upstream ``framework.NodeInfo`` (types.go) and ``component-helpers/resource.PodRequests``:

- a pod's requests are max(sum of app containers (plus restartable "sidecar" init containers),
  the largest init container (plus sidecars started before it)) plus ``spec.overhead``;
- ``requested`` sums those over the node's pods; ``non_zero_requested`` does the same but counts a
  container that requests no cpu / memory as 100m / 200Mi, so that scoring does not treat
  best-effort pods as free (upstream DefaultMilliCPURequest / DefaultMemoryRequest);
- cpu is in millicores (Quantity.MilliValue), every other resource in units (Quantity.Value).

Objects are JSON dicts as on the wire; quantities are parsed with ``kubelite.api.quantity``. A value
that does not parse raises ``QuantityError`` naming the object and field: the API server validates
quantities, so this only happens on corrupt input.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubelite.api.quantity import Quantity, QuantityError

CPU = "cpu"
MEMORY = "memory"
EPHEMERAL_STORAGE = "ephemeral-storage"
PODS = "pods"

DEFAULT_MILLI_CPU_REQUEST = 100  # 0.1 core
DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024  # 200 MiB

JSON = Mapping[str, Any]


@dataclass
class Resource:
    """Amounts per resource: cpu in millicores, the rest in units (bytes, counts)."""

    milli_cpu: int = 0
    memory: int = 0
    ephemeral_storage: int = 0
    allowed_pod_number: int = 0
    scalar: dict[str, int] = field(default_factory=dict)

    def get(self, name: str) -> int:
        if name == CPU:
            return self.milli_cpu
        if name == MEMORY:
            return self.memory
        if name == EPHEMERAL_STORAGE:
            return self.ephemeral_storage
        if name == PODS:
            return self.allowed_pod_number
        return self.scalar.get(name, 0)

    def add(self, other: Resource) -> None:
        self.milli_cpu += other.milli_cpu
        self.memory += other.memory
        self.ephemeral_storage += other.ephemeral_storage
        self.allowed_pod_number += other.allowed_pod_number
        for name, amount in other.scalar.items():
            self.scalar[name] = self.scalar.get(name, 0) + amount

    def sub(self, other: Resource) -> None:
        self.milli_cpu -= other.milli_cpu
        self.memory -= other.memory
        self.ephemeral_storage -= other.ephemeral_storage
        self.allowed_pod_number -= other.allowed_pod_number
        for name, amount in other.scalar.items():
            left = self.scalar.get(name, 0) - amount
            if left:
                self.scalar[name] = left
            else:
                self.scalar.pop(name, None)

    def is_zero(self) -> bool:
        return not (self.milli_cpu or self.memory or self.ephemeral_storage or any(self.scalar.values()))


@functools.lru_cache(maxsize=4096)
def _amount(name: str, raw: Any) -> int:
    # clusters use a handful of distinct quantity strings: parsing each once keeps Quantity off the
    # scheduler's hot path (every cycle reads the pod's requests several times)
    quantity = Quantity.parse(raw)
    return quantity.milli_value() if name == CPU else quantity.value()


def _amounts(resources: JSON | None, *, where: str) -> dict[str, int]:
    """A ResourceList as integers (cpu in millicores)."""
    out: dict[str, int] = {}
    for name, raw in (resources or {}).items():
        try:
            out[name] = _amount(name, raw)
        except QuantityError as exc:
            raise QuantityError(f"{where}[{name}]: {exc}") from None
    return out


def resource_from_list(resources: JSON | None, *, where: str = "resources") -> Resource:
    """A Resource from a wire ResourceList (``{"cpu": "500m", "memory": "1Gi", ...}``)."""
    amounts = _amounts(resources, where=where)
    result = Resource()
    for name, amount in amounts.items():
        if name == CPU:
            result.milli_cpu = amount
        elif name == MEMORY:
            result.memory = amount
        elif name == EPHEMERAL_STORAGE:
            result.ephemeral_storage = amount
        elif name == PODS:
            result.allowed_pod_number = amount
        else:
            result.scalar[name] = amount
    return result


def _add(into: dict[str, int], more: Mapping[str, int]) -> None:
    for name, amount in more.items():
        into[name] = into.get(name, 0) + amount


def _max(into: dict[str, int], other: Mapping[str, int]) -> None:
    for name, amount in other.items():
        into[name] = max(into[name], amount) if name in into else amount


_NON_ZERO_DEFAULTS: Mapping[str, int] = {CPU: DEFAULT_MILLI_CPU_REQUEST, MEMORY: DEFAULT_MEMORY_REQUEST}
# the last few pods' sums: one cycle asks for the same pod's requests several times (PreFilter,
# PreScore, assume). A pod's requests come from its containers, init containers and overhead alone, so
# entries are keyed by those objects: the assumed copy of a pod (a new dict and spec, the same
# containers) finds the sums of the pod it copies. Entries hold the objects, so an id is never reused
# while it is cached
_Parts = tuple[Any, Any, Any]
_RECENT: dict[tuple[int, int, int, bool], tuple[_Parts, dict[str, int]]] = {}
_RECENT_SIZE = 16


def pod_requests(pod: JSON, *, non_missing: Mapping[str, int] | None = None) -> dict[str, int]:
    """Upstream resource.PodRequests: effective requests of the whole pod, cpu in millicores.

    ``non_missing`` gives amounts for resources a container does not request at all (upstream
    NonMissingContainerRequests), used for the non-zero accounting. Objects are never mutated
    (informer rule), so results for the default arguments are cached per object; do not mutate
    the returned dict.
    """
    if non_missing is None or non_missing is _NON_ZERO_DEFAULTS:
        spec = pod.get("spec") or {}
        parts = (spec.get("containers"), spec.get("initContainers"), spec.get("overhead"))
        key = (id(parts[0]), id(parts[1]), id(parts[2]), non_missing is None)
        hit = _RECENT.get(key)
        if hit is not None and hit[0][0] is parts[0] and hit[0][1] is parts[1] and hit[0][2] is parts[2]:
            return hit[1]
        result = _pod_requests(pod, non_missing=non_missing)
        if len(_RECENT) >= _RECENT_SIZE:
            del _RECENT[next(iter(_RECENT))]
        _RECENT[key] = (parts, result)
        return result
    return _pod_requests(pod, non_missing=non_missing)


def _pod_requests(pod: JSON, *, non_missing: Mapping[str, int] | None) -> dict[str, int]:
    spec = pod.get("spec") or {}
    name = (pod.get("metadata") or {}).get("name", "")

    def container_requests(container: JSON, kind: str) -> dict[str, int]:
        requests = (container.get("resources") or {}).get("requests")
        try:
            reqs = _amounts(requests, where="")
        except QuantityError:
            # the location is spelled out only for the error (formatting it for every container cost more
            # than the parsing, which is cached): the same call again raises with it
            where = f"pod {name!r}: spec.{kind}[{container.get('name', '')}].resources.requests"
            reqs = _amounts(requests, where=where)
        for res, amount in (non_missing or {}).items():
            reqs.setdefault(res, amount)
        return reqs

    total: dict[str, int] = {}
    for container in spec.get("containers") or ():
        _add(total, container_requests(container, "containers"))
    sidecars: dict[str, int] = {}
    init_max: dict[str, int] = {}
    for container in spec.get("initContainers") or ():
        reqs = container_requests(container, "initContainers")
        if container.get("restartPolicy") == "Always":
            # a sidecar keeps running next to the app containers and every later init container
            _add(total, reqs)
            _add(sidecars, reqs)
            effective = dict(sidecars)
        else:
            effective = dict(reqs)
            _add(effective, sidecars)
        _max(init_max, effective)
    _max(total, init_max)
    overhead = spec.get("overhead")
    if overhead:
        _add(total, _amounts(overhead, where=f"pod {name!r}: spec.overhead"))
    return total


def pod_resource(pod: JSON) -> Resource:
    """The pod's requests as a Resource (what NodeResourcesFit compares with free capacity)."""
    result = Resource()
    for name, amount in pod_requests(pod).items():
        if name == CPU:
            result.milli_cpu = amount
        elif name == MEMORY:
            result.memory = amount
        elif name == EPHEMERAL_STORAGE:
            result.ephemeral_storage = amount
        elif name != PODS:
            result.scalar[name] = amount
    return result


def non_zero_requests(pod: JSON) -> tuple[int, int]:
    """(millicores, bytes) with upstream's 100m / 200Mi for containers that request none."""
    reqs = pod_requests(pod, non_missing=_NON_ZERO_DEFAULTS)
    return reqs.get(CPU, 0), reqs.get(MEMORY, 0)


@dataclass(frozen=True)
class HostPort:
    """One used host port; ip "0.0.0.0" means every address (upstream DefaultBindAllHostIP)."""

    ip: str
    protocol: str
    port: int

    def conflicts(self, other: HostPort) -> bool:
        """Upstream HostPortInfo.CheckConflict: same protocol and port, and the same address or
        either one bound to all addresses."""
        if self.protocol != other.protocol or self.port != other.port:
            return False
        return self.ip == other.ip or "0.0.0.0" in (self.ip, other.ip)


def pod_host_ports(pod: JSON) -> list[HostPort]:
    """Host ports the pod's containers ask for (hostPort > 0), with upstream's defaults."""
    ports: list[HostPort] = []
    for container in (pod.get("spec") or {}).get("containers") or ():
        for port in container.get("ports") or ():
            host_port = int(port.get("hostPort") or 0)
            if host_port <= 0:
                continue
            ports.append(HostPort(ip=port.get("hostIP") or "0.0.0.0", protocol=port.get("protocol") or "TCP",
                                  port=host_port))
    return ports


@dataclass
class NodeInfo:
    """A node and the pods on it, with the sums the plugins need (upstream framework.NodeInfo)."""

    node: JSON
    pods: list[JSON] = field(default_factory=list)
    allocatable: Resource = field(default_factory=Resource)
    requested: Resource = field(default_factory=Resource)
    non_zero_requested: Resource = field(default_factory=Resource)
    used_ports: list[HostPort] = field(default_factory=list)
    image_names: frozenset[str] = frozenset()
    image_sizes: Mapping[str, int] = field(default_factory=dict)  # every name of an image -> its size
    # pods with pod (anti-)affinity terms, and those with required anti-affinity (upstream
    # PodsWithAffinity / PodsWithRequiredAntiAffinity): InterPodAffinity looks only at these
    pods_with_affinity: list[JSON] = field(default_factory=list)
    pods_with_required_anti_affinity: list[JSON] = field(default_factory=list)

    @property
    def name(self) -> str:
        return str((self.node.get("metadata") or {}).get("name", ""))

    @property
    def labels(self) -> Mapping[str, str]:
        return (self.node.get("metadata") or {}).get("labels") or {}

    @property
    def pod_count(self) -> int:
        return len(self.pods)

    def add_pod(self, pod: JSON) -> None:
        """Account for one more pod on this node (also used to simulate a placement)."""
        self.pods.append(pod)
        self.requested.add(pod_resource(pod))
        cpu, memory = non_zero_requests(pod)
        self.non_zero_requested.milli_cpu += cpu
        self.non_zero_requested.memory += memory
        self.used_ports.extend(pod_host_ports(pod))
        affinity = (pod.get("spec") or {}).get("affinity") or {}
        if affinity.get("podAffinity") or affinity.get("podAntiAffinity"):
            self.pods_with_affinity.append(pod)
            if (affinity.get("podAntiAffinity") or {}).get("requiredDuringSchedulingIgnoredDuringExecution"):
                self.pods_with_required_anti_affinity.append(pod)

    def remove_pod(self, pod: JSON) -> bool:
        """Stop accounting for the pod with ``pod``'s uid (or namespace/name when it has no uid);
        False when it is not on this node. The amounts subtracted are those of the object that was
        added, which is the one in ``pods``."""
        wanted = _pod_identity(pod)
        index = next((i for i, p in enumerate(self.pods) if _pod_identity(p) == wanted), None)
        if index is None:
            return False
        existing = self.pods.pop(index)
        self.requested.sub(pod_resource(existing))
        cpu, memory = non_zero_requests(existing)
        self.non_zero_requested.milli_cpu -= cpu
        self.non_zero_requested.memory -= memory
        for port in pod_host_ports(existing):
            self.used_ports.remove(port)
        for group in (self.pods_with_affinity, self.pods_with_required_anti_affinity):
            for i, member in enumerate(group):
                if member is existing:
                    del group[i]
                    break
        return True

    def replace_pod(self, old: JSON, new: JSON) -> bool:
        """Put ``new`` in the place of ``old`` (the very object that was added) when both have the same
        spec; False, changing nothing, otherwise. Everything this NodeInfo sums (requests, non-zero
        requests, host ports, affinity terms) comes from the spec alone, so equal specs sum the same and
        only the object plugins read (labels, status) changes: the informer's copy of a pod the
        scheduler assumed, or a status update, costs a swap instead of a removal and an addition."""
        if old.get("spec") != new.get("spec"):
            return False
        for group in (self.pods, self.pods_with_affinity, self.pods_with_required_anti_affinity):
            for i, member in enumerate(group):
                if member is old:
                    group[i] = new
                    break
            else:
                if group is self.pods:
                    return False  # not on this node: nothing to replace
        return True

    def set_node(self, node: JSON) -> None:
        """The Node object changed (labels, taints, allocatable, images): keep the pods."""
        fresh = NodeInfo.build(node=node)
        self.node, self.allocatable, self.image_names = fresh.node, fresh.allocatable, fresh.image_names
        self.image_sizes = fresh.image_sizes

    @classmethod
    def build(cls, *, node: JSON, pods: Iterable[JSON] = ()) -> NodeInfo:
        """NodeInfo for ``node`` holding ``pods``. Allocatable falls back to capacity when the node
        reports none, as the API server's Node defaulting does."""
        status = node.get("status") or {}
        name = (node.get("metadata") or {}).get("name", "")
        allocatable = status.get("allocatable")
        field_name = "status.allocatable"
        if not allocatable:
            allocatable, field_name = status.get("capacity"), "status.capacity"
        images: set[str] = set()
        sizes: dict[str, int] = {}
        for image in status.get("images") or ():
            names = image.get("names") or ()
            images.update(names)
            size = image.get("sizeBytes")
            for image_name in names:
                sizes[image_name] = int(size) if isinstance(size, int) else 0
        info = cls(node=node, allocatable=resource_from_list(allocatable, where=f"node {name!r}: {field_name}"),
                   image_names=frozenset(images), image_sizes=sizes)
        for pod in pods:
            info.add_pod(pod)
        return info


def _pod_identity(pod: JSON) -> str:
    meta = pod.get("metadata") or {}
    return str(meta.get("uid") or f"{meta.get('namespace', '')}/{meta.get('name', '')}")


def build_node_infos(*, nodes: Sequence[JSON], pods: Iterable[JSON]) -> list[NodeInfo]:
    """NodeInfos for ``nodes``, each holding the pods bound to it (``spec.nodeName``) that still
    use resources: pods in phase Succeeded/Failed have released theirs."""
    infos = [NodeInfo.build(node=node) for node in nodes]
    by_name = {info.name: info for info in infos}
    for pod in pods:
        node_name = (pod.get("spec") or {}).get("nodeName")
        phase = (pod.get("status") or {}).get("phase")
        if node_name in by_name and phase not in ("Succeeded", "Failed"):
            by_name[node_name].add_pod(pod)
    return infos
