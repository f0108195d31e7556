"""A fake node agent for tests: registers Nodes and runs "pods" on them through the API only.

``FakeNodes(kubeconfig, ["n1", "n2"])`` runs in its own thread with its own event loop (so that
synchronous tests and kubectl calls can use it as well as async ones) and, over kubelite.client:

* registers each Node (Ready, capacity, addresses) and renews its Lease in ``kube-node-lease`` every
  ``lease_interval`` seconds, plus a status heartbeat, like a kubelet;
* binds pods that still have no ``spec.nodeName`` after ``bind_delay`` seconds to one of its nodes (round
  robin) through ``pods/binding``, unless ``bind=False``, standing in for the default scheduler (pods
  naming another ``schedulerName`` are left alone); when a scheduler runs it binds first;
* marks each pod bound to one of its nodes Running and Ready with a pod IP from the node's range
  (``10.<100 + node index>.x.y``, unique per node) through ``pods/status``, after ``ready_delay`` seconds;
* finishes pods with ``restartPolicy`` Never/OnFailure after ``run_seconds`` (or N seconds when the first
  container's command/args say ``sleep N``): Succeeded, or Failed when they mention ``exit 1`` or ``false``;
* deletes (grace period 0) pods of its nodes that are being deleted, as a kubelet confirms termination.

``stop_node(name)`` stops one node's heartbeats (a dead kubelet), ``stop()`` ends everything. Objects
it created (Nodes) are deleted by ``stop(delete_nodes=True)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kubelite.client import APIClient, APIConnectionError, APIStatusError, Informer, is_not_found, load_kubeconfig

Obj = dict[str, Any]


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def now_seconds() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _required_node_names(spec: Obj) -> set[str] | None:
    """Nodes a pod's required node affinity pins by ``metadata.name`` (how DaemonSet pods target a node)."""
    required = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution") or {})
    names: set[str] | None = None
    for term in required.get("nodeSelectorTerms") or []:
        for field in term.get("matchFields") or []:
            if field.get("key") == "metadata.name" and field.get("operator") == "In":
                names = (names or set()) | {str(v) for v in field.get("values") or []}
    return names


