"""The kubelet's resource statistics: the Summary API (``/stats/summary``) and ``/metrics/resource``.

Design (upstream pkg/kubelet/stats: the CRI stats provider, and pkg/kubelet/metrics/collectors/resource_metrics.go)
-----------------------------------------------------------------------------------------------------------
* Pods and containers come from the runtime: CRI ListPodSandboxStats gives each ready sandbox's pod-level
  CPU/memory/process count (containerd reads the pod cgroup) with its containers' CPU, memory and
  writable layer; a runtime without it (UNIMPLEMENTED) falls back to ListContainerStats, and the pod's
  figures are then the sums of its containers'. Only the newest instance of each container name is
  reported, a running one before an exited one (upstream drops terminated instances from usage).
* ``usageNanoCores`` is the rate between this sample and the previous one of the same container, pod or
  node (upstream's CRI provider keeps the same cache); the first sample has none.
* The node: CPU from /proc/stat; memory as cAdvisor reports the machine: working set = root memory
  cgroup usage - inactive file pages (cgroup v1), else total - available from /proc/meminfo;
  ``availableBytes`` = capacity - working set (upstream's definition, which eviction uses too);
  ``fs`` is the file system of the data dir (upstream: the kubelet's root dir), ``runtime.imageFs``
  the runtime's ImageFsInfo with its file system's capacity; ``rlimit`` the pid limit and count.
* Volumes (``pods[].volume[]``): every directory-backed volume of the pod under
  ``<agent dir>/pods/<uid>/volumes/<plugin>/<name>`` (emptyDir, configMap, secret, downwardAPI,
  projected), measured as upstream's ``du``-based MetricsDu (bytes in blocks, inodes) with the
  capacity/available of the file system holding it (its own tmpfs for a Memory emptyDir). Walking a
  volume costs I/O, so measurements are cached for ``volume_cache_seconds`` (upstream: 1 min).
* ``ephemeral-storage`` of a pod: its containers' writable layers + their logs + its disk emptyDirs,
  as upstream's calcEphemeralStorage.
* ``/metrics/resource`` renders the same sample in the Prometheus text format with upstream's metric
  names and millisecond timestamps: what metrics-server 0.6+ scrapes (older ones read the Summary's
  ``cpu.usageNanoCores`` and ``memory.workingSetBytes``, which are present there too).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from kubelite.agent.config import AgentConfig
from kubelite.cri import CriError, RuntimeClient, api_pb2

__all__ = ["FsUsage", "StatsProvider", "du", "node_memory", "render_resource_metrics"]

Obj = dict[str, Any]

VOLUME_PLUGIN_NAMES: Final = {"kubernetes.io~empty-dir": "emptyDir", "kubernetes.io~configmap": "configMap",
                              "kubernetes.io~secret": "secret", "kubernetes.io~downward-api": "downwardAPI",
                              "kubernetes.io~projected": "projected"}
_CPU_FIELDS: Final = ("user", "nice", "system", "irq", "softirq", "steal")


def _rfc3339(ns: int) -> str:
    return dt.datetime.fromtimestamp(ns / 1e9, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class FsUsage:
    """What ``du`` and ``statvfs`` say about one directory."""

    used_bytes: int
    inodes_used: int
    capacity_bytes: int
    available_bytes: int
    inodes: int
    inodes_free: int

    def as_fs_stats(self, stamp: str) -> Obj:
        return {"time": stamp, "availableBytes": self.available_bytes, "capacityBytes": self.capacity_bytes,
                "usedBytes": self.used_bytes, "inodesFree": self.inodes_free, "inodes": self.inodes,
                "inodesUsed": self.inodes_used}


def du(path: Path) -> tuple[int, int]:
    """(bytes in allocated blocks, inodes) under ``path``, not following symlinks or crossing mounts."""
    try:
        top = os.lstat(path)
    except OSError:
        return 0, 0
    used, inodes = top.st_blocks * 512, 1
    stack = [str(path)] if os.path.isdir(path) and not os.path.islink(path) else []
    while stack:
        current = stack.pop()
        try:
            entries = list(os.scandir(current))
        except OSError:
            continue
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            used += st.st_blocks * 512
            inodes += 1
            if entry.is_dir(follow_symlinks=False) and st.st_dev == top.st_dev:
                stack.append(entry.path)
    return used, inodes


def fs_usage(path: Path) -> FsUsage:
    """``du`` of ``path`` with the capacity and free space of the file system holding it."""
    used, inodes_used = du(path)
    vfs = os.statvfs(path)
    return FsUsage(used_bytes=used, inodes_used=inodes_used, capacity_bytes=vfs.f_blocks * vfs.f_frsize,
                   available_bytes=vfs.f_bavail * vfs.f_frsize, inodes=vfs.f_files, inodes_free=vfs.f_ffree)


def _read_kv(path: Path) -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        text = path.read_text()
    except OSError:
        return out
    for line in text.splitlines():
        parts = line.replace(":", " ").split()
        if len(parts) >= 2 and parts[1].isdigit():
            out[parts[0]] = int(parts[1]) * (1024 if parts[2:3] == ["kB"] else 1)
    return out


def node_memory(*, proc: Path = Path("/proc"), memory_cgroup: Path = Path("/sys/fs/cgroup/memory")) -> Obj:
    """The machine's memory as cAdvisor reports it (bytes): capacity, usage, working set, rss, faults."""
    meminfo = _read_kv(proc / "meminfo")
    capacity = meminfo.get("MemTotal", 0)
    vmstat = _read_kv(proc / "vmstat")
    usage_file = memory_cgroup / "memory.usage_in_bytes"
    stat = _read_kv(memory_cgroup / "memory.stat")
    try:
        usage = int(usage_file.read_text())
    except (OSError, ValueError):
        usage = 0
    if usage and stat:  # cgroup v1 root: what cAdvisor reads
        working_set = max(usage - stat.get("total_inactive_file", 0), 0)
        rss = stat.get("total_rss", 0)
    else:
        usage = capacity - meminfo.get("MemFree", 0)
        working_set = capacity - meminfo.get("MemAvailable", 0)
        rss = meminfo.get("AnonPages", 0)
    return {"capacity": capacity, "usageBytes": usage, "workingSetBytes": working_set,
            "availableBytes": max(capacity - working_set, 0), "rssBytes": rss,
            "pageFaults": vmstat.get("pgfault", 0), "majorPageFaults": vmstat.get("pgmajfault", 0)}


