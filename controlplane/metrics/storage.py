"""Resource metrics storage: CPU rates from cumulative counters, as metrics-server computes them.

Design (metrics-server pkg/storage and pkg/scraper/client/resource/decode.go)
------------------------------------------------------------------------------
A scrape of one kubelet's ``/metrics/resource`` gives, per node and per container, a *cumulative*
CPU counter (core-seconds), the memory working set and the sample's timestamp. A CPU usage is only a
rate between two samples, so the storage keeps the last two points of every node and container:

* a new point replaces ``last`` and moves the old ``last`` to ``prev`` when it is newer; a point at
  the same timestamp as ``last`` changes nothing (the kubelet had not sampled again);
* a counter that went *down*, or a container whose start time changed, is a restart: the old point
  is dropped, so no negative or mixed-up rate is ever served (metrics-server does the same);
* ``cpu = (last.cpu - prev.cpu) / (last.time - prev.time)``, ``memory = last.memory``; the window
  is the time between the two samples. A node or container seen once has no metrics yet.
* a pod is served only when every one of its containers has a rate (metrics-server's
  ``allContainersPresent``), with the earliest container timestamp and its window;
* what a scrape of a node no longer reports is forgotten with that scrape; a node that is not
  scraped any more is forgotten by :meth:`MetricsStorage.prune`.

Everything here is pure and synchronous (no I/O): the scraper feeds it, the API reads it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

__all__ = ["ContainerUsage", "MetricsPoint", "MetricsStorage", "NodeBatch", "ResourceUsage", "parse_resource_metrics"]


@dataclass(frozen=True, slots=True)
class MetricsPoint:
    """One sample: cumulative CPU in core-seconds, working set in bytes, time in seconds since the epoch."""

    timestamp: float
    cpu_seconds: float
    memory_bytes: int
    start_time: float = 0.0  # containers: when the container started (a change means a restart)


@dataclass(slots=True)
class NodeBatch:
    """What one scrape of one kubelet said: the node's point and each container's, by (namespace, pod, container)."""

    node: MetricsPoint | None = None
    containers: dict[tuple[str, str, str], MetricsPoint] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ResourceUsage:
    """A served figure: CPU in nanocores, memory in bytes, its sample time and window in seconds."""

    nanocores: int
    memory_bytes: int
    timestamp: float
    window: float


@dataclass(frozen=True, slots=True)
class ContainerUsage:
    name: str
    nanocores: int
    memory_bytes: int


class MetricsParseError(ValueError):
    """The kubelet's answer is not the Prometheus text format."""


def parse_resource_metrics(text: str) -> NodeBatch:
    """A kubelet's ``/metrics/resource`` body as a :class:`NodeBatch` (metrics-server's decoder).

    Samples without a timestamp are skipped (a kubelet stamps every CPU and memory sample); a node or
    container needs both its CPU and memory sample to count, as metrics-server requires.
    """
    cpu: dict[tuple[str, str, str] | None, tuple[float, float]] = {}
    memory: dict[tuple[str, str, str] | None, int] = {}
    starts: dict[tuple[str, str, str], float] = {}
    try:
        families = list(text_string_to_metric_families(text))
    except (ValueError, TypeError, IndexError) as exc:
        raise MetricsParseError(f"cannot parse the kubelet's resource metrics: {exc}") from None
    for family in families:
        for sample in family.samples:
            labels = sample.labels
            key = (labels.get("namespace", ""), labels.get("pod", ""), labels.get("container", ""))
            if sample.name == "container_start_time_seconds":
                starts[key] = float(sample.value)
                continue
            if sample.timestamp is None:
                continue
            stamp = float(sample.timestamp)
            if sample.name == "node_cpu_usage_seconds_total":
                cpu[None] = (stamp, float(sample.value))
            elif sample.name == "node_memory_working_set_bytes":
                memory[None] = int(sample.value)
            elif sample.name == "container_cpu_usage_seconds_total":
                cpu[key] = (stamp, float(sample.value))
            elif sample.name == "container_memory_working_set_bytes":
                memory[key] = int(sample.value)
    batch = NodeBatch()
    for cpu_key, (stamp, seconds) in cpu.items():
        if cpu_key not in memory:
            continue
        if cpu_key is None:
            batch.node = MetricsPoint(stamp, seconds, memory[None])
        else:
            batch.containers[cpu_key] = MetricsPoint(stamp, seconds, memory[cpu_key], starts.get(cpu_key, 0.0))
    return batch