class FakeNodes:
    def __init__(self, kubeconfig: Path | str, names: list[str], *, bind: bool = True, ready_delay: float = 0.0,
                 run_seconds: float = 0.2, lease_interval: float = 2.0, labels: dict[str, str] | None = None,
                 bind_delay: float = 1.0) -> None:
        self.kubeconfig = Path(kubeconfig)
        self.names = list(names)
        self.bind = bind
        self.bind_delay = bind_delay
        self.ready_delay = ready_delay
        self.run_seconds = run_seconds
        self.lease_interval = lease_interval
        self.labels = dict(labels or {})
        self.stopped_nodes: set[str] = set()
        self.ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._next_ip: dict[str, int] = {}
        self._handled: set[tuple[str, str]] = set()
        self._rr = 0
        self._delete_nodes = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._limit: asyncio.Semaphore | None = None

    # ---- thread control ----

    def start(self) -> FakeNodes:
        self._thread = threading.Thread(target=self._main, name="fake-kubelet", daemon=True)
        self._thread.start()
        if not self.ready.wait(30):
            raise AssertionError(f"fake kubelet did not start: {self._error!r}")
        if self._error is not None:
            raise AssertionError(f"fake kubelet failed to start: {self._error!r}")
        return self

    def stop(self, *, delete_nodes: bool = True) -> None:
        self._delete_nodes = delete_nodes
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(30)

    def __enter__(self) -> FakeNodes:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop_node(self, name: str) -> None:
        """Stop renewing this node's Lease and status, and stop acting on its pods (a dead kubelet)."""
        self.stopped_nodes.add(name)

    def _main(self) -> None:
        try:
            asyncio.run(self._run())
        except BaseException as exc:  # reported to start() or visible in the test's failure
            self._error = exc
            self.ready.set()

    # ---- the agent ----

    async def _run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        # like a kubelet's QPS limit: a burst of a thousand pods does not open a thousand requests at once
        self._limit = asyncio.Semaphore(20)
        async with APIClient(load_kubeconfig(self.kubeconfig)) as client:
            self.client = client
            self.pods = client.resource("", "v1", "pods")
            self.nodes = client.resource("", "v1", "nodes", namespaced=False)
            self.leases = client.resource("coordination.k8s.io", "v1", "leases")
            for name in self.names:
                await self._register(name)
                await self._renew_lease(name)
            informer = Informer(self.pods, resync_period=5.0)
            informer.add_handler(on_add=self._on_pod, on_update=lambda _o, n: self._on_pod(n))
            informer_task = asyncio.create_task(informer.run())
            await informer.wait_for_sync(timeout=30)
            heartbeat = asyncio.create_task(self._heartbeats())
            self.ready.set()
            tasks = self._tasks
            try:
                await self._stop.wait()
            finally:
                heartbeat.cancel()
                informer.stop()
                for task in [heartbeat, informer_task, *tasks]:
                    task.cancel()
                    with contextlib.suppress(BaseException):
                        await task
                if self._delete_nodes:
                    for name in self.names:
                        with contextlib.suppress(APIStatusError):
                            await self.nodes.delete(name)

    def _node_status(self, name: str) -> Obj:
        stamp = now_seconds()
        index = self.names.index(name)
        return {
            "capacity": {"cpu": "8", "memory": "32Gi", "pods": "110"},
            "allocatable": {"cpu": "8", "memory": "32Gi", "pods": "110"},
            "addresses": [{"type": "InternalIP", "address": f"127.0.{index + 1}.1"},
                          {"type": "Hostname", "address": name}],
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                            "message": "kubelet is posting ready status", "lastHeartbeatTime": stamp,
                            "lastTransitionTime": stamp}],
            "nodeInfo": {"kubeletVersion": "v1.32.0-fake", "operatingSystem": "linux", "architecture": "amd64",
                         "containerRuntimeVersion": "fake://1", "kernelVersion": "", "osImage": "fake",
                         "kubeProxyVersion": "", "machineID": "", "systemUUID": "", "bootID": ""},
        }

    async def _register(self, name: str) -> None:
        body = {"apiVersion": "v1", "kind": "Node",
                "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                                                      **self.labels}},
                "status": self._node_status(name)}
        try:
            await self.nodes.create(body)
        except APIStatusError as exc:
            if exc.code != 409:
                raise
            await self.nodes.patch(name, {"status": self._node_status(name)}, subresource="status")

    async def _renew_lease(self, name: str) -> None:
        stamp = now()
        try:
            lease = await self.leases.get(name, namespace="kube-node-lease")
        except APIStatusError as exc:
            if not is_not_found(exc):
                raise
            node = await self.nodes.get(name)
            await self.leases.create({
                "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": name, "namespace": "kube-node-lease",
                             "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": name,
                                                  "uid": node["metadata"]["uid"]}]},
                "spec": {"holderIdentity": name, "leaseDurationSeconds": 40, "renewTime": stamp}},
                namespace="kube-node-lease")
            return
        lease["spec"]["renewTime"] = stamp
        await self.leases.update(lease)

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self.lease_interval)
            for name in self.names:
                if name in self.stopped_nodes:
                    continue
                try:
                    await self._renew_lease(name)
                    node = await self.nodes.get(name)
                    conditions = (node.get("status") or {}).get("conditions") or []
                    ready = next((c for c in conditions if c.get("type") == "Ready"), None)
                    if ready is None or ready.get("status") != "True":
                        await self.nodes.patch(name, {"status": self._node_status(name)}, subresource="status")
                except APIStatusError:
                    continue

    def _spawn(self, coro: Any, marker: tuple[str, str]) -> None:
        task = asyncio.create_task(self._retried(coro, marker))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _retried(self, coro: Any, marker: tuple[str, str]) -> None:
        try:
            await coro
        except (APIStatusError, APIConnectionError):
            # forget that it was handled: the informer's periodic resync brings the pod back, like a
            # kubelet's next sync
            self._handled.discard(marker)

    async def _call(self, coro: Any) -> Any:
        """One API call under the concurrency limit (sleeps in between do not hold a slot)."""
        assert self._limit is not None
        async with self._limit:
            return await coro

    def _on_pod(self, pod: Obj) -> None:
        md, spec, status = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
        node = spec.get("nodeName")
        key = f"{md['namespace']}/{md['name']}"
        if not node:
            if self.bind and not md.get("deletionTimestamp") and (key, "bind") not in self._handled and \
                    spec.get("schedulerName", "default-scheduler") == "default-scheduler":
                self._handled.add((key, "bind"))
                candidates = [n for n in self.names if n not in self.stopped_nodes]
                wanted = _required_node_names(spec)
                if wanted is not None:
                    candidates = [n for n in candidates if n in wanted]
                if candidates:
                    target = candidates[self._rr % len(candidates)]
                    self._rr += 1
                    self._spawn(self._bind(pod, target), (key, "bind"))
            return
        if node not in self.names or node in self.stopped_nodes:
            return
        if md.get("deletionTimestamp"):
            if (md["uid"], "delete") not in self._handled:
                self._handled.add((md["uid"], "delete"))
                self._spawn(self._delete(pod), (md["uid"], "delete"))
            return
        if status.get("phase") in ("Succeeded", "Failed"):
            return
        if (md["uid"], "run") not in self._handled:
            self._handled.add((md["uid"], "run"))
            self._spawn(self._start(pod, node), (md["uid"], "run"))

    async def _bind(self, pod: Obj, node: str) -> None:
        md = pod["metadata"]
        # a scheduler, when one runs, binds first; the fake only binds what is still unbound after a moment
        await asyncio.sleep(self.bind_delay)
        try:
            current = await self._call(self.pods.get(md["name"], namespace=md["namespace"]))
        except APIStatusError:
            return
        if (current.get("spec") or {}).get("nodeName") or current["metadata"].get("uid") != md["uid"]:
            return
        with contextlib.suppress(APIStatusError):
            await self._call(self.pods.subresource("binding").create(
                md["name"], {"apiVersion": "v1", "kind": "Binding",
                             "metadata": {"name": md["name"], "namespace": md["namespace"]},
                             "target": {"apiVersion": "v1", "kind": "Node", "name": node}},
                namespace=md["namespace"]))

    def _ip(self, node: str) -> str:
        index = self.names.index(node)
        n = self._next_ip.get(node, 1) + 1
        self._next_ip[node] = n
        return f"10.{100 + index % 150}.{n // 250 % 256}.{n % 250 + 2}"

    async def _start(self, pod: Obj, node: str) -> None:
        md, spec = pod["metadata"], pod.get("spec") or {}
        if self.ready_delay:
            await asyncio.sleep(self.ready_delay)
        ip = self._ip(node)
        stamp = now_seconds()
        containers = spec.get("containers") or []
        status = {
            "phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}], "hostIP": "127.0.0.1",
            "hostIPs": [{"ip": "127.0.0.1"}], "startTime": stamp,
            "conditions": [{"type": t, "status": "True", "lastTransitionTime": stamp, "lastProbeTime": None}
                           for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")],
            "containerStatuses": [{"name": c.get("name"), "image": c.get("image"), "imageID": "",
                                   "ready": True, "started": True, "restartCount": 0,
                                   "state": {"running": {"startedAt": stamp}},
                                   "containerID": f"fake://{md['uid']}-{c.get('name')}"} for c in containers],
        }
        try:
            await self._call(self.pods.patch(md["name"], {"status": status}, namespace=md["namespace"],
                                             subresource="status"))
        except APIStatusError as exc:
            if is_not_found(exc):
                return  # deleted meanwhile
            raise  # overloaded or refused: retried on the next resync
        if (spec.get("restartPolicy") or "Always") == "Always":
            return
        first = containers[0] if containers else {}
        words = " ".join([*(first.get("command") or []), *(first.get("args") or [])])
        sleep = re.search(r"\bsleep (\d+)", words)
        await asyncio.sleep(int(sleep.group(1)) if sleep else self.run_seconds)
        failed = "exit 1" in words or words.strip() == "false"
        end = now_seconds()
        code = 1 if failed else 0
        done = {
            "phase": "Failed" if failed else "Succeeded",
            "conditions": [{"type": "Ready", "status": "False", "reason": "PodCompleted",
                            "lastTransitionTime": end, "lastProbeTime": None},
                           {"type": "ContainersReady", "status": "False", "reason": "PodCompleted",
                            "lastTransitionTime": end, "lastProbeTime": None},
                           {"type": "PodScheduled", "status": "True", "lastTransitionTime": stamp,
                            "lastProbeTime": None},
                           {"type": "Initialized", "status": "True", "lastTransitionTime": stamp,
                            "lastProbeTime": None}],
            "containerStatuses": [{"name": c.get("name"), "image": c.get("image"), "imageID": "", "ready": False,
                                   "started": False, "restartCount": 0,
                                   "state": {"terminated": {"exitCode": code, "reason": "Error" if failed
                                                            else "Completed", "startedAt": stamp,
                                                            "finishedAt": end}},
                                   "containerID": f"fake://{md['uid']}-{c.get('name')}"} for c in containers],
        }
        with contextlib.suppress(APIStatusError):
            await self._call(self.pods.patch(md["name"], {"status": done}, namespace=md["namespace"],
                                             subresource="status"))

    async def _delete(self, pod: Obj) -> None:
        md, status = pod["metadata"], pod.get("status") or {}
        if (pod.get("spec") or {}).get("restartPolicy", "Always") != "Always" and \
                status.get("phase") not in ("Succeeded", "Failed"):
            # as the kubelet does, a killed run-to-completion pod ends Failed (SIGKILL: 137) before it goes
            stamp = now_seconds()
            killed = [{"name": c.get("name"), "image": c.get("image"), "imageID": "", "ready": False, "started": False,
                       "restartCount": 0, "state": {"terminated": {"exitCode": 137, "reason": "Error",
                                                                   "finishedAt": stamp}}}
                      for c in (pod.get("spec") or {}).get("containers") or []]
            with contextlib.suppress(APIStatusError):
                await self._call(self.pods.patch(md["name"], {"status": {"phase": "Failed",
                                                                         "containerStatuses": killed}},
                                                 namespace=md["namespace"], subresource="status"))
        with contextlib.suppress(APIStatusError):
            await self._call(self.pods.delete(md["name"], namespace=md["namespace"], grace_period_seconds=0,
                                              preconditions={"uid": md["uid"]}))