def node_cpu_core_ns(*, proc: Path = Path("/proc")) -> int:
    """Total CPU time of the machine (all cores, not idle or iowait), in core-nanoseconds."""
    first = (proc / "stat").read_text().splitlines()[0].split()
    fields = dict(zip(("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"), first[1:9],
                      strict=False))
    ticks = sum(int(fields.get(f, 0)) for f in _CPU_FIELDS)
    return ticks * 1_000_000_000 // os.sysconf("SC_CLK_TCK")


class StatsProvider:
    """One sample of the node's, pods' and containers' usage per call, as the Summary API document."""

    def __init__(self, *, config: AgentConfig, runtime: RuntimeClient, volume_cache_seconds: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.runtime = runtime
        self.volume_cache_seconds = volume_cache_seconds
        self._clock = clock
        self._cpu: dict[str, tuple[int, int]] = {}  # key -> (timestamp ns, usage core-ns)
        self._fs_cache: dict[Path, tuple[float, FsUsage]] = {}
        self._started = dt.datetime.now(dt.UTC)
        self._pod_stats_supported = True

    # ---- helpers ------------------------------------------------------------------------------------

    def _nano_cores(self, key: str, timestamp: int, usage: int) -> int | None:
        previous, self._cpu[key] = self._cpu.get(key), (timestamp, usage)
        if previous is None or timestamp <= previous[0] or usage < previous[1]:
            return None
        return int((usage - previous[1]) * 1e9 / (timestamp - previous[0]))

    def _cpu_stats(self, key: str, usage: api_pb2.CpuUsage, stamp: str) -> Obj:
        timestamp = usage.timestamp or time.time_ns()
        total = usage.usage_core_nano_seconds.value
        out: Obj = {"time": _rfc3339(usage.timestamp) if usage.timestamp else stamp, "usageCoreNanoSeconds": total}
        nano = self._nano_cores(key, timestamp, total)
        if nano is not None:
            out["usageNanoCores"] = nano
        return out

    @staticmethod
    def _memory_stats(memory: api_pb2.MemoryUsage, stamp: str, limit: int | None = None) -> Obj:
        working_set = memory.working_set_bytes.value
        out: Obj = {"time": _rfc3339(memory.timestamp) if memory.timestamp else stamp,
                    "workingSetBytes": working_set, "usageBytes": memory.usage_bytes.value or working_set,
                    "rssBytes": memory.rss_bytes.value, "pageFaults": memory.page_faults.value,
                    "majorPageFaults": memory.major_page_faults.value}
        if memory.HasField("available_bytes") and memory.available_bytes.value:
            out["availableBytes"] = memory.available_bytes.value
        elif limit:
            out["availableBytes"] = max(limit - working_set, 0)
        return out

    def _cached_fs(self, path: Path) -> FsUsage | None:
        now = self._clock()
        cached = self._fs_cache.get(path)
        if cached is not None and now - cached[0] < self.volume_cache_seconds:
            return cached[1]
        try:
            usage = fs_usage(path)
        except OSError:
            self._fs_cache.pop(path, None)
            return None
        self._fs_cache[path] = (now, usage)
        return usage

    def _volumes(self, uid: str) -> list[tuple[str, str, FsUsage, bool]]:
        """(plugin kind, volume name, usage, memory-backed) of each directory-backed volume of pod ``uid``."""
        found = []
        root = self.config.agent_dir / "pods" / uid / "volumes"
        try:
            plugins = list(os.scandir(root))
        except OSError:
            return []
        for plugin in plugins:
            kind = VOLUME_PLUGIN_NAMES.get(plugin.name)
            if kind is None or not plugin.is_dir():
                continue
            for volume in os.scandir(plugin.path):
                usage = self._cached_fs(Path(volume.path)) if volume.is_dir() else None
                if usage is not None:
                    # a Memory emptyDir (and the token/secret tmpfs of upstream) is a mount of its own
                    found.append((kind, volume.name, usage, os.path.ismount(volume.path)))
        return found

    def _forget_stale(self, live: Iterable[str]) -> None:
        keep = set(live)
        for key in [k for k in self._cpu if k not in keep]:
            del self._cpu[key]
        now = self._clock()
        for path in [p for p, (t, _) in self._fs_cache.items() if now - t > 3 * self.volume_cache_seconds]:
            del self._fs_cache[path]

    # ---- the sample ---------------------------------------------------------------------------------

    async def _pod_stats(self) -> list[api_pb2.PodSandboxStats] | None:
        if not self._pod_stats_supported:
            return None
        try:
            return list((await self.runtime.list_pod_sandbox_stats()).stats)
        except CriError as err:
            if err.code != "UNIMPLEMENTED":
                raise
            self._pod_stats_supported = False
            return None

    async def summary(self) -> Obj:
        """The Summary API document (stats/v1alpha1 Summary) for this node, sampled now."""
        stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        sandboxes = {s.id: s for s in (await self.runtime.list_pod_sandbox()).items
                     if s.state == api_pb2.SANDBOX_READY}
        containers = {c.id: c for c in (await self.runtime.list_containers()).containers
                      if c.pod_sandbox_id in sandboxes}
        pod_stats = await self._pod_stats()
        by_pod: dict[str, api_pb2.PodSandboxStats | None] = dict.fromkeys(sandboxes)
        container_stats: list[api_pb2.ContainerStats] = []
        if pod_stats is not None:
            for ps in pod_stats:
                if ps.attributes.id in by_pod:
                    by_pod[ps.attributes.id] = ps
                    container_stats.extend(ps.linux.containers)
        else:
            container_stats = list((await self.runtime.list_container_stats()).stats)
        try:
            image_fs = list((await self.runtime.image_fs_info()).image_filesystems)
        except CriError:
            image_fs = []
        pods = await asyncio.to_thread(self._build_pods, stamp, sandboxes, containers, by_pod, container_stats)
        node = await asyncio.to_thread(self._build_node, stamp, image_fs)
        self._forget_stale([*(c for c in containers), *(f"pod:{s}" for s in sandboxes), "<node>"])
        return {"node": node, "pods": pods}

    def _newest_per_name(self, stats: list[api_pb2.ContainerStats],
                         containers: Mapping[str, api_pb2.Container]) -> dict[str, list[api_pb2.ContainerStats]]:
        chosen: dict[tuple[str, str], api_pb2.ContainerStats] = {}
        for stat in stats:
            container = containers.get(stat.attributes.id)
            if container is None:
                continue
            key = (container.pod_sandbox_id, container.metadata.name)
            current = chosen.get(key)
            rank = (container.state == api_pb2.CONTAINER_RUNNING, container.created_at)
            if current is None or rank > (containers[current.attributes.id].state == api_pb2.CONTAINER_RUNNING,
                                          containers[current.attributes.id].created_at):
                chosen[key] = stat
        grouped: dict[str, list[api_pb2.ContainerStats]] = {}
        for (sandbox_id, _), stat in sorted(chosen.items()):
            grouped.setdefault(sandbox_id, []).append(stat)
        return grouped

    def _build_pods(self, stamp: str, sandboxes: Mapping[str, api_pb2.PodSandbox],
                    containers: Mapping[str, api_pb2.Container],
                    by_pod: Mapping[str, api_pb2.PodSandboxStats | None],
                    stats: list[api_pb2.ContainerStats]) -> list[Obj]:
        grouped = self._newest_per_name(stats, containers)
        pods = []
        for sandbox_id, sandbox in sandboxes.items():
            meta = sandbox.metadata
            log_dir = self.config.pod_logs_dir / f"{meta.namespace}_{meta.name}_{meta.uid}"
            entries = []
            ephemeral_used = ephemeral_inodes = 0
            cpu_sum = mem_ws = mem_usage = 0
            for stat in grouped.get(sandbox_id, []):
                container = containers[stat.attributes.id]
                entry: Obj = {"name": container.metadata.name, "startTime": _rfc3339(container.created_at),
                              "cpu": self._cpu_stats(container.id, stat.cpu, stamp),
                              "memory": self._memory_stats(stat.memory, stamp)}
                cpu_sum += stat.cpu.usage_core_nano_seconds.value
                mem_ws += stat.memory.working_set_bytes.value
                mem_usage += entry["memory"]["usageBytes"]
                logs = self._cached_fs(log_dir / container.metadata.name)
                if stat.HasField("writable_layer"):
                    layer = stat.writable_layer
                    rootfs: Obj = {"time": _rfc3339(layer.timestamp) if layer.timestamp else stamp,
                                   "usedBytes": layer.used_bytes.value, "inodesUsed": layer.inodes_used.value}
                    if logs is not None:  # the image file system is the data dir's here
                        rootfs.update(availableBytes=logs.available_bytes, capacityBytes=logs.capacity_bytes,
                                      inodesFree=logs.inodes_free, inodes=logs.inodes)
                    entry["rootfs"] = rootfs
                    ephemeral_used += layer.used_bytes.value
                    ephemeral_inodes += layer.inodes_used.value
                if logs is not None:
                    entry["logs"] = logs.as_fs_stats(stamp)
                    ephemeral_used += logs.used_bytes
                    ephemeral_inodes += logs.inodes_used
                entries.append(entry)
            pod: Obj = {"podRef": {"name": meta.name, "namespace": meta.namespace, "uid": meta.uid},
                        "startTime": _rfc3339(sandbox.created_at), "containers": entries}
            pod_stat = by_pod.get(sandbox_id)
            if pod_stat is not None and pod_stat.linux.HasField("cpu"):
                pod["cpu"] = self._cpu_stats(f"pod:{sandbox_id}", pod_stat.linux.cpu, stamp)
                pod["memory"] = self._memory_stats(pod_stat.linux.memory, stamp)
                if pod_stat.linux.HasField("process"):
                    pod["process_stats"] = {"process_count": pod_stat.linux.process.process_count.value}
            else:  # the runtime has no pod-level figures: the sums of the containers'
                pod["cpu"] = self._cpu_stats(f"pod:{sandbox_id}", api_pb2.CpuUsage(
                    usage_core_nano_seconds=api_pb2.UInt64Value(value=cpu_sum)), stamp)
                pod["memory"] = {"time": stamp, "workingSetBytes": mem_ws, "usageBytes": mem_usage}
            volumes = []
            for kind, name, usage, in_memory in self._volumes(meta.uid):
                volumes.append({**usage.as_fs_stats(stamp), "name": name})
                if kind == "emptyDir" and not in_memory:  # Memory emptyDir bytes count as memory (upstream)
                    ephemeral_used += usage.used_bytes
                    ephemeral_inodes += usage.inodes_used
            if volumes:
                pod["volume"] = volumes
            pod["ephemeral-storage"] = {"time": stamp, "usedBytes": ephemeral_used, "inodesUsed": ephemeral_inodes}
            pods.append(pod)
        return pods

    def _build_node(self, stamp: str, image_fs: list[api_pb2.FilesystemUsage]) -> Obj:
        usage = node_cpu_core_ns()
        cpu: Obj = {"time": stamp, "usageCoreNanoSeconds": usage}
        nano = self._nano_cores("<node>", time.time_ns(), usage)
        if nano is not None:
            cpu["usageNanoCores"] = nano
        memory = node_memory()
        memory.pop("capacity")
        root = self.config.data_dir if self.config.data_dir.exists() else Path("/")
        vfs = os.statvfs(root)
        fs = {"time": stamp, "availableBytes": vfs.f_bavail * vfs.f_frsize,
              "capacityBytes": vfs.f_blocks * vfs.f_frsize, "usedBytes": (vfs.f_blocks - vfs.f_bfree) * vfs.f_frsize,
              "inodesFree": vfs.f_ffree, "inodes": vfs.f_files, "inodesUsed": vfs.f_files - vfs.f_ffree}
        node: Obj = {"nodeName": self.config.node_name, "startTime": self._started.strftime("%Y-%m-%dT%H:%M:%SZ"),
                     "cpu": cpu, "memory": {"time": stamp, **memory}, "fs": fs}
        if image_fs:
            used = sum(f.used_bytes.value for f in image_fs)
            inodes_used = sum(f.inodes_used.value for f in image_fs)
            mount = image_fs[0].fs_id.mountpoint
            image: Obj = {"time": stamp, "usedBytes": used, "inodesUsed": inodes_used}
            try:
                ivfs = os.statvfs(mount)
            except OSError:
                pass
            else:
                image.update(availableBytes=ivfs.f_bavail * ivfs.f_frsize, capacityBytes=ivfs.f_blocks * ivfs.f_frsize,
                             inodesFree=ivfs.f_ffree, inodes=ivfs.f_files)
            node["runtime"] = {"imageFs": image}
        try:
            maxpid = int(Path("/proc/sys/kernel/pid_max").read_text())
        except (OSError, ValueError):
            maxpid = 0
        node["rlimit"] = {"time": stamp, "maxpid": maxpid,
                          "curproc": sum(1 for e in os.scandir("/proc") if e.name.isdigit())}
        return node


def _labels(**labels: str) -> str:
    def escape(value: str) -> str:
        return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

    return "{" + ",".join(f'{k}="{escape(v)}"' for k, v in labels.items()) + "}" if labels else ""


def _ms(rfc3339: str) -> int:
    return int(dt.datetime.strptime(rfc3339, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC).timestamp() * 1000)


def render_resource_metrics(summary: Mapping[str, Any], *, scrape_error: bool = False) -> str:
    """``/metrics/resource`` in the Prometheus text format, from one Summary sample (upstream's names)."""
    families: dict[str, tuple[str, str, list[str]]] = {
        "container_cpu_usage_seconds_total": ("counter", "[STABLE] Cumulative cpu time consumed by the container "
                                              "in core-seconds", []),
        "container_memory_working_set_bytes": ("gauge", "[STABLE] Current working set of the container in bytes", []),
        "container_start_time_seconds": ("gauge", "[STABLE] Start time of the container since unix epoch in "
                                         "seconds", []),
        "node_cpu_usage_seconds_total": ("counter", "[STABLE] Cumulative cpu time consumed by the node in "
                                         "core-seconds", []),
        "node_memory_working_set_bytes": ("gauge", "[STABLE] Current working set of the node in bytes", []),
        "pod_cpu_usage_seconds_total": ("counter", "[STABLE] Cumulative cpu time consumed by the pod in "
                                        "core-seconds", []),
        "pod_memory_working_set_bytes": ("gauge", "[STABLE] Current working set of the pod in bytes", []),
        "resource_scrape_error": ("gauge", "[STABLE] 1 if there was an error while getting container metrics, "
                                  "0 otherwise", []),
    }

    def add(name: str, labels: str, value: float, stamp: str | None = None) -> None:
        suffix = f" {_ms(stamp)}" if stamp else ""
        families[name][2].append(f"{name}{labels} {value!r}{suffix}")

    node = summary.get("node") or {}
    if "cpu" in node:
        add("node_cpu_usage_seconds_total", "", node["cpu"]["usageCoreNanoSeconds"] / 1e9, node["cpu"]["time"])
    if "memory" in node:
        add("node_memory_working_set_bytes", "", node["memory"]["workingSetBytes"], node["memory"]["time"])
    for pod in summary.get("pods") or []:
        ref = pod["podRef"]
        pod_labels = _labels(namespace=ref["namespace"], pod=ref["name"])
        if "cpu" in pod:
            add("pod_cpu_usage_seconds_total", pod_labels, pod["cpu"]["usageCoreNanoSeconds"] / 1e9, pod["cpu"]["time"])
        if "memory" in pod:
            add("pod_memory_working_set_bytes", pod_labels, pod["memory"]["workingSetBytes"], pod["memory"]["time"])
        for container in pod.get("containers") or []:
            labels = _labels(container=container["name"], namespace=ref["namespace"], pod=ref["name"])
            add("container_cpu_usage_seconds_total", labels, container["cpu"]["usageCoreNanoSeconds"] / 1e9,
                container["cpu"]["time"])
            add("container_memory_working_set_bytes", labels, container["memory"]["workingSetBytes"],
                container["memory"]["time"])
            add("container_start_time_seconds", labels, float(_ms(container["startTime"]) / 1000))
    add("resource_scrape_error", "", 1 if scrape_error else 0)
    lines = []
    for name, (kind, help_text, samples) in families.items():
        if samples:
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", *samples]
    return "\n".join(lines) + "\n"