def _advance(last: MetricsPoint | None, prev: MetricsPoint | None,
             new: MetricsPoint) -> tuple[MetricsPoint, MetricsPoint | None]:
    """The (last, prev) pair after ``new`` arrives."""
    if last is None:
        return new, None
    if new.start_time != last.start_time or new.cpu_seconds < last.cpu_seconds:
        return new, None  # restarted: the old counter says nothing about the new one
    if new.timestamp > last.timestamp:
        return new, last
    if new.timestamp == last.timestamp:
        return last, prev
    return new, None  # time went backwards (a clock step): start over rather than serve a bogus rate


def _usage(last: MetricsPoint, prev: MetricsPoint) -> tuple[int, float]:
    window = last.timestamp - prev.timestamp
    return round((last.cpu_seconds - prev.cpu_seconds) * 1e9 / window), window


class MetricsStorage:
    """The last two points of every node and container; rates on demand."""

    def __init__(self) -> None:
        self._nodes: dict[str, tuple[MetricsPoint, MetricsPoint | None]] = {}
        # node -> (namespace, pod) -> container -> (last, prev)
        self._pods: dict[str, dict[tuple[str, str], dict[str, tuple[MetricsPoint, MetricsPoint | None]]]] = {}
        self._pod_node: dict[tuple[str, str], str] = {}  # (namespace, pod) -> the node that last reported it

    def store(self, node_name: str, batch: NodeBatch) -> None:
        """Take one scrape of ``node_name``; pods and containers it no longer reports are forgotten."""
        if batch.node is not None:
            last, prev = self._nodes.get(node_name, (None, None))
            self._nodes[node_name] = _advance(last, prev, batch.node)
        else:
            self._nodes.pop(node_name, None)
        old = self._pods.get(node_name, {})
        pods: dict[tuple[str, str], dict[str, tuple[MetricsPoint, MetricsPoint | None]]] = {}
        for (namespace, pod, container), point in batch.containers.items():
            before = old.get((namespace, pod), {}).get(container, (None, None))
            pods.setdefault((namespace, pod), {})[container] = _advance(before[0], before[1], point)
        for key in old:
            if key not in pods and self._pod_node.get(key) == node_name:
                del self._pod_node[key]
        for key in pods:
            self._pod_node[key] = node_name
        self._pods[node_name] = pods

    def prune(self, node_names: Iterable[str]) -> None:
        """Forget every node not in ``node_names`` (deleted nodes)."""
        keep = set(node_names)
        for name in [n for n in self._nodes if n not in keep]:
            del self._nodes[name]
        for name in [n for n in self._pods if n not in keep]:
            for key in self._pods.pop(name):
                if self._pod_node.get(key) == name:
                    del self._pod_node[key]

    def node(self, name: str) -> ResourceUsage | None:
        last, prev = self._nodes.get(name, (None, None))
        if last is None or prev is None:
            return None
        nanocores, window = _usage(last, prev)
        return ResourceUsage(nanocores, last.memory_bytes, last.timestamp, window)

    def pod(self, namespace: str, name: str) -> tuple[float, float, list[ContainerUsage]] | None:
        """(timestamp, window, containers sorted by name), or None until every container has a rate."""
        node_name = self._pod_node.get((namespace, name))
        containers = self._pods.get(node_name, {}).get((namespace, name)) if node_name is not None else None
        if not containers:
            return None
        usages: list[ContainerUsage] = []
        earliest: tuple[float, float] | None = None
        for container, (last, prev) in sorted(containers.items()):
            if prev is None:
                return None
            nanocores, window = _usage(last, prev)
            usages.append(ContainerUsage(container, nanocores, last.memory_bytes))
            if earliest is None or last.timestamp < earliest[0]:
                earliest = (last.timestamp, window)
        assert earliest is not None
        return earliest[0], earliest[1], usages
